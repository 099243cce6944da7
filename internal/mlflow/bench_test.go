package mlflow_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/mlservice/mlservice/internal/mlflow"
)

func benchBodies(n int) (split, records, csv []byte) {
	plans := []string{"basic", "plus", "pro"}
	var rows, recs, lines []string
	for i := range n {
		age, premium, plan := strconv.Itoa(18+i%60), strconv.Itoa(i%2), plans[i%3]
		rows = append(rows, `[`+age+`,`+premium+`,"`+plan+`"]`)
		recs = append(recs, `{"age":`+age+`,"premium":`+premium+`,"plan":"`+plan+`"}`)
		lines = append(lines, age+","+premium+","+plan)
	}
	split = []byte(`{"dataframe_split":{"columns":["age","premium","plan"],"data":[` + strings.Join(rows, ",") + `]}}`)
	records = []byte(`{"dataframe_records":[` + strings.Join(recs, ",") + `]}`)
	csv = []byte("age,premium,plan\n" + strings.Join(lines, "\n") + "\n")
	return split, records, csv
}

func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{1, 1000} {
		split, records, csv := benchBodies(n)
		for _, tc := range []struct {
			name   string
			body   []byte
			format mlflow.Format
		}{{"split", split, mlflow.JSON}, {"records", records, mlflow.JSON}, {"csv", csv, mlflow.CSV}} {
			b.Run(strconv.Itoa(n)+"rows/"+tc.name, func(b *testing.B) {
				b.SetBytes(int64(len(tc.body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := mlflow.Decode(tc.body, tc.format, features, mlflow.Options{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
