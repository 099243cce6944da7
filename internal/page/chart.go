package page

// The charts are SVG written by the templates from the geometry below. Not
// gonum/plot's SVG backend: it styles every element with an inline style
// attribute, which a strict Content-Security-Policy (style-src 'self')
// blocks; it cannot give a point a link, a class or a tooltip; and it would
// add font and drawing packages to both binaries for a few lines and
// circles. Here the style sheet colours elements by class, each point links
// to its version, and 1000 points cost a few hundred microseconds.

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Frame of the F1 chart, in SVG user units (the viewBox; CSS scales it).
const (
	chartW, chartH = 800, 260
	padL, padR     = 52, 16
	padT, padB     = 14, 46
)

type chart struct {
	W, H          int
	Left, Right   int
	Top, Bottom   int
	YTicks        []tick
	XTicks        []tick
	Points        []point
	Trend         string // SVG points of the promoted versions' polyline
	Empty         bool
	Title, Legend string
}

type tick struct {
	Pos    string // x or y, in user units
	Label  string
	Anchor string // text-anchor of an x label: the first starts, the last ends at its point
	Mid    bool   // an x label between the first and the last, hidden on phones
}

type point struct {
	X, Y    string
	ID      string
	Href    string
	Class   string // the decision
	Current bool
	Title   string
}

func num(x float64) string { return fmt.Sprintf("%.1f", x) }

// newF1Chart draws F1 against training time: one point per readable
// version, coloured by decision, the current one ringed, and a line through
// the promoted ones.
func newF1Chart(h *History, href func(string) string) *chart {
	c := &chart{W: chartW, H: chartH, Left: padL, Right: chartW - padR, Top: padT, Bottom: chartH - padB}
	vs := h.oldestFirst()
	if len(vs) == 0 {
		c.Empty = true
		return c
	}
	lo, hi := 1.0, 0.0
	t0, t1 := vs[0].Meta.TrainedAt, vs[0].Meta.TrainedAt
	for _, v := range vs {
		f := v.Meta.Metrics.F1
		if !math.IsNaN(f) {
			lo, hi = min(lo, f), max(hi, f)
		}
		t := v.Meta.TrainedAt
		if t.Before(t0) {
			t0 = t
		}
		if t.After(t1) {
			t1 = t
		}
	}
	// The F1 axis: whole tenths around the data, at least 0.2 tall.
	lo, hi = math.Floor(lo*10)/10, math.Ceil(hi*10)/10
	if hi <= lo { // no finite F1
		lo, hi = 0, 1
	}
	for hi-lo < 0.2 {
		lo, hi = max(0, lo-0.1), min(1, hi+0.1)
	}
	step := 0.1
	if hi-lo > 0.5 {
		step = 0.2
	}
	plotW, plotH := float64(c.Right-c.Left), float64(c.Bottom-c.Top)
	y := func(f float64) float64 {
		if math.IsNaN(f) {
			f = lo
		}
		return float64(c.Bottom) - (f-lo)/(hi-lo)*plotH
	}
	for f := lo; f <= hi+1e-9; f += step {
		c.YTicks = append(c.YTicks, tick{Pos: num(y(f)), Label: fmt.Sprintf("%.1f", f)})
	}
	span := t1.Sub(t0)
	x := func(t time.Time) float64 {
		if span <= 0 {
			return float64(c.Left) + plotW/2
		}
		return float64(c.Left) + float64(t.Sub(t0))/float64(span)*plotW
	}
	layout := timeLayout(span)
	if span <= 0 {
		c.XTicks = []tick{{Pos: num(x(t0)), Label: t0.UTC().Format(layout), Anchor: "middle"}}
	} else {
		for i := 0; i <= 3; i++ {
			t := t0.Add(span * time.Duration(i) / 3)
			tk := tick{Pos: num(x(t)), Label: t.UTC().Format(layout), Anchor: "middle", Mid: i > 0 && i < 3}
			switch i {
			case 0:
				tk.Anchor = "start"
			case 3:
				tk.Anchor = "end"
			}
			c.XTicks = append(c.XTicks, tk)
		}
	}
	trend := make([]byte, 0, 16*len(vs))
	for _, v := range vs {
		px, py := x(v.Meta.TrainedAt), y(v.Meta.Metrics.F1)
		p := point{X: num(px), Y: num(py), ID: v.VersionID, Href: href(v.VersionID), Class: decided(v.Decision),
			Current: v.Current,
			Title:   fmt.Sprintf("%s: F1 %s, %s, %s", v.VersionID, f4(v.Meta.Metrics.F1), v.Decision, v.Meta.TrainingDataFile)}
		c.Points = append(c.Points, p)
		if v.Decision == "promoted" {
			trend = fmt.Appendf(trend, "%s,%s ", p.X, p.Y)
		}
	}
	c.Trend = string(trend)
	return c
}

// timeLayout formats the time axis of a span so that its ticks, a third
// of it apart, read differently: dates for weeks, minutes for days,
// fractions of a second for the versions of one test run.
func timeLayout(span time.Duration) string {
	switch {
	case span >= 14*24*time.Hour:
		return "2006-01-02"
	case span >= 6*time.Hour:
		return "01-02 15:04"
	case span >= 3*time.Minute:
		return "15:04"
	case span >= 3*time.Second:
		return "15:04:05"
	}
	return "15:04:05.000"
}

// barChart is a horizontal bar per feature, around a zero line.
type barChart struct {
	ID, Title, Note, Aria string // the section: the chart's id is ID+"-chart"
	W, H                  int
	Zero                  string
	Top                   int
	Bottom                int
	Bars                  []bar
}

type bar struct {
	Label         string
	X, Y, W       string // the bar's rectangle, height barH
	TextX, TextY  string
	Value         string
	Neg           bool
	LabelY        string
	ValueAnchorAt string // "start" or "end"
}

const (
	barW, barRow, barH = 520, 30, 18
	barLabelW          = 170
	barPad             = 58 // room for the value text on either side
)

// newCoefChart draws one signed value per feature (a contribution to the
// log-odds), bars left of zero for negative values; with none, zero is at
// the left.
func newCoefChart(names []string, coef []float64) *barChart {
	b := &barChart{W: barW, H: len(names)*barRow + 10, Top: 4}
	b.Bottom = b.H - 4
	maxAbs := 0.0
	for _, c := range coef {
		if !math.IsNaN(c) {
			maxAbs = max(maxAbs, math.Abs(c))
		}
	}
	if maxAbs == 0 {
		maxAbs = 1
	}
	left, right := float64(barLabelW+barPad), float64(barW-barPad)
	zero := (left + right) / 2
	half := (right - left) / 2
	if !slices.ContainsFunc(coef, func(c float64) bool { return c < 0 }) {
		zero, half = left-barPad/2, right-left+barPad/2 // no bar goes left: zero at the left
	}
	b.Zero = num(zero)
	for i, name := range names {
		c := coef[i]
		if math.IsNaN(c) {
			c = 0
		}
		w := math.Abs(c) / maxAbs * half
		top := float64(i*barRow + 6)
		br := bar{Label: name, Y: num(top), W: num(w), TextY: num(top + barH - 4), LabelY: num(top + barH - 4),
			Value: fmt.Sprintf("%+.3f", coef[i]), Neg: c < 0}
		if c < 0 {
			br.X, br.TextX, br.ValueAnchorAt = num(zero-w), num(zero-w-4), "end"
		} else {
			br.X, br.TextX, br.ValueAnchorAt = num(zero), num(zero+w+4), "start"
		}
		b.Bars = append(b.Bars, br)
	}
	return b
}
