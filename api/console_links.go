package api

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/cases"
)

// The case page's partner panel and duplicates: who the case was handed to
// and what they said, the cases linked to it, and a small map of them.

// partnerView is the partner panel.
type partnerView struct {
	Name    string
	Handoff cases.Handoff
	Answer  string // in words
}

var answerLabels = map[string]string{
	cases.HandoffPending: "No answer yet", cases.PartnerAccepted: "Accepted", cases.PartnerProgress: "Working on it",
	cases.PartnerRejected: "Rejected", cases.PartnerCompleted: "Completed", cases.PartnerSilent: "Silent past the deadline",
	cases.PartnerUndeliverable: "Could not be delivered",
}

func (con *console) partnerView(k *cases.Case) *partnerView {
	if k.Handoff == nil {
		return nil
	}
	name := k.Handoff.Partner
	if p, ok := con.cfg.Partner(name); ok && p.Name != "" {
		name = p.Name
	}
	return &partnerView{Name: name, Handoff: *k.Handoff, Answer: cmp.Or(answerLabels[k.Handoff.Answer], k.Handoff.Answer)}
}

// mapPoint is one case on the duplicates map, in the SVG's coordinates.
type mapPoint struct {
	Ref    string
	X, Y   float64
	Parent bool
	This   bool
}

// dupMap is a small map of a parent and its duplicates, drawn by the server
// as SVG (no tiles, no script): the points to scale, with a scale bar.
type dupMap struct {
	Width, Height float64
	Points        []mapPoint
	ScaleX        float64 // the scale bar's length in the SVG
	ScaleLabel    string
}

// point of a report, if it has one.
type geoPoint struct {
	ref      string
	lat, lng float64
	parent   bool
}

// newDupMap lays points out to scale in a 320×200 box (equirectangular,
// which is exact enough over a few hundred metres), 30 px from each edge.
func newDupMap(this string, pts []geoPoint) *dupMap {
	if len(pts) < 2 {
		return nil
	}
	const w, h, pad = 320.0, 200.0, 30.0
	const mPerDeg = 111_320.0
	lat0 := pts[0].lat
	kx := math.Cos(lat0*math.Pi/180) * mPerDeg
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		x, y := p.lng*kx, p.lat*mPerDeg
		minX, maxX, minY, maxY = math.Min(minX, x), math.Max(maxX, x), math.Min(minY, y), math.Max(maxY, y)
	}
	span := math.Max(math.Max(maxX-minX, maxY-minY), 10) // metres; at least 10
	scale := math.Min(w-2*pad, h-2*pad) / span           // px per metre
	cx, cy := (minX+maxX)/2, (minY+maxY)/2
	m := &dupMap{Width: w, Height: h}
	for _, p := range pts {
		m.Points = append(m.Points, mapPoint{Ref: p.ref, Parent: p.parent, This: p.ref == this,
			X: math.Round((w/2+(p.lng*kx-cx)*scale)*10) / 10, Y: math.Round((h/2-(p.lat*mPerDeg-cy)*scale)*10) / 10})
	}
	// A round scale bar of about a quarter of the width.
	bar := 1.0
	for _, b := range []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000} {
		if b*scale <= w/4 {
			bar = b
		}
	}
	m.ScaleX, m.ScaleLabel = math.Round(bar*scale*10)/10, fmt.Sprintf("%g m", bar)
	return m
}

// linkData is the duplicates part of the case page.
type linkData struct {
	Parent     *cases.Case // the case this one duplicates, if any
	Duplicates []cases.Link
	Map        *dupMap
	CanMerge   bool // the routes are served
}

func reportPoint(ref string, r cases.Report, parent bool) (geoPoint, bool) {
	l := r.Location
	if !l.HasPoint() {
		return geoPoint{}, false
	}
	return geoPoint{ref: ref, lat: *l.Lat, lng: *l.Long, parent: parent}, true
}

// linkView reads what the page shows of duplicates: a likely duplicate's
// parent (from the read model, or the engine), and a map of the parent and
// the cases linked to it.
func (con *console) linkView(ctx context.Context, k *cases.Case) linkData {
	d := linkData{Duplicates: k.Duplicates, CanMerge: con.deps.Duplicates != nil}
	parent := k
	if k.DuplicateOf != "" {
		if p, _, err := con.staffCase(ctx, k.DuplicateOf); err == nil {
			d.Parent, parent = p, p
		}
	}
	if parent != k || len(k.Duplicates) > 0 {
		var pts []geoPoint
		if p, ok := reportPoint(parent.Ref, parent.Report(), true); ok {
			pts = append(pts, p)
		}
		// A parent holds its duplicates' reports, in the order they were linked.
		for i, l := range parent.Duplicates {
			if i+1 < len(parent.Reports) {
				if p, ok := reportPoint(l.Ref, parent.Reports[i+1], false); ok {
					pts = append(pts, p)
				}
			}
		}
		if parent != k && !containsRef(parent.Duplicates, k.Ref) {
			if p, ok := reportPoint(k.Ref, k.Report(), false); ok {
				pts = append(pts, p)
			}
		}
		d.Map = newDupMap(k.Ref, pts)
	}
	return d
}

func containsRef(ls []cases.Link, ref string) bool {
	for _, l := range ls {
		if l.Ref == ref {
			return true
		}
	}
	return false
}

// merge makes the case a duplicate of another, from the case page.
func (con *console) merge(c *gin.Context) {
	con.caseChange("merge", c, func(f url.Values, actor string) (changeCall, string, string) {
		parent := strings.TrimSpace(f.Get("parent"))
		if parent == "" {
			return nil, "parent", "Give the reference of the case this one duplicates."
		}
		l := cases.DuplicateLink{Parent: cases.NormalizeRef(con.cfg.Council.RefPrefix, parent), Note: f.Get("note"), Actor: actor}
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			if err := con.mergeTarget(ctx, ref, parent); err != nil {
				return nil, err
			}
			return con.deps.Duplicates.Merge(ctx, ref, l, id)
		}, "", ""
	})
}

func (con *console) confirmDuplicate(c *gin.Context) {
	con.caseChange("confirm", c, func(_ url.Values, actor string) (changeCall, string, string) {
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return con.deps.Duplicates.ConfirmDuplicate(ctx, ref, cases.DuplicateLink{Actor: actor}, id)
		}, "", ""
	})
}

func (con *console) unlinkDuplicate(c *gin.Context) {
	con.caseChange("undo", c, func(f url.Values, actor string) (changeCall, string, string) {
		return func(ctx context.Context, ref, id string) (*cases.Case, error) {
			return con.deps.Duplicates.Unlink(ctx, ref, cases.DuplicateLink{Note: f.Get("note"), Actor: actor}, id)
		}, "", ""
	})
}
