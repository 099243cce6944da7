package main

// The requests of -mode: POST /predict, the Open Inference Protocol's
// REST infer with 1 or 1000 rows, and its gRPC ModelInfer with 1 row.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/mlservice/mlservice/internal/oip/pb"
)

// modes maps each -mode to the rows a request carries.
var modes = map[string]int{"predict": 1, "v2": 1, "v2-1000": 1000, "grpc": 1}

// modelName is the name of model i: under -models, m0, m1, …; else the
// name the server gives the model of -artifacts, its schema's ("default"
// for the built-in one).
func modelName(o options, i int) string {
	if o.models > 0 {
		return "m" + strconv.Itoa(i)
	}
	return "default"
}

var (
	v2Body1    = v2Body(1)
	v2Body1000 = v2Body(1000)
)

// v2Body is a REST infer request of n rows, one tensor per feature, the
// values varied from row to row.
func v2Body(n int) []byte {
	cols := []struct {
		name, datatype string
		value          func(i int) string
	}{
		{"age", "FP64", func(i int) string { return strconv.Itoa(18 + i%60) }},
		{"income", "FP64", func(i int) string { return strconv.Itoa(20000 + 37*i%90000) }},
		{"account_balance", "FP64", func(i int) string { return strconv.FormatFloat(float64(i%5000)-1200.5, 'f', -1, 64) }},
		{"transactions_last_30d", "INT64", func(i int) string { return strconv.Itoa(i % 40) }},
		{"is_premium", "FP64", func(i int) string { return strconv.Itoa(i % 2) }},
	}
	var b bytes.Buffer
	b.WriteString(`{"inputs":[`)
	for j, c := range cols {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":%q,"datatype":%q,"shape":[%d],"data":[`, c.name, c.datatype, n)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(c.value(i))
		}
		b.WriteString("]}")
	}
	b.WriteString("]}")
	return b.Bytes()
}

// bareV2Answer is an answer of the server's shape for n rows, for -bare.
var bareV2Answer = func() func(n int) []byte {
	var mu sync.Mutex
	cache := map[int][]byte{}
	return func(n int) []byte {
		mu.Lock()
		defer mu.Unlock()
		if a, ok := cache[n]; ok {
			return a
		}
		p := strings.TrimSuffix(strings.Repeat("0.7300000000000001,", n), ",")
		l := strings.TrimSuffix(strings.Repeat("1,", n), ",")
		a := []byte(fmt.Sprintf(`{"model_name":"default","model_version":"bare","outputs":[{"name":"probability","datatype":"FP64","shape":[%d],"data":[%s]},{"name":"label","datatype":"INT64","shape":[%d],"data":[%s]}]}`, n, p, n, l))
		cache[n] = a
		return a
	}
}()

// newSender returns the request of mode and what closes its connections.
func newSender(o options, c *http.Client, base string) (func() (string, error), func(), error) {
	mode := o.mode
	switch mode {
	case "predict":
		if o.models > 0 {
			base += "/models/" + modelName(o, 0)
		}
		return func() (string, error) { return predict(c, base, predictBody) }, func() {}, nil
	case "v2", "v2-1000":
		body := v2Body1
		if mode == "v2-1000" {
			body = v2Body1000
		}
		url := base + "/v2/models/" + modelName(o, 0) + "/infer"
		return func() (string, error) { return inferREST(c, url, body) }, func() {}, nil
	}
	conns := make([]*grpc.ClientConn, max(1, min(o.grpcConns, o.clients)))
	stubs := make([]pb.GRPCInferenceServiceClient, len(conns))
	for i := range conns {
		conn, err := grpc.NewClient(o.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, nil, err
		}
		conns[i], stubs[i] = conn, pb.NewGRPCInferenceServiceClient(conn)
	}
	in := func(name string, v float64) *pb.ModelInferRequest_InferInputTensor {
		return &pb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "FP64", Shape: []int64{1},
			Contents: &pb.InferTensorContents{Fp64Contents: []float64{v}}}
	}
	req := &pb.ModelInferRequest{ModelName: modelName(o, 0), Inputs: []*pb.ModelInferRequest_InferInputTensor{
		in("age", 42), in("income", 52000), in("account_balance", 1800.5), in("transactions_last_30d", 12), in("is_premium", 1)}}
	var next atomic.Uint64
	send := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := stubs[next.Add(1)%uint64(len(stubs))].ModelInfer(ctx, req)
		if err != nil {
			return "", err
		}
		if len(r.Outputs) != 2 {
			return "", errors.New("ModelInfer: want 2 outputs")
		}
		return r.ModelVersion, nil
	}
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	return send, closeAll, nil
}

// inferREST posts a v2 infer request and returns the answer's
// model_version, found without decoding the whole answer.
func inferREST(c *http.Client, url string, body []byte) (string, error) {
	b, err := postJSON(c, url, body)
	if err != nil {
		return "", err
	}
	_, rest, ok := bytes.Cut(b, []byte(`"model_version":"`))
	id, _, ok2 := bytes.Cut(rest, []byte(`"`))
	if !ok || !ok2 {
		return "", fmt.Errorf("no model_version in %.200s", b)
	}
	return string(id), nil
}
