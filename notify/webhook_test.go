package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/signing"
	"github.com/casebridge/casebridge/sla"
)

// receiver is a webhook endpoint that checks every request as a real
// receiver would and answers with the codes it is given, then 200.
type receiver struct {
	secret string
	now    func() time.Time
	nonces signing.MemoryNonces

	mu       sync.Mutex
	codes    []int
	location string // sent as Location with every reply
	got      []request
	// arrived and release, when set, hold the next request until the test
	// lets it go.
	arrived, release chan struct{}
}

type request struct {
	header http.Header
	body   []byte
	verify error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	_, verify := signing.Verify(r.Context(), rc.secret, r.Header, body, rc.now(), &rc.nonces)
	if r.Method != http.MethodPost {
		verify = errors.New("method " + r.Method)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, request{r.Header.Clone(), body, verify})
	code := http.StatusNoContent
	if len(rc.codes) > 0 {
		code, rc.codes = rc.codes[0], rc.codes[1:]
	}
	location, arrived, release := rc.location, rc.arrived, rc.release
	rc.arrived = nil // hold only the first request
	rc.mu.Unlock()
	if location != "" {
		w.Header().Set("Location", location)
	}
	if arrived != nil {
		arrived <- struct{}{}
		<-release
	}
	w.WriteHeader(code)
}

// reply sets the codes of the next replies, and a Location for every one.
func (rc *receiver) reply(location string, codes ...int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.location, rc.codes = location, codes
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

// webhookSetup points the "perf" webhook at a live receiver whose secret
// comes from the environment.
func webhookSetup(t *testing.T) (*Dispatcher, *Store, *receiver) {
	t.Helper()
	cfg := testConfig()
	rc := &receiver{secret: "from-the-env"}
	srv := httptest.NewUnstartedServer(rc)
	cfg.Notifications.Webhooks[0] = config.Webhook{Name: "perf", URL: "http://" + srv.Listener.Addr().String() + "/hooks/cb", SecretEnv: "PERF_SECRET"}
	d, store, clk := newDispatcher(t, cfg, map[string]string{"PERF_SECRET": "from-the-env"})
	rc.now = clk.Now
	srv.Start()
	t.Cleanup(srv.Close)
	return d, store, rc
}

func TestWebhookSignedAndSentOnce(t *testing.T) {
	d, store, rc := webhookSetup(t)
	ctx := context.Background()
	n := notice("CB-7KQ2M9", 2, "webhook:perf")

	first, err := d.Deliver(ctx, n)
	if err != nil || first.Status != StatusSent || first.Attempts != 1 || first.Channel != ChannelWebhook || first.SentAt.IsZero() {
		t.Fatalf("Deliver = %+v, %v; want sent in one attempt", first, err)
	}
	again, err := d.Deliver(ctx, n)
	if err != nil || again.Status != StatusSent || again.Attempts != 1 || !again.SentAt.Equal(first.SentAt) {
		t.Fatalf("second Deliver = %+v, %v; want the first delivery, untouched", again, err)
	}

	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.verify != nil {
		t.Errorf("signing.Verify at the receiver: %v", r.verify)
	}
	for h, want := range map[string]string{
		"Content-Type":          "application/json",
		HeaderIdempotency:       n.Key,
		signing.HeaderTimestamp: strconv.FormatInt(t0.Unix(), 10), // the clock has moved a few ms since t0
	} {
		if v := r.header.Get(h); v != want {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
	if ua := r.header.Get("User-Agent"); !strings.HasPrefix(ua, "casebridge") {
		t.Errorf("User-Agent = %q, want casebridge's own", ua)
	}

	var p Payload
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode payload %s: %v", r.body, err)
	}
	want := Payload{
		Event: "escalation", Key: n.Key, Ref: n.Ref, Level: n.Level, Department: n.Department, Team: n.Team,
		Category: n.Category, Status: n.Status, Priority: n.Priority, DueAt: n.DueAt, At: n.At, Link: n.Link,
		Subject: first.Notice.Subject, Text: first.Notice.Body,
	}
	if p != want {
		t.Errorf("payload = %+v\nwant      %+v", p, want)
	}

	box, err := store.Outbox(ctx, "webhook:perf", 10, "")
	if err != nil || len(box) != 1 || box[0].Status != StatusSent {
		t.Errorf("Outbox(webhook:perf) = %+v, %v; want the sent notice", box, err)
	}
}

// A receiver failing once gets the same notice again, with the same
// Idempotency-Key, and nothing more once it has taken it.
func TestWebhookRetryAfter500(t *testing.T) {
	d, store, rc := webhookSetup(t)
	ctx := context.Background()
	rc.reply("", http.StatusInternalServerError)
	n := notice("CB-RETRY1", 1, "webhook:perf")

	e, err := d.Deliver(ctx, n)
	if err == nil || IsPermanent(err) {
		t.Fatalf("Deliver against a 500 = %v, want a retryable error", err)
	}
	if e.Status != StatusFailed || e.Attempts != 1 || !strings.Contains(e.Error, "500") {
		t.Errorf("entry after the 500 = %+v, want failed, 1 attempt, the 500 recorded", e)
	}
	for i := range 2 {
		e, err = d.Deliver(ctx, n)
		if err != nil || e.Status != StatusSent || e.Attempts != 2 || e.Error != "" {
			t.Fatalf("Deliver #%d after the 500 = %+v, %v; want sent on attempt 2", i+2, e, err)
		}
	}
	got := rc.requests()
	if len(got) != 2 {
		t.Fatalf("receiver got %d requests, want 2 (one refused, one taken)", len(got))
	}
	for i, r := range got {
		if r.verify != nil || r.header.Get(HeaderIdempotency) != n.Key {
			t.Errorf("request %d: verify %v, Idempotency-Key %q; want a good signature and %q", i, r.verify, r.header.Get(HeaderIdempotency), n.Key)
		}
	}
	if stored, err := store.Get(ctx, n.Key); err != nil || stored.Status != StatusSent || stored.Attempts != 2 {
		t.Errorf("Get = %+v, %v; want sent after 2 attempts", stored, err)
	}
}

func TestWebhookReplies(t *testing.T) {
	for _, tt := range []struct {
		code      int
		permanent bool
	}{
		{http.StatusTooManyRequests, false},
		{http.StatusRequestTimeout, false},
		{http.StatusBadGateway, false},
		{http.StatusServiceUnavailable, false},
		{http.StatusBadRequest, true},
		{http.StatusUnauthorized, true},
		{http.StatusNotFound, true},
		{http.StatusFound, true},
	} {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			d, _, rc := webhookSetup(t)
			// A redirect must not be followed: the signed notice would go
			// somewhere nobody configured.
			moved := &receiver{secret: rc.secret, now: time.Now}
			movedSrv := httptest.NewServer(moved)
			defer movedSrv.Close()
			rc.reply(movedSrv.URL, tt.code)
			e, err := d.Deliver(context.Background(), notice("CB-CODE", tt.code, "webhook:perf"))
			if err == nil || IsPermanent(err) != tt.permanent {
				t.Fatalf("Deliver against %d = %v; want an error, permanent %v", tt.code, err, tt.permanent)
			}
			if e.Status != StatusFailed || !strings.Contains(e.Error, strconv.Itoa(tt.code)) {
				t.Errorf("entry = %+v, want failed with the status recorded", e)
			}
			if n := len(moved.requests()); n != 0 {
				t.Errorf("the redirect was followed (%d requests)", n)
			}
		})
	}
}

