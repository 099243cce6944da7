package tabular_test

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mlservice/mlservice/internal/tabular"
)

func cells(c *tabular.Column) []tabular.Cell {
	out := make([]tabular.Cell, c.Len())
	for i := range out {
		out[i] = c.At(i)
	}
	return out
}

func TestColumnAppend(t *testing.T) {
	num := func(v float64) tabular.Cell { return tabular.Cell{Kind: tabular.Number, Num: v} }
	str := func(s string) tabular.Cell { return tabular.Cell{Kind: tabular.String, Str: s} }
	boolean := func(v float64) tabular.Cell { return tabular.Cell{Kind: tabular.Bool, Num: v} }
	null := tabular.Cell{}
	for _, tc := range []struct {
		name    string
		build   func(c *tabular.Column)
		want    []tabular.Cell
		uniform bool
	}{
		{"numbers", func(c *tabular.Column) { c.Grow(2, tabular.Number); c.AppendNumber(1.5); c.AppendNumber(-2) },
			[]tabular.Cell{num(1.5), num(-2)}, true},
		{"strings", func(c *tabular.Column) { c.AppendString("a"); c.AppendString("") },
			[]tabular.Cell{str("a"), str("")}, true},
		{"null then number", func(c *tabular.Column) { c.AppendNull(); c.AppendNumber(3) },
			[]tabular.Cell{null, num(3)}, false},
		{"NaN is null", func(c *tabular.Column) { c.AppendNumber(1); c.AppendNumber(math.NaN()) },
			[]tabular.Cell{num(1), null}, false},
		{"every kind", func(c *tabular.Column) {
			c.AppendString("x")
			c.AppendBool(true)
			c.AppendNull()
			c.AppendNumber(7)
			c.AppendString("y")
			c.AppendBool(false)
		}, []tabular.Cell{str("x"), boolean(1), null, num(7), str("y"), boolean(0)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c tabular.Column
			tc.build(&c)
			if diff := cmp.Diff(tc.want, cells(&c)); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
			if _, ok := c.Uniform(); ok != tc.uniform {
				t.Errorf("Uniform = %v, want %v", ok, tc.uniform)
			}
			nums, ok := c.Numbers()
			allNum := true
			for _, w := range tc.want {
				allNum = allNum && w.Kind == tabular.Number
			}
			if ok != allNum {
				t.Fatalf("Numbers ok = %v, want %v", ok, allNum)
			}
			for i := range nums {
				if nums[i] != tc.want[i].Num {
					t.Errorf("Numbers()[%d] = %v, want %v", i, nums[i], tc.want[i].Num)
				}
			}
		})
	}
}

func TestNumberColumnNaN(t *testing.T) {
	vals := []float64{1, math.NaN(), 3}
	c := tabular.NumberColumn("x", vals)
	want := []tabular.Cell{{Kind: tabular.Number, Num: 1}, {}, {Kind: tabular.Number, Num: 3}}
	if diff := cmp.Diff(want, cells(&c)); diff != "" {
		t.Errorf("cells (-want +got):\n%s", diff)
	}
	if !math.IsNaN(vals[1]) {
		t.Error("NumberColumn changed the caller's slice")
	}
	if _, ok := c.Numbers(); ok {
		t.Error("Numbers ok for a column with a null")
	}
}

func TestAllNumeric(t *testing.T) {
	if !tabular.AllNumeric([]tabular.Feature{{Name: "a", Type: tabular.FeatureNumber}, {Name: "b", Type: tabular.FeatureBinary}}) {
		t.Error("number and binary features: want all numeric")
	}
	if tabular.AllNumeric([]tabular.Feature{{Name: "a", Type: tabular.FeatureNumber}, {Name: "c", Type: tabular.FeatureCategory}}) {
		t.Error("a category feature: want not all numeric")
	}
}

func TestAtOutOfRangePanics(t *testing.T) {
	var c tabular.Column
	c.AppendNull()
	defer func() {
		if recover() == nil {
			t.Error("At(1) of a one-cell column did not panic")
		}
	}()
	c.At(1)
}

func TestInterner(t *testing.T) {
	var in tabular.Interner
	a := in.String([]byte("basic"))
	b := in.String([]byte("basic"))
	if a != "basic" || b != "basic" {
		t.Errorf("String gave %q and %q", a, b)
	}
	for i := range 40 {
		if s := in.String([]byte{byte('a' + i%26), byte(i)}); s != string([]byte{byte('a' + i%26), byte(i)}) {
			t.Fatalf("String = %q", s)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { in.String([]byte("basic")) }); allocs != 0 {
		t.Errorf("an interned value allocates %v times", allocs)
	}
}
