package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/casebridge/casebridge/config"
)

// settings are the command-line and environment settings of one command.
type settings struct {
	addr       string
	dataDir    string
	configPath string
	logLevel   string
	logFormat  string
	uiAddr     string
	temporal   string // host:port of the Temporal frontend
	namespace  string
	redisURL   string
	// dev only: the embedded Temporal frontend port (0 = any free port)
	temporalPort int
	// pprofAddr serves Go's profiler, for engineers chasing time or memory.
	pprofAddr string

	open311Keys string
	adminToken  string
	// trustedProxies are the proxies whose X-Forwarded-For names the client.
	trustedProxies []string
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// parseSettings reads flags over environment defaults; extra adds a command's
// own flags. It returns errHelp after printing help when asked for it.
func parseSettings(name string, args []string, getenv func(string) string, stderr io.Writer, dev bool, extra ...func(*flag.FlagSet)) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("casebridge "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&s.addr, "addr", envOr(getenv, "CASEBRIDGE_ADDR", "127.0.0.1:8080"), "HTTP listen `address` (CASEBRIDGE_ADDR)")
	fs.StringVar(&s.configPath, "config", getenv("CASEBRIDGE_CONFIG"), "configuration `file` (CASEBRIDGE_CONFIG); dev defaults to DATA-DIR/casebridge.yaml")
	fs.StringVar(&s.logLevel, "log-level", envOr(getenv, "CASEBRIDGE_LOG_LEVEL", "info"), "log `level`: debug, info, warn or error")
	fs.StringVar(&s.logFormat, "log-format", envOr(getenv, "CASEBRIDGE_LOG_FORMAT", map[bool]string{true: "text", false: "json"}[dev]), "log `format`: text or json")
	fs.StringVar(&s.redisURL, "redis-url", getenv("REDIS_URL"), "Redis `URL` (REDIS_URL), e.g. redis://127.0.0.1:6379/0")
	if dev {
		fs.StringVar(&s.dataDir, "data-dir", envOr(getenv, "CASEBRIDGE_DATA_DIR", "./data"), "data `directory`: Temporal's SQLite file, Redis data, the generated config (CASEBRIDGE_DATA_DIR)")
		fs.StringVar(&s.uiAddr, "temporal-ui-addr", "127.0.0.1:8233", "Temporal Web UI listen `address`; empty turns it off")
		fs.IntVar(&s.temporalPort, "temporal-port", 7233, "embedded Temporal frontend `port`, for the temporal CLI; 0 picks a free port")
		fs.StringVar(&s.pprofAddr, "pprof-addr", "", "serve Go's profiler (/debug/pprof/) on this `address`, e.g. 127.0.0.1:6060; off by default")
	} else {
		fs.StringVar(&s.temporal, "temporal-address", envOr(getenv, "TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend `host:port` (TEMPORAL_ADDRESS)")
		fs.StringVar(&s.namespace, "temporal-namespace", envOr(getenv, "TEMPORAL_NAMESPACE", "default"), "Temporal `namespace` (TEMPORAL_NAMESPACE)")
	}
	for _, add := range extra {
		add(fs)
	}
	s.open311Keys = getenv("CASEBRIDGE_OPEN311_API_KEYS")
	s.adminToken = getenv("CASEBRIDGE_ADMIN_TOKEN")
	for _, p := range strings.Split(getenv("CASEBRIDGE_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
				return s, usageError{fmt.Sprintf("CASEBRIDGE_TRUSTED_PROXIES: %q is neither an address nor a CIDR range", p)}
			}
			s.trustedProxies = append(s.trustedProxies, p)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return s, errHelp
		}
		return s, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return s, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return s, nil
}

var errHelp = errors.New("help shown")

// loadConfig reads the configuration file and adds the keys and token given in
// the environment.
func loadConfig(s settings) (*config.Config, error) {
	cfg, err := config.Load(s.configPath)
	if err != nil {
		return nil, err
	}
	for i, k := range strings.Split(s.open311Keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.Open311.APIKeys = append(cfg.Open311.APIKeys, config.APIKey{Name: fmt.Sprintf("env-%d", i+1), Key: k})
		}
	}
	if s.adminToken != "" {
		if len(s.adminToken) < config.MinToken {
			return nil, fmt.Errorf("CASEBRIDGE_ADMIN_TOKEN has %d characters; a staff token needs at least %d (openssl rand -base64 32)", len(s.adminToken), config.MinToken)
		}
		cfg.Staff.Tokens = append(cfg.Staff.Tokens, config.Token{Name: "admin-token", SHA256: config.HashToken(s.adminToken), Roles: []string{config.RoleAdmin}})
	}
	if err := cfg.Check(); err != nil {
		return nil, fmt.Errorf("configuration with environment settings: %w", err)
	}
	return cfg, nil
}

// personal names attribute keys that may hold personal data; their values never
// reach the logs even if a caller logs them by mistake.
var personal = map[string]bool{
	"email": true, "phone": true, "first_name": true, "last_name": true, "name": true,
	"reporter": true, "address": true, "api_key": true, "token": true,
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("log level %q: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if personal[strings.ToLower(a.Key)] {
			return slog.String(a.Key, "[redacted]")
		}
		return a
	}}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Sprintf("log format %q: use text or json", format)}
}

// quiet reports whether the context ended, the normal way for a command to stop.
func quiet(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
