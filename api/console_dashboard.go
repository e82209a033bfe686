package api

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/readmodel"
)

// chart is the intake-and-closures chart, laid out on the server and drawn
// as SVG by the template: no script, no library, and it prints.
type chart struct {
	Width, Height int
	Left, Bottom  int // the plot's left edge and baseline
	Bars          []chartBar
	Ticks         []chartTick
	Labels        []chartTick
	Max           int64
	Title, Desc   string
}

type chartBar struct {
	Day              time.Time
	Opened, Closed   int64
	X, W             float64
	YOpened, HOpened float64
	YClosed, HClosed float64
}

type chartTick struct {
	At    float64
	Label string
}

const (
	chartWidth, chartHeight = 720, 240
	chartLeft, chartBottom  = 40, 210
	chartTop                = 10
)

// layoutChart places a pair of bars per day: intake, then closures.
func layoutChart(days []readmodel.Day, loc *time.Location) chart {
	c := chart{Width: chartWidth, Height: chartHeight, Left: chartLeft, Bottom: chartBottom,
		Title: fmt.Sprintf("Cases received and closed each day, last %d days", len(days))}
	var in, out int64
	for _, d := range days {
		c.Max = max(c.Max, d.Opened, d.Closed)
		in += d.Opened
		out += d.Closed
	}
	c.Desc = fmt.Sprintf("%d received and %d closed in %d days.", in, out, len(days))
	top := niceCeiling(c.Max)
	plot := float64(chartBottom - chartTop)
	scale := func(n int64) float64 { return plot * float64(n) / float64(top) }
	slot := float64(chartWidth-chartLeft-10) / float64(max(len(days), 1))
	w := slot * 0.4
	for i, d := range days {
		x := float64(chartLeft) + float64(i)*slot + slot*0.1
		b := chartBar{Day: d.Day, Opened: d.Opened, Closed: d.Closed, X: round1(x), W: round1(w)}
		b.HOpened, b.HClosed = round1(scale(d.Opened)), round1(scale(d.Closed))
		b.YOpened, b.YClosed = round1(float64(chartBottom)-b.HOpened), round1(float64(chartBottom)-b.HClosed)
		c.Bars = append(c.Bars, b)
		if i%7 == (len(days)-1)%7 { // label every seventh day, ending today
			c.Labels = append(c.Labels, chartTick{At: round1(x + w), Label: d.Day.In(loc).Format("2 Jan")})
		}
	}
	for _, n := range []int64{0, top / 2, top} {
		c.Ticks = append(c.Ticks, chartTick{At: round1(float64(chartBottom) - scale(n)), Label: strconv.FormatInt(n, 10)})
	}
	return c
}

// niceCeiling is the smallest of 2, 4, 10, 20, 40, 100… at least n.
func niceCeiling(n int64) int64 {
	for step := int64(1); ; step *= 10 {
		for _, m := range []int64{2, 4, 10} {
			if m*step >= n {
				return m * step
			}
		}
	}
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

type dashboardData struct {
	dashboardDoc
	Chart       chart
	QueueURL    func(dept string, extra ...string) string
	Supervisor  bool
	OldestQueue string
}

// queueLink is the work queue filtered to a department (all when empty),
// with more filters as name, value pairs.
func queueLink(dept string, extra ...string) string {
	q := url.Values{"family": {"open"}}
	if dept != "" {
		q.Set("department", dept)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/cases?" + q.Encode()
}

// dashboardPage serves GET /dashboard: the figures, per department and in
// all, and the chart. ?part=figures answers the live part alone, for the
// page's script to swap in when cases change.
func (con *console) dashboardPage(c *gin.Context) {
	p := who(c)
	doc, err := con.dashboard(c.Request.Context(), p)
	if err != nil {
		con.log.Error("console: dashboard", "error", err)
		con.errorPage(c, http.StatusServiceUnavailable, "The dashboard is not available", "The read model did not answer. Try again in a moment.")
		return
	}
	d := &dashboardData{dashboardDoc: doc, Chart: layoutChart(doc.Days, con.loc), QueueURL: queueLink, Supervisor: doc.Overall.Compliance != nil}
	v := view{Nav: "dashboard", Data: d, Live: &liveView{Mode: "dashboard", URL: "/dashboard"}}
	if c.Query("part") == "figures" {
		var buf bytes.Buffer
		v.Static = con.static
		if err := con.pages["dashboard"].ExecuteTemplate(&buf, "dashboard-live", v); err != nil {
			con.log.Error("console: render dashboard", "error", err)
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
		return
	}
	con.render(c, http.StatusOK, "dashboard", v)
}
