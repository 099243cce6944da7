package page

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/model"
	"github.com/mlservice/mlservice/model/gbdt"
)

// fakeVersion is a readable version with plausible figures.
func fakeVersion(i int, t time.Time, decision string, current bool, file string) *Version {
	id := fmt.Sprintf("%s.%06dZ-%08x", t.UTC().Format("20060102T150405"), i%1000000, i)
	f1 := 0.45 + float64(i%37)/100
	meta := &mlservice.Metadata{
		ModelVersionID:   id,
		Metric:           mlservice.Metric{Name: "f1", Value: f1},
		Metrics:          mlservice.Metrics{F1: f1, Precision: 0.6, Recall: 0.5, Accuracy: 0.7, ROCAUC: 0.8, LogLoss: 0.5, Confusion: [2][2]int{{500, 80}, {120, 300}}, Rows: 1000},
		TrainingDataFile: file,
		TrainedAt:        t,
		Data:             mlservice.DataInfo{Rows: 5000, ClassCounts: [2]int{3000, 2000}, TrainRows: 4000, EvalRows: 1000, Split: "stratified"},
		Features: []mlservice.FeatureStats{
			{Name: "age", Mean: 41.2, Std: 11.5, Min: 18, Max: 90},
			{Name: "income", Mean: 52000.7, Std: 15000, Min: 0, Max: 250000},
		},
		Promotion:  mlservice.Promotion{Reason: "first version"},
		Importance: []mlservice.FeatureImportance{{Name: "age", MeanAbsContribution: 0.8}, {Name: "income", MeanAbsContribution: 0.3}},
	}
	m, err := model.NewLogistic(model.Layout{{Name: "age"}, {Name: "income"}}, []string{"age", "income"},
		[]float64{41, 52000}, []float64{11, 15000}, []float64{0.8, -0.3}, 0)
	if err != nil {
		panic(err)
	}
	return &Version{
		VersionInfo: mlservice.VersionInfo{VersionID: id, TrainedAt: t, Metric: meta.Metric, Decision: decision,
			Reason: "F1 0.6 > 0.5", TrainingDataFile: file, Current: current},
		Meta: meta, Model: m,
	}
}

// fakeHistory has n versions an hour apart, newest first; every third is
// rejected and the newest promoted one is current.
func fakeHistory(n int) *History {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vs := make([]*Version, n)
	current := ""
	for i := n - 1; i >= 0; i-- {
		decision := mlservice.DecisionPromoted
		if i%3 == 1 {
			decision = mlservice.DecisionRejected
		}
		v := fakeVersion(i, t0.Add(time.Duration(i)*time.Hour), decision, false, fmt.Sprintf("day_%02d.csv", i%14+1))
		if current == "" && decision == mlservice.DecisionPromoted {
			v.Current, current = true, v.VersionID
		}
		vs[n-1-i] = v
	}
	return newHistory(Serving{Source: "server", Ready: true, VersionID: current, LoadedAt: t0}, vs)
}

func TestIndexListsEveryVersionAndOnePointEach(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := fakeHistory(n)
			var buf bytes.Buffer
			if err := WriteIndex(&buf, h, Links{}); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, v := range h.Versions {
				if !strings.Contains(out, `href="/ui/versions/`+v.VersionID+`"`) {
					t.Errorf("no link to %s", v.VersionID)
				}
			}
			if got := strings.Count(out, `<circle class="point `); got != n {
				t.Errorf("%d points for %d versions", got, n)
			}
			if got := strings.Count(out, `<tr class="version`); got != n {
				t.Errorf("%d rows for %d versions", got, n)
			}
			if n > 0 && len(regexp.MustCompile(`<circle class="point [a-z]+ current"`).FindAllString(out, -1)) != 1 {
				t.Errorf("want exactly one current point")
			}
		})
	}
}

// Every value from the artifacts is text to html/template: a data file
// named like markup, a reason with quotes and an unknown decision render
// inert.
func TestHostileValuesRenderInert(t *testing.T) {
	const evil = `<script>alert(1)</script>.csv`
	h := fakeHistory(3)
	for _, v := range h.Versions {
		v.TrainingDataFile, v.Meta.TrainingDataFile = evil, evil
		v.Reason = `"><img src=x onerror=alert(2)>`
		v.Meta.Features[0].Name = `<b onmouseover=alert(3)>`
		v.Meta.Importance[0].Name = `<b onmouseover=alert(3)>`
	}
	h.Versions[0].Decision = `x" onload="alert(4)`
	h.Serving.LastError = `<iframe src=//evil>`
	var pages []string
	var buf bytes.Buffer
	if err := WriteIndex(&buf, h, Links{}); err != nil {
		t.Fatal(err)
	}
	pages = append(pages, buf.String())
	for _, v := range h.Versions {
		buf.Reset()
		if err := WriteVersion(&buf, h, v.VersionID, Links{Static: true}); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, buf.String())
	}
	for i, out := range pages {
		for _, bad := range []string{"<script", "<img", "<iframe", "<b ", `" onload=`, "onerror=alert(2)>"} {
			if strings.Contains(out, bad) {
				t.Errorf("page %d contains %q unescaped", i, bad)
			}
		}
		if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;.csv") {
			t.Errorf("page %d does not show the file name as text", i)
		}
	}
}

