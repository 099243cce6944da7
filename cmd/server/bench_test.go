package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// BenchmarkPredictHandler is the whole handler for one row, from request to
// encoded response, without the network.
func BenchmarkPredictHandler(b *testing.B) {
	benchHandler(b, "/predict", validBody)
}

// benchHandler posts body to path on a server of day 1's model, from
// request to encoded response, in parallel, without the network.
func benchHandler(b *testing.B, path, body string) {
	ts := servingDay1(b)
	data := []byte(body)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("POST", path, nil)
		req.Header.Set("Content-Type", "application/json")
		rd := bytes.NewReader(data)
		for pb.Next() {
			rd.Reset(data)
			req.Body, req.ContentLength = readCloser{rd}, int64(len(data))
			rec := httptest.NewRecorder()
			ts.h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
}

// servingDay1 is a test server serving day 1's model.
func servingDay1(b *testing.B) *testServer {
	ts := newTestServer(b, nil)
	mlkit.PromoteDay(b, ts.dir, "day_01.csv")
	if _, err := ts.store.Reload(context.Background()); err != nil {
		b.Fatal(err)
	}
	return ts
}

// BenchmarkPredictBatchHandler scores 100 rows per request.
func BenchmarkPredictBatchHandler(b *testing.B) {
	ts := servingDay1(b)
	body := []byte(`{"instances":[` + strings.Repeat(validBody+",", 99) + validBody + `]}`)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/predict/batch", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		ts.h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/row")
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// BenchmarkPredictHTTP is POST /predict over a real loopback connection
// (client and server in one process; the profile tells them apart).
func BenchmarkPredictHTTP(b *testing.B) {
	ts := servingDay1(b)
	srv := httptest.NewServer(ts.h)
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	body := []byte(validBody)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Post(srv.URL+"/predict", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkV2InferHandler is POST /v2/models/default/infer of one row (the
// Open Inference Protocol), from request to encoded response, without the
// network: against BenchmarkPredictHandler, what the protocol costs.
func BenchmarkV2InferHandler(b *testing.B) {
	benchHandler(b, "/v2/models/default/infer", v2Body)
}
