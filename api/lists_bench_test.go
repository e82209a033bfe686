package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/caseflow/caseflowtest"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/metrics"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/readmodel/readmodeltest"
)

// BenchmarkListsOverHTTP times the console's work queue, search and
// dashboard and GET /api/v1/cases with combined filters as staff get them:
// real HTTP to the api's own handlers (session cookie or bearer token, HTML
// rendered, JSON encoded), over a real Redis read model holding a council's
// cases (readmodeltest.Council): 10,000, or CB_BENCH_CASES. Each request's
// time is the whole round trip, body read; p50 and p99 are of the
// benchmark's iterations (-benchtime 100x). CB_BENCH_REDIS (host:port) uses
// a Redis already seeded by an earlier run, as BenchmarkList does.
func BenchmarkListsOverHTTP(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("CB_BENCH_CASES")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	prefix := fmt.Sprintf("bench%d:", n)
	var rdb *redis.Client
	if addr := os.Getenv("CB_BENCH_REDIS"); addr != "" {
		rdb = redis.NewClient(&redis.Options{Addr: addr})
		b.Cleanup(func() { rdb.Close() })
	} else {
		rdb = redistest.Start(b).Client()
	}
	store := readmodel.New(rdb, prefix)
	if have, err := store.Count(ctx); err != nil || have != int64(n) {
		for _, c := range readmodeltest.Council(n, now) {
			if _, err := store.Project(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	}

	cfg := config.Demo()
	cfg.Staff.Tokens = append(cfg.Staff.Tokens,
		config.Token{Name: "sam", SHA256: config.HashToken(supervisorToken), Roles: []string{config.RoleSupervisor}},
		config.Token{Name: "sue", SHA256: config.HashToken("dept3-token"), Roles: []string{config.RoleSupervisor}, Departments: []string{"dept3"}},
		// An agent of dept3 with cases assigned to them in every department:
		// a scope of two sets, answered through their union.
		config.Token{Name: "amy", SHA256: config.HashToken("amy-token"), Roles: []string{config.RoleAgent}, Departments: []string{"dept3"}})
	engine := caseflowtest.New(cfg.Council.RefPrefix, cases.Decision{RuleSet: "routing", Version: 1, RuleID: "r1", Department: "dept0"})
	srv := httptest.NewServer(NewServer(slog.New(slog.DiscardHandler), cfg, Deps{
		Cases: engine, ReadModel: store, Metrics: metrics.New(), Now: func() time.Time { return now },
		SessionSecret: []byte(testSecret), Redis: rdb, RedisPrefix: prefix,
	}))
	b.Cleanup(srv.Close)

	console := signedIn(b, srv.URL, supervisorToken)
	api := &http.Client{Timeout: 30 * time.Second}
	for _, bc := range []struct {
		name, path, token string // token: the API's bearer; none, the console's session
	}{
		{"api-dept-overdue-by-updated", "/api/v1/cases?department=dept3&overdue=true&sort=updated&order=desc&limit=25", supervisorToken},
		{"api-service-open-overdue", "/api/v1/cases?service_code=svc03&family=open&overdue=true&order=desc&limit=25", supervisorToken},
		{"api-search-dept-open-by-due", "/api/v1/cases?q=pothole+street&department=dept3&family=open&sort=due&limit=25", supervisorToken},
		{"api-search-overdue-by-updated", "/api/v1/cases?q=high+street&overdue=true&sort=updated&order=desc&limit=25", supervisorToken},
		{"api-source-assignee-open", "/api/v1/cases?source=phone&assignee=amy&family=open&limit=25", supervisorToken},
		{"api-escalated-dept-by-due", "/api/v1/cases?escalation=any&department=dept3&sort=due&limit=25", supervisorToken},
		{"api-scoped-open-overdue-by-due", "/api/v1/cases?family=open&overdue=true&sort=due&limit=25", "dept3-token"},
		{"api-agent-open-overdue-by-due", "/api/v1/cases?family=open&overdue=true&sort=due&limit=25", "amy-token"},
		{"api-agent-open-by-updated", "/api/v1/cases?family=open&sort=updated&order=desc&limit=25", "amy-token"},
		{"api-dashboard", "/api/v1/dashboard", supervisorToken},
		{"queue-default", "/cases", ""},
		{"queue-dept-overdue-by-updated", "/cases?department=dept3&overdue=1&sort=updated&order=desc", ""},
		{"queue-search", "/cases?q=street07+pothole", ""},
		{"queue-search-start", "/cases?q=fami", ""},
		{"dashboard", "/dashboard", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			client, header := console, http.Header{}
			if bc.token != "" {
				client = api
				header.Set("Authorization", "Bearer "+bc.token)
			}
			readmodeltest.TimeCalls(b, "bytes", func() (float64, error) {
				req, err := http.NewRequest(http.MethodGet, srv.URL+bc.path, nil)
				if err != nil {
					return 0, err
				}
				req.Header = header
				resp, err := client.Do(req)
				if err != nil {
					return 0, err
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					return 0, fmt.Errorf("GET %s: %d %v\n%.500s", bc.path, resp.StatusCode, err, body)
				}
				return float64(len(body)), nil
			})
		})
	}
}

// signedIn is a client signed in to the console with a staff token.
func signedIn(b *testing.B, base, token string) *http.Client {
	b.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login")
	if err != nil {
		b.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		b.Fatalf("no form token on /login: %d", resp.StatusCode)
	}
	resp, err = c.PostForm(base+"/login", url.Values{"_csrf": {string(m[1])}, "token": {token}})
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/") {
		b.Fatalf("sign in: %d", resp.StatusCode)
	}
	return c
}
