package accounts

import (
	"context"
	"testing"
	"time"

	"github.com/casebridge/casebridge/internal/redistest"
)

// BenchmarkCheckPassword is the cost of one password check at sign-in
// (bcrypt at bcryptCost): what a guesser pays per guess, and the server per
// sign-in.
func BenchmarkCheckPassword(b *testing.B) {
	h, err := HashPassword("a long pass phrase for the bench")
	if err != nil {
		b.Fatal(err)
	}
	a := &Account{Login: "amy", Password: h}
	for b.Loop() {
		if !CheckPassword(a, "a long pass phrase for the bench") {
			b.Fatal("the password did not match")
		}
	}
}

// BenchmarkSessionCheck is the cost every console request pays to check its
// session in a real Redis on this machine.
func BenchmarkSessionCheck(b *testing.B) {
	rs := redistest.Start(b)
	m := NewSessions(rs.Client(), "cb:")
	ctx, now := context.Background(), time.Now()
	secret, _, err := m.Open(ctx, Session{Subject: "account:amy", Addr: "127.0.0.1"}, now, 8*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := m.Check(ctx, secret, now); err != nil {
			b.Fatal(err)
		}
	}
}
