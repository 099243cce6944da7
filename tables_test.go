package mlservice_test

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

// tablesDir holds real public tables, a schema file for each and what
// scikit-learn fits on them (golden.json, written by make_golden.py there).
const tablesDir = "testdata/tables"

// tablesGolden is testdata/tables/golden.json.
type tablesGolden struct {
	Command        string `json:"command"`
	SklearnVersion string `json:"sklearn_version"`
	NumpyVersion   string `json:"numpy_version"`
	Tables         []struct {
		CSV     string   `json:"csv"`
		Rows    int      `json:"rows"`
		Columns []string `json:"columns"`
		SHA256  string   `json:"sha256"`
		Bytes   int      `json:"bytes"`
	} `json:"tables"`
	Cases []tableCase `json:"cases"`
}

type tableCase struct {
	Name        string              `json:"name"`
	CSV         string              `json:"csv"`
	Schema      string              `json:"schema"`
	Balanced    bool                `json:"balanced"`
	Rows        int                 `json:"rows"`
	Positives   int                 `json:"positives"`
	Target      tableTarget         `json:"target"`
	Numeric     []string            `json:"numeric"`
	Categorical []string            `json:"categorical"`
	Declared    map[string]bool     `json:"categories_declared"`
	Unknown     map[string]string   `json:"unknown"`
	Categories  map[string][]string `json:"categories"`
	Scaler      map[string]struct {
		Mean  *float64 `json:"mean"`
		Scale *float64 `json:"scale"`
	} `json:"scaler"`
	FeatureNamesOut    []string    `json:"feature_names_out"`
	Encoded            []string    `json:"encoded_columns"`
	EncodedSchemaOrder []string    `json:"encoded_columns_schema_order"`
	DefaultTol         tableFit    `json:"default_tol"`
	Exact              tableFit    `json:"exact"`
	Probabilities      []float64   `json:"probabilities"`
	Metrics            tableMetric `json:"metrics"`
	Probes             []struct {
		Row         map[string]any `json:"row"`
		Probability float64        `json:"probability"`
	} `json:"probes"`
}

type tableTarget struct {
	Column   string `json:"column"`
	Positive string `json:"positive"`
	Negative string `json:"negative"`
}

type tableFit struct {
	Coef      map[string]float64 `json:"coef"`
	Intercept *float64           `json:"intercept"`
}

type tableMetric struct {
	Threshold *float64  `json:"threshold"`
	F1        *float64  `json:"f1"`
	Precision *float64  `json:"precision"`
	Recall    *float64  `json:"recall"`
	Accuracy  *float64  `json:"accuracy"`
	ROCAUC    *float64  `json:"roc_auc"`
	LogLoss   *float64  `json:"log_loss"`
	Confusion [2][2]int `json:"confusion_matrix"`
}

