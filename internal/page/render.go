package page

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/mlservice/mlservice"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed style.css
var styleCSS []byte

// StyleCSS returns the style sheet the pages link to (a copy).
func StyleCSS() []byte { return bytes.Clone(styleCSS) }

// ContentSecurityPolicy is the policy the pages are written for: nothing
// but the style sheet from their own origin, no script, no form, no frame.
// The server sends it with every page.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var templates = template.Must(template.New("page").Funcs(template.FuncMap{
	"f4":      f4,
	"g4":      g4,
	"pct":     pct,
	"when":    when,
	"utc":     utc,
	"decided": decided,
}).ParseFS(templateFiles, "templates/*.html"))

// Links says where the pages are. The server serves them under one origin;
// a report writes them as files beside each other, with relative links.
type Links struct {
	// Static selects the report's layout: index.html, style.css and
	// versions/ID.html, linked relatively. Otherwise the server's: /,
	// /ui/style.css and /ui/versions/ID.
	Static bool
	// Prefix is put before the server's index and version paths (not the
	// style sheet's): "/models/NAME" when a server serves several models.
	Prefix string
}

// Paths of the server's pages.
const (
	IndexPath   = "/"
	StylePath   = "/ui/style.css"
	VersionPath = "/ui/versions/" // followed by the id
)

// VersionFile is where a report writes version id's page, relative to its
// directory.
func VersionFile(id string) string { return "versions/" + id + ".html" }

func (l Links) indexHrefs() (css string, version func(string) string) {
	if l.Static {
		return "style.css", VersionFile
	}
	return StylePath, func(id string) string { return l.Prefix + VersionPath + id }
}

func (l Links) versionHrefs() (css, index string, version func(string) string) {
	if l.Static {
		return "../style.css", "../index.html", func(id string) string { return id + ".html" }
	}
	return StylePath, l.Prefix + IndexPath, func(id string) string { return l.Prefix + VersionPath + id }
}

type indexData struct {
	Drift   *driftView
	CSS     string
	H       *History
	Rows    []row
	Chart   *chart
	Serving *row // the serving version's row, if listed
}

type row struct {
	*Version
	Href string
}

// WriteIndex writes the history page.
func WriteIndex(w io.Writer, h *History, l Links) error {
	css, href := l.indexHrefs()
	d := indexData{CSS: css, H: h, Chart: newF1Chart(h, href), Drift: newDriftView(h.Serving.Drift)}
	for _, v := range h.Versions {
		d.Rows = append(d.Rows, row{Version: v, Href: href(v.VersionID)})
	}
	for i := range d.Rows {
		if d.Rows[i].VersionID == h.Serving.VersionID {
			d.Serving = &d.Rows[i]
		}
	}
	return templates.ExecuteTemplate(w, "index.html", d)
}

type versionData struct {
	CSS, Index string
	H          *History
	V          *Version
	Serving    bool // this version serves predictions
	Newer      *row
	Older      *row
	Coef       *barChart
	Gain       *barChart // a trees model's total gain per feature
	Features   []featureRow
	Drift      *driftView // when this version serves and drift is counted
}

type featureRow struct {
	mlservice.FeatureStats
	Number       bool    // a number feature: FeatureStats holds its statistics
	Contribution float64 // mean absolute contribution to the log-odds
}

// ErrNoVersion is returned by WriteVersion for an id the History does not
// list.
var ErrNoVersion = fmt.Errorf("no such version")

