// Package devserver runs an embedded Temporal server with SQLite persistence for
// `casebridge dev` and end-to-end tests.
//
// It is the only package that imports go.temporal.io/server, whose size makes every
// binary that links it slow to build; only cmd/ and end-to-end tests import devserver.
package devserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	defaultNamespace = "default"
	defaultIP        = "127.0.0.1"
	// Cases stay open for weeks; a short retention would drop closed ones while
	// staff still look at them in dev.
	retention = 30 * 24 * time.Hour
	// clusterName is stored in the database, so it must never change.
	clusterName = "active"
)

// Options configure Start. The zero value is an in-memory server on 127.0.0.1 with
// namespace "default", a free frontend port and no UI.
type Options struct {
	// DatabaseFile is the SQLite file; "" keeps everything in memory (tests).
	// Its directory must exist. Cases survive a restart on the same file. SQLite
	// keeps -wal and -shm files next to it: copy or delete the three together.
	DatabaseFile string
	// Namespace is created if missing (default "default").
	Namespace string
	// SearchAttributes are registered on the namespace; on a restart over an existing
	// file the missing ones are added. A name already registered with another type is
	// an error.
	SearchAttributes map[string]enums.IndexedValueType
	// IP is the address every service binds to and advertises (default 127.0.0.1).
	IP string
	// Port is the frontend gRPC port; 0 picks a free one.
	Port int
	// UIAddr is "host:port" for the Temporal Web UI; "" means no UI. Port 0 picks a
	// free one.
	UIAddr string
	// Logger receives the server's warnings and errors; nil discards them.
	Logger *slog.Logger
}

// Server is a running embedded Temporal server.
type Server struct {
	srv       temporal.Server
	frontend  string
	namespace string
	ui        *ui // nil without a UI
	stopping  *atomic.Bool

	stopOnce sync.Once
	stopErr  error
}

// Start starts the server and returns once the frontend serves the namespace with its
// search attributes and, if asked for, the UI answers. ctx bounds that wait.
func Start(ctx context.Context, o Options) (*Server, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	// Holding the listeners until the services bind keeps the ports free and distinct.
	ports, releasePorts, err := reservePorts(o.IP, o.Port)
	if err != nil {
		return nil, err
	}
	defer releasePorts()
	var uiListener net.Listener
	if o.UIAddr != "" {
		// Reserved before the server starts, so a busy UI port fails fast and the UI
		// server never hits its own listen error (which exits the process).
		if uiListener, err = net.Listen("tcp", o.UIAddr); err != nil {
			return nil, fmt.Errorf("reserve UI address %s: %w", o.UIAddr, err)
		}
		defer uiListener.Close()
	}

	sqlCfg, err := prepareDatabase(o.DatabaseFile, o.Namespace)
	if err != nil {
		return nil, err
	}

	frontend := hostPort(o.IP, ports.grpc[primitives.FrontendService])
	stopping := new(atomic.Bool)
	releasePorts() // the services bind while the server is built
	srv, err := temporal.NewServer(
		temporal.WithConfig(serverConfig(o.IP, ports, sqlCfg)),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(staticHosts(o.IP, ports)),
		temporal.WithLogger(serverLogger{log: logger, stopping: stopping}),
		temporal.WithDynamicConfigClient(devDynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server on %s: %w", frontend, err)
	}
	s := &Server{srv: srv, frontend: frontend, namespace: o.Namespace, stopping: stopping}

	if err := s.ready(ctx, o.SearchAttributes); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	if uiListener != nil {
		host, port := splitListener(uiListener)
		_ = uiListener.Close()
		if s.ui, err = startUI(ctx, host, port, frontend, o.Namespace, o.IP); err != nil {
			return nil, errors.Join(err, s.Stop())
		}
	}
	return s, nil
}

// FrontendAddr is the frontend's gRPC "host:port", for SDK clients and workers.
func (s *Server) FrontendAddr() string { return s.frontend }

// Namespace is the namespace Start created or found.
func (s *Server) Namespace() string { return s.namespace }

// UIURL is the Web UI's base URL, or "" without a UI.
func (s *Server) UIURL() string {
	if s.ui == nil {
		return ""
	}
	return s.ui.url
}

// Stop stops the UI and the server. Calling it again returns the first result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		if s.ui != nil {
			s.ui.stop()
		}
		if err := s.srv.Stop(); err != nil {
			s.stopErr = fmt.Errorf("stop temporal server: %w", err)
		}
	})
	return s.stopErr
}

func (o Options) withDefaults() (Options, error) {
	if o.Namespace == "" {
		o.Namespace = defaultNamespace
	}
	if o.IP == "" {
		o.IP = defaultIP
	}
	if net.ParseIP(o.IP) == nil {
		return o, fmt.Errorf("IP %q is not an IP address", o.IP)
	}
	if o.Port < 0 || o.Port > 65535 {
		return o, fmt.Errorf("port %d out of range", o.Port)
	}
	return o, nil
}

