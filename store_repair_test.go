package mlservice_test

import (
	"context"
	"testing"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/internal/testkit/mlkit"
	"github.com/mlservice/mlservice/storage"
	"github.com/mlservice/mlservice/storage/memory"
)

// On an object store too, a version CURRENT names that was refused as
// corrupt is served as soon as its objects are repaired, not after
// RetryInterval (an hour here).
func TestStoreRetriesRepairedVersionInBucket(t *testing.T) {
	ctx := context.Background()
	b := memory.New(t.Name())
	a := mlservice.BucketArtifacts(b)
	d, err := a.Promote(ctx, mlkit.WithF1(t, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	key := "models/versions/" + d.VersionID + "/model.json"
	good, _, err := b.Get(ctx, key, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{}, good...)
	bad[len(bad)/2] ^= 1
	if _, err := b.Put(ctx, key, bad, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	st, err := a.OpenStore(mlservice.StoreOptions{RefreshInterval: 5 * time.Millisecond, RetryInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if s := st.Status(); s.Ready || s.LastError == "" {
		t.Fatalf("a store on a corrupt version: %+v, want not ready with the reason", s)
	}
	time.Sleep(50 * time.Millisecond) // checks that change nothing
	if _, err := b.Put(ctx, key, good, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	repaired := time.Now()
	backendServing(t, st, d.VersionID)
	t.Logf("served %v after the repair", time.Since(repaired).Round(time.Millisecond))
	if s := st.Status(); s.LastError != "" {
		t.Fatalf("after the repair: %+v", s)
	}
}
