package oip_test

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/oip/pb"
)

// benchREST is a v2 REST body of n rows of the mixed model, one tensor
// per feature, with values as a Python client writes them.
func benchREST(n int) []byte {
	var age, income, premium, plan []string
	plans := []string{`"basic"`, `"plus"`, `"pro"`}
	for i := range n {
		age = append(age, strconv.Itoa(18+i%60))
		income = append(income, strconv.FormatFloat(1000+float64(i)*12.345678901234, 'g', -1, 64))
		premium = append(premium, strconv.Itoa(i%2))
		plan = append(plan, plans[i%3])
	}
	in := func(name, dt string, vals []string) string {
		return `{"name":"` + name + `","datatype":"` + dt + `","shape":[` + strconv.Itoa(n) + `],"data":[` + strings.Join(vals, ",") + `]}`
	}
	return []byte(`{"id":"bench","inputs":[` + in("age", "INT64", age) + "," + in("income", "FP64", income) + "," +
		in("premium", "INT64", premium) + "," + in("plan", "BYTES", plan) + `]}`)
}

func benchGRPC(n int, raw bool) *pb.ModelInferRequest {
	age, income, premium := make([]float64, n), make([]float64, n), make([]float64, n)
	plan := make([][]byte, n)
	for i := range n {
		age[i], income[i], premium[i] = float64(18+i%60), 1000+float64(i)*12.345678901234, float64(i%2)
		plan[i] = []byte([]string{"basic", "plus", "pro"}[i%3])
	}
	req := &pb.ModelInferRequest{ModelName: "churn", Inputs: []*pb.ModelInferRequest_InferInputTensor{
		{Name: "age", Datatype: "FP64", Shape: []int64{int64(n)}, Contents: &pb.InferTensorContents{Fp64Contents: age}},
		{Name: "income", Datatype: "FP64", Shape: []int64{int64(n)}, Contents: &pb.InferTensorContents{Fp64Contents: income}},
		{Name: "premium", Datatype: "FP64", Shape: []int64{int64(n)}, Contents: &pb.InferTensorContents{Fp64Contents: premium}},
		{Name: "plan", Datatype: "BYTES", Shape: []int64{int64(n)}, Contents: &pb.InferTensorContents{BytesContents: plan}},
	}}
	if raw {
		for _, in := range req.Inputs {
			var b []byte
			for _, v := range in.Contents.Fp64Contents {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
			}
			for _, v := range in.Contents.BytesContents {
				b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
				b = append(b, v...)
			}
			in.Contents = nil
			req.RawInputContents = append(req.RawInputContents, b)
		}
	}
	return req
}

func BenchmarkDecodeREST(b *testing.B) {
	for _, n := range []int{1, 1000} {
		body := benchREST(n)
		b.Run(strconv.Itoa(n)+"rows", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := oip.DecodeRESTRequest(body, mixedFeatures, oip.DecodeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func BenchmarkDecodeGRPC(b *testing.B) {
	for _, raw := range []bool{false, true} {
		for _, n := range []int{1, 1000} {
			req := benchGRPC(n, raw)
			name := strconv.Itoa(n) + "rows/contents"
			if raw {
				name = strconv.Itoa(n) + "rows/raw"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := oip.DecodeInferRequest(req, mixedFeatures, oip.DecodeOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

func BenchmarkAppendRESTResponse(b *testing.B) {
	for _, n := range []int{1, 1000} {
		probs, labels := make([]float64, n), make([]int64, n)
		for i := range probs {
			probs[i], labels[i] = 1/(1+math.Exp(-float64(i%7-3))), int64(i%2)
		}
		req := oip.Request{ID: "bench", Probability: true, Label: true}
		b.Run(strconv.Itoa(n)+"rows", func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = oip.AppendRESTResponse(buf[:0], "churn", "v2", req, probs, labels)
			}
		})
	}
}