// prepareDatabase returns the SQLite config, creating the schema in a new file and the
// namespace if it is missing. An existing file keeps its schema and namespace.
func prepareDatabase(file, namespace string) (*config.SQL, error) {
	cfg := &config.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	if file == "" {
		cfg.ConnectAttributes["mode"] = "memory"
		cfg.ConnectAttributes["cache"] = "shared"
		// Servers in one process share SQLite connections by name; a random name keeps
		// each in-memory server's data its own.
		cfg.DatabaseName = "casebridge-" + rand.Text()
	} else {
		cfg.ConnectAttributes["mode"] = "rwc"
		// WAL with synchronous=normal syncs at checkpoints instead of every commit:
		// schema setup drops from ~0.5 s to ~30 ms and each workflow step gets cheaper.
		// A commit can be lost only to an OS crash or power cut, which is fine for dev.
		cfg.ConnectAttributes["journal_mode"] = "wal"
		cfg.ConnectAttributes["synchronous"] = "normal"
		cfg.DatabaseName = file
		if err := setupSchemaIfNew(cfg, file); err != nil {
			return nil, err
		}
	}

	ns, err := sqliteschema.NewNamespaceConfig(clusterName, namespace, false, nil)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(retention)
	if err := sqliteschema.CreateNamespaces(cfg, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	return cfg, nil
}

func setupSchemaIfNew(cfg *config.SQL, file string) error {
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		return err // nil: an existing database keeps its schema
	}
	if _, err := os.Stat(filepath.Dir(file)); err != nil {
		return fmt.Errorf("database directory: %w", err)
	}
	if err := sqliteschema.SetupSchema(cfg); err != nil {
		// The file now exists, so the next start would skip the setup.
		return fmt.Errorf("set up schema in %s (delete it before retrying): %w", file, err)
	}
	return nil
}

// ready waits for the frontend to serve the namespace, then registers any missing
// search attributes.
func (s *Server) ready(ctx context.Context, attrs map[string]enums.IndexedValueType) error {
	c, err := dialWhenReady(ctx, s.frontend, s.namespace)
	if err != nil {
		return err
	}
	defer c.Close()
	return addSearchAttributes(ctx, c.OperatorService(), s.namespace, attrs)
}

func dialWhenReady(ctx context.Context, addr, namespace string) (client.Client, error) {
	opts := client.Options{
		HostPort:  addr,
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	}
	for {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for temporal frontend at %s: %w (last error: %v)", addr, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// addSearchAttributes registers the attributes the namespace lacks. With
// forceSearchAttributesCacheRefreshOnRead every service sees them at once.
func addSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string, want map[string]enums.IndexedValueType) error {
	if len(want) == 0 {
		return nil
	}
	resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enums.IndexedValueType{}
	for name, typ := range want {
		got, ok := resp.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return fmt.Errorf("search attribute %s is registered in %s as %s, want %s", name, namespace, got, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	if err != nil {
		return fmt.Errorf("add search attributes to %s: %w", namespace, err)
	}
	return nil
}

// devDynamicConfig tunes the server for one developer: changes visible at once and no
// throttling of a busy test run.
func devDynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		dynamicconfig.ForceNexusEndpointRefreshOnRead.Key():         true,
		dynamicconfig.FrontendPersistenceMaxQPS.Key():               10000,
		dynamicconfig.HistoryPersistenceMaxQPS.Key():                45000,
		// The supervisor console lists cases through visibility; 10/s is too few.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// Updates and Update-With-Start drive every case; they are on by default in
		// v1.32, pinned so a server upgrade cannot turn them off unnoticed.
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key():              true,
		dynamicconfig.FrontendEnableUpdateWorkflowExecutionAsyncAccepted.Key(): true,
		// The default (128k entries) is sized for production hosts.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8096,
		// It calls home; dev must work offline and quietly.
		dynamicconfig.EnableServerVersionCheck.Key(): false,
	}
}

var serviceNames = []primitives.ServiceName{
	primitives.FrontendService,
	primitives.HistoryService,
	primitives.MatchingService,
	primitives.WorkerService,
}

// ports are where the services listen.
type ports struct {
	grpc map[primitives.ServiceName]int
	http int // the frontend's HTTP API, which Nexus needs
}

// reservePorts listens on the frontend port (0 = any free one) and on free ports for
// the other services. release frees them for the services; it may be called again.
func reservePorts(ip string, frontendPort int) (p ports, release func(), err error) {
	var listeners []net.Listener
	release = func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}
	listen := func(port int) int {
		if err != nil {
			return 0
		}
		l, lerr := net.Listen("tcp", hostPort(ip, port))
		if lerr != nil {
			err = fmt.Errorf("reserve port %d on %s: %w", port, ip, lerr)
			return 0
		}
		listeners = append(listeners, l)
		return l.Addr().(*net.TCPAddr).Port
	}
	p.grpc = map[primitives.ServiceName]int{}
	for _, name := range serviceNames {
		port := 0
		if name == primitives.FrontendService {
			port = frontendPort
		}
		p.grpc[name] = listen(port)
	}
	p.http = listen(0)
	if err != nil {
		release()
		return ports{}, nil, err
	}
	return p, release, nil
}

func serverConfig(ip string, p ports, sqlCfg *config.SQL) *config.Config {
	services := map[string]config.Service{}
	for name, port := range p.grpc {
		services[string(name)] = config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: ip}}
	}
	fe := services[string(primitives.FrontendService)]
	fe.RPC.HTTPPort = p.http
	services[string(primitives.FrontendService)] = fe

	frontend := hostPort(ip, p.grpc[primitives.FrontendService])
	const store = "sqlite-default"
	return &config.Config{
		Persistence: config.Persistence{
			DefaultStore:     store,
			VisibilityStore:  store,
			NumHistoryShards: 1, // one developer's load; the count can never change later
			DataStores:       map[string]config.DataStore{store: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {
					Enabled:                true,
					InitialFailoverVersion: 1,
					RPCAddress:             frontend,
					HTTPAddress:            hostPort(ip, p.http),
				},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		// The worker service's own SDK client dials this.
		PublicClient: config.PublicClient{HostPort: frontend},
	}
}

// staticHosts replaces ringpop membership: every service runs once, here.
func staticHosts(ip string, p ports) map[primitives.ServiceName]static.Hosts {
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, port := range p.grpc {
		addr := hostPort(ip, port)
		hosts[name] = static.Hosts{All: []string{addr}, Self: addr}
	}
	return hosts
}

func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
