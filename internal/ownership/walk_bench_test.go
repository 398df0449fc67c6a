package ownership

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkWalk times a remap of 20,000 files in 420 directories, first
// when every entry changes, then the no-op walk of every later start, for a
// few pool sizes. It reports ns/entry besides ns/op, so that runs over other
// trees compare:
//
//	go test -run '^$' -bench Walk ./internal/ownership
func BenchmarkWalk(b *testing.B) {
	requireRoot(b)
	home := filepath.Join(b.TempDir(), "home")
	mkdir(b, home, 1000, 1000)
	entries := 1 + mktree(b, home, 20, 2, 50, 1000, 1000)
	back := Change{OldUID: 2000, NewUID: 1000, OldGID: 2000, NewGID: 1000}
	walk := func(b *testing.B, c Change, workers int) {
		b.Helper()
		stats, err := Walk(home, c, Options{Workers: workers})
		if err != nil || stats.Seen != int64(entries) {
			b.Fatalf("Walk = %+v, %v; want %d seen", stats, err, entries)
		}
	}
	for _, workers := range []int{1, 4, 16, 32, 64} {
		b.Run(fmt.Sprintf("first/workers=%d", workers), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				walk(b, back, 8)
				b.StartTimer()
				walk(b, dev2000, workers)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*entries), "ns/entry")
		})
		b.Run(fmt.Sprintf("noop/workers=%d", workers), func(b *testing.B) {
			walk(b, dev2000, 8)
			b.ResetTimer()
			for range b.N {
				walk(b, dev2000, workers)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*entries), "ns/entry")
		})
	}
}
