//go:build unix

package mlservice_test

// The object-store backend carries what the directory backend does for
// declared schemas: schema.json in the version and its manifest, the schema
// snapshot in the Store, the schema-change guard, re-scoring a table
// version on the candidate's rows, TrainedAlready's schema test, and
// Promote's checks for a stop.

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/storage"
)

// versionKeys returns the keys under models/versions/, relative to it.
func versionKeys(t *testing.T, b storage.Bucket) []string {
	t.Helper()
	keys, err := b.List(context.Background(), "models/versions/")
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		keys[i] = strings.TrimPrefix(k, "models/versions/")
	}
	return keys
}

func TestS3TableSchema(t *testing.T) {
	ctx := context.Background()
	a, b := mlkit.OpenS3(t, mlkit.S3URL(t, mlkit.Weed(t)))
	d, err := a.Promote(ctx, mlkit.TableCandidate(t, "grunfeld.csv", "grunfeld.schema.json"))
	if err != nil || !d.Promoted {
		t.Fatalf("promote grunfeld = %+v, %v", d, err)
	}
	keys := versionKeys(t, b)
	want := []string{d.VersionID + "/manifest.json", d.VersionID + "/metadata.json", d.VersionID + "/model.json", d.VersionID + "/schema.json"}
	if !slices.Equal(keys, want) {
		t.Fatalf("version objects %v, want %v", keys, want)
	}
	man, _, err := b.Get(ctx, "models/versions/"+d.VersionID+"/manifest.json", 1<<20)
	if err != nil || !strings.Contains(string(man), `"schema.json"`) {
		t.Fatalf("manifest does not list schema.json: %v\n%s", err, man)
	}

	st, err := a.OpenStore(mlservice.StoreOptions{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, id, err := st.Schema()
	if err != nil || id != d.VersionID || s.ID() != d.Metadata.FeatureSchemaVersion || !strings.HasPrefix(s.ID(), "grunfeld@1+sha256:") {
		t.Fatalf("Store.Schema = %v, %s, %v; promoted %s under %s", s, id, err, d.VersionID, d.Metadata.FeatureSchemaVersion)
	}
	p, err := st.PredictJSON([]byte(`{"firm":"IBM","year":1950,"value":3000,"capital":200}`))
	if err != nil || p.ModelVersionID != d.VersionID {
		t.Fatalf("PredictJSON = %+v, %v", p, err)
	}
	if _, err := st.Predict(mlservice.Features{Age: 1}); !errors.Is(err, mlservice.ErrSchemaMismatch) {
		t.Errorf("Predict(Features) under grunfeld: %v", err)
	}
	if meta, m, err := a.ReadVersion(ctx, d.VersionID); err != nil || meta.ModelVersionID != d.VersionID || m == nil {
		t.Errorf("ReadVersion = %v, %v, %v", meta, m, err)
	}

	// The same table and schema: TrainedAlready says so; the same table
	// trained again is compared on its own evaluation rows, the current
	// table version re-scored on them.
	sc, err := mlservice.LoadSchemaFile(filepath.Join(tablesDir, "grunfeld.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := mlservice.ValidateTableFile(ctx, filepath.Join(tablesDir, "grunfeld.csv"), sc)
	if err != nil {
		t.Fatal(err)
	}
	if meta, err := a.TrainedAlready(ctx, ds, mlservice.TrainOptions{}); err != nil || meta == nil || meta.ModelVersionID != d.VersionID {
		t.Errorf("TrainedAlready(the same table) = %v, %v", meta, err)
	}
	declared, err := mlservice.LoadSchemaFile(filepath.Join(tablesDir, "grunfeld_declared.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	dsDeclared, err := mlservice.ValidateTableFile(ctx, filepath.Join(tablesDir, "grunfeld.csv"), declared)
	if err != nil {
		t.Fatal(err)
	}
	if meta, err := a.TrainedAlready(ctx, dsDeclared, mlservice.TrainOptions{}); err != nil || meta != nil {
		t.Errorf("TrainedAlready(the same rows under another schema) = %v, %v; want nil", meta, err)
	}
	again, err := a.Promote(ctx, mlkit.TableCandidate(t, "grunfeld.csv", "grunfeld.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Promoted || again.PreviousMetric == nil || !strings.Contains(again.Reason, "on the same 44 evaluation rows") {
		t.Errorf("the same table again: promoted %v, reason %q", again.Promoted, again.Reason)
	}
	vs, err := a.Versions(ctx)
	if err != nil || len(vs) != 2 || vs[0].Decision != mlservice.DecisionRejected || vs[1].Decision != mlservice.DecisionPromoted {
		t.Errorf("Versions = %+v, %v", vs, err)
	}
}

func TestS3SchemaChangeRefused(t *testing.T) {
	ctx := context.Background()
	a, _ := mlkit.OpenS3(t, mlkit.S3URL(t, mlkit.Weed(t)))
	first := mlkit.PromoteTo(t, a, 0.01) // the default schema, with an F1 any table beats
	st, err := a.OpenStore(mlservice.StoreOptions{RefreshInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	d, err := a.Promote(ctx, mlkit.TableCandidate(t, "grunfeld.csv", "grunfeld.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Promoted || d.PreviousVersionID != first.VersionID || !strings.Contains(d.Reason, "schema changed") ||
		!strings.Contains(d.Reason, "allow-schema-change") {
		t.Fatalf("schema change without the flag: promoted %v, previous %s, reason %q", d.Promoted, d.PreviousVersionID, d.Reason)
	}
	if cur := mlkit.Current(t, a); cur != first.VersionID {
		t.Fatalf("CURRENT moved to %s on a refused schema change", cur)
	}

	cand := mlkit.TableCandidate(t, "grunfeld.csv", "grunfeld.schema.json")
	cand.AllowSchemaChange = true
	d, err = a.Promote(ctx, cand)
	if err != nil || !d.Promoted || !strings.Contains(d.Reason, "allowed") {
		t.Fatalf("schema change with the flag = %+v, %v", d, err)
	}
	if _, err := st.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if s, id, err := st.Schema(); err != nil || id != d.VersionID || s.IsDefault() {
		t.Fatalf("after the allowed change the store serves %s under %v (%v)", id, s, err)
	}
}

// stopBucket cancels a context once a version's manifest is written: the
// stop lands after the version is committed and before CURRENT moves.
type stopBucket struct {
	storage.Bucket
	cancel context.CancelFunc
}

func (s *stopBucket) Put(ctx context.Context, key string, data []byte, cond storage.Condition) (string, error) {
	etag, err := s.Bucket.Put(ctx, key, data, cond)
	if strings.HasSuffix(key, "/manifest.json") {
		s.cancel()
	}
	return etag, err
}

func TestS3PromoteStoppedLeavesNothing(t *testing.T) {
	a, b := mlkit.OpenS3(t, mlkit.S3URL(t, mlkit.Weed(t)))
	first := mlkit.PromoteTo(t, a, 0.5)
	before := versionKeys(t, b)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := a.Promote(ctx, mlkit.WithF1(t, 0.9))
	if !errors.Is(err, context.Canceled) || d != nil {
		t.Fatalf("Promote with a cancelled context = %+v, %v; want context.Canceled", d, err)
	}
	if keys := versionKeys(t, b); !slices.Equal(keys, before) {
		t.Errorf("objects after a Promote stopped before writing: %v, want %v", keys, before)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	d, err = mlservice.BucketArtifacts(&stopBucket{Bucket: b, cancel: cancel}).Promote(ctx, mlkit.WithF1(t, 0.9))
	if !errors.Is(err, context.Canceled) || d != nil || !strings.Contains(err.Error(), "removed it") {
		t.Fatalf("Promote stopped after writing = %+v, %v; want context.Canceled, version removed", d, err)
	}
	if cur := mlkit.Current(t, a); cur != first.VersionID {
		t.Errorf("CURRENT moved to %s", cur)
	}
	if keys := versionKeys(t, b); !slices.Equal(keys, before) {
		t.Errorf("objects after a Promote stopped before CURRENT moved: %v, want %v", keys, before)
	}
	vs, err := a.Versions(context.Background())
	if err != nil || len(vs) != 1 || vs[0].VersionID != first.VersionID {
		t.Errorf("Versions = %+v, %v; want only %s", vs, err, first.VersionID)
	}
	if h, err := a.ReadHistory(context.Background()); err != nil || len(h) != 1 {
		t.Errorf("history after stopped Promotes: %+v, %v; want one record", h, err)
	}
}
