package readmodel

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkFindParent is intake's duplicate look-up with 100,000 open cases
// of one service in the geo index, spread over a 10 km square of London (the
// worst case: a council's every open case in one category), at a radius of
// 50 m. Each look-up is a new report at a random point, which usually finds
// a parent among the dense open cases. It reports p50 and p99 over b.N
// look-ups.
//
//	go test ./readmodel -run '^$' -bench FindParent -benchtime 5000x
func BenchmarkFindParent(b *testing.B) {
	s, rdb := newStore(b)
	ctx := context.Background()
	const open = 100_000
	r := rand.New(rand.NewPCG(3, 4))
	point := func() (float64, float64) { return 51.48 + r.Float64()*0.09, -0.20 + r.Float64()*0.144 }
	now := t0
	pipe := rdb.Pipeline()
	for i := range open {
		lat, long := point()
		ref := fmt.Sprintf("CB-B%06d", i)
		pipe.GeoAdd(ctx, s.geoKey("SGN"), &redis.GeoLocation{Name: ref, Latitude: lat, Longitude: long})
		pipe.ZAdd(ctx, s.receivedKey(), redis.Z{Score: score(now.Add(-time.Duration(r.IntN(60*24)) * time.Hour)), Member: ref})
		if i%5000 == 4999 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	took := make([]time.Duration, 0, b.N)
	found := 0
	b.ResetTimer()
	for i := range b.N {
		lat, long := point()
		t := time.Now()
		p, err := s.FindParent(ctx, fmt.Sprintf("CB-N%07d", i), "SGN", lat, long, 50, now, 30*24*time.Hour)
		took = append(took, time.Since(t))
		if err != nil {
			b.Fatal(err)
		}
		if p != "" {
			found++
		}
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(found)/float64(b.N), "found/op")
}
