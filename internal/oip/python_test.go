package oip_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/oip/oiptest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// TestDescriptorMatchesProto fails while the committed Go code is stale:
// the descriptors compiled into it must equal what protoc makes of the
// committed .proto files now. (Run pb/generate.sh to refresh it.)
func TestDescriptorMatchesProto(t *testing.T) {
	_, set := oiptest.CompileProtos(t, oiptest.Python(t), "pb")
	if len(set.File) < 6 {
		t.Fatalf("descriptor set has %d files", len(set.File))
	}
	for _, want := range set.File {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(want.GetName())
		if err != nil {
			t.Errorf("%s: not in the generated Go code: %v", want.GetName(), err)
			continue
		}
		got := protodesc.ToFileDescriptorProto(fd)
		for _, d := range []*descriptorpb.FileDescriptorProto{got, want} {
			d.SourceCodeInfo = nil
			clearJSONNames(d.MessageType)
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s: the generated Go code is stale (run internal/oip/pb/generate.sh)\ngo:    %v\nproto: %v", want.GetName(), got, want)
		}
	}
}

// clearJSONNames drops json_name, which one protoc fills and another not.
func clearJSONNames(msgs []*descriptorpb.DescriptorProto) {
	for _, m := range msgs {
		for _, f := range m.Field {
			f.JsonName = nil
		}
		clearJSONNames(m.NestedType)
	}
}

// TestPythonClient runs a client that no one here wrote the transport of:
// grpcio, with stubs generated from our .proto at test time, against the
// Go server over loopback.
func TestPythonClient(t *testing.T) {
	python := oiptest.Python(t)
	gen, _ := oiptest.CompileProtos(t, python, "pb")
	addr := startGRPC(t, newFakeBackend(), oip.Options{Name: "mlservice", Version: "test", MaxRows: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "v2client.py"), addr, gen)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("v2client.py: %v\n%s", err, stderr.String())
	}
	type output struct {
		Datatype string    `json:"datatype"`
		Shape    []int64   `json:"shape"`
		Values   []float64 `json:"values"`
	}
	type inferred struct {
		ModelName    string  `json:"model_name"`
		ModelVersion string  `json:"model_version"`
		ID           string  `json:"id"`
		Probability  *output `json:"probability"`
		Label        *output `json:"label"`
	}
	var seen struct {
		Live              bool     `json:"live"`
		Ready             bool     `json:"ready"`
		ModelReady        bool     `json:"model_ready"`
		ModelReadyUnknown []string `json:"model_ready_unknown"`
		ServerMetadata    struct {
			Name, Version string
		} `json:"server_metadata"`
		ModelMetadata struct {
			Name     string   `json:"name"`
			Versions []string `json:"versions"`
			Inputs   [][]any  `json:"inputs"`
			Outputs  [][]any  `json:"outputs"`
		} `json:"model_metadata"`
		InferContents inferred            `json:"infer_contents"`
		InferRaw      inferred            `json:"infer_raw"`
		InferMatrix   inferred            `json:"infer_matrix"`
		Errors        map[string][]string `json:"errors"`
		Health        []int               `json:"health"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &seen); err != nil {
		t.Fatalf("client output %q: %v", stdout.String(), err)
	}
	if !seen.Live || !seen.Ready || !seen.ModelReady {
		t.Errorf("live %v ready %v model ready %v", seen.Live, seen.Ready, seen.ModelReady)
	}
	if len(seen.ModelReadyUnknown) != 2 || seen.ModelReadyUnknown[0] != "NOT_FOUND" {
		t.Errorf("ModelReady(nope) = %v, want NOT_FOUND", seen.ModelReadyUnknown)
	}
	if seen.ServerMetadata.Name != "mlservice" || seen.ServerMetadata.Version != "test" {
		t.Errorf("server metadata %+v", seen.ServerMetadata)
	}
	wantInputs := [][]any{{"age", "FP64", []any{-1.0}}, {"income", "FP64", []any{-1.0}}, {"premium", "FP64", []any{-1.0}}, {"plan", "BYTES", []any{-1.0}}}
	wantOutputs := [][]any{{"probability", "FP64", []any{-1.0}}, {"label", "INT64", []any{-1.0}}}
	if md := seen.ModelMetadata; md.Name != "churn" || !cmp.Equal(md.Versions, []string{"v2", "v1"}) ||
		!cmp.Equal(md.Inputs, wantInputs) || !cmp.Equal(md.Outputs, wantOutputs) {
		t.Errorf("model metadata %+v", md)
	}

	probs := wantProbs(t)
	var labels []float64
	for _, l := range labelsOf(probs) {
		labels = append(labels, float64(l))
	}
	n := []int64{int64(len(rows))}
	for _, tc := range []struct {
		name    string
		got     inferred
		version string
		id      string
	}{{"contents", seen.InferContents, "v2", "py-1"}, {"raw", seen.InferRaw, "v1", "py-raw"}} {
		g := tc.got
		if g.ModelName != "churn" || g.ModelVersion != tc.version || g.ID != tc.id {
			t.Errorf("%s: model %q version %q id %q", tc.name, g.ModelName, g.ModelVersion, g.ID)
		}
		if g.Probability == nil || g.Label == nil {
			t.Fatalf("%s: outputs missing: %+v", tc.name, g)
		}
		if diff := cmp.Diff(output{"FP64", n, probs}, *g.Probability); diff != "" {
			t.Errorf("%s: probability (-want +got):\n%s", tc.name, diff)
		}
		if diff := cmp.Diff(output{"INT64", n, labels}, *g.Label); diff != "" {
			t.Errorf("%s: label (-want +got):\n%s", tc.name, diff)
		}
	}
	if m := seen.InferMatrix; m.ModelName != "numeric" || m.Label != nil || m.Probability == nil || len(m.Probability.Values) != 2 {
		t.Errorf("matrix: %+v", m)
	}

	for name, want := range map[string][]string{
		"wrong_datatype": {"INVALID_ARGUMENT", `input "plan": datatype FP64`},
		"unknown_model":  {"NOT_FOUND", `model "nope"`},
		"missing_input":  {"INVALID_ARGUMENT", `input "income": missing`},
		"not_utf8":       {"INVALID_ARGUMENT", `input "plan": element 0 is not valid UTF-8`},
		"too_large":      {"RESOURCE_EXHAUSTED", "larger than max"},
	} {
		got := seen.Errors[name]
		if len(got) != 2 || got[0] != want[0] || !strings.Contains(got[1], want[1]) {
			t.Errorf("%s: status %q, want %s containing %q", name, got, want[0], want[1])
		}
	}
	if !cmp.Equal(seen.Health, []int{0x08, 0x01}) {
		t.Errorf("health Check answered bytes %v, want [8 1] (status SERVING)", seen.Health)
	}
}
