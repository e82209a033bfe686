package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/readmodel"
)

// Maps without a tile server: the council's own areas (the GeoJSON routing
// uses) drawn as SVG on the server, with cases as points on them. No tiles,
// no script, nothing fetched from anywhere else.

// svgMap is a map laid out for the "svgmap" template.
type svgMap struct {
	ID            string
	Width, Height float64
	Areas         []mapArea
	Points        []areaPoint
	Title, Desc   string
	Outside       int // points beyond the areas' extent, not drawn
}

type mapArea struct {
	Name           string
	D              string // SVG path data
	Hit            bool   // the case's point is in it
	LabelX, LabelY float64
}

type areaPoint struct {
	X, Y  float64
	Ref   string
	Label string
	Class string
}

// mapWidth is the maps' drawing width; the height follows the areas' shape.
const mapWidth = 600

// projection maps longitude and latitude onto the drawing: equirectangular,
// longitude scaled by the cosine of the middle latitude, which over a
// council's few kilometres is as good as any.
type projection struct {
	minLon, maxLat, scale, kx float64
}

func (s *Server) projection() (projection, float64, bool) {
	shapes := s.deps.Areas.Shapes()
	minLon, maxLon, minLat, maxLat := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, sh := range shapes {
		for _, r := range sh.Rings {
			for _, p := range r {
				minLon, maxLon = min(minLon, p[0]), max(maxLon, p[0])
				minLat, maxLat = min(minLat, p[1]), max(maxLat, p[1])
			}
		}
	}
	if len(shapes) == 0 || maxLon <= minLon || maxLat <= minLat {
		return projection{}, 0, false
	}
	kx := math.Cos((minLat + maxLat) / 2 * math.Pi / 180)
	pr := projection{minLon: minLon, maxLat: maxLat, kx: kx}
	pr.scale = (mapWidth - 20) / ((maxLon - minLon) * kx)
	return pr, (maxLat-minLat)*pr.scale + 20, true
}

func (p projection) xy(lon, lat float64) (float64, float64) {
	return round1(10 + (lon-p.minLon)*p.kx*p.scale), round1(10 + (p.maxLat-lat)*p.scale)
}

// drawMap lays out the areas and the points; hits names the areas to mark.
func (s *Server) drawMap(id string, points []areaPoint, lonlat [][2]float64, hits []string) *svgMap {
	pr, height, ok := s.projection()
	if !ok {
		return nil
	}
	m := &svgMap{ID: id, Width: mapWidth, Height: round1(height)}
	for _, sh := range s.deps.Areas.Shapes() {
		var d strings.Builder
		var sx, sy, n float64
		for _, r := range sh.Rings {
			for i, p := range r {
				x, y := pr.xy(p[0], p[1])
				if i == 0 {
					fmt.Fprintf(&d, "M%g %g", x, y)
				} else {
					fmt.Fprintf(&d, "L%g %g", x, y)
				}
				sx, sy, n = sx+x, sy+y, n+1
			}
			d.WriteString("Z")
		}
		m.Areas = append(m.Areas, mapArea{Name: sh.Name, D: d.String(), Hit: slices.Contains(hits, sh.Name),
			LabelX: round1(sx / n), LabelY: round1(sy / n)})
	}
	for i, p := range points {
		x, y := pr.xy(lonlat[i][0], lonlat[i][1])
		if x < 0 || y < 0 || x > m.Width || y > m.Height {
			m.Outside++
			continue
		}
		p.X, p.Y = x, y
		m.Points = append(m.Points, p)
	}
	return m
}

// caseMap is the case page's map: the areas, the case's point, and the
// areas it is in marked.
func (s *Server) caseMap(k *cases.Case) *svgMap {
	l := k.Report().Location
	if s.deps.Areas == nil || !l.HasPoint() {
		return nil
	}
	hits := s.deps.Areas.Lookup(*l.Lat, *l.Long)
	m := s.drawMap("case-map", []areaPoint{{Ref: k.Ref, Label: k.Ref, Class: "here"}}, [][2]float64{{*l.Long, *l.Lat}}, hits)
	if m == nil {
		return nil
	}
	m.Title = "Where " + k.Ref + " is"
	if len(hits) > 0 {
		m.Desc = "In " + strings.Join(hits, " and ") + "."
	} else {
		m.Desc = "Outside the council's areas."
	}
	if m.Outside > 0 {
		m.Desc = "The point is beyond the edge of the council's areas, so it is not drawn."
	}
	return m
}

// mapLimit is how many of the filtered cases the queue's map draws.
const mapLimit = readmodel.MaxPageSize

type casesMapData struct {
	Map      *svgMap
	Total    int64
	Drawn    int
	NoPoint  int
	QueueURL string
	Message  string
}

// casesMap serves GET /cases/map: the cases the queue's filters match (the
// first mapLimit of them in the queue's order) as points on the areas.
func (con *console) casesMap(c *gin.Context) {
	f := readQueueFilters(c)
	f.Page = 1
	d := &casesMapData{QueueURL: f.url(1)}
	v := view{Nav: "cases", Data: d}
	if con.deps.Areas == nil {
		con.errorPage(c, http.StatusNotFound, "No map", "The council's areas file is not configured (areas: in the configuration), so there is nothing to draw cases on.", d.QueueURL, "Work queue")
		return
	}
	q, _, why := f.listQuery(con.deps.Now())
	if why != "" {
		d.Message = why
		con.render(c, http.StatusUnprocessableEntity, "map", v)
		return
	}
	q.Limit, q.Offset = mapLimit, 0
	who(c).scope(&q)
	page, err := con.deps.ReadModel.List(c.Request.Context(), q)
	if err != nil {
		if msg, ok := inputMessage(err); ok {
			d.Message = msg
			con.render(c, http.StatusUnprocessableEntity, "map", v)
			return
		}
		con.log.Error("console: map", "error", err)
		con.errorPage(c, http.StatusServiceUnavailable, "The map is not available", "The read model did not answer. Try again in a moment.")
		return
	}
	var points []areaPoint
	var lonlat [][2]float64
	now := con.deps.Now()
	for _, k := range page.Cases {
		l := k.Report().Location
		if !l.HasPoint() {
			d.NoPoint++
			continue
		}
		b := badgeOf(k, now)
		points = append(points, areaPoint{Ref: k.Ref, Label: k.Ref + ", " + k.Service.Name + ", " + b.Label, Class: "sla-" + b.State})
		lonlat = append(lonlat, [2]float64{*l.Long, *l.Lat})
	}
	d.Total = page.Total
	d.Map = con.drawMap("cases-map", points, lonlat, nil)
	d.Map.Title = "The cases matching the filters"
	d.Drawn = len(d.Map.Points)
	d.Map.Desc = strconv.Itoa(d.Drawn) + " cases drawn on the council's areas."
	con.render(c, http.StatusOK, "map", v)
}

// inputMessage is a read model's refusal of a query as a sentence.
func inputMessage(err error) (string, bool) {
	var ie *cases.InputError
	if !errors.As(err, &ie) {
		return "", false
	}
	return fieldSentence(ie.Field, ie.Reason), true
}
