package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/sla"
)

// deliverTo files count outbox-only notices for a department without email,
// keys "<ref>:0" .. "<ref>:<count-1>", oldest first.
func deliverTo(t *testing.T, d *Dispatcher, dept, ref string, count int) []string {
	t.Helper()
	var keys []string
	for i := range count {
		n := notice(ref, i, sla.HeadOfService)
		n.Key, n.Department = fmt.Sprintf("%s:%d", ref, i), dept
		if _, err := d.Deliver(context.Background(), n); err != nil {
			t.Fatalf("Deliver %s: %v", n.Key, err)
		}
		keys = append(keys, n.Key)
	}
	return keys
}

func keysOf(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

func TestOutboxPaging(t *testing.T) {
	cfg := testConfig()
	cfg.Departments = append(cfg.Departments, cfg.Departments[2])
	cfg.Departments[len(cfg.Departments)-1].Code = "vault" // a second outbox-only address
	d, store, _ := newDispatcher(t, cfg, nil)
	ctx := context.Background()

	var archive, all []string
	for i := range 7 { // interleaved, so each outbox must pick its own
		archive = append(archive, deliverTo(t, d, "archive", fmt.Sprintf("CB-A%d", i), 1)...)
		all = append(all, archive[len(archive)-1])
		all = append(all, deliverTo(t, d, "vault", fmt.Sprintf("CB-V%d", i), 1)...)
	}
	slices.Reverse(archive)
	slices.Reverse(all)

	var pages [][]string
	before := ""
	for {
		page, err := store.Outbox(ctx, "Department:ARCHIVE", 3, before) // addresses match whatever their case
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages = append(pages, keysOf(page))
		before = page[len(page)-1].Key
	}
	want := [][]string{archive[0:3], archive[3:6], archive[6:]}
	if fmt.Sprint(pages) != fmt.Sprint(want) {
		t.Errorf("Outbox pages = %v, want %v", pages, want)
	}

	recent, err := store.Recent(ctx, 4, "")
	if err != nil || !slices.Equal(keysOf(recent), all[:4]) {
		t.Errorf("Recent(4) = %v, %v; want %v", keysOf(recent), err, all[:4])
	}
	recent, err = store.Recent(ctx, 100, all[3])
	if err != nil || !slices.Equal(keysOf(recent), all[4:]) {
		t.Errorf("Recent after %s = %v, %v; want %v", all[3], keysOf(recent), err, all[4:])
	}
	if got, err := store.Outbox(ctx, "department:archive", 0, "CB-UNKNOWN:1"); err != nil || len(got) != 0 {
		t.Errorf("Outbox after an unknown cursor = %v, %v; want nothing", keysOf(got), err)
	}
	if got, err := store.Outbox(ctx, "nobody@council.example", 10, ""); err != nil || len(got) != 0 {
		t.Errorf("Outbox of an address never notified = %v, %v; want nothing", keysOf(got), err)
	}
}

// The lists keep their newest entries; an entry neither list holds is gone.
func TestOutboxCap(t *testing.T) {
	cfg := testConfig()
	cfg.Departments = append(cfg.Departments, cfg.Departments[2])
	cfg.Departments[len(cfg.Departments)-1].Code = "vault"
	d, store, _ := newDispatcher(t, cfg, nil)
	store.keep, store.keepRecent = 3, 5
	ctx := context.Background()

	a := deliverTo(t, d, "archive", "CB-A", 4) // archive keeps a3 a2 a1; recent a3 a2 a1 a0
	b := deliverTo(t, d, "vault", "CB-B", 3)   // recent keeps b2 b1 b0 a3 a2

	box, err := store.Outbox(ctx, "department:archive", 10, "")
	if want := []string{a[3], a[2], a[1]}; err != nil || !slices.Equal(keysOf(box), want) {
		t.Errorf("Outbox(archive) = %v, %v; want %v", keysOf(box), err, want)
	}
	recent, err := store.Recent(ctx, 10, "")
	if want := []string{b[2], b[1], b[0], a[3], a[2]}; err != nil || !slices.Equal(keysOf(recent), want) {
		t.Errorf("Recent = %v, %v; want %v", keysOf(recent), err, want)
	}
	if _, err := store.Get(ctx, a[1]); err != nil {
		t.Errorf("Get(%s), still in its outbox: %v", a[1], err)
	}
	if _, err := store.Get(ctx, a[0]); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("Get(%s), in neither list = %v, want ErrNotFound", a[0], err)
	}
	entries, err := store.rdb.Keys(ctx, store.entryKey("*")).Result()
	if err != nil || len(entries) != 6 {
		t.Errorf("%d entry hashes (%v, %v), want 6: every trimmed one deleted", len(entries), entries, err)
	}
}

