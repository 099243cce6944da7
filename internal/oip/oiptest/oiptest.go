// Package oiptest is test support for the Open Inference Protocol: a
// python3 with Debian's python3-grpcio and python3-grpc-tools, and the
// committed .proto files compiled by it, so that tests drive the gRPC
// server with a client that no one here wrote.
package oiptest

import (
	_ "embed"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mlservice/mlservice/internal/needtool"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// InferResponse is an inference answer over REST as a client reads it.
type InferResponse struct {
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	ID           string `json:"id"`
	Outputs      []struct {
		Name string    `json:"name"`
		Data []float64 `json:"data"`
	} `json:"outputs"`
}

// Python finds a python3 that has grpc and grpc_tools (the one on PATH may
// be another installation), or ends the test by needtool.Missing.
func Python(t *testing.T) string {
	t.Helper()
	for _, cand := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(cand)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import grpc, grpc_tools.protoc").Run() == nil {
			return path
		}
	}
	needtool.Missing(t, "no python3 with grpc and grpc_tools: apt-get install python3-grpcio python3-grpc-tools")
	return ""
}

// v2grpc is the Python clients' shared helper module (v2grpc.py).
//
//go:embed v2grpc.py
var v2grpc []byte

// CompileProtos compiles the .proto files of pbDir (internal/oip/pb) with
// grpc_tools' protoc into a temporary directory laid out as the module is
// (so Python imports internal.oip.pb), beside the clients' helper module
// v2grpc, and returns it with the descriptor set it wrote.
func CompileProtos(t *testing.T, python, pbDir string) (dir string, set *descriptorpb.FileDescriptorSet) {
	t.Helper()
	dir = t.TempDir()
	out := filepath.Join(dir, "internal", "oip", "pb")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "v2grpc.py"), v2grpc, 0o644); err != nil {
		t.Fatal(err)
	}
	protos, err := filepath.Glob(filepath.Join(pbDir, "*.proto"))
	if err != nil || len(protos) == 0 {
		t.Fatalf("no .proto files in %s: %v", pbDir, err)
	}
	args := []string{"-m", "grpc_tools.protoc", "-I", ".", "--python_out=.", "--grpc_python_out=.",
		"--include_imports", "--descriptor_set_out=set.pb"}
	for _, p := range protos {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "internal/oip/pb/"+filepath.Base(p))
	}
	cmd := exec.Command(python, args...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("grpc_tools.protoc: %v\n%s", err, b)
	}
	data, err := os.ReadFile(filepath.Join(dir, "set.pb"))
	if err != nil {
		t.Fatal(err)
	}
	set = &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(data, set); err != nil {
		t.Fatal(err)
	}
	return dir, set
}
