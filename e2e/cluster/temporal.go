package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/template"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// serverConfig is Temporal's server configuration, as in the module's
// config/development-postgres12.yaml: PostgreSQL for persistence and SQL
// visibility, every service in one process on loopback.
var serverConfig = template.Must(template.New("temporal").Parse(`# Written by casebridge's cluster harness (e2e/cluster).
log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: {{.Shards}}
  datastores:
{{- range .Stores}}
    {{.Name}}:
      sql:
        pluginName: postgres12
        databaseName: {{.Database}}
        connectAddr: "{{$.PG.Host}}:{{$.PG.Port}}"
        connectProtocol: tcp
        user: {{$.PG.User}}
        password: "{{$.PG.Password}}"
        maxConns: {{.Conns}}
        maxIdleConns: {{.Conns}}
        maxConnLifetime: 1h
{{- end}}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
{{- range .Services}}
  {{.Name}}:
    rpc:
      grpcPort: {{.GRPC}}
      membershipPort: {{.Membership}}
      bindOnIP: 127.0.0.1
{{- if .HTTP}}
      httpPort: {{.HTTP}}
{{- end}}
{{- end}}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "{{.Frontend}}"
      httpAddress: "{{.FrontendHTTP}}"
dcRedirectionPolicy:
  policy: noop
publicClient:
  hostPort: "{{.Frontend}}"
dynamicConfigClient:
  filepath: "{{.DynamicConfig}}"
  pollInterval: 10s
`))

type service struct {
	Name                   string
	GRPC, Membership, HTTP int
}

type store struct {
	Name, Database string
	Conns          int
}

// newTemporal writes the server's configuration into dir and returns the
// server as a process, not yet started.
func newTemporal(dir string, b Binaries, dbs *databases, shards int) (*Process, string, error) {
	ports, err := freePorts(5)
	if err != nil {
		return nil, "", err
	}
	// Membership ports are kept in a smallint column: they must be below 32768,
	// where the kernel's ephemeral ports are not.
	member, err := freeLowPorts(4)
	if err != nil {
		return nil, "", err
	}
	services := []service{
		{Name: "frontend", GRPC: ports[0], Membership: member[0], HTTP: ports[2]},
		{Name: "history", GRPC: ports[3], Membership: member[1]},
		{Name: "matching", GRPC: ports[1], Membership: member[2]},
		{Name: "worker", GRPC: ports[4], Membership: member[3]},
	}
	frontend := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	// The dynamic configuration docker-compose.yml gives the server.
	dyn := filepath.Join(b.Root, "deploy", "temporal", "dynamicconfig.yaml")
	cfgPath := filepath.Join(dir, "temporal.yaml")
	f, err := os.OpenFile(cfgPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, "", err
	}
	err = serverConfig.Execute(f, map[string]any{
		"Shards": shards, "PG": dbs.pg, "Services": services, "DynamicConfig": dyn,
		"Frontend": frontend, "FrontendHTTP": net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])),
		"Stores": []store{{Name: "default", Database: dbs.persistence, Conns: 20}, {Name: "visibility", Database: dbs.visibility, Conns: 10}},
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, "", fmt.Errorf("write %s: %w", cfgPath, err)
	}
	p := &Process{
		Name:    "temporal",
		path:    b.Temporal,
		args:    []string{"--config-file", cfgPath, "--allow-no-auth", "start"},
		logPath: filepath.Join(dir, "temporal.log"),
		ready:   func(ctx context.Context) error { return frontendHealthy(ctx, frontend) },
	}
	return p, frontend, nil
}

// frontendHealthy asks the frontend whether it serves.
func frontendHealthy(ctx context.Context, addr string) error {
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// freeLowPorts finds n free ports between 20000 and 32767.
func freeLowPorts(n int) ([]int, error) {
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries == 1000 {
			return nil, errors.New("no free ports between 20000 and 32767")
		}
		port := 20000 + mrand.IntN(12768)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil || slices.Contains(ports, port) {
			continue
		}
		l.Close()
		ports = append(ports, port)
	}
	return ports, nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
