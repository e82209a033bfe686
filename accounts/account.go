package accounts

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/casebridge/casebridge/config"
)

// Account is a member of staff who signs in to the console.
type Account struct {
	// Login is the sign-in name: lower case letters, digits and . _ - @.
	Login string   `json:"login"`
	Name  string   `json:"name"`
	Email string   `json:"email,omitempty"`
	Roles []string `json:"roles"`
	// Departments a supervisor oversees and an agent works in; Teams
	// ("department/team") an agent works in.
	Departments []string `json:"departments,omitempty"`
	Teams       []string `json:"teams,omitempty"`
	Disabled    bool     `json:"disabled,omitempty"`
	// Password is the bcrypt hash of the password; empty for an account that
	// signs in only through the council's identity provider.
	Password string `json:"password,omitempty"`
	// SSO is, for an account made by signing in with the council's identity
	// provider, the provider's issuer and the person's subject there
	// ("<issuer>#<sub>"): only that person signs in to it, and only that way.
	SSO string `json:"sso,omitempty"`
	// Version counts changes; a change names the version it was made to.
	Version   int64     `json:"version"`
	Updated   time.Time `json:"updated"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// Subject is the session subject of an account's holder.
func (a Account) Subject() string { return "account:" + a.Login }

// FieldError is a bad field of an account, named as a form or JSON names it.
type FieldError struct{ Field, Reason string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

var loginRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{1,63}$`)

// NormalLogin is a sign-in name as kept: trimmed and lower case.
func NormalLogin(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Check says what is wrong with an account against the configuration's roles,
// departments and teams.
func (a Account) Check(cfg *config.Config) error {
	if !loginRE.MatchString(a.Login) {
		return &FieldError{"login", "a sign-in name is 2 to 64 lower-case letters, digits or . _ - @, starting with a letter or digit"}
	}
	if n := strings.TrimSpace(a.Name); n == "" || utf8.RuneCountInString(n) > 100 || !utf8.ValidString(n) {
		return &FieldError{"name", "give the person's name, at most 100 characters"}
	}
	if a.Email != "" && !ValidEmail(a.Email) {
		return &FieldError{"email", fmt.Sprintf("%q is not an email address", a.Email)}
	}
	if len(a.Roles) == 0 {
		return &FieldError{"roles", "choose at least one role"}
	}
	for _, r := range a.Roles {
		if !slices.Contains(config.AllRoles, r) {
			return &FieldError{"roles", fmt.Sprintf("%q is not a role (roles: %s)", r, strings.Join(config.AllRoles, ", "))}
		}
	}
	for _, d := range a.Departments {
		if _, ok := cfg.Department(d); !ok {
			return &FieldError{"departments", fmt.Sprintf("%q is not a department", d)}
		}
	}
	for _, t := range a.Teams {
		d, team, _ := strings.Cut(t, "/")
		dept, ok := cfg.Department(d)
		if !ok || !slices.Contains(dept.Teams, team) {
			return &FieldError{"teams", fmt.Sprintf("%q is not a team (write department/team)", t)}
		}
	}
	return nil
}

// ValidEmail reports whether s passes for an email address.
func ValidEmail(s string) bool {
	return len(s) <= 254 && strings.Contains(s, "@") && !strings.ContainsAny(s, " \t\r\n<>")
}

// Password limits: long enough to resist guessing offline should the hashes
// ever leak, short enough for bcrypt, which reads 72 bytes.
const (
	MinPassword = 12
	MaxPassword = 72
	// bcryptCost is OWASP's floor for bcrypt: a check costs about 2^10
	// rounds (docs/benchmarks.md has the time), which a guesser pays per guess.
	bcryptCost = 10
)

// HashPassword checks a new password's length and returns its bcrypt hash.
func HashPassword(pw string) (string, error) {
	if utf8.RuneCountInString(pw) < MinPassword {
		return "", &FieldError{"password", fmt.Sprintf("a password needs at least %d characters", MinPassword)}
	}
	if len(pw) > MaxPassword {
		return "", &FieldError{"password", fmt.Sprintf("a password may have at most %d bytes", MaxPassword)}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash a password: %w", err)
	}
	return string(h), nil
}

// dummyHash is checked against when there is no account, so a wrong name
// takes as long to refuse as a wrong password and names cannot be told apart
// by timing.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such account, no such password"), bcryptCost)
	return h
})

// CheckPassword reports whether pw is the account's password. A nil account
// costs the same and is never right.
func CheckPassword(a *Account, pw string) bool {
	if a == nil || a.Password == "" || len(pw) > MaxPassword {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(pw[:min(len(pw), MaxPassword)]))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(a.Password), []byte(pw)) == nil
}

// ErrNotFound means there is no such account; ErrConflict that it changed
// since it was read.
var (
	ErrNotFound = errors.New("no such account")
	ErrConflict = errors.New("the account changed meanwhile")
	ErrExists   = errors.New("an account with that sign-in name exists")
)
