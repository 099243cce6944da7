package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/mlservice/mlservice/internal/oip/oiptest"
	"github.com/mlservice/mlservice/internal/oip/pb"
	"github.com/mlservice/mlservice/internal/testkit"
)

// call sends a request to srv and returns the status and body.
func call(t *testing.T, srv *testkit.Server, method, path, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expect checks a request's status and that its body holds every want.
func expect(t *testing.T, srv *testkit.Server, method, path, contentType, body string, code int, want ...string) string {
	t.Helper()
	got, out := call(t, srv, method, path, contentType, body)
	if got != code {
		t.Errorf("%s %s: %d, want %d: %s", method, path, got, code, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s %s: body lacks %q: %s", method, path, w, out)
		}
	}
	return out
}

// v2Body is validBody as Open Inference Protocol tensors, one per feature.
const v2Body = `{"id":"r1","inputs":[
	{"name":"age","datatype":"FP64","shape":[1],"data":[42]},
	{"name":"income","datatype":"FP64","shape":[1],"data":[52000]},
	{"name":"account_balance","datatype":"FP64","shape":[1],"data":[1800.5]},
	{"name":"transactions_last_30d","datatype":"INT64","shape":[1],"data":[12]},
	{"name":"is_premium","datatype":"FP64","shape":[1],"data":[1]}]}`

// grpcAddr is the gRPC address the server logged on its listening line.
func grpcAddr(t *testing.T, srv *testkit.Server) string {
	t.Helper()
	m := regexp.MustCompile(`"grpc_addr":"([^"]+)"`).FindStringSubmatch(srv.Log())
	if m == nil {
		t.Fatalf("no grpc_addr in the log:\n%s", srv.Log())
	}
	return m[1]
}

// grpcConn is a gRPC connection to addr, closed with the test, and a
// context for its calls that ends within 10 s.
func grpcConn(t *testing.T, addr string) (*grpc.ClientConn, context.Context) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return conn, ctx
}

