package main

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlservice/mlservice/internal/oip/oiptest"
	"github.com/mlservice/mlservice/internal/oip/pb"
	"github.com/mlservice/mlservice/internal/testkit"
)

// TestPythonClientServer drives the server binary's gRPC service with a
// client no one here wrote (Debian's grpcio, stubs compiled from our
// .proto at test time): both tensor encodings give /predict's
// probabilities; an unknown model is NOT_FOUND and a value the schema
// refuses INVALID_ARGUMENT in /predict's words.
func TestPythonClientServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries; skipped with -short")
	}
	python := oiptest.Python(t)
	gen, _ := oiptest.CompileProtos(t, python, filepath.Join(testkit.Root(t), "internal", "oip", "pb"))
	trainerBin, serverBin := testkit.Binaries(t)
	root := t.TempDir()
	d := train(t, trainerBin, filepath.Join(root, "churn"), testkit.Data(t, "day_01.csv"))
	srv := testkit.StartServer(t, serverBin, nil, "-models", root, "-grpc-addr", "127.0.0.1:0")

	var want []float64
	for _, body := range []string{validBody, `{"age":37,"income":31000,"account_balance":-20.25,"transactions_last_30d":3,"is_premium":0}`} {
		var p struct{ Probability float64 }
		_, out := call(t, srv, "POST", "/models/churn/predict", "application/json", body)
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatal(out, err)
		}
		want = append(want, p.Probability)
	}
	_, refusal := call(t, srv, "POST", "/models/churn/predict", "application/json", strings.Replace(validBody, `"age":42`, `"age":-1`, 1))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, filepath.Join("testdata", "v2score.py"), grpcAddr(t, srv), gen, "churn").Output()
	if err != nil {
		t.Fatalf("v2score.py: %v %s", err, out)
	}
	type inferred struct {
		ModelVersion string    `json:"model_version"`
		Probability  []float64 `json:"probability"`
	}
	var seen struct {
		Ready         bool
		Inputs        []string
		Contents, Raw inferred
		UnknownModel  []string `json:"unknown_model"`
		Invalid       []string
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if !seen.Ready || strings.Join(seen.Inputs, ",") != "age,income,account_balance,transactions_last_30d,is_premium" {
		t.Errorf("ready %v, inputs %v", seen.Ready, seen.Inputs)
	}
	for name, got := range map[string]inferred{"contents": seen.Contents, "raw": seen.Raw} {
		if got.ModelVersion != d.ModelVersionID || len(got.Probability) != 2 || got.Probability[0] != want[0] || got.Probability[1] != want[1] {
			t.Errorf("%s: %+v, want version %s and /predict's %v", name, got, d.ModelVersionID, want)
		}
	}
	if len(seen.UnknownModel) != 2 || seen.UnknownModel[0] != "NOT_FOUND" || !strings.Contains(seen.UnknownModel[1], `"nope"`) {
		t.Errorf("unknown model: %v", seen.UnknownModel)
	}
	// The protocol names the field and the reason /predict gives.
	var e errorBody
	if err := json.Unmarshal([]byte(refusal), &e); err != nil || len(e.Error.Fields) != 1 {
		t.Fatalf("/predict of age -1: %s", refusal)
	}
	words := e.Error.Fields[0].Field + ": " + e.Error.Fields[0].Reason
	if len(seen.Invalid) != 2 || seen.Invalid[0] != "INVALID_ARGUMENT" || !strings.Contains(seen.Invalid[1], words) {
		t.Errorf("invalid row: %v, /predict said %s", seen.Invalid, refusal)
	}
}

// TestGRPCStopsWithHTTP: on SIGTERM the gRPC server drains with the HTTP
// server (it answers during the grace, and says it is not ready), then
// stops: the process exits 0 and the gRPC port no longer accepts.
func TestGRPCStopsWithHTTP(t *testing.T) {
	trainerBin, serverBin := testkit.Binaries(t)
	arts := t.TempDir()
	train(t, trainerBin, arts, testkit.Data(t, "day_01.csv"))
	srv := testkit.StartServer(t, serverBin, nil, "-artifacts", arts, "-grpc-addr", "127.0.0.1:0", "-shutdown-grace", "2s")
	addr := grpcAddr(t, srv)
	conn, ctx := grpcConn(t, addr)
	gc := pb.NewGRPCInferenceServiceClient(conn)
	if _, err := gc.ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// During the grace the server still answers, and says it is not ready.
	if _, ok := testkit.Poll(1500*time.Millisecond, 10*time.Millisecond, func() bool {
		r, err := gc.ServerReady(ctx, &pb.ServerReadyRequest{})
		if err != nil {
			t.Errorf("ServerReady while draining: %v", err)
			return true
		}
		return !r.Ready
	}); !ok {
		t.Errorf("ServerReady still true while draining")
	}
	select {
	case <-srv.Exited():
		if err := srv.Err(); err != nil {
			t.Fatalf("exit: %v\n%s", err, srv.Log())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the server did not stop within 10 s of SIGTERM:\n%s", srv.Log())
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the gRPC port %s still accepts after the server stopped", addr)
	}
}
