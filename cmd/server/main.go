// Command server serves predictions over HTTP from the model version that
// models/CURRENT names under the artifacts directory, and follows CURRENT as
// the trainer promotes new versions.
//
//	server [-addr :8000] [-artifacts ./artifacts | -artifacts-url s3://…] [-reload-interval 100ms]
//	server -models ROOT | -models-url s3://…   every subdirectory (prefix) a model
//	       [-grpc-addr :8001]                  Open Inference Protocol v2 over gRPC
//	server -healthcheck    probe a running server's /health, exit 0 or 1
//
// Flags beat environment variables: ADDR, ARTIFACTS_DIR, ARTIFACTS_URL (an
// object store, s3://BUCKET/PREFIX?endpoint=…&region=…&use_path_style=true,
// used instead of the directory when set; credentials from the standard AWS
// variables and files), MODELS_DIR and MODELS_URL (serve every
// subdirectory or prefix as a model named after it), GRPC_ADDR, RELOAD_INTERVAL (at least 10ms),
// LOG_LEVEL (debug, info, warn, error), LOG_FORMAT (json or text; text on a
// terminal by default), MAX_BODY_BYTES, MAX_BATCH, SHUTDOWN_GRACE; GOGC is
// 400 unless set. ADMIN_TOKEN, when set,
// must be sent as "Authorization: Bearer <token>" to POST /reload; it is read
// from the environment only, so it never shows in a process listing.
//
// SIGHUP re-checks CURRENT as POST /reload does, and the server keeps
// serving; SIGINT or SIGTERM drains and stops it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mlservice/mlservice"
	"github.com/mlservice/mlservice/artifactsurl"
	"github.com/mlservice/mlservice/internal/oip"
	"google.golang.org/grpc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// SIGHUP asks for what POST /reload does; without Notify it would end
	// the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, hup)
	signal.Stop(hup)
	stop()
	var uerr *usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &uerr):
		fmt.Fprintf(os.Stderr, "server: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "server: %v\n", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

// config is everything the server takes from flags and the environment.
type config struct {
	addr           string
	artifacts      string
	artifactsURL   string // an object store; "" for the directory
	models         string // -models ROOT or -models-url; "" serves one model
	grpcAddr       string // "" for no gRPC
	reloadInterval time.Duration
	adminToken     string
	logLevel       slog.Level
	logFormat      string
	maxBody        int64
	maxBatch       int
	shutdownGrace  time.Duration
	// logSummaryEvery is how often the log counts the requests answered.
	logSummaryEvery time.Duration
	healthcheck     bool
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := config{logSummaryEvery: 10 * time.Second}
	var logLevel string
	fs.StringVar(&c.addr, "addr", env("ADDR", ":8000"), "listen address (ADDR)")
	fs.StringVar(&c.artifacts, "artifacts", env("ARTIFACTS_DIR", "./artifacts"), "artifacts directory (ARTIFACTS_DIR)")
	fs.StringVar(&c.artifactsURL, "artifacts-url", env("ARTIFACTS_URL", ""), "object store instead of the directory: s3://BUCKET/PREFIX?endpoint=…&region=…&use_path_style=true (ARTIFACTS_URL)")
	fs.StringVar(&c.models, "models", env("MODELS_DIR", ""), "serve every subdirectory of this directory as a model named after it (MODELS_DIR)")
	modelsURL := fs.String("models-url", env("MODELS_URL", ""), "as -models, every prefix under s3://BUCKET/PREFIX?… (MODELS_URL)")
	fs.StringVar(&c.grpcAddr, "grpc-addr", env("GRPC_ADDR", ""), "serve the Open Inference Protocol over gRPC here too; off when empty (GRPC_ADDR)")
	fs.StringVar(&logLevel, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", env("LOG_FORMAT", ""), "json or text; default text on a terminal, else json (LOG_FORMAT)")
	fs.BoolVar(&c.healthcheck, "healthcheck", false, "probe the server at -addr and exit 0 if healthy, 1 if not")
	interval, err := envDuration(getenv, "RELOAD_INTERVAL", mlservice.DefaultRefreshInterval)
	if err != nil {
		return c, err
	}
	c.reloadInterval = interval
	fs.Var(durationFlag{&c.reloadInterval}, "reload-interval", "how often to check models/CURRENT, at least 10ms (RELOAD_INTERVAL)")
	grace, err := envDuration(getenv, "SHUTDOWN_GRACE", time.Second)
	if err != nil {
		return c, err
	}
	c.shutdownGrace = grace
	fs.Var(durationFlag{&c.shutdownGrace}, "shutdown-grace",
		"on SIGTERM, keep serving this long with \"Connection: close\" so that clients move off before the listener closes (SHUTDOWN_GRACE)")
	maxBody, err := envInt(getenv, "MAX_BODY_BYTES", 1<<20)
	if err != nil {
		return c, err
	}
	fs.Int64Var(&c.maxBody, "max-body", int64(maxBody), "largest request body in bytes (MAX_BODY_BYTES)")
	maxBatch, err := envInt(getenv, "MAX_BATCH", 1000)
	if err != nil {
		return c, err
	}
	fs.IntVar(&c.maxBatch, "max-batch", maxBatch, "most instances in one /predict/batch request (MAX_BATCH)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, &usageError{err}
	}
	if fs.NArg() > 0 {
		return c, &usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	switch {
	case *modelsURL != "" && c.models != "":
		return c, &usageError{errors.New("-models (MODELS_DIR) and -models-url (MODELS_URL): give one")}
	case *modelsURL != "":
		c.models = *modelsURL
	}
	if c.models != "" && c.artifactsURL != "" {
		return c, &usageError{errors.New("-models and -artifacts-url (ARTIFACTS_URL): give one")}
	}
	if err := c.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return c, &usageError{fmt.Errorf("log level %q: use debug, info, warn or error", logLevel)}
	}
	switch c.logFormat {
	case "", "json", "text":
	default:
		return c, &usageError{fmt.Errorf("log format %q: use json or text", c.logFormat)}
	}
	if c.maxBody <= 0 || c.maxBatch <= 0 {
		return c, &usageError{errors.New("-max-body and -max-batch must be positive")}
	}
	if c.reloadInterval < minReloadInterval {
		return c, &usageError{fmt.Errorf("-reload-interval (RELOAD_INTERVAL) %v is too short: at least %v", c.reloadInterval, minReloadInterval)}
	}
	if c.shutdownGrace < 0 {
		return c, &usageError{errors.New("-shutdown-grace (SHUTDOWN_GRACE) must not be negative")}
	}
	c.adminToken = getenv("ADMIN_TOKEN")
	return c, nil
}

// minReloadInterval is the floor of -reload-interval: below it the store
// would spend its time checking CURRENT.
const minReloadInterval = 10 * time.Millisecond

func envDuration(getenv func(string) string, key string, def time.Duration) (time.Duration, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return 0, &usageError{fmt.Errorf("%s=%q %v", key, v, err)}
	}
	return d, nil
}

// parseDuration reads "100ms", "1.5s" or a bare number of seconds, as most
// env files write it, and says so when the value is too long to represent
// (about 292 years) rather than calling it malformed.
func parseDuration(v string) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return d, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	numeric := (err == nil || errors.Is(err, strconv.ErrRange)) && !math.IsNaN(f)
	if numeric && math.Abs(f*float64(time.Second)) < math.MaxInt64 {
		return time.Duration(f * float64(time.Second)), nil
	}
	if numeric || durationSyntax.MatchString(v) {
		return 0, fmt.Errorf("is too long: a duration can be at most %v", time.Duration(math.MaxInt64))
	}
	return 0, errors.New("is not a duration such as 100ms or 1s")
}

