package mlservice

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Version ids are unique across many calls, even from goroutines reading the
// same clock, and sort in the order of the times they carry.
func TestNewVersionIDUniqueAndSorted(t *testing.T) {
	const n = 5000
	seen := make(map[string]bool, 2*n)
	var ids []string
	base := time.Date(2024, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
	for i := range n {
		id := newVersionID(base.Add(time.Duration(i) * time.Microsecond))
		if !ValidVersionID(id) {
			t.Fatalf("newVersionID gave %q, which ValidVersionID refuses", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) {
		t.Error("ids of increasing times do not sort in time order")
	}

	// The same instant, from many goroutines: the random part keeps them apart.
	var mu sync.Mutex
	var wg sync.WaitGroup
	now := time.Now()
	for range 8 {
		wg.Go(func() {
			local := make([]string, 0, n/8)
			for range n / 8 {
				local = append(local, newVersionID(now))
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("duplicate id %q", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()

	// Real clock, one after the other: never out of order.
	prev := ""
	for range n {
		id := newVersionID(time.Now())
		if stamp := id[:len(id)-9]; stamp < prev {
			t.Fatalf("id time went backwards: %s after %s", stamp, prev)
		} else {
			prev = stamp
		}
	}

	// Local time zones do not leak into the id.
	loc := time.FixedZone("X", 5*3600)
	if got, want := newVersionID(base.In(loc))[:23], "20241231T235959.999000Z"; got != want {
		t.Errorf("id time %s, want %s", got, want)
	}
}
