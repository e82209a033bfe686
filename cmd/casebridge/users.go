package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/casebridge/casebridge/accounts"
)

// runUsers manages staff accounts from the command line: `casebridge users
// add` makes the first admin, who makes the rest in the console.
func runUsers(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(stderr, "usage: casebridge users add --login NAME --name 'FULL NAME' --roles admin[,…] [--departments a,b] [--teams dept/team,…] [--email ADDRESS]\n"+
			"It prints a new password once; the person signs in with it at /login.")
		if len(args) > 0 && (args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
			return nil
		}
		return usageError{"casebridge users: the only command is add"}
	}
	var login, name, email, roles, depts, teams string
	_, e, err := open(ctx, "users add", args[1:], getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&login, "login", "", "the sign-in `name` (lower case letters, digits, . _ - @)")
		fs.StringVar(&name, "name", "", "the person's `name`")
		fs.StringVar(&email, "email", "", "their email `address` (optional)")
		fs.StringVar(&roles, "roles", "", "comma-separated `roles`: agent, supervisor, rules_admin, admin, metrics")
		fs.StringVar(&depts, "departments", "", "comma-separated department `codes` they work in or oversee")
		fs.StringVar(&teams, "teams", "", "comma-separated `teams`, each department/team")
	})
	if err != nil {
		return helpIsFine(err)
	}
	defer e.close()
	a := accounts.Account{Login: accounts.NormalLogin(login), Name: strings.TrimSpace(name), Email: strings.TrimSpace(email),
		Roles: list(roles), Departments: list(depts), Teams: list(teams)}
	if err := a.Check(e.cfg); err != nil {
		return usageError{err.Error()}
	}
	password := secret(18) // 24 characters
	if a.Password, err = accounts.HashPassword(password); err != nil {
		return err
	}
	a, err = e.accounts.Put(ctx, a, "casebridge users add", time.Now())
	if errors.Is(err, accounts.ErrExists) {
		return usageError{fmt.Sprintf("there is already an account %q; an admin resets its password in the console", a.Login)}
	}
	if err != nil {
		return err
	}
	accounts.NewAudit(e.redis, redisPrefix, e.log).Record(ctx, accounts.Event{At: time.Now(), Kind: accounts.EventAccountCreated,
		Actor: "casebridge users add", Target: a.Subject(), Detail: "roles " + strings.Join(a.Roles, ",")})
	fmt.Fprintf(stdout, "account %s created (roles %s)\npassword: %s\nIt is shown only now: give it to %s in person.\n",
		a.Login, strings.Join(a.Roles, ", "), password, a.Name)
	return nil
}

// list splits a comma-separated flag.
func list(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
