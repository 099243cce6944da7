package oip_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice/internal/oip"
	"github.com/mlservice/mlservice/internal/oip/oiptest"
)

func startREST(t testing.TB, b oip.Backend, o oip.HTTPOptions) string {
	t.Helper()
	srv := httptest.NewServer(oip.NewREST(b, o).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

// restBody is the test rows as a REST body, one tensor per feature.
func restBody(id string) string {
	var age, income, premium, plan []string
	for _, r := range rows {
		age = append(age, strconv.FormatFloat(r.age, 'g', -1, 64))
		income = append(income, strconv.FormatFloat(r.income, 'g', -1, 64))
		premium = append(premium, strconv.FormatBool(r.premium))
		plan = append(plan, strconv.Quote(r.plan))
	}
	n := strconv.Itoa(len(rows))
	in := func(name, dt string, vals []string) string {
		return `{"name": "` + name + `", "datatype": "` + dt + `", "shape": [` + n + `], "data": [` + strings.Join(vals, ", ") + `]}`
	}
	return `{"id": "` + id + `", "parameters": {"content_type": "pd"}, "inputs": [` + in("age", "FP64", age) + ", " +
		in("income", "FP64", income) + ", " + in("premium", "BOOL", premium) + ", " + in("plan", "BYTES", plan) + `]}`
}

func TestRESTInfer(t *testing.T) {
	url := startREST(t, newFakeBackend(), oip.HTTPOptions{MaxRows: 100})
	for _, path := range []string{"/v2/models/churn/infer", "/v2/models/churn/versions/v1/infer"} {
		status, body := do(t, "POST", url+path, restBody("r-1"))
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		var got oiptest.InferResponse
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		wantVersion := "v2"
		if strings.Contains(path, "v1") {
			wantVersion = "v1"
		}
		if got.ModelName != "churn" || got.ModelVersion != wantVersion || got.ID != "r-1" || len(got.Outputs) != 2 {
			t.Fatalf("%s: %s", path, body)
		}
		// The same rows over REST and over gRPC (TestGRPCInfer) give the
		// same probabilities, to the bit.
		probs := wantProbs(t)
		var labels []float64
		for _, l := range labelsOf(probs) {
			labels = append(labels, float64(l))
		}
		if !cmp.Equal(got.Outputs[0].Data, probs) || !cmp.Equal(got.Outputs[1].Data, labels) {
			t.Errorf("%s: outputs %+v, want %v %v", path, got.Outputs, probs, labels)
		}
	}
}

func TestRESTBinaryExtension(t *testing.T) {
	url := startREST(t, newFakeBackend(), oip.HTTPOptions{})
	body, n := binaryBody(0, 0)
	for _, tc := range []struct {
		header string
		status int
		want   string
	}{
		{strconv.Itoa(n), 200, `"model_name":"churn"`},
		{"", 400, "body: invalid JSON"},
		{"x", 400, "Inference-Header-Content-Length: must be a positive byte count"},
	} {
		req, _ := http.NewRequest("POST", url+"/v2/models/churn/infer", strings.NewReader(string(body)))
		if tc.header != "" {
			req.Header.Set("Inference-Header-Content-Length", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(out), tc.want) {
			t.Errorf("header %q: %d %s, want %d containing %s", tc.header, resp.StatusCode, out, tc.status, tc.want)
		}
	}
}

func TestRESTRoutes(t *testing.T) {
	b := newFakeBackend()
	url := startREST(t, b, oip.HTTPOptions{Name: "mlservice", Version: "9", MaxRows: 2, MaxBodyBytes: 4096})
	for _, tc := range []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"GET", "/v2", "", 200, `"name":"mlservice","version":"9","extensions":[]`},
		{"GET", "/v2/health/live", "", 200, `{"live":true}`},
		{"GET", "/v2/health/ready", "", 200, `{"ready":true}`},
		{"GET", "/v2/models/churn", "", 200, `"inputs":[{"name":"age","datatype":"FP64","shape":[-1]}`},
		{"GET", "/v2/models/churn/versions/v1", "", 200, `"name":"churn","versions":["v2","v1"],"platform":"mlservice_fake"`},
		{"GET", "/v2/models/nope", "", 404, `{"error":"model \"nope\": model not found"}`},
		{"GET", "/v2/models/churn/versions/v9", "", 404, `version \"v9\"`},
		{"GET", "/v2/models/churn/ready", "", 200, `"ready":true`},
		{"GET", "/v2/models/loading/ready", "", 400, `"ready":false`},
		{"GET", "/v2/models/nope/ready", "", 404, `"error"`},
		{"POST", "/v2/models/churn/infer", restBody("x"), 400, `input \"age\": 3 rows, the limit is 2`},
		{"POST", "/v2/models/nope/infer", restBody("x"), 404, `model \"nope\"`},
		{"POST", "/v2/models/loading/infer", restBody("x"), 503, `not ready`},
		{"POST", "/v2/models/churn/infer", `{"inputs": [`, 400, `body: invalid JSON`},
		{"POST", "/v2/models/churn/infer", strings.Replace(strings.Replace(restBody("x"), `"shape": [3]`, `"shape": [1]`, -1), `[42, 37, 70]`, `[42]`, 1), 400, `input \"income\": shape [1] holds 1 values, but the data has 3`},
		{"POST", "/v2/models/numeric/infer", `{"inputs": [{"name": "m", "datatype": "FP64", "shape": [1, 3], "data": [1, 2, null]}]}`, 422, `required`},
		{"POST", "/v2/models/churn/infer", `{"inputs": [` + strings.Repeat(" ", 5000) + `]}`, 413, `request body over 4096 bytes`},
		{"GET", "/v2/models/churn/infer", "", 405, ""},
	} {
		status, body := do(t, tc.method, url+tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %s: %d %s, want %d containing %s", tc.method, tc.path, status, body, tc.status, tc.contains)
		}
	}
	b.ready.Store(false)
	if status, body := do(t, "GET", url+"/v2/health/ready", ""); status != 400 || body != `{"ready":false}` {
		t.Errorf("not ready: %d %s", status, body)
	}
}
