package main

// The floor the server is measured against: a bare net/http handler.

import (
	"io"
	"net"
	"net/http"
)

// serveBare is the -bare target: read the body, write a fixed answer of the
// server's shape. It answers /ready and /metrics so that the harness treats
// both alike.
func serveBare(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	answer := []byte(`{"prediction":1,"probability":0.7300000000000001,"model_version_id":"bare"}` + "\n")
	mux := http.NewServeMux()
	fixed := func(answer []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(answer)
		}
	}
	mux.HandleFunc("POST /predict", fixed(answer))
	// The v2 answers of the server's shape, for 1 and 1000 rows.
	mux.HandleFunc("POST /v2/models/{name}/infer", func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > int64(len(v2Body1)) {
			fixed(bareV2Answer(1000))(w, r)
			return
		}
		fixed(bareV2Answer(1))(w, r)
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {})
	return http.Serve(ln, mux)
}
