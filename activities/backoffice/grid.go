package backoffice

import "math"

// GridRef converts a WGS84 latitude and longitude (degrees) to an easting and
// northing on the British National Grid (EPSG:27700), in metres: a Helmert
// transformation from WGS84 to OSGB36 (Ordnance Survey's published
// parameters, good to about 5 m), then OSGB36's Transverse Mercator
// projection, as Ordnance Survey's "A guide to coordinate systems in Great
// Britain" sets out. Many councils' highways systems know no other
// coordinates.
func GridRef(lat, long float64) (easting, northing float64) {
	phi, lambda := osgb36(rad(lat), rad(long))
	return nationalGrid(phi, lambda)
}

func rad(deg float64) float64 { return deg * math.Pi / 180 }

// Ellipsoids.
const (
	grs80A, grs80B = 6378137.000, 6356752.3141
	airyA, airyB   = 6377563.396, 6356256.909
)

// osgb36 moves a WGS84 point (radians, on the ellipsoid's surface) to OSGB36.
func osgb36(phi, lambda float64) (float64, float64) {
	// To cartesian on GRS80.
	e2 := 1 - grs80B*grs80B/(grs80A*grs80A)
	nu := grs80A / math.Sqrt(1-e2*math.Sin(phi)*math.Sin(phi))
	x := nu * math.Cos(phi) * math.Cos(lambda)
	y := nu * math.Cos(phi) * math.Sin(lambda)
	z := (1 - e2) * nu * math.Sin(phi)

	// Helmert WGS84 → OSGB36.
	const tx, ty, tz = -446.448, 125.157, -542.060
	s := 20.4894e-6
	sec := math.Pi / (180 * 3600)
	rx, ry, rz := -0.1502*sec, -0.2470*sec, -0.8421*sec
	x2 := tx + (1+s)*x - rz*y + ry*z
	y2 := ty + rz*x + (1+s)*y - rx*z
	z2 := tz - ry*x + rx*y + (1+s)*z

	// Back to latitude and longitude on Airy 1830.
	e2 = 1 - airyB*airyB/(airyA*airyA)
	p := math.Hypot(x2, y2)
	lat := math.Atan2(z2, p*(1-e2))
	for range 10 {
		nu = airyA / math.Sqrt(1-e2*math.Sin(lat)*math.Sin(lat))
		next := math.Atan2(z2+e2*nu*math.Sin(lat), p)
		if math.Abs(next-lat) < 1e-12 {
			lat = next
			break
		}
		lat = next
	}
	return lat, math.Atan2(y2, x2)
}

// nationalGrid projects an OSGB36 point (radians) onto the National Grid.
func nationalGrid(phi, lambda float64) (easting, northing float64) {
	const (
		f0     = 0.9996012717
		e0, n0 = 400000.0, -100000.0
	)
	phi0, lambda0 := rad(49), rad(-2)
	a, b := airyA, airyB
	e2 := 1 - b*b/(a*a)
	n := (a - b) / (a + b)
	n2, n3 := n*n, n*n*n
	sin, cos := math.Sin(phi), math.Cos(phi)
	tan2 := math.Tan(phi) * math.Tan(phi)
	nu := a * f0 / math.Sqrt(1-e2*sin*sin)
	rho := a * f0 * (1 - e2) * math.Pow(1-e2*sin*sin, -1.5)
	eta2 := nu/rho - 1
	dp, sp := phi-phi0, phi+phi0
	m := b * f0 * ((1+n+1.25*n2+1.25*n3)*dp -
		(3*n+3*n2+21.0/8*n3)*math.Sin(dp)*math.Cos(sp) +
		(15.0/8*n2+15.0/8*n3)*math.Sin(2*dp)*math.Cos(2*sp) -
		35.0/24*n3*math.Sin(3*dp)*math.Cos(3*sp))
	cos3, cos5 := cos*cos*cos, cos*cos*cos*cos*cos
	i := m + n0
	ii := nu / 2 * sin * cos
	iii := nu / 24 * sin * cos3 * (5 - tan2 + 9*eta2)
	iiia := nu / 720 * sin * cos5 * (61 - 58*tan2 + tan2*tan2)
	iv := nu * cos
	v := nu / 6 * cos3 * (nu/rho - tan2)
	vi := nu / 120 * cos5 * (5 - 18*tan2 + tan2*tan2 + 14*eta2 - 58*tan2*eta2)
	dl := lambda - lambda0
	northing = i + ii*dl*dl + iii*math.Pow(dl, 4) + iiia*math.Pow(dl, 6)
	easting = e0 + iv*dl + v*math.Pow(dl, 3) + vi*math.Pow(dl, 5)
	return easting, northing
}
