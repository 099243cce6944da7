package mlservice_test

import (
	"context"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/storage/memory"
)

// BenchmarkPromote measures one promotion (decided against the current
// version, written, CURRENT swapped, recorded) on each backend. The history
// grows with b.N, as it does in use, and a directory's promotion reads it
// whole (recovery) and is bound by its fsyncs.
func BenchmarkPromote(b *testing.B) {
	for _, bc := range []struct {
		name string
		open func(b *testing.B) *mlservice.Artifacts
	}{
		{"directory", func(b *testing.B) *mlservice.Artifacts { return mlservice.DirArtifacts(b.TempDir()) }},
		{"memory", func(b *testing.B) *mlservice.Artifacts { return mlservice.BucketArtifacts(memory.New(b.Name())) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := bc.open(b)
			c := mlkit.WithF1(b, 0.5)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c.Metadata.Metric.Value = 0.5 + float64(i)*1e-9
				if _, err := a.Promote(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
