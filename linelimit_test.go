package mlservice_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit"
)

// byteForever yields one byte forever: a header that never ends.
type byteForever byte

func (b byteForever) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

var lineSchema = func() *mlservice.Schema {
	s, err := mlservice.ParseSchema([]byte(`{"name":"t","version":"1","target":{"column":"target","positive":"1","negative":"0"},
		"features":[{"name":"age","type":"number"},{"name":"colour","type":"category","categories":["red","blue"]}]}`))
	if err != nil {
		panic(err)
	}
	return s
}()

// readers runs each CSV reader of the package on r.
var readers = []struct {
	name string
	run  func(io.Reader) error
}{
	{"Validate", func(r io.Reader) error { _, err := mlservice.Validate(context.Background(), r); return err }},
	{"ValidateTable", func(r io.Reader) error {
		_, err := mlservice.ValidateTable(context.Background(), r, lineSchema)
		return err
	}},
	{"InferSchema", func(r io.Reader) error {
		_, _, err := mlservice.InferSchema(context.Background(), r, mlservice.InferOptions{})
		return err
	}},
}

// TestHeaderWithNoEnd: a header that never ends (/dev/zero, a binary file)
// is refused once it passes MaxLineBytes, naming the limit, instead of being
// read into memory forever.
func TestHeaderWithNoEnd(t *testing.T) {
	for _, rd := range readers {
		for _, b := range []byteForever{0, 'a', '"'} {
			t.Run(rd.name, func(t *testing.T) {
				var err error
				err = testkit.WithinErr(t, 20*time.Second, func() error { return rd.run(b) })
				if err == nil || !strings.Contains(err.Error(), "MaxLineBytes") {
					t.Fatalf("byte %q forever: error %v, want one naming MaxLineBytes", b, err)
				}
				if rd.name != "InferSchema" && !errors.Is(err, mlservice.ErrInvalidData) {
					t.Errorf("error %v should match ErrInvalidData", err)
				}
			})
		}
	}
}

// TestLongHeaderIsLinear: a 2 MB header arriving a byte per read was
// rescanned from its start after every read (quadratic: minutes).
func TestLongHeaderIsLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("age,income,account_balance,transactions_last_30d,is_premium,target,colour")
	extras := 0
	for ; b.Len() < 2<<20; extras++ { // long names: fewer columns than MaxSchemaFeatures
		b.WriteString(",extra_" + strings.Repeat("x", 300) + itoa(extras))
	}
	header := b.String() + "\n"
	rows := ""
	for i := range 6 {
		rows += "30,1,1,1,1," + itoa(i%2) + ",red" + strings.Repeat(",0", extras) + "\n"
	}
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			var err error
			err = testkit.WithinErr(t, 20*time.Second, func() error { return rd.run(iotest.OneByteReader(strings.NewReader(header + rows))) })
			if err != nil {
				t.Fatalf("a 2 MB header: %v", err)
			}
		})
	}
}

// TestRecordOverMaxLineBytes: a row of MaxLineBytes bytes is read; one
// byte more is refused at its line, after the problems before it, and the
// reader stops there.
func TestRecordOverMaxLineBytes(t *testing.T) {
	const header = "age,income,account_balance,transactions_last_30d,is_premium,target,colour,note\n"
	good := "30,1,1,1,1,0,red,a\n30,1,1,1,1,1,red,a\n30,1,1,1,1,0,red,a\n30,1,1,1,1,1,red,a\n"
	long := func(n int) string { // a row of n bytes before its newline
		const start = "30,1,1,1,1,1,red,"
		return start + strings.Repeat("x", n-len(start))
	}
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			for _, tail := range []string{"\n", ""} { // with its newline, and as the last bytes
				if err := rd.run(strings.NewReader(header + good + long(mlservice.MaxLineBytes) + tail)); err != nil {
					t.Errorf("a row of MaxLineBytes (tail %q): %v", tail, err)
				}
				for _, quoted := range []bool{false, true} {
					row := long(mlservice.MaxLineBytes + 1)
					if quoted { // a quoted field that holds newlines is one record
						row = `30,1,1,1,1,1,red,"` + strings.Repeat("y\n", mlservice.MaxLineBytes/2) + `"`
					}
					data := header + good + "-1,1,1,1,1,0,red,a\n" + row
					if tail != "" {
						data += tail + good
					}
					var err error
					err = testkit.WithinErr(t, 20*time.Second, func() error { return rd.run(strings.NewReader(data)) })
					if err == nil || !strings.Contains(err.Error(), "MaxLineBytes") {
						t.Fatalf("a row over MaxLineBytes (quoted %v, tail %q): error %v", quoted, tail, err)
					}
					var verr *mlservice.ValidationError
					if rd.name == "InferSchema" {
						if !strings.Contains(err.Error(), "line 7:") {
							t.Errorf("error %q should name line 7", err)
						}
						continue
					}
					if !errors.As(err, &verr) {
						t.Fatalf("error %v, want a *ValidationError", err)
					}
					last := verr.Problems[len(verr.Problems)-1]
					if last.Line != 7 || last.Rule != "line length" || verr.Total != len(verr.Problems) {
						t.Errorf("problems %v (total %d): want the long row last, at line 7, and nothing after it", verr.Problems, verr.Total)
					}
				}
			}
		})
	}
}
