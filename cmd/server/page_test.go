package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/page"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
)

func checkPageHeaders(t *testing.T, r response, contentType string) {
	t.Helper()
	want := map[string]string{
		"Content-Type":            contentType,
		"Content-Security-Policy": page.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}

func TestPageBeforeAnyVersion(t *testing.T) {
	ts := newTestServer(t, nil)
	r := ts.do(t, "GET", "/", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET / with no version: %d %s", r.status, r.body)
	}
	checkPageHeaders(t, r, "text/html; charset=utf-8")
	for _, want := range []string{"Not serving", "no model version has been promoted yet", "No versions yet"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// The page lists what Versions lists, links each version to its page, and
// follows a promotion; the JSON API is unchanged beside it.
func TestPageListsVersionsAndLinksThem(t *testing.T) {
	ts := newTestServer(t, nil)
	d1 := mlkit.PromoteDay(t, ts.dir, "day_01.csv")
	d2 := mlkit.PromoteDay(t, ts.dir, "day_02.csv")
	d3 := mlkit.PromoteDay(t, ts.dir, "day_03.csv")
	if _, err := ts.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := ts.do(t, "GET", "/", "", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /: %d", r.status)
	}
	body := string(r.body)
	for _, d := range []*mlservice.Decision{d1, d2, d3} {
		if !strings.Contains(body, `href="/ui/versions/`+d.VersionID+`"`) {
			t.Errorf("no link to %s", d.VersionID)
		}
	}
	if n := strings.Count(body, `<circle class="point `); n != 3 {
		t.Errorf("%d chart points for 3 versions", n)
	}
	cur, _ := mlservice.CurrentVersion(ts.dir)
	if !regexp.MustCompile(`<tr class="version current" data-version="` + cur + `"`).MatchString(body) {
		t.Errorf("current version %s not marked", cur)
	}
	if !strings.Contains(body, "rejected") {
		t.Errorf("day 3 is rejected in these data; the page does not say so")
	}

	r = ts.do(t, "GET", "/ui/versions/"+d2.VersionID, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("version page: %d", r.status)
	}
	checkPageHeaders(t, r, "text/html; charset=utf-8")
	for _, want := range []string{`id="confusion"`, `id="metrics"`, `id="coef-chart"`, "account_balance", d2.VersionID} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("version page lacks %q", want)
		}
	}
	for _, path := range []string{"/ui/versions/20990101T000000.000000Z-00000000", "/ui/versions/..%2f..%2fetc", "/ui/versions/%3Cscript%3E"} {
		if r := ts.do(t, "GET", path, "", ""); r.status != http.StatusNotFound || strings.Contains(string(r.body), "<script") {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	r = ts.do(t, "GET", "/ui/style.css", "", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), ".point") {
		t.Errorf("style sheet: %d", r.status)
	}
	checkPageHeaders(t, r, "text/css; charset=utf-8")
	if r := ts.do(t, "GET", "/versions", "", ""); r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /versions is no longer JSON: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r := ts.do(t, "POST", "/", "", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d; the page is read-only", r.status)
	}
}

// The view is cached: a version rejected after the page was built appears
// only after the TTL, and a promotion (the store serves another version)
// rebuilds it at once.
func TestPageCacheFollowsTheStore(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.page.ttl = time.Hour
	mlkit.PromoteDay(t, ts.dir, "day_02.csv")
	if _, err := ts.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := ts.page.current()
	rejected := mlkit.PromoteDay(t, ts.dir, "day_03.csv") // worse than day 2 on its rows: rejected
	if rejected.Promoted {
		t.Fatalf("day 3 was promoted over day 2; the test needs a rejection")
	}
	if v := ts.page.current(); v != first || v.h.Lookup(rejected.VersionID) != nil {
		t.Fatalf("the view was rebuilt within its TTL with nothing served changing")
	}
	old := *first
	old.builtAt = time.Now().Add(-2 * time.Hour) // past the TTL, and past 20 times its build time
	ts.page.view.Store(&old)
	if v := ts.page.current(); v == &old || v.h.Lookup(rejected.VersionID) == nil {
		t.Fatalf("past the TTL the rejected version is not listed")
	}
	// A slow build keeps its view longer than the TTL.
	ts.page.ttl = 0
	slow := *ts.page.view.Load()
	slow.took = time.Hour
	ts.page.view.Store(&slow)
	if v := ts.page.current(); v != &slow {
		t.Fatalf("a view that took an hour to build was rebuilt at once")
	}
	ts.page.ttl = time.Hour
	before := ts.page.current()
	promoted := mlkit.PromoteDay(t, ts.dir, "day_05.csv")
	if !promoted.Promoted {
		t.Fatalf("day 5 was not promoted over day 2; the test needs a promotion")
	}
	if _, err := ts.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := ts.page.current()
	if v == before || v.h.Serving.VersionID != promoted.VersionID {
		t.Fatalf("a promotion did not rebuild the view")
	}
}

// A data file named like markup is shown as text on every page.
func TestPageEscapesDataFileName(t *testing.T) {
	ts := newTestServer(t, nil)
	src, err := os.ReadFile("../../data/day_01.csv")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), `"><script>alert(1)<script>.csv`)
	if err := os.WriteFile(name, src, 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := mlservice.ValidateFile(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := mlservice.Train(context.Background(), ds, mlservice.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := mlservice.Promote(context.Background(), ts.dir, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.store.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/ui/versions/" + d.VersionID} {
		body := string(ts.do(t, "GET", path, "", "").body)
		if strings.Contains(body, "<script") {
			t.Errorf("%s has a live <script", path)
		}
		if !strings.Contains(body, "&#34;&gt;&lt;script&gt;alert(1)&lt;script&gt;.csv") {
			t.Errorf("%s does not show the file name as text", path)
		}
	}
}