// Every key is under prefix + "notify:", so the read model's Reset (which
// clears prefix + "rm:") never touches the outbox.
func TestKeysUnderPrefix(t *testing.T) {
	d, store, _ := newDispatcher(t, testConfig(), nil)
	deliverTo(t, d, "archive", "CB-K", 2)
	if _, err := d.Deliver(context.Background(), notice("CB-K", 9, "webhook:unset")); err != nil {
		t.Fatal(err)
	}
	keys, err := store.rdb.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("KEYS * = %v, %v", keys, err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "test:notify:") {
			t.Errorf("key %q is outside test:notify:", k)
		}
	}
}

// The lease: an attempt that holds it keeps others off until it expires; the
// outcome of an attempt that lost it does not overwrite the newer one's, except
// that sent always sticks.
func TestClaimLease(t *testing.T) {
	_, store, _ := newDispatcher(t, testConfig(), nil)
	ctx := context.Background()
	n := notice("CB-L", 1, "email:ops@council.example")
	target := Target{Channel: ChannelEmail, Address: "ops@council.example"}
	lease := time.Minute

	claim := func(token string, at time.Time, want string) {
		t.Helper()
		if got, err := store.claim(ctx, n, target, at, token, lease); err != nil || got != want {
			t.Fatalf("claim(%s at +%v) = %q, %v; want %q", token, at.Sub(t0), got, err, want)
		}
	}
	status := func(want Status, attempts int) {
		t.Helper()
		e, err := store.Get(ctx, n.Key)
		if err != nil || e.Status != want || e.Attempts != attempts {
			t.Fatalf("entry = %+v, %v; want %s after %d attempts", e, err, want, attempts)
		}
	}

	claim("one", t0, claimed)
	status(StatusQueued, 1)
	claim("two", t0.Add(lease-time.Millisecond), claimBusy)
	claim("three", t0.Add(lease+time.Millisecond), claimed) // "one" died, or is too slow
	status(StatusQueued, 2)

	if err := store.finish(ctx, n.Key, StatusFailed, "late failure", t0.Add(2*lease), "one"); err != nil {
		t.Fatal(err)
	}
	status(StatusQueued, 2) // "one" no longer holds it: its failure is not recorded
	if err := store.finish(ctx, n.Key, StatusFailed, "timeout", t0.Add(lease+time.Second), "three"); err != nil {
		t.Fatal(err)
	}
	status(StatusFailed, 2)
	claim("four", t0.Add(lease+2*time.Second), claimed) // a failure releases the lease at once
	if err := store.finish(ctx, n.Key, StatusSent, "", t0.Add(lease+3*time.Second), "one"); err != nil {
		t.Fatal(err)
	}
	status(StatusSent, 3) // sent is true whoever reports it
	if err := store.finish(ctx, n.Key, StatusFailed, "after the fact", t0.Add(lease+4*time.Second), "four"); err != nil {
		t.Fatal(err)
	}
	status(StatusSent, 3)
	claim("five", t0.Add(10*lease), claimedSent)
	status(StatusSent, 3)
}

// An entry trimmed from both lists while an attempt is sending it lives on
// until that attempt has recorded its outcome, then expires; one nobody is
// sending is deleted at once.
func TestTrimSparesEntryBeingSent(t *testing.T) {
	_, store, _ := newDispatcher(t, testConfig(), nil)
	store.keep, store.keepRecent = 2, 2
	ctx := context.Background()
	target := Target{Channel: ChannelEmail, Address: "ops@council.example"}
	lease := time.Minute
	n := func(i int) Notice { return notice("CB-T", i, "email:ops@council.example") }
	claim := func(i int, at time.Time) {
		t.Helper()
		if got, err := store.claim(ctx, n(i), target, at, fmt.Sprint(i), lease); err != nil || got != claimed {
			t.Fatalf("claim %d = %q, %v", i, got, err)
		}
	}
	finish := func(i int, at time.Time) {
		t.Helper()
		if err := store.finish(ctx, n(i).Key, StatusSent, "", at, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}

	claim(0, t0) // still sending while 1 and 2 push it out of both lists
	claim(1, t0.Add(time.Second))
	finish(1, t0.Add(time.Second))
	claim(2, t0.Add(2*time.Second))
	finish(2, t0.Add(2*time.Second))
	if box, _ := store.Outbox(ctx, target.Address, 10, ""); slices.Contains(keysOf(box), n(0).Key) {
		t.Fatalf("outbox still lists %s: %v", n(0).Key, keysOf(box))
	}
	finish(0, t0.Add(3*time.Second))
	if e, err := store.Get(ctx, n(0).Key); err != nil || e.Status != StatusSent {
		t.Errorf("Get(%s) after its attempt finished = %+v, %v; want it sent", n(0).Key, e, err)
	}
	if ttl, err := store.rdb.PTTL(ctx, store.entryKey(n(0).Key)).Result(); err != nil || ttl <= 0 || ttl > 2*lease {
		t.Errorf("PTTL of the spared entry = %v, %v; want it to expire within %v", ttl, err, 2*lease)
	}

	claim(3, t0.Add(4*time.Second)) // pushes out 1, which nobody is sending
	if _, err := store.Get(ctx, n(1).Key); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("Get(%s) once trimmed = %v, want ErrNotFound", n(1).Key, err)
	}
}
