package oip_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/oip/pb"
	"github.com/mlservice/mlservice/internal/tabular"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// startGRPC serves b on a loopback port and returns the address.
func startGRPC(t testing.TB, b oip.Backend, o oip.Options) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := oip.NewGRPCServer(b, o)
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// rows are the test rows: age, income, premium, plan.
var rows = []struct {
	age, income float64
	premium     bool
	plan        string
}{{42, 52000.5, true, "pro"}, {37, 0.1, false, "basic"}, {70, 12.25, true, "plus"}}

func wantProbs(t testing.TB) []float64 {
	var out []float64
	for _, r := range rows {
		premium := 0.0
		if r.premium {
			premium = 1
		}
		p, err := fakeProbability([]tabular.Cell{num(r.age), num(r.income), num(premium), str(r.plan)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func labelsOf(probs []float64) []int64 {
	out := make([]int64, len(probs))
	for i, p := range probs {
		if p >= 0.5 {
			out[i] = 1
		}
	}
	return out
}

func contentsRequest() *pb.ModelInferRequest {
	n := int64(len(rows))
	req := &pb.ModelInferRequest{ModelName: "churn", Id: "g-1"}
	var age, income []float64
	var premium []bool
	var plan [][]byte
	for _, r := range rows {
		age, income, premium, plan = append(age, r.age), append(income, r.income), append(premium, r.premium), append(plan, []byte(r.plan))
	}
	req.Inputs = []*pb.ModelInferRequest_InferInputTensor{
		{Name: "age", Datatype: "FP64", Shape: []int64{n}, Contents: &pb.InferTensorContents{Fp64Contents: age}},
		{Name: "income", Datatype: "FP64", Shape: []int64{n, 1}, Contents: &pb.InferTensorContents{Fp64Contents: income}},
		{Name: "premium", Datatype: "BOOL", Shape: []int64{n}, Contents: &pb.InferTensorContents{BoolContents: premium}},
		{Name: "plan", Datatype: "BYTES", Shape: []int64{n}, Contents: &pb.InferTensorContents{BytesContents: plan}},
	}
	return req
}

// rawRequest is contentsRequest with its values in raw_input_contents.
func rawRequest() *pb.ModelInferRequest {
	req := contentsRequest()
	for _, in := range req.Inputs {
		c := in.Contents
		in.Contents = nil
		var b []byte
		for _, v := range c.Fp64Contents {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		for _, v := range c.BoolContents {
			x := byte(0)
			if v {
				x = 1
			}
			b = append(b, x)
		}
		for _, v := range c.BytesContents {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
		req.RawInputContents = append(req.RawInputContents, b)
	}
	return req
}

func outputs(t testing.TB, resp *pb.ModelInferResponse) (probs []float64, labels []int64) {
	t.Helper()
	for i, o := range resp.Outputs {
		if !cmp.Equal(o.Shape, []int64{int64(len(rows))}) {
			t.Errorf("output %s shape %v", o.Name, o.Shape)
		}
		switch {
		case o.Name == "probability" && len(resp.RawOutputContents) > 0:
			b := resp.RawOutputContents[i]
			for j := 0; j+8 <= len(b); j += 8 {
				probs = append(probs, math.Float64frombits(binary.LittleEndian.Uint64(b[j:])))
			}
		case o.Name == "label" && len(resp.RawOutputContents) > 0:
			b := resp.RawOutputContents[i]
			for j := 0; j+8 <= len(b); j += 8 {
				labels = append(labels, int64(binary.LittleEndian.Uint64(b[j:])))
			}
		case o.Name == "probability":
			probs = o.Contents.Fp64Contents
		case o.Name == "label":
			labels = o.Contents.Int64Contents
		}
	}
	return probs, labels
}

func TestGRPCInfer(t *testing.T) {
	addr := startGRPC(t, newFakeBackend(), oip.Options{MaxRows: 100})
	client := pb.NewGRPCInferenceServiceClient(dial(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := wantProbs(t)
	for _, tc := range []struct {
		name string
		req  *pb.ModelInferRequest
	}{{"contents", contentsRequest()}, {"raw", rawRequest()}} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.ModelInfer(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ModelName != "churn" || resp.ModelVersion != "v2" || resp.Id != "g-1" {
				t.Errorf("model %q version %q id %q", resp.ModelName, resp.ModelVersion, resp.Id)
			}
			if raw := len(resp.RawOutputContents) > 0; raw != (tc.name == "raw") {
				t.Errorf("raw outputs: %v", raw)
			}
			probs, labels := outputs(t, resp)
			if !cmp.Equal(probs, want) || !cmp.Equal(labels, labelsOf(want)) {
				t.Errorf("probabilities %v labels %v, want %v %v", probs, labels, want, labelsOf(want))
			}
		})
	}
	t.Run("version and one output", func(t *testing.T) {
		req := contentsRequest()
		req.ModelVersion = "v1"
		req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "label"}}
		resp, err := client.ModelInfer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ModelVersion != "v1" || len(resp.Outputs) != 1 || resp.Outputs[0].Name != "label" {
			t.Errorf("version %q outputs %v", resp.ModelVersion, resp.Outputs)
		}
	})
	t.Run("matrix", func(t *testing.T) {
		req := &pb.ModelInferRequest{ModelName: "numeric", Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "input-0", Datatype: "FP32", Shape: []int64{2, 3}, Contents: &pb.InferTensorContents{Fp32Contents: []float32{1, 2, 3, 4, 5, 6}}}}}
		resp, err := client.ModelInfer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		p0, _ := fakeProbability([]tabular.Cell{num(1), num(2), num(3)})
		p1, _ := fakeProbability([]tabular.Cell{num(4), num(5), num(6)})
		if got := resp.Outputs[0].Contents.Fp64Contents; !cmp.Equal(got, []float64{p0, p1}) {
			t.Errorf("probabilities %v, want %v", got, []float64{p0, p1})
		}
	})
}

func TestGRPCInferRefuses(t *testing.T) {
	b := newFakeBackend()
	var logged bytes.Buffer
	addr := startGRPC(t, b, oip.Options{MaxRows: 2, MaxMessageBytes: 1 << 20, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	client := pb.NewGRPCInferenceServiceClient(dial(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	edit := func(raw bool, f func(r *pb.ModelInferRequest)) *pb.ModelInferRequest {
		r := contentsRequest()
		if raw {
			r = rawRequest()
		}
		r.Inputs[0].Shape, r.Inputs[1].Shape, r.Inputs[2].Shape, r.Inputs[3].Shape = []int64{2}, []int64{2}, []int64{2}, []int64{2}
		c := r.Inputs
		if !raw {
			c[0].Contents.Fp64Contents, c[1].Contents.Fp64Contents = c[0].Contents.Fp64Contents[:2], c[1].Contents.Fp64Contents[:2]
			c[2].Contents.BoolContents, c[3].Contents.BytesContents = c[2].Contents.BoolContents[:2], c[3].Contents.BytesContents[:2]
		} else {
			r.RawInputContents[0], r.RawInputContents[1], r.RawInputContents[2] = r.RawInputContents[0][:16], r.RawInputContents[1][:16], r.RawInputContents[2][:2]
			r.RawInputContents[3] = r.RawInputContents[3][:4+3+4+5]
		}
		f(r)
		return r
	}
	for _, tc := range []struct {
		name string
		req  *pb.ModelInferRequest
		code codes.Code
		msg  string
	}{
		{"ok", edit(false, func(*pb.ModelInferRequest) {}), codes.OK, ""},
		{"ok raw", edit(true, func(*pb.ModelInferRequest) {}), codes.OK, ""},
		{"unknown model", edit(false, func(r *pb.ModelInferRequest) { r.ModelName = "nope" }), codes.NotFound, `model "nope"`},
		{"unknown version", edit(false, func(r *pb.ModelInferRequest) { r.ModelVersion = "v9" }), codes.NotFound, `version "v9"`},
		{"model loading", edit(false, func(r *pb.ModelInferRequest) { r.ModelName = "loading" }), codes.Unavailable, "not ready"},
		{"wrong datatype", edit(false, func(r *pb.ModelInferRequest) { r.Inputs[3].Datatype = "FP64" }), codes.InvalidArgument, `input "plan": datatype FP64`},
		{"values in the wrong field", edit(false, func(r *pb.ModelInferRequest) {
			r.Inputs[0].Contents = &pb.InferTensorContents{Int64Contents: []int64{1, 2}}
		}), codes.InvalidArgument, `input "age": datatype FP64 takes its values from contents.fp64_contents, but 2 values are in other fields`},
		{"shape against data", edit(false, func(r *pb.ModelInferRequest) { r.Inputs[1].Shape = []int64{3} }), codes.InvalidArgument, `input "income": shape [3] holds 3 values, but the data has 2`},
		{"too many rows", contentsRequest(), codes.InvalidArgument, "3 rows, the limit is 2"},
		{"missing input", edit(false, func(r *pb.ModelInferRequest) { r.Inputs = r.Inputs[:3] }), codes.InvalidArgument, `input "plan": missing`},
		{"extra input", edit(false, func(r *pb.ModelInferRequest) {
			r.Inputs = append(r.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: "zip", Datatype: "FP64", Shape: []int64{2}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{1, 2}}})
		}), codes.InvalidArgument, `input "zip": not an input of this model`},
		{"infinity", edit(false, func(r *pb.ModelInferRequest) { r.Inputs[0].Contents.Fp64Contents[1] = math.Inf(1) }), codes.InvalidArgument, "element 1 is +Inf"},
		{"non-UTF-8 bytes", edit(false, func(r *pb.ModelInferRequest) { r.Inputs[3].Contents.BytesContents[0] = []byte{0xff} }), codes.InvalidArgument, `input "plan": element 0 is not valid UTF-8`},
		{"raw and contents", edit(true, func(r *pb.ModelInferRequest) {
			r.Inputs[0].Contents = &pb.InferTensorContents{Fp64Contents: []float64{1, 2}}
		}), codes.InvalidArgument, "send one or the other"},
		{"raw count", edit(true, func(r *pb.ModelInferRequest) { r.RawInputContents = r.RawInputContents[:3] }), codes.InvalidArgument, "raw_input_contents: has 3 entries for 4 inputs"},
		{"raw size", edit(true, func(r *pb.ModelInferRequest) { r.RawInputContents[0] = r.RawInputContents[0][:15] }), codes.InvalidArgument, "15 bytes is not a whole number of 8-byte FP64"},
		{"raw BYTES cut", edit(true, func(r *pb.ModelInferRequest) { r.RawInputContents[3] = r.RawInputContents[3][:13] }), codes.InvalidArgument, "element 1 declares 5 bytes, but only 2 remain"},
		{"raw BYTES length cut", edit(true, func(r *pb.ModelInferRequest) { r.RawInputContents[3] = r.RawInputContents[3][:9] }), codes.InvalidArgument, "raw contents end inside the length of element 1"},
		{"raw BOOL", edit(true, func(r *pb.ModelInferRequest) { r.RawInputContents[2] = []byte{1, 7} }), codes.InvalidArgument, "a BOOL is 0 or 1"},
		{"unknown category (the model's own check)", edit(false, func(r *pb.ModelInferRequest) {
			r.Inputs[3].Contents.BytesContents[1] = []byte("gold")
		}), codes.InvalidArgument, `unknown category "gold"`},
		{"missing value (NaN)", edit(false, func(r *pb.ModelInferRequest) { r.Inputs[0].Contents.Fp64Contents[0] = math.NaN() }), codes.InvalidArgument, "required"},
		{"a panic on the model side", edit(false, func(r *pb.ModelInferRequest) { r.ModelName = "panics" }), codes.Internal, "internal error in /inference.GRPCInferenceService/ModelInfer"},
		{"over the size limit", edit(false, func(r *pb.ModelInferRequest) {
			r.Inputs[3].Contents.BytesContents[0] = []byte(strings.Repeat("x", 2<<20))
		}), codes.ResourceExhausted, "larger than max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.ModelInfer(ctx, tc.req)
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Errorf("status %v %q, want %v containing %q", st.Code(), st.Message(), tc.code, tc.msg)
			}
		})
	}
	if !strings.Contains(logged.String(), `panic="a bug in the model"`) {
		t.Errorf("the panic was not logged: %q", logged.String())
	}
}

func TestGRPCMetadataAndHealth(t *testing.T) {
	b := newFakeBackend()
	addr := startGRPC(t, b, oip.Options{Name: "mlservice", Version: "1.2.3", HealthPoll: 10 * time.Millisecond})
	conn := dial(t, addr)
	client := pb.NewGRPCInferenceServiceClient(conn)
	health := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	live, err := client.ServerLive(ctx, &pb.ServerLiveRequest{})
	if err != nil || !live.Live {
		t.Fatalf("ServerLive: %v %v", live, err)
	}
	sm, err := client.ServerMetadata(ctx, &pb.ServerMetadataRequest{})
	if err != nil || sm.Name != "mlservice" || sm.Version != "1.2.3" {
		t.Fatalf("ServerMetadata: %v %v", sm, err)
	}
	mm, err := client.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.ModelMetadataResponse{Name: "churn", Versions: []string{"v2", "v1"}, Platform: "mlservice_fake",
		Inputs: []*pb.ModelMetadataResponse_TensorMetadata{
			{Name: "age", Datatype: "FP64", Shape: []int64{-1}}, {Name: "income", Datatype: "FP64", Shape: []int64{-1}},
			{Name: "premium", Datatype: "FP64", Shape: []int64{-1}}, {Name: "plan", Datatype: "BYTES", Shape: []int64{-1}}},
		Outputs: []*pb.ModelMetadataResponse_TensorMetadata{
			{Name: "probability", Datatype: "FP64", Shape: []int64{-1}}, {Name: "label", Datatype: "INT64", Shape: []int64{-1}}}}
	if !proto.Equal(mm, want) {
		t.Errorf("ModelMetadata = %v, want %v", mm, want)
	}
	if _, err := client.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("ModelMetadata(nope): %v, want NOT_FOUND", err)
	}
	for _, tc := range []struct {
		name, version string
		ready         bool
		code          codes.Code
	}{{"churn", "", true, codes.OK}, {"churn", "v1", true, codes.OK}, {"churn", "v9", false, codes.NotFound},
		{"loading", "", false, codes.OK}, {"nope", "", false, codes.NotFound}} {
		r, err := client.ModelReady(ctx, &pb.ModelReadyRequest{Name: tc.name, Version: tc.version})
		if status.Code(err) != tc.code || r.GetReady() != tc.ready {
			t.Errorf("ModelReady(%s, %q) = %v, %v; want ready %v, code %v", tc.name, tc.version, r, err, tc.ready, tc.code)
		}
	}
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("health Check(nope): %v, want NOT_FOUND", err)
	}
	watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{Service: "inference.GRPCInferenceService"})
	if err != nil {
		t.Fatal(err)
	}
	expect := func(want healthpb.HealthCheckResponse_ServingStatus, ready bool) {
		t.Helper()
		r, err := client.ServerReady(ctx, &pb.ServerReadyRequest{})
		if err != nil || r.Ready != ready {
			t.Errorf("ServerReady = %v, %v; want %v", r, err, ready)
		}
		c, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || c.Status != want {
			t.Errorf("health Check = %v, %v; want %v", c, err, want)
		}
		w, err := watch.Recv()
		if err != nil || w.Status != want {
			t.Errorf("health Watch = %v, %v; want %v", w, err, want)
		}
	}
	expect(healthpb.HealthCheckResponse_SERVING, true)
	b.ready.Store(false)
	expect(healthpb.HealthCheckResponse_NOT_SERVING, false)
	b.ready.Store(true)
	expect(healthpb.HealthCheckResponse_SERVING, true)
}