func TestVersionPage(t *testing.T) {
	h := fakeHistory(3)
	v := h.Versions[1]
	var buf bytes.Buffer
	if err := WriteVersion(&buf, h, v.VersionID, Links{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{v.VersionID, `id="confusion"`, ">500<", ">80<", ">120<", ">300<", `id="coef-chart"`,
		`id="features"`, "52001", `href="/ui/versions/` + h.Versions[0].VersionID + `"`, `href="/"`} {
		if !strings.Contains(out, want) {
			t.Errorf("version page lacks %q", want)
		}
	}
	if err := WriteVersion(&buf, h, "20990101T000000.000000Z-00000000", Links{}); err != ErrNoVersion {
		t.Errorf("unknown version: %v, want ErrNoVersion", err)
	}
}

// A trees version's page shows its family, settings, the auto choice and
// a total-gain chart; a logistic one's shows neither chart nor tree rows.
func TestVersionPageTrees(t *testing.T) {
	h := fakeHistory(2)
	v := h.Versions[0]
	v.Meta.ModelFamily = mlservice.FamilyGBDT
	v.Meta.Params = mlservice.Params{Model: "gbdt", Family: "auto",
		TreeOptions: &mlservice.TreeOptions{Trees: 200, MaxDepth: 6, LearningRate: 0.1, EarlyStopping: true},
		Trees:       &gbdt.Params{Source: "trained", Trees: 58, MaxDepth: 6, LearningRate: 0.1, EarlyStopping: true, RoundsTrained: 78, BestIteration: 58, ValidationRows: 375},
		Auto:        &mlservice.FamilyChoice{Chosen: "gbdt", Reason: "gbdt f1 0.76 better than logistic 0.24 on 750 validation rows"}}
	v.Meta.Importance[0].TotalGain, v.Meta.Importance[1].TotalGain = 812.5, 97.25
	page := func(v *Version) string {
		var buf bytes.Buffer
		if err := WriteVersion(&buf, h, v.VersionID, Links{}); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	out := page(v)
	for _, want := range []string{`<td id="family">gbdt <span class="muted">(chosen by auto)</span>`, "gbdt f1 0.76 better than logistic 0.24",
		"<td>58, depth ≤ 6, learning rate 0.1</td>", "best round 58 of 78, on 375 held-out training rows",
		"200 trees, max depth 6, learning rate 0.1, early stopping on", `id="gain-chart"`, "<title>age 812.5</title>", "<title>income 97.25</title>"} {
		if !strings.Contains(out, want) {
			t.Errorf("trees version page lacks %q", want)
		}
	}
	// The longer bar is the larger gain.
	bars := regexp.MustCompile(`<rect class="bar" x="[0-9.]+" y="[0-9.]+" width="([0-9.]+)" height="18"><title>(age|income) [0-9.]+</title>`).FindAllStringSubmatch(out[strings.Index(out, "gain-chart"):], -1)
	if len(bars) != 2 {
		t.Fatalf("gain bars %v", bars)
	}
	if age, income := parseFloat(t, bars[0][1]), parseFloat(t, bars[1][1]); math.Abs(income/age-97.25/812.5) > 0.01 {
		t.Errorf("gain bars %v and %v wide, want in the ratio of 97.25 to 812.5", age, income)
	}
	out = page(h.Versions[1])
	if !strings.Contains(out, `<td id="family">logistic</td>`) || strings.Contains(out, "gain-chart") || strings.Contains(out, "Tree settings") {
		t.Errorf("logistic version page: family or trees wrong")
	}
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Load reads a real artifacts directory: versions with their decisions,
// metadata and model, and a version directory gone since drops out.
func TestLoadRealArtifacts(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ids := promoteDays(t, dir, "day_01.csv", "day_02.csv")
	l := NewLoader(mlservice.DirArtifacts(dir))
	h, err := l.Load(ctx, Serving{Source: "report"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Versions) != 2 || h.Versions[0].VersionID != ids[1] || h.Versions[1].VersionID != ids[0] {
		t.Fatalf("versions %v, want %v newest first", h.Versions, ids)
	}
	for _, v := range h.Versions {
		if v.Meta == nil || v.Model == nil || v.Error != "" {
			t.Fatalf("%s: meta %v, model %v, error %q", v.VersionID, v.Meta != nil, v.Model != nil, v.Error)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, "models", "versions", ids[0])); err != nil {
		t.Fatal(err)
	}
	h, err = l.Load(ctx, Serving{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Versions) != 1 || len(l.details) != 1 {
		t.Fatalf("after removing a version: %d versions, %d cached", len(h.Versions), len(l.details))
	}
}

var sink bytes.Buffer

// BenchmarkPageIndex1000 renders the history page of 1000 versions from a
// built History, as the server does per request.
func BenchmarkPageIndex1000(b *testing.B) {
	h := fakeHistory(1000)
	b.ReportAllocs()
	for b.Loop() {
		sink.Reset()
		if err := WriteIndex(&sink, h, Links{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(sink.Len()), "bytes/page")
}

// With a drift report, the serving version's page and the index show PSI
// and the positive rates; another version's page does not.
func TestDriftShownForTheServingVersion(t *testing.T) {
	h := fakeHistory(3)
	big, small := 9.0, 0.01
	rate := 0.5
	h.Serving.Drift = &mlservice.DriftReport{Rows: 3000, Positives: 1500, PositiveRate: &rate, TrainingPositiveRate: 0.4,
		MinRows: mlservice.MinDriftRows, Features: []mlservice.FeatureDrift{{Name: "age", PSI: &big}, {Name: "income", PSI: &small}}}
	var buf bytes.Buffer
	if err := WriteVersion(&buf, h, h.Serving.VersionID, Links{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="drift"`, `<tr><th>age</th><td class="n">9.0000</td><td><span class="psi large">large</span>`,
		`<span class="psi stable">stable</span>`, "50.0 %", "40.0 %"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("serving version's page lacks %q", want)
		}
	}
	for _, v := range h.Versions {
		if v.VersionID == h.Serving.VersionID {
			continue
		}
		buf.Reset()
		if err := WriteVersion(&buf, h, v.VersionID, Links{}); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), `id="drift"`) {
			t.Errorf("%s does not serve but shows drift", v.VersionID)
		}
	}
	buf.Reset()
	if err := WriteIndex(&buf, h, Links{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `largest drift <b class="psi large">9.0000</b> (age, large)`) {
		t.Errorf("index lacks the largest drift")
	}
}

// After a rollback the index says CURRENT is pinned and by which rollback,
// the row and the page of the version rolled back to carry the pin, and a
// skipped history line is named.
func TestPageShowsRollbackAndPin(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	ids := promoteDays(t, dir, "day_01.csv", "day_02.csv")
	if _, err := mlservice.Rollback(ctx, dir, ids[0]); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "models", "history.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("not a record\n")
	f.Close()

	h, err := NewLoader(mlservice.DirArtifacts(dir)).Load(ctx, Serving{Source: "report", Ready: true, VersionID: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteIndex(&buf, h, Links{Static: true}); err != nil {
		t.Fatal(err)
	}
	index := buf.String()
	pin := regexp.MustCompile(`(?s)<p class="status warn" id="pin">.*?</p>`).FindString(index)
	if !strings.Contains(pin, "<code>"+ids[0]+"</code> by a rollback at ") || !strings.Contains(pin, "from <code>"+ids[1]+"</code>") ||
		!strings.Contains(pin, "trainer unpin") {
		t.Errorf("index's pin line: %q", pin)
	}
	row := regexp.MustCompile(`(?s)<tr class="version current" data-version="` + ids[0] + `">.*?</tr>`).FindString(index)
	if !strings.Contains(row, `class="badge pinned"`) || !strings.Contains(row, "rolled back to") {
		t.Errorf("the pinned version's row: %q", row)
	}
	other := regexp.MustCompile(`(?s)<tr class="version" data-version="` + ids[1] + `">.*?</tr>`).FindString(index)
	if other == "" || strings.Contains(other, "pinned") || strings.Contains(other, "rolled back") {
		t.Errorf("the other version's row: %q", other)
	}
	if !strings.Contains(index, `id="history-warnings"`) || !strings.Contains(index, "models/history.jsonl line 4 skipped") {
		t.Errorf("index does not name the skipped history line")
	}
	buf.Reset()
	if err := WriteVersion(&buf, h, ids[0], Links{Static: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `class="badge pinned"`) || !strings.Contains(buf.String(), "rolled back to") {
		t.Errorf("the pinned version's page lacks the pin")
	}
}

// promoteDays trains each day of data/ and promotes it into dir, returning
// the version ids in order.
func promoteDays(t *testing.T, dir string, days ...string) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for _, day := range days {
		ds, err := mlservice.ValidateFile(ctx, filepath.Join("..", "..", "data", day))
		if err != nil {
			t.Fatal(err)
		}
		c, err := mlservice.Train(ctx, ds, mlservice.TrainOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := mlservice.Promote(ctx, dir, c)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.VersionID)
	}
	return ids
}
