package mlflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/internal/mlflow"
	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/tabular"
)

// scoreModel stands for the model side: probability age/100, refusing a
// negative age as the schema's rules would.
type scoreModel struct{}

func (scoreModel) Info() oip.ModelInfo {
	return oip.ModelInfo{Name: "churn", Version: "v1", Features: features}
}

func (scoreModel) Predict(_ context.Context, t *tabular.Table, probs []float64, labels []int64) error {
	for i := range t.Rows {
		age := t.Columns[0].At(i)
		if age.Kind != tabular.Number || age.Num < 0 {
			return fmt.Errorf("%w: row %d age: must be a number >= 0", oip.ErrInvalidInput, i)
		}
		probs[i] = age.Num / 100
		if probs[i] >= 0.5 {
			labels[i] = 1
		}
	}
	return nil
}

func TestServe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invocations", func(w http.ResponseWriter, r *http.Request) {
		mlflow.Serve(w, r, scoreModel{}, 1024, mlflow.Options{MaxRows: 5})
	})
	mux.HandleFunc("GET /ping", mlflow.Ping)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(contentType, body string) (int, string, string) {
		resp, err := http.Post(srv.URL+"/invocations", contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(out)
	}
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		contains                string
	}{
		{"split", "application/json", `{"dataframe_split": {"columns": ["age", "premium", "plan"], "data": [[42, 1, "pro"], [70, 0, "basic"]]}}`,
			200, `{"predictions":[{"prediction":0,"probability":0.42},{"prediction":1,"probability":0.7}]}`},
		{"csv", "text/csv; charset=utf-8", "age,premium,plan\n42,1,pro\n", 200, `{"predictions":[{"prediction":0,"probability":0.42}]}`},
		{"schema rule", "application/json", `{"inputs": {"age": [-1], "premium": [0], "plan": ["pro"]}}`, 400, `"error_code":"BAD_REQUEST","message":"invalid input: row 0 age: must be a number >= 0"`},
		{"bad body", "application/json", `{"instances": 3}`, 400, `"error_code":"BAD_REQUEST","message":"instances: must be an array of records or an object of columns"`},
		{"too many rows", "text/csv", "age,premium,plan\n" + strings.Repeat("1,0,pro\n", 6), 400, "more than 5 rows"},
		{"another content type", "text/plain", "age\n1\n", 415, "only supports the following content types"},
		{"latin-1", "text/csv; charset=latin-1", "age\n1\n", 415, "only supports UTF-8"},
		{"too large", "text/csv", "age,premium,plan\n" + strings.Repeat("1,0,pro\n", 200), 413, "over 1024 bytes"},
	} {
		status, ct, body := post(tc.contentType, tc.body)
		if status != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%s: %d %q %s, want %d containing %s", tc.name, status, ct, body, tc.status, tc.contains)
		}
		if status == 200 && !json.Valid([]byte(body)) {
			t.Errorf("%s: answer is not JSON: %s", tc.name, body)
		}
	}
	resp, err := http.Get(srv.URL + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("ping: %d", resp.StatusCode)
	}
}