// WriteVersion writes version id's page, or returns ErrNoVersion.
func WriteVersion(w io.Writer, h *History, id string, l Links) error {
	v := h.Lookup(id)
	if v == nil {
		return ErrNoVersion
	}
	css, index, href := l.versionHrefs()
	d := versionData{CSS: css, Index: index, H: h, V: v, Serving: h.Serving.Ready && h.Serving.VersionID == id}
	for i, o := range h.Versions {
		if o != v {
			continue
		}
		if i > 0 {
			d.Newer = &row{Version: h.Versions[i-1], Href: href(h.Versions[i-1].VersionID)}
		}
		if i+1 < len(h.Versions) {
			d.Older = &row{Version: h.Versions[i+1], Href: href(h.Versions[i+1].VersionID)}
		}
	}
	if d.Serving {
		d.Drift = newDriftView(h.Serving.Drift)
	}
	// What the page shows of the model is what every family's metadata
	// records: each feature's mean contribution, whatever the model is.
	if v.Meta != nil && len(v.Meta.Importance) > 0 {
		names := make([]string, len(v.Meta.Importance))
		values := make([]float64, len(v.Meta.Importance))
		for j, fi := range v.Meta.Importance {
			names[j], values[j] = fi.Name, fi.MeanAbsContribution
			fr := featureRow{FeatureStats: mlservice.FeatureStats{Name: fi.Name}, Contribution: fi.MeanAbsContribution}
			for _, fs := range v.Meta.Features {
				if fs.Name == fi.Name {
					fr.FeatureStats, fr.Number = fs, true
				}
			}
			d.Features = append(d.Features, fr)
		}
		d.Coef = newCoefChart(names, values)
		d.Coef.ID, d.Coef.Title, d.Coef.Aria = "coef", "Feature contributions", "mean absolute contributions to the log-odds"
		d.Coef.Note = "How far each feature moves the log-odds of class 1, on average over the evaluation rows (the mean absolute contribution, whatever the model's family)."
		for j, fi := range v.Meta.Importance {
			values[j] = fi.TotalGain
		}
		if v.Meta.ModelFamily == mlservice.FamilyGBDT {
			d.Gain = newCoefChart(names, values)
			d.Gain.ID, d.Gain.Title, d.Gain.Aria = "gain", "Feature importance (total gain)", "total gain per feature"
			d.Gain.Note = "The trees' loss reduction by the splits on each feature, summed over the trees."
			for j := range d.Gain.Bars {
				d.Gain.Bars[j].Value = g4(values[j]) // a gain has no sign
			}
		}
	}
	return templates.ExecuteTemplate(w, "version.html", d)
}

// driftView is a DriftReport for people: PSI read as stable (< 0.1),
// moderate (< 0.25) or large.
type driftView struct {
	Rows, MinRows          string
	PositiveRate, BaseRate string
	Sampling               string // which predicted rows are counted
	Features               []driftFeature
	Worst                  *driftFeature // the largest PSI, once there is one
}

type driftFeature struct {
	Name, PSI, Level string
}

func newDriftView(r *mlservice.DriftReport) *driftView {
	if r == nil {
		return nil
	}
	d := &driftView{Rows: fmt.Sprint(r.Rows), MinRows: fmt.Sprint(r.MinRows), PositiveRate: "n/a", BaseRate: pct(r.TrainingPositiveRate),
		Sampling: r.Sampling}
	if r.Sampling == "" {
		d.Sampling = "every row"
	}
	if r.PositiveRate != nil {
		d.PositiveRate = pct(*r.PositiveRate)
	}
	worst := -1.0
	for _, f := range r.Features {
		df := driftFeature{Name: f.Name, PSI: "n/a", Level: "pending"}
		if f.PSI != nil {
			df.PSI = f4(*f.PSI)
			switch p := *f.PSI; {
			case p < 0.1:
				df.Level = "stable"
			case p < 0.25:
				df.Level = "moderate"
			default:
				df.Level = "large"
			}
			if *f.PSI > worst {
				worst = *f.PSI
				d.Worst = &df
			}
		}
		d.Features = append(d.Features, df)
	}
	return d
}

func f4(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.4f", x)
}

// g4 writes a feature statistic: four significant digits, never in
// exponent form for the magnitudes of the data contract.
func g4(x float64) string {
	switch a := math.Abs(x); {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "n/a"
	case a >= 1e4:
		return fmt.Sprintf("%.0f", x)
	case a != 0 && a < 1e-3:
		return fmt.Sprintf("%.3g", x)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", x), "0"), ".")
}

func pct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f %%", 100*x)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// utc is when without the zone, for a column whose heading names it.
func utc(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

// decided is the CSS class of a decision: one of a known few, so a strange
// value in history.jsonl cannot reach the class attribute as anything but
// "other".
func decided(d string) string {
	switch d {
	case mlservice.DecisionPromoted, mlservice.DecisionRejected, mlservice.DecisionInterrupted:
		return d
	}
	return "other"
}

// trimID shortens a version id for an axis label: its date and time.
func trimID(id string) string {
	if i := strings.IndexByte(id, '.'); i > 0 {
		return id[:i]
	}
	return id
}