// TestModelsRoot serves a models root over every protocol: a trained
// model beside a broken one and a directory that is not artifacts; the
// unprefixed routes answer 409; a model trained later is served without a
// restart; every protocol gives /predict's probability.
func TestModelsRoot(t *testing.T) {
	trainerBin, serverBin := testkit.Binaries(t)
	root := t.TempDir()
	churn := train(t, trainerBin, filepath.Join(root, "churn"), testkit.Data(t, "day_01.csv"))
	// broken: CURRENT names a version that is not there.
	if err := os.MkdirAll(testkit.Models(filepath.Join(root, "broken"), "versions"), 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.WriteCurrent(t, filepath.Join(root, "broken"), "20200101T000000.000000Z-00000000\n")
	if err := os.MkdirAll(filepath.Join(root, "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := testkit.StartServer(t, serverBin, nil, "-models", root, "-grpc-addr", "127.0.0.1:0", "-reload-interval", "50ms")

	// The native routes, per model.
	out := expect(t, srv, "POST", "/models/churn/predict", "application/json", validBody, 200, churn.ModelVersionID)
	var p struct{ Probability float64 }
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.Probability <= 0 {
		t.Fatalf("/predict: %s %v", out, err)
	}
	expect(t, srv, "POST", "/models/churn/predict/batch", "application/json", `{"instances":[`+validBody+`,`+validBody+`]}`, 200, `"predictions"`)
	for _, path := range []string{"/versions", "/schema", "/drift", "/model"} {
		expect(t, srv, "GET", "/models/churn"+path, "", "", 200, churn.ModelVersionID)
	}
	expect(t, srv, "GET", "/models/churn/", "", "", 200, churn.ModelVersionID, `href="/models/churn/ui/versions/`+churn.ModelVersionID)
	expect(t, srv, "GET", "/models/churn/ui/versions/"+churn.ModelVersionID, "", "", 200, `href="/models/churn/"`)
	expect(t, srv, "GET", "/models/broken/predict", "", "", 405)
	expect(t, srv, "POST", "/models/broken/predict", "application/json", validBody, 503, "not_ready")
	expect(t, srv, "POST", "/models/nope/predict", "application/json", validBody, 404, `no model \"nope\"`, `"models":["broken","churn"]`)
	for _, path := range []string{"/predict", "/versions", "/schema", "/drift", "/model", "/invocations"} {
		method := "GET"
		if path == "/predict" || path == "/invocations" {
			method = "POST"
		}
		expect(t, srv, method, path, "application/json", validBody, 409, `"models":["broken","churn"]`, "/models/NAME"+path)
	}
	expect(t, srv, "GET", "/ready", "", "", 200, `"ready":true`, `"broken":{"ready":false`)
	expect(t, srv, "GET", "/", "", "", 200, `href="/models/churn/"`, `href="/models/broken/"`, "<code>notes</code>: not an artifacts directory")
	expect(t, srv, "GET", "/metrics", "", "", 200, `mlservice_model_ready{model="churn"} 1`, `mlservice_model_ready{model="broken"} 0`,
		`mlservice_model_requests_total{model="broken"} 1`)

	// Open Inference Protocol v2, REST.
	expect(t, srv, "GET", "/v2", "", "", 200, `"name":"mlservice"`)
	expect(t, srv, "GET", "/v2/health/live", "", "", 200, `"live":true`)
	expect(t, srv, "GET", "/v2/health/ready", "", "", 200, `"ready":true`)
	expect(t, srv, "GET", "/v2/models/churn", "", "", 200, `{"name":"age","datatype":"FP64","shape":[-1]}`, `"versions":["`+churn.ModelVersionID+`"]`)
	expect(t, srv, "GET", "/v2/models/churn/ready", "", "", 200, `"ready":true`)
	expect(t, srv, "GET", "/v2/models/broken/ready", "", "", 400, `"ready":false`)
	expect(t, srv, "GET", "/v2/models/nope", "", "", 404, `model \"nope\"`)
	expect(t, srv, "GET", "/v2/models/churn/versions/"+churn.ModelVersionID, "", "", 200, churn.ModelVersionID)
	expect(t, srv, "GET", "/v2/models/churn/versions/"+churn.ModelVersionID+"/ready", "", "", 200)
	expect(t, srv, "GET", "/v2/models/churn/versions/20200101T000000.000000Z-00000000", "", "", 404, "no version")
	for _, path := range []string{"/v2/models/churn/infer", "/v2/models/churn/versions/" + churn.ModelVersionID + "/infer"} {
		var a oiptest.InferResponse
		out := expect(t, srv, "POST", path, "application/json", v2Body, 200)
		if err := json.Unmarshal([]byte(out), &a); err != nil || len(a.Outputs) != 2 {
			t.Fatalf("%s: %s %v", path, out, err)
		}
		if a.ModelName != "churn" || a.ModelVersion != churn.ModelVersionID || a.ID != "r1" || a.Outputs[0].Data[0] != p.Probability {
			t.Errorf("%s: %+v, want probability %v", path, a, p.Probability)
		}
	}
	expect(t, srv, "POST", "/v2/models/nope/infer", "application/json", v2Body, 404)
	expect(t, srv, "POST", "/v2/models/churn/infer", "application/json", strings.Replace(v2Body, `"data":[42]`, `"data":["42"]`, 1), 400, `input \"age\"`)
	// A value breaking a rule: /predict's words, in REST and MLflow.
	_, refusal := call(t, srv, "POST", "/models/churn/predict", "application/json", strings.Replace(validBody, `"age":42`, `"age":-1`, 1))
	var e errorBody
	if err := json.Unmarshal([]byte(refusal), &e); err != nil || len(e.Error.Fields) != 1 {
		t.Fatalf("/predict of age -1: %s", refusal)
	}
	words := e.Error.Fields[0].Field + ": " + e.Error.Fields[0].Reason
	expect(t, srv, "POST", "/v2/models/churn/infer", "application/json", strings.Replace(v2Body, `"data":[42]`, `"data":[-1]`, 1), 422, words)
	expect(t, srv, "POST", "/models/churn/invocations", "application/json", `{"dataframe_records":[`+strings.Replace(validBody, `"age":42`, `"age":-1`, 1)+`]}`,
		400, `"error_code":"BAD_REQUEST"`, words)

	// MLflow.
	records := `{"dataframe_records":[` + validBody + `]}`
	expect(t, srv, "POST", "/models/churn/invocations", "application/json", records, 200, `"probability":`+jsonFloat(p.Probability))
	expect(t, srv, "POST", "/models/churn/invocations", "text/csv", "age,income,account_balance,transactions_last_30d,is_premium\n42,52000,1800.5,12,1\n",
		200, `"probability":`+jsonFloat(p.Probability))
	expect(t, srv, "POST", "/models/churn/invocations", "application/json", `{"dataframe_records":[{"age":42}]}`, 400, `"error_code":"BAD_REQUEST"`)
	expect(t, srv, "POST", "/models/churn/invocations", "text/plain", records, 415)
	expect(t, srv, "GET", "/ping", "", "", 200)
	expect(t, srv, "GET", "/version", "", "", 200)
	expect(t, srv, "GET", "/health", "", "", 200)

	// gRPC, through the Go client.
	conn, ctx := grpcConn(t, grpcAddr(t, srv))
	gc := pb.NewGRPCInferenceServiceClient(conn)
	if r, err := gc.ServerReady(ctx, &pb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Errorf("ServerReady: %v %v", r, err)
	}
	if r, err := gc.ModelReady(ctx, &pb.ModelReadyRequest{Name: "broken"}); err != nil || r.Ready {
		t.Errorf("ModelReady(broken): %v %v", r, err)
	}
	in := func(name string, v float64) *pb.ModelInferRequest_InferInputTensor {
		return &pb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "FP64", Shape: []int64{1},
			Contents: &pb.InferTensorContents{Fp64Contents: []float64{v}}}
	}
	req := &pb.ModelInferRequest{ModelName: "churn", Id: "g1", Inputs: []*pb.ModelInferRequest_InferInputTensor{
		in("age", 42), in("income", 52000), in("account_balance", 1800.5), in("transactions_last_30d", 12), in("is_premium", 1)}}
	r, err := gc.ModelInfer(ctx, req)
	if err != nil || r.ModelVersion != churn.ModelVersionID || len(r.Outputs) != 2 || r.Outputs[0].Contents.Fp64Contents[0] != p.Probability {
		t.Errorf("ModelInfer: %v %v, want probability %v", r, err, p.Probability)
	}
	req.ModelName = "nope"
	if _, err := gc.ModelInfer(ctx, req); status.Code(err) != codes.NotFound {
		t.Errorf("ModelInfer(nope): %v", err)
	}
	big := &pb.ModelInferRequest{ModelName: "churn", Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "age", Datatype: "FP64",
		Shape: []int64{200000}, Contents: &pb.InferTensorContents{Fp64Contents: make([]float64, 200000)}}}}
	if _, err := gc.ModelInfer(ctx, big); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("ModelInfer of 1.6 MB (over MAX_BODY_BYTES): %v, want RESOURCE_EXHAUSTED", err)
	}
	if h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health: %v %v", h, err)
	}

	// A model trained later is served without a restart.
	later := train(t, trainerBin, filepath.Join(root, "later"), testkit.Data(t, "day_02.csv"))
	if _, ok := testkit.Poll(10*time.Second, 20*time.Millisecond, func() bool {
		code, _ := call(t, srv, "GET", "/v2/models/later/ready", "", "")
		return code == 200
	}); !ok {
		t.Fatalf("model later never served:\n%s", srv.Log())
	}
	expect(t, srv, "POST", "/models/later/predict", "application/json", validBody, 200, later.ModelVersionID)
	expect(t, srv, "POST", "/models/churn/predict", "application/json", validBody, 200, churn.ModelVersionID)
	// Each model follows its own CURRENT: a new version of churn is
	// served, later keeps its own; the older version is still asked for
	// by id, and refused (404) once its files are damaged.
	second := train(t, trainerBin, filepath.Join(root, "churn"), testkit.Data(t, "day_02.csv"))
	if !second.Promoted {
		t.Fatalf("day 2 not promoted over day 1: %+v", second)
	}
	if _, ok := testkit.Poll(10*time.Second, 20*time.Millisecond, func() bool {
		_, out := call(t, srv, "POST", "/models/churn/predict", "application/json", validBody)
		return strings.Contains(out, second.ModelVersionID)
	}); !ok {
		t.Fatalf("churn never served its second version")
	}
	expect(t, srv, "POST", "/models/later/predict", "application/json", validBody, 200, later.ModelVersionID)
	old := "/v2/models/churn/versions/" + churn.ModelVersionID
	out = expect(t, srv, "POST", old+"/infer", "application/json", v2Body, 200, `"model_version":"`+churn.ModelVersionID)
	if !strings.Contains(out, `"data":[`+jsonFloat(p.Probability)+`]`) {
		t.Errorf("the first version, asked for by id, answers %s, not its probability %v", out, p.Probability)
	}
	expect(t, srv, "GET", "/v2/models/churn", "", "", 200, second.ModelVersionID, churn.ModelVersionID)
	expect(t, srv, "GET", "/v2/models/later/versions/"+churn.ModelVersionID, "", "", 404, "no version")

	if !strings.Contains(srv.Log(), `"model":"notes"`) {
		t.Errorf("the skipped directory is not logged:\n%s", srv.Log())
	}
}

