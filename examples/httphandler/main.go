// Command httphandler serves predictions from its own HTTP handler, next to
// routes of its own: how a Go service adds scoring without running the
// mlservice server. It decodes requests with mlservice.DecodeFeatures, so
// clients get the same validation and the same errors as from cmd/server.
//
//	go run ./examples/httphandler -artifacts ./artifacts -addr 127.0.0.1:8080
//	curl -d '{"age":42,"income":52000,"account_balance":1800,"transactions_last_30d":12,"is_premium":1}' \
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
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		f, err := mlservice.DecodeFeatures(body)
		var inputErr *mlservice.InputError
		switch {
		case errors.Is(err, mlservice.ErrMalformedRequest):
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case errors.As(err, &inputErr):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(map[string]any{"problems": inputErr.Problems})
			return
		}
		p, err := store.Predict(f)
		if errors.Is(err, mlservice.ErrNotReady) {
			http.Error(w, "no model yet", http.StatusServiceUnavailable)
			return
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(scoreResponse{Churn: p.Label == 1, Probability: p.Probability, Model: p.ModelVersionID})
	})
}