// durationSyntax is what time.ParseDuration reads; a value of this shape
// that it refuses has overflowed.
var durationSyntax = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// durationFlag is a -flag read by parseDuration, so that flags and
// environment accept the same values and give the same errors.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(v string) error {
	d, err := parseDuration(v)
	if err != nil {
		return fmt.Errorf("%q %v", v, err)
	}
	*f.d = d
	return nil
}

func envInt(getenv func(string) string, key string, def int) (int, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, &usageError{fmt.Errorf("%s=%q is not an integer", key, v)}
	}
	return n, nil
}

// run serves until ctx ends. Each value on hup re-checks CURRENT, as POST
// /reload does; nil means no such signal.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, hup <-chan os.Signal) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.healthcheck {
		return probe(ctx, cfg.addr)
	}
	log := newLogger(cfg, stderr)
	if getenv("GOGC") == "" {
		// The live heap is a few MB (a model, pooled buffers), so at the
		// default GOGC=100 the collector runs every few MB allocated, many
		// times a second under load. loadgen, 4 alternated runs at 32
		// clients: 23.7 µs of server CPU a request at 100, 20.3 µs at 400,
		// for 34 MB of RSS instead of 21.
		debug.SetGCPercent(400)
	}

	m := newMetrics()
	draining := new(atomic.Bool)
	models, where, err := openModels(ctx, cfg, log, m, draining)
	if err != nil {
		return err
	}
	defer models.close()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	api := newFront(&server{cfg: cfg, log: log, metrics: m, draining: draining}, models)
	srv := &http.Server{
		Handler:           api.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 2)
	var gs *grpc.Server
	grpcAddr := ""
	if cfg.grpcAddr != "" {
		gln, err := net.Listen("tcp", cfg.grpcAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("-grpc-addr: %w", err)
		}
		grpcAddr = gln.Addr().String()
		gs = oip.NewGRPCServer(backend{api}, oip.Options{Version: serverVersion(), MaxRows: cfg.maxBatch,
			MaxMessageBytes: int(cfg.maxBody), Logger: log})
		go func() { serveErr <- gs.Serve(gln) }()
	}
	log.Info("listening", "addr", ln.Addr().String(), "grpc_addr", grpcAddr, where.Key, where.Value, "reload_interval", cfg.reloadInterval.String())

	go func() { serveErr <- srv.Serve(ln) }()
	go api.base.logSummaries(ctx, cfg.logSummaryEvery)
	go reloadOnSignal(ctx, hup, models, log)
	go models.poll(ctx, cfg.reloadInterval)
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	// Drain. Closing a keep-alive connection races with a client that is
	// sending on it, and a client may not retry a POST. So first every
	// answer says "Connection: close" and no idle connection is cut (which
	// srv.SetKeepAlivesEnabled(false) would do): clients move to fresh
	// connections, and load balancers see /ready fail. Then stop
	// accepting, close what is idle, and let in-flight requests finish.
	log.Info("draining: answering with Connection: close", "grace", cfg.shutdownGrace.String())
	draining.Store(true)
	time.Sleep(cfg.shutdownGrace)
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	grpcDone := make(chan struct{})
	go func() {
		defer close(grpcDone)
		if gs == nil {
			return
		}
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-shutdownCtx.Done():
			gs.Stop() // calls still running after the HTTP drain's limit
		}
	}()
	err = srv.Shutdown(shutdownCtx)
	<-grpcDone
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	api.base.logSummary()
	log.Info("stopped")
	return nil
}