func jsonFloat(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// TestArtifactsProtocols: one model (-artifacts) is named by its schema
// under /v2 and answers /invocations unprefixed; another name is 404.
func TestArtifactsProtocols(t *testing.T) {
	trainerBin, serverBin := testkit.Binaries(t)
	arts := t.TempDir()
	d := train(t, trainerBin, arts, testkit.Data(t, "day_01.csv"))
	srv := testkit.StartServer(t, serverBin, nil, "-artifacts", arts, "-max-batch", "10")
	out := expect(t, srv, "POST", "/predict", "application/json", validBody, 200)
	var p struct{ Probability float64 }
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	expect(t, srv, "POST", "/v2/models/default/infer", "application/json", v2Body, 200, d.ModelVersionID, jsonFloat(p.Probability))
	expect(t, srv, "POST", "/models/default/predict", "application/json", validBody, 200, d.ModelVersionID)
	expect(t, srv, "POST", "/invocations", "application/json", `{"instances":[`+validBody+`]}`, 200, jsonFloat(p.Probability))
	expect(t, srv, "GET", "/v2/models/other", "", "", 404)
	expect(t, srv, "POST", "/models/other/predict", "application/json", validBody, 404)
	expect(t, srv, "GET", "/metrics", "", "", 200, "mlservice_model_ready 1")

	// The batch limit (-max-batch) holds for every protocol.
	matrix := func(rows int) string {
		return `{"inputs":[{"name":"x","datatype":"FP64","shape":[` + strconv.Itoa(rows) + `,5],"data":[` +
			strings.TrimSuffix(strings.Repeat("42,52000,1800.5,12,1,", rows), ",") + `]}]}`
	}
	expect(t, srv, "POST", "/v2/models/default/infer", "application/json", matrix(10), 200, `"shape":[10]`)
	expect(t, srv, "POST", "/v2/models/default/infer", "application/json", matrix(11), 400, `11 rows, the limit is 10`)
	expect(t, srv, "POST", "/invocations", "application/json", `{"instances":[`+strings.TrimSuffix(strings.Repeat(validBody+",", 11), ",")+`]}`,
		400, `"error_code":"BAD_REQUEST"`, "more than 10 rows")
}
