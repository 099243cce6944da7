package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"testing"

	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

// TestMediaTypeAndEncoding: what the body is in must be what the server
// reads: a charset other than UTF-8 or a Content-Encoding it does not decode
// is a 415 naming it, a UTF-8 byte order mark is accepted, and every JSON
// answer says nosniff.
func TestMediaTypeAndEncoding(t *testing.T) {
	ts := newTestServer(t, nil)
	mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	if _, err := ts.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(validBody))
	zw.Close()
	for _, tc := range []struct {
		name, contentType, body string
		header                  []string
		status                  int
		says                    string
	}{
		{"utf-8", "application/json; charset=utf-8", validBody, nil, 200, ""},
		{"UTF-8 quoted", `application/json; charset="UTF-8"`, validBody, nil, 200, ""},
		{"latin-1", "application/json; charset=iso-8859-1", validBody, nil, 415, "iso-8859-1"},
		{"utf-16", "application/json; charset=utf-16", validBody, nil, 415, "utf-16"},
		{"gzip", "application/json", gz.String(), []string{"Content-Encoding", "gzip"}, 415, "gzip"},
		{"br", "application/json", validBody, []string{"Content-Encoding", "br"}, 415, "br"},
		{"identity", "application/json", validBody, []string{"Content-Encoding", "identity"}, 200, ""},
		{"byte order mark", "application/json", "\ufeff" + validBody, nil, 200, ""},
		{"byte order mark, batch", "application/json", "\ufeff" + `{"instances":[` + validBody + `]}`, nil, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/predict"
			if tc.name == "byte order mark, batch" {
				path = "/predict/batch"
			}
			r := ts.do(t, "POST", path, tc.contentType, tc.body, tc.header...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, truncateBody(r.body))
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", r.header.Get("X-Content-Type-Options"))
			}
			if tc.status != 200 {
				if e := errorJSON(t, r); e.Code != "unsupported_media_type" || !bytes.Contains([]byte(e.Message), []byte(tc.says)) {
					t.Errorf("error %+v, want unsupported_media_type naming %q", e, tc.says)
				}
			}
		})
	}
	for _, path := range []string{"/nowhere", "/model", "/health"} {
		if r := ts.do(t, "GET", path, "", ""); r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}
	_ = http.StatusOK
}