// reloadOnSignal re-checks every model's CURRENT on each value from hup
// until ctx ends. A refused version is logged; the one serving keeps
// serving.
func reloadOnSignal(ctx context.Context, hup <-chan os.Signal, models *registry, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		for _, s := range models.current().list {
			rctx, cancel := context.WithTimeout(ctx, reloadTimeout)
			changed, err := s.store.Reload(rctx)
			cancel()
			st := s.store.Status()
			if err != nil {
				s.log.Warn("SIGHUP: reload failed", "err", err.Error(), "model_version_id", st.ModelVersionID, "ready", st.Ready)
				continue
			}
			s.log.Info("SIGHUP: reloaded", "changed", changed, "model_version_id", st.ModelVersionID, "ready", st.Ready)
		}
	}
}

// openModels opens what cfg serves: the models under -models, or the one
// of -artifacts; where is what the listening line says it serves.
func openModels(ctx context.Context, cfg config, log *slog.Logger, m *metrics, draining *atomic.Bool) (*registry, slog.Attr, error) {
	if cfg.models != "" {
		root, err := openModelRoot(ctx, cfg.models)
		if err != nil {
			return nil, slog.Attr{}, &usageError{err}
		}
		open := func(name string, a *mlservice.Artifacts) (*server, error) {
			mlog := log.With("model", name)
			// A model whose first load hangs must not hold the others long.
			store, err := a.OpenStore(mlservice.StoreOptions{RefreshInterval: cfg.reloadInterval, Logger: mlog, OpenTimeout: 2 * time.Second})
			if err != nil {
				return nil, err
			}
			m.addStore(name, store)
			if st := store.Status(); !st.Ready {
				mlog.Warn("not ready: this model answers 503 until a version loads", "reason", notReadyReason(st))
			}
			return newModelServer(cfg, name, store, mlog, m, draining), nil
		}
		return newRegistry(ctx, root, open, log), slog.String("models", root.String()), nil
	}
	arts := mlservice.DirArtifacts(cfg.artifacts)
	if cfg.artifactsURL != "" {
		var err error
		if arts, err = artifactsurl.Open(ctx, cfg.artifactsURL); err != nil {
			return nil, slog.Attr{}, &usageError{err}
		}
	}
	store, err := arts.OpenStore(mlservice.StoreOptions{
		RefreshInterval: cfg.reloadInterval,
		Logger:          log,
	})
	if err != nil {
		return nil, slog.Attr{}, err
	}
	if st := store.Status(); !st.Ready {
		log.Warn("not ready: predictions and /model answer 503 until a model version loads; the other routes serve",
			"reason", notReadyReason(st), "artifacts", arts.String())
	}
	m.addStore("", store)
	return singleModel(newModelServer(cfg, "", store, log, m, draining)), slog.String("artifacts", arts.String()), nil
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	format := cfg.logFormat
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// probe is the container health check: a scratch image has no curl.
func probe(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &usageError{fmt.Errorf("-addr %q: %v", addr, err)}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
