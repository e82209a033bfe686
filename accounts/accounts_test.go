package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/internal/redistest"
)

func TestPasswords(t *testing.T) {
	for _, pw := range []string{"short", strings.Repeat("é", MinPassword-1), strings.Repeat("x", MaxPassword+1)} {
		var fe *FieldError
		if _, err := HashPassword(pw); !errors.As(err, &fe) || fe.Field != "password" {
			t.Errorf("HashPassword(%d bytes) = %v, want a password field error", len(pw), err)
		}
	}
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("the hash holds the password")
	}
	a := &Account{Login: "amy", Password: h}
	if !CheckPassword(a, "correct horse battery") {
		t.Error("the right password was refused")
	}
	for _, wrong := range []string{"", "correct horse batter", "Correct horse battery", strings.Repeat("y", 500)} {
		if CheckPassword(a, wrong) {
			t.Errorf("%q was taken as the password", wrong)
		}
	}
	if CheckPassword(nil, "correct horse battery") || CheckPassword(&Account{Login: "sso"}, "") {
		t.Error("no account, or one without a password, signed in")
	}
}

func TestThrottleLocksWithBackOff(t *testing.T) {
	rs := redistest.Start(t)
	th := NewThrottle(rs.Client(), "")
	ctx := context.Background()
	l := Limit{Limit: 3, Window: time.Hour, Base: 10 * time.Second, Max: 35 * time.Second}
	key := LoginKey("amy")

	var got []time.Duration
	for range 6 {
		d, err := th.Fail(ctx, key, l)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	want := []time.Duration{0, 0, 10 * time.Second, 20 * time.Second, 35 * time.Second, 35 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("locks after each failure = %v, want %v", got, want)
		}
	}
	left, err := th.Locked(ctx, AddressKey("10.0.0.1"), key)
	if err != nil {
		t.Fatal(err)
	}
	if left <= 30*time.Second || left > 35*time.Second {
		t.Errorf("Locked = %v, want the account's lock (~35 s) whichever key is asked first", left)
	}
	if left, _ := th.Locked(ctx, AddressKey("10.0.0.1")); left != 0 {
		t.Errorf("an address with no failures is locked for %v", left)
	}
	if err := th.Clear(ctx, key); err != nil {
		t.Fatal(err)
	}
	if left, _ := th.Locked(ctx, key); left != 0 {
		t.Errorf("still locked for %v after Clear", left)
	}
	if d, _ := th.Fail(ctx, key, l); d != 0 {
		t.Errorf("the first failure after Clear locked for %v: the count was not forgotten", d)
	}
}

func TestSessionsEndOnTheServer(t *testing.T) {
	rs := redistest.Start(t)
	m := NewSessions(rs.Client(), "")
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

	first, s1, err := m.Open(ctx, Session{Subject: "account:amy", Addr: "10.0.0.1", Agent: strings.Repeat("a", 500)}, now, 8*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1.Agent) != 200 {
		t.Errorf("a session keeps %d bytes of user agent, want 200", len(s1.Agent))
	}
	second, s2, err := m.Open(ctx, Session{Subject: "account:amy", SSO: true}, now.Add(time.Minute), 8*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := m.Open(ctx, Session{Subject: "account:bob"}, now, 8*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range rs.Client().Keys(ctx, "*").Val() {
		if strings.Contains(k, first) || strings.Contains(k, second) {
			t.Fatalf("key %q holds a cookie's secret", k)
		}
	}

	got, err := m.Check(ctx, first, now.Add(2*time.Hour))
	if err != nil || got.Subject != "account:amy" || got.ID != s1.ID || got.SSO {
		t.Fatalf("Check = %+v, %v", got, err)
	}
	if got, err := m.Check(ctx, second, now.Add(2*time.Hour)); err != nil || !got.SSO {
		t.Errorf("Check of a session opened through the identity provider = %+v, %v: want SSO", got, err)
	}
	if _, err := m.Check(ctx, first, now.Add(8*time.Hour)); !errors.Is(err, ErrNoSession) {
		t.Errorf("a session past its end: %v, want ErrNoSession", err)
	}
	if _, err := m.Check(ctx, first+"x", now); !errors.Is(err, ErrNoSession) {
		t.Errorf("a made-up secret: %v, want ErrNoSession", err)
	}

	live, err := m.List(ctx, "account:amy", now.Add(2*time.Minute))
	if err != nil || len(live) != 2 || live[0].ID != s2.ID {
		t.Fatalf("List = %+v, %v: want both, newest first", live, err)
	}

	// Signing out ends the session on the server: its cookie opens nothing.
	if err := m.End(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Check(ctx, first, now.Add(3*time.Minute)); !errors.Is(err, ErrNoSession) {
		t.Errorf("a signed-out cookie replayed: %v, want ErrNoSession", err)
	}
	if _, err := m.Check(ctx, second, now.Add(3*time.Minute)); err != nil {
		t.Errorf("signing out of one browser ended another: %v", err)
	}

	// Revoking everything of one person leaves others alone.
	if n, err := m.Revoke(ctx, "account:amy", "", now.Add(4*time.Minute)); err != nil || n != 1 {
		t.Errorf("Revoke = %d, %v, want 1", n, err)
	}
	if _, err := m.Check(ctx, second, now.Add(5*time.Minute)); !errors.Is(err, ErrNoSession) {
		t.Errorf("a revoked session still opens: %v", err)
	}
	if _, err := m.Check(ctx, other, now.Add(5*time.Minute)); err != nil {
		t.Errorf("revoking amy's sessions ended bob's: %v", err)
	}
}
