package oip_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/oip/pb"
)

// End to end over loopback, with the fake model: the protocol's share of
// a request (transport, decode, encode), REST against gRPC, per size.
// go test -run XXX -bench E2E ./internal/oip

func BenchmarkE2EREST(b *testing.B) {
	url := startREST(b, newFakeBackend(), oip.HTTPOptions{MaxBodyBytes: 64 << 20})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for _, n := range []int{1, 1000} {
		body := benchREST(n)
		b.Run(strconv.Itoa(n)+"rows", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8) // requests in flight per core, as a load generator keeps
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(url+"/v2/models/churn/infer", "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func BenchmarkE2EGRPC(b *testing.B) {
	addr := startGRPC(b, newFakeBackend(), oip.Options{MaxMessageBytes: 64 << 20})
	client := pb.NewGRPCInferenceServiceClient(dial(b, addr))
	for _, raw := range []bool{false, true} {
		for _, n := range []int{1, 1000} {
			req := benchGRPC(n, raw)
			name := strconv.Itoa(n) + "rows/contents"
			if raw {
				name = strconv.Itoa(n) + "rows/raw"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := client.ModelInfer(context.Background(), req); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
