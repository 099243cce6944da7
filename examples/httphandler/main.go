// Command httphandler serves predictions from its own HTTP handler, next to
// routes of its own: how a Go service adds scoring without running the
// mlservice server. It checks and decodes requests with the library
// (CheckContentType, DecodeFeatures) and maps errors with HTTPStatus, so
// clients get the same validation and the same statuses as from cmd/server.
//
//	go run ./examples/httphandler -artifacts ./artifacts -addr 127.0.0.1:8080
//	curl -H 'Content-Type: application/json' -d '{"age":42,"income":52000,"account_balance":1800,"transactions_last_30d":12,"is_premium":1}' \
//	     127.0.0.1:8080/score
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"

	"github.com/mlservice/mlservice"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	artifacts := flag.String("artifacts", "./artifacts", "artifacts directory")
	flag.Parse()
	store, err := mlservice.OpenStore(*artifacts, mlservice.StoreOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	log.Printf("listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, newMux(store)))
}

// newMux is this program's own routing; /score is the only part that knows
// about models.
func newMux(store *mlservice.Store) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "this service also scores customers at POST /score\n")
	})
	mux.Handle("POST /score", scoreHandler(store))
	return mux
}

type scoreResponse struct {
	Churn       bool    `json:"churn"`
	Probability float64 `json:"probability"`
	Model       string  `json:"model"`
}

func scoreHandler(store *mlservice.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mlservice.CheckContentType(r.Header.Get("Content-Type")); err != nil {
			writeError(w, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			writeError(w, err)
			return
		}
		f, err := mlservice.DecodeFeatures(body)
		if err != nil {
			writeError(w, err)
			return
		}
		p, err := store.Predict(f)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(scoreResponse{Churn: p.Label == 1, Probability: p.Probability, Model: p.ModelVersionID})
	})
}

// writeError answers with the status the library maps err to, in this
// program's own error format.
func writeError(w http.ResponseWriter, err error) {
	status, code := mlservice.HTTPStatus(err)
	body := map[string]any{"error": code, "message": err.Error()}
	var inputErr *mlservice.InputError
	if errors.As(err, &inputErr) {
		body["problems"] = inputErr.Problems
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
