package backoffice

import (
	"math"
	"testing"
)

// Ordnance Survey's worked example of the projection (A guide to coordinate
// systems in Great Britain, annex C): OSGB36 52°39′27.2531″N 1°43′4.5177″E is
// E 651409.903, N 313177.270.
func TestNationalGridWorkedExample(t *testing.T) {
	phi := rad(52 + 39/60.0 + 27.2531/3600)
	lambda := rad(1 + 43/60.0 + 4.5177/3600)
	e, n := nationalGrid(phi, lambda)
	if math.Abs(e-651409.903) > 0.01 || math.Abs(n-313177.270) > 0.01 {
		t.Errorf("nationalGrid = %.3f, %.3f, want 651409.903, 313177.270", e, n)
	}
}

// The same point (Caister water tower) in ETRS89, which WGS84 matches to
// well under a metre in Britain, is 52°39′28.8282″N 1°42′57.8663″E (OS's
// worked example of the datum shift). OSTN15 puts it at the grid reference
// above; the Helmert transformation is good to about 5 m. Leaving the
// datum shift out would be over 100 m off.
func TestGridRefShiftsDatum(t *testing.T) {
	lat := 52 + 39/60.0 + 28.8282/3600
	long := 1 + 42/60.0 + 57.8663/3600
	e, n := GridRef(lat, long)
	if d := math.Hypot(e-651409.903, n-313177.270); d > 5 {
		t.Errorf("GridRef = %.1f, %.1f: %.1f m from OSTN15's 651409.903, 313177.270", e, n, d)
	}
	naiveE, naiveN := nationalGrid(rad(lat), rad(long))
	if d := math.Hypot(naiveE-651409.903, naiveN-313177.270); d < 50 {
		t.Errorf("without the datum shift the point is only %.1f m off: the test cannot tell", d)
	}
}
