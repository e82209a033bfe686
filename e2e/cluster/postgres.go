package cluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Postgres is the PostgreSQL server the cluster keeps Temporal's databases in.
type Postgres struct {
	Host, Port, User, Password string
}

// PostgresFromEnv reads CASEBRIDGE_TEST_POSTGRES (postgres://user:password@host:port),
// by default the machine's own server: postgres://postgres@127.0.0.1:5432.
func PostgresFromEnv() (Postgres, error) {
	s := os.Getenv("CASEBRIDGE_TEST_POSTGRES")
	if s == "" {
		s = "postgres://postgres@127.0.0.1:5432"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "postgres" || u.Port() == "" {
		return Postgres{}, fmt.Errorf("CASEBRIDGE_TEST_POSTGRES=%q: want postgres://user[:password]@host:port", s)
	}
	pw, _ := u.User.Password()
	return Postgres{Host: u.Hostname(), Port: u.Port(), User: u.User.Username(), Password: pw}, nil
}

// Reachable reports whether something listens at the server's address.
func (pg Postgres) Reachable() error {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(pg.Host, pg.Port), time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// databases are the two a Temporal cluster needs: persistence and visibility.
type databases struct {
	pg                      Postgres
	tool                    string
	persistence, visibility string
}

// createDatabases creates fresh, uniquely named databases and sets up
// Temporal's schema in them as docker-compose.yml does: with
// deploy/temporal/setup-schema.sh, which runs Temporal's own schema tool.
func createDatabases(ctx context.Context, b Binaries, pg Postgres, log func(string, ...any)) (*databases, error) {
	stem := fmt.Sprintf("cbcluster_%d_%d", time.Now().Unix(), os.Getpid())
	d := &databases{pg: pg, tool: b.SQLTool, persistence: stem + "_temporal", visibility: stem + "_visibility"}
	cmd := exec.CommandContext(ctx, "sh", filepath.Join(b.Root, "deploy", "temporal", "setup-schema.sh"))
	cmd.Env = append(os.Environ(), "SQL_TOOL="+b.SQLTool, "SCHEMA_DIR="+b.Schema,
		"POSTGRES_SEEDS="+pg.Host, "DB_PORT="+pg.Port, "POSTGRES_USER="+pg.User, "SQL_PASSWORD="+pg.Password,
		"DBNAME="+d.persistence, "VISIBILITY_DBNAME="+d.visibility)
	if out, err := cmd.CombinedOutput(); err != nil {
		return d, fmt.Errorf("deploy/temporal/setup-schema.sh: %w\n%s", err, lastLines(string(out), 20))
	}
	log("databases %s and %s: Temporal's schema set up", d.persistence, d.visibility)
	return d, nil
}

func (d *databases) sql(ctx context.Context, db string, args ...string) error {
	all := []string{"--plugin", "postgres12", "--ep", d.pg.Host, "-p", d.pg.Port, "-u", d.pg.User, "--db", db}
	cmd := exec.CommandContext(ctx, d.tool, append(all, args...)...)
	if d.pg.Password != "" {
		cmd.Env = append(os.Environ(), "SQL_PASSWORD="+d.pg.Password)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("temporal-sql-tool %s on %s: %w\n%s", strings.Join(args, " "), db, err, lastLines(string(out), 20))
	}
	return nil
}

// drop removes both databases; Temporal must have stopped.
func (d *databases) drop(ctx context.Context) error {
	var errs []string
	for _, db := range []string{d.persistence, d.visibility} {
		if err := d.sql(ctx, db, "drop-database", "-f"); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("drop databases: %s", strings.Join(errs, "; "))
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