// tableSchema is the part of a schema file this test needs; it does not use
// the schema code on purpose, so that a change there cannot hide a change here.
type tableSchema struct {
	Name     string      `json:"name"`
	Version  string      `json:"version"`
	Target   tableTarget `json:"target"`
	Features []struct {
		Name       string   `json:"name"`
		Type       string   `json:"type"`
		Categories []string `json:"categories"`
		Unknown    string   `json:"unknown"`
	} `json:"features"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestTablesGolden pins testdata/tables: each table's bytes (an edited table
// is caught), its row count and header, and that golden.json and the schema
// files carry what the parity test needs, consistently with the tables.
func TestTablesGolden(t *testing.T) {
	var g tablesGolden
	readJSON(t, filepath.Join(tablesDir, "golden.json"), &g)
	if g.SklearnVersion == "" || g.NumpyVersion == "" || g.Command == "" {
		t.Errorf("golden.json lacks versions or the command line: %q %q %q", g.SklearnVersion, g.NumpyVersion, g.Command)
	}
	if len(g.Tables) < 2 || len(g.Cases) < 2 {
		t.Fatalf("golden.json has %d tables and %d cases", len(g.Tables), len(g.Cases))
	}

	records := map[string][][]string{}
	for _, tb := range g.Tables {
		data, err := os.ReadFile(filepath.Join(tablesDir, tb.CSV))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != tb.SHA256 || len(data) != tb.Bytes {
			t.Errorf("%s: sha256 %s, %d bytes; golden.json has %s, %d bytes (was the table edited? rerun make_golden.py)",
				tb.CSV, got, len(data), tb.SHA256, tb.Bytes)
		}
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", tb.CSV, err)
		}
		if !slices.Equal(recs[0], tb.Columns) {
			t.Errorf("%s: header %q, golden.json has %q", tb.CSV, recs[0], tb.Columns)
		}
		if len(recs)-1 != tb.Rows {
			t.Errorf("%s: %d rows, golden.json has %d", tb.CSV, len(recs)-1, tb.Rows)
		}
		records[tb.CSV] = recs
	}

	for _, tc := range g.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			recs, ok := records[tc.CSV]
			if !ok {
				t.Fatalf("table %q is not among golden.json's tables", tc.CSV)
			}
			checkTableCase(t, tc, recs)
		})
	}
}

func checkTableCase(t *testing.T, tc tableCase, recs [][]string) {
	var s tableSchema
	readJSON(t, filepath.Join(tablesDir, tc.Schema), &s)
	if s.Name == "" || s.Version == "" || len(s.Features) == 0 {
		t.Fatalf("%s: name %q, version %q, %d features", tc.Schema, s.Name, s.Version, len(s.Features))
	}
	if s.Target != tc.Target {
		t.Errorf("target %+v, schema has %+v", tc.Target, s.Target)
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}

	// The target: only the two labels, as many positives as golden.json says.
	ti, ok := col[s.Target.Column]
	if !ok {
		t.Fatalf("no target column %q", s.Target.Column)
	}
	labels := make([]int, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		switch rec[ti] {
		case s.Target.Positive:
			labels = append(labels, 1)
		case s.Target.Negative:
			labels = append(labels, 0)
		default:
			t.Fatalf("row %d: target %q is neither %q nor %q", i+1, rec[ti], s.Target.Positive, s.Target.Negative)
		}
	}
	if len(labels) != tc.Rows {
		t.Fatalf("%d rows, golden.json has %d", len(labels), tc.Rows)
	}
	if pos := countOnes(labels); pos != tc.Positives {
		t.Errorf("%d positives, golden.json has %d", pos, tc.Positives)
	}

	// The encoding golden.json describes follows from the schema and the table.
	var numeric, categorical, schemaOrder []string
	for _, f := range s.Features {
		if _, ok := col[f.Name]; !ok {
			t.Errorf("feature %q is not a column of %s", f.Name, tc.CSV)
			continue
		}
		switch f.Type {
		case "number", "binary":
			numeric = append(numeric, f.Name)
			schemaOrder = append(schemaOrder, f.Name)
			sc, ok := tc.Scaler[f.Name]
			if !ok || sc.Mean == nil || sc.Scale == nil || !(*sc.Scale > 0) {
				t.Errorf("scaler of %q missing or not positive", f.Name)
			}
		case "category":
			categorical = append(categorical, f.Name)
			cats := tc.Categories[f.Name]
			seen := map[string]bool{}
			for _, rec := range recs[1:] {
				seen[rec[col[f.Name]]] = true
			}
			if f.Categories != nil {
				if !slices.Equal(cats, f.Categories) {
					t.Errorf("%s: categories %q, declared %q", f.Name, cats, f.Categories)
				}
			} else {
				learned := make([]string, 0, len(seen))
				for v := range seen {
					learned = append(learned, v)
				}
				sort.Strings(learned)
				if !slices.Equal(cats, learned) {
					t.Errorf("%s: categories %q, the table's sorted values %q", f.Name, cats, learned)
				}
			}
			if tc.Declared[f.Name] != (f.Categories != nil) {
				t.Errorf("%s: categories_declared %v", f.Name, tc.Declared[f.Name])
			}
			if want := cmp.Or(f.Unknown, "error"); tc.Unknown[f.Name] != want {
				t.Errorf("%s: unknown %q, schema says %q", f.Name, tc.Unknown[f.Name], want)
			}
			for _, v := range cats {
				schemaOrder = append(schemaOrder, f.Name+"="+v)
			}
		default:
			t.Errorf("feature %q has type %q", f.Name, f.Type)
		}
	}
	if !slices.Equal(tc.Numeric, numeric) || !slices.Equal(tc.Categorical, categorical) {
		t.Errorf("numeric %q categorical %q, schema has %q %q", tc.Numeric, tc.Categorical, numeric, categorical)
	}
	encoded := slices.Clone(numeric)
	for _, name := range categorical {
		for _, v := range tc.Categories[name] {
			encoded = append(encoded, name+"="+v)
		}
	}
	if !slices.Equal(tc.Encoded, encoded) {
		t.Errorf("encoded_columns %q, want %q", tc.Encoded, encoded)
	}
	if !slices.Equal(tc.EncodedSchemaOrder, schemaOrder) {
		t.Errorf("encoded_columns_schema_order %q, want %q", tc.EncodedSchemaOrder, schemaOrder)
	}
	if len(tc.FeatureNamesOut) != len(encoded) {
		t.Errorf("%d feature_names_out, %d encoded columns", len(tc.FeatureNamesOut), len(encoded))
	}
	for _, fit := range []struct {
		name string
		tableFit
	}{{"default_tol", tc.DefaultTol}, {"exact", tc.Exact}} {
		if fit.Intercept == nil || len(fit.Coef) != len(encoded) {
			t.Errorf("%s: intercept %v, %d coefficients for %d columns", fit.name, fit.Intercept, len(fit.Coef), len(encoded))
		}
		for _, name := range encoded {
			if _, ok := fit.Coef[name]; !ok {
				t.Errorf("%s: no coefficient for %q", fit.name, name)
			}
		}
	}

	// The probabilities belong to this table: their confusion matrix and
	// accuracy at the threshold are golden.json's.
	if len(tc.Probabilities) != tc.Rows {
		t.Fatalf("%d probabilities for %d rows", len(tc.Probabilities), tc.Rows)
	}
	m := tc.Metrics
	for name, v := range map[string]*float64{"threshold": m.Threshold, "f1": m.F1, "precision": m.Precision,
		"recall": m.Recall, "accuracy": m.Accuracy, "roc_auc": m.ROCAUC, "log_loss": m.LogLoss} {
		if v == nil || math.IsNaN(*v) {
			t.Errorf("metrics.%s missing", name)
		}
	}
	if m.Threshold == nil || m.Accuracy == nil {
		return
	}
	var confusion [2][2]int
	for i, p := range tc.Probabilities {
		if !(p >= 0 && p <= 1) { // breast_cancer has p == 1 exactly (float64 saturates)
			t.Fatalf("probability %d is %v", i, p)
		}
		pred := 0
		if p > *m.Threshold {
			pred = 1
		}
		confusion[labels[i]][pred]++
	}
	if confusion != m.Confusion {
		t.Errorf("confusion matrix of the probabilities %v, golden.json has %v", confusion, m.Confusion)
	}
	if acc := float64(confusion[0][0]+confusion[1][1]) / float64(tc.Rows); math.Abs(acc-*m.Accuracy) > 1e-12 {
		t.Errorf("accuracy %v, golden.json has %v", acc, *m.Accuracy)
	}
	for i, p := range tc.Probes {
		if len(p.Row) != len(s.Features) || !(p.Probability > 0 && p.Probability < 1) {
			t.Errorf("probe %d: %d features, probability %v", i, len(p.Row), p.Probability)
		}
	}
}

func countOnes(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}