// A webhook without a URL leaves the notice readable in the outbox, and
// reports success so nothing retries it for ever.
func TestWebhookUndeliverable(t *testing.T) {
	d, store, _ := newDispatcher(t, testConfig(), nil)
	ctx := context.Background()
	n := notice("CB-4", 1, "webhook:unset")
	for attempt := 1; attempt <= 2; attempt++ {
		e, err := d.Deliver(ctx, n)
		if err != nil || e.Status != StatusUndeliverable || !strings.Contains(e.Error, "no url") || e.Attempts != attempt {
			t.Fatalf("Deliver #%d = %+v, %v; want undeliverable (no url), attempt %d, no error", attempt, e, err, attempt)
		}
	}
	box, err := store.Outbox(ctx, "webhook:unset", 10, "")
	if err != nil || len(box) != 1 || box[0].Status != StatusUndeliverable {
		t.Errorf("Outbox(webhook:unset) = %+v, %v; want the undeliverable notice", box, err)
	}
}

func TestWebhookWithoutSecret(t *testing.T) {
	d, _, rc := webhookSetup(t)
	d.getenv = func(string) string { return "" }
	_, err := d.Deliver(context.Background(), notice("CB-5", 1, "webhook:perf"))
	if !IsPermanent(err) || !strings.Contains(err.Error(), "secret") {
		t.Errorf("Deliver without a secret = %v, want a permanent error naming the secret", err)
	}
	if n := len(rc.requests()); n != 0 {
		t.Errorf("an unsigned request was sent (%d)", n)
	}
}

// Two attempts at once (a retry started while the first still runs): one
// sends, the other is told to retry later, and the receiver gets one request.
func TestWebhookConcurrentAttempts(t *testing.T) {
	d, _, rc := webhookSetup(t)
	ctx := context.Background()
	arrived, release := make(chan struct{}), make(chan struct{})
	rc.mu.Lock()
	rc.arrived, rc.release = arrived, release
	rc.mu.Unlock()
	n := notice("CB-6", 1, "webhook:perf")

	type result struct {
		e   Entry
		err error
	}
	first := make(chan result)
	go func() {
		e, err := d.Deliver(ctx, n)
		first <- result{e, err}
	}()
	select {
	case <-arrived:
	case r := <-first:
		t.Fatalf("first Deliver returned before reaching the receiver: %+v, %v", r.e, r.err)
	}
	_, err := d.Deliver(ctx, n)
	close(release)
	if err == nil || IsPermanent(err) {
		t.Errorf("Deliver while another attempt sends = %v, want a retryable error", err)
	}
	if r := <-first; r.err != nil || r.e.Status != StatusSent {
		t.Errorf("first Deliver = %+v, %v; want sent", r.e, r.err)
	}
	if got := len(rc.requests()); got != 1 {
		t.Errorf("receiver got %d requests, want 1", got)
	}
}

// The payload a webhook carries is the notice's facts: nothing about the
// reporter can be in it because a Notice has no field to hold it; this
// guards the shape against a field being added unnoticed.
func TestPayloadFields(t *testing.T) {
	b, err := json.Marshal(notice("CB-1", 1, sla.Assignee).withText(time.UTC).payload())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	allowed := "event key ref level department team category status priority due_at at link subject text"
	for k := range m {
		if !strings.Contains(" "+allowed+" ", " "+k+" ") {
			t.Errorf("payload has field %q beyond %s", k, allowed)
		}
	}
}
