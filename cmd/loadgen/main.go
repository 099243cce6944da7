// Command loadgen is the project's load and soak harness. It is a
// development tool, not part of the service: it starts the real server on a
// freshly trained model, drives POST /predict from concurrent keep-alive
// clients on 127.0.0.1, swaps the serving version with the real trainer
// while the load runs, and reports throughput, latency percentiles, errors,
// how long each swap took to be served, and the server's RSS, heap and
// goroutines before and after.
//
//	go run ./cmd/loadgen                          # 60 s, 32 clients, a swap every second
//	go run ./cmd/loadgen -d 10s -c 1 -swap 0      # one client, no swaps
//	go run ./cmd/loadgen -d 10s -bare             # the same load on a bare net/http handler
//	go run ./cmd/loadgen -d 10s -mode v2          # Open Inference Protocol REST infer, 1 row
//	go run ./cmd/loadgen -d 10s -mode v2-1000     # the same, 1000 rows a request
//	go run ./cmd/loadgen -d 10s -mode grpc        # gRPC ModelInfer, 1 row
//
// Swaps are `trainer rollback` between versions trained from data/day_*.csv:
// the same CURRENT rename a promotion makes, so every second brings a new
// version, which 60 promotions by F1 could not.
//
// -bare measures the floor: the same client against a child process whose
// only handler reads the body and writes a fixed answer. Alternated with
// runs on the real server, it says what the server costs above net/http.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

type options struct {
	clients    int
	duration   time.Duration
	warmup     time.Duration
	swap       time.Duration
	data       string
	bin        string
	jsonOut    string
	logLevel   string // the server's LOG_LEVEL
	bare       bool   // load a bare net/http handler instead of the server
	mode       string // predict, v2, v2-1000 or grpc
	grpcAddr   string // the server's gRPC address in mode grpc
	grpcConns  int    // connections the gRPC clients share
	models     int    // serve this many copies of the model with -models; load the first
	bareServer string // internal: be the bare server, listening here
}

// Report is what loadgen measured; -json writes it to a file.
type Report struct {
	Target         string  `json:"target"` // "server" or "bare"
	Mode           string  `json:"mode"`   // what a request is: predict, v2, v2-1000, grpc
	RowsPerSec     float64 `json:"rows_per_sec"`
	Clients        int     `json:"clients"`
	Seconds        float64 `json:"seconds"`
	Requests       int     `json:"requests"`
	Errors         int     `json:"errors"` // transport errors and non-200 answers
	RequestsPerSec float64 `json:"requests_per_sec"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	P999ms         float64 `json:"p999_ms"`
	Maxms          float64 `json:"max_ms"`
	// ServerCPUus is the target's CPU time (user + system) per request
	// during the load: what it costs, whatever the client and the
	// machine's other tenants took.
	ServerCPUus    float64 `json:"server_cpu_us_per_request"`
	Swaps          int     `json:"swaps"`
	SwapsServed    int     `json:"swaps_served"`
	PickupMedianMs float64 `json:"pickup_median_ms"`
	PickupMaxMs    float64 `json:"pickup_max_ms"`
	Before         Sample  `json:"before"`
	After          Sample  `json:"after"`
}

// Sample is the server's footprint at one moment.
type Sample struct {
	RSSBytes   int64   `json:"rss_bytes"`
	HeapBytes  float64 `json:"heap_inuse_bytes"`
	Goroutines float64 `json:"goroutines"`
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	if o.bareServer != "" {
		return serveBare(o.bareServer)
	}
	work, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	if o.mode == "grpc" {
		if o.grpcAddr, err = freeAddr(); err != nil {
			return err
		}
	}
	target, versions, err := prepareTarget(o, work, addr, out)
	if err != nil {
		return err
	}
	if err := startServer(target, addr); err != nil {
		return err
	}
	defer func() { target.Process.Kill(); target.Wait() }()
	base := "http://" + addr

	rep := Report{Target: "server", Clients: o.clients, Mode: o.mode}
	if o.bare {
		rep.Target = "bare"
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.clients, MaxConnsPerHost: o.clients}, Timeout: 10 * time.Second}
	l := &loader{client: client, base: base, clients: o.clients}
	send, closeSend, err := newSender(o, client, base)
	if err != nil {
		return err
	}
	defer closeSend()
	l.send, l.rows = send, modes[o.mode]

	// The baseline is taken after the warm-up: pools and caches are full,
	// so what grows from here on is what the run itself leaks.
	wctx, cancel := context.WithTimeout(ctx, o.warmup)
	l.run(wctx, false)
	cancel()
	client.CloseIdleConnections()
	time.Sleep(time.Second)
	rep.Before = sample(client, base, target.Process.Pid)

	lctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	swaps := startSwaps(lctx, o, work, versions, &l.current)
	cpu0 := cpuTime(target.Process.Pid)
	start := time.Now()
	lat, total, failed := l.run(lctx, true)
	elapsed := time.Since(start)
	if total > 0 {
		rep.ServerCPUus = float64((cpuTime(target.Process.Pid) - cpu0).Microseconds()) / float64(total)
	}

	rep.addLoad(lat, total, failed, elapsed)
	rep.RowsPerSec = rep.RequestsPerSec * float64(l.rows)
	rep.addSwaps(<-swaps)
	rep.After = settle(client, base, target.Process.Pid, rep.Before)
	rep.print(out)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		return os.WriteFile(o.jsonOut, append(b, '\n'), 0o644)
	}
	return nil
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.IntVar(&o.clients, "c", 32, "concurrent clients")
	fs.DurationVar(&o.duration, "d", 60*time.Second, "load duration (at most 10m)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before measuring")
	fs.DurationVar(&o.swap, "swap", time.Second, "swap the serving version this often; 0 for never")
	fs.StringVar(&o.data, "data", "data", "directory of day_*.csv files")
	fs.StringVar(&o.bin, "bin", "", "directory holding trainer and server binaries (default: go build them)")
	fs.StringVar(&o.jsonOut, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&o.logLevel, "log-level", "info", "the server's LOG_LEVEL")
	fs.BoolVar(&o.bare, "bare", false, "load a bare net/http handler (reads the body, writes a fixed answer) instead of the server")
	fs.StringVar(&o.bareServer, "bare-server", "", "internal: serve the bare handler on this address")
	fs.IntVar(&o.models, "models", 0, "serve N copies of the trained model as a models root (server -models) and load the first; 0: -artifacts")
	fs.IntVar(&o.grpcConns, "grpc-conns", 1, "in -mode grpc, connections the clients share (HTTP/2 multiplexes them)")
	fs.StringVar(&o.mode, "mode", "predict", "the request: predict (POST /predict), v2 (POST /v2/models/NAME/infer, 1 row), v2-1000 (1000 rows), grpc (ModelInfer, 1 row)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.clients < 1 || o.duration <= 0 || o.duration > 10*time.Minute {
		return o, errors.New("need -c ≥ 1 and 0 < -d ≤ 10m")
	}
	if _, ok := modes[o.mode]; !ok {
		return o, fmt.Errorf("-mode %q: use predict, v2, v2-1000 or grpc", o.mode)
	}
	if o.models > 0 && o.bare {
		return o, errors.New("-models loads the server: not with -bare")
	}
	if o.models > 0 {
		o.swap = 0 // swaps roll one artifacts directory back and forth
	}
	if o.bare && o.mode == "grpc" {
		return o, errors.New("-bare is a net/http floor: not with -mode grpc")
	}
	return o, nil
}

// prepareTarget returns the command to start and, for the real server, the
// trained versions to swap between.
func prepareTarget(o options, work, addr string, out io.Writer) (*exec.Cmd, []string, error) {
	if o.bare {
		self, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		return exec.Command(self, "-bare-server", addr), nil, nil
	}
	bin := o.bin
	if bin == "" {
		bin = work
		if err := buildBinaries(bin); err != nil {
			return nil, nil, err
		}
	}
	artifacts := filepath.Join(work, "artifacts")
	versions, err := trainVersions(filepath.Join(bin, "trainer"), artifacts, o.data)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(out, "%d promoted versions to swap between\n", len(versions))
	args := []string{"-addr", addr, "-artifacts", artifacts}
	if o.models > 0 {
		root := filepath.Join(work, "models")
		for i := range o.models {
			if err := os.CopyFS(filepath.Join(root, modelName(o, i)), os.DirFS(artifacts)); err != nil {
				return nil, nil, err
			}
		}
		args = []string{"-addr", addr, "-models", root}
		fmt.Fprintf(out, "serving %d copies as a models root; loading %s\n", o.models, modelName(o, 0))
	}
	if o.mode == "grpc" {
		args = append(args, "-grpc-addr", o.grpcAddr)
	}
	srv := exec.Command(filepath.Join(bin, "server"), args...)
	srv.Env = append(os.Environ(), "LOG_FORMAT=json", "LOG_LEVEL="+o.logLevel)
	return srv, versions, nil
}

func buildBinaries(dir string) error {
	for _, name := range []string{"trainer", "server"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s (run loadgen from the repository root): %v\n%s", name, err, b)
		}
	}
	return nil
}

// trainVersions trains every day in dataDir and returns the versions that
// were promoted.
func trainVersions(trainer, artifacts, dataDir string) ([]string, error) {
	days, _ := filepath.Glob(filepath.Join(dataDir, "day_*.csv"))
	if len(days) == 0 {
		return nil, fmt.Errorf("no day_*.csv in %s", dataDir)
	}
	var versions []string
	for _, day := range days {
		res, err := exec.Command(trainer, "train", "-artifacts", artifacts, day).Output()
		if err != nil {
			return nil, fmt.Errorf("train %s: %v", day, err)
		}
		var r struct {
			ID       string `json:"model_version_id"`
			Promoted bool   `json:"promoted"`
		}
		if err := json.Unmarshal(res, &r); err != nil {
			return nil, err
		}
		if r.Promoted {
			versions = append(versions, r.ID)
		}
	}
	return versions, nil
}

// loader drives POST /predict from its clients.
type loader struct {
	client  *http.Client
	base    string
	clients int
	send    func() (string, error) // one request; the version that answered
	rows    int                    // rows a request carries
	// The swap in progress: workers stamp the first response that carries
	// its version.
	current atomic.Pointer[swap]
}

var predictBody = []byte(`{"age":42,"income":52000,"account_balance":1800.5,"transactions_last_30d":12,"is_premium":1}`)

// run loads until ctx ends and returns each client's latencies (when
// record is set), the requests made and how many failed.
func (l *loader) run(ctx context.Context, record bool) ([][]time.Duration, int, int) {
	lat := make([][]time.Duration, l.clients)
	var mu sync.Mutex
	total, failed := 0, 0
	var wg sync.WaitGroup
	for w := range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, bad := 0, 0
			for ctx.Err() == nil {
				start := time.Now()
				id, err := l.send()
				took := time.Since(start)
				if ctx.Err() != nil {
					break // a request cut by the end of the run is not an error
				}
				n++
				if err != nil {
					bad++
					continue
				}
				if record {
					lat[w] = append(lat[w], took)
					if sw := l.current.Load(); sw != nil && sw.id == id && sw.seenAt.Load() == 0 {
						sw.seenAt.CompareAndSwap(0, time.Now().UnixNano())
					}
				}
			}
			mu.Lock()
			total, failed = total+n, failed+bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, total, failed
}

type swap struct {
	id     string
	at     time.Time
	seenAt atomic.Int64 // unix ns of the first response from id; 0 until then
}

// startSwaps rolls CURRENT to the next version every o.swap until ctx ends,
// then sends the swaps it made.
func startSwaps(ctx context.Context, o options, work string, versions []string, current *atomic.Pointer[swap]) <-chan []*swap {
	done := make(chan []*swap, 1)
	if o.swap <= 0 || len(versions) < 2 {
		done <- nil
		return done
	}
	bin := o.bin
	if bin == "" {
		bin = work
	}
	trainer, artifacts := filepath.Join(bin, "trainer"), filepath.Join(work, "artifacts")
	go func() {
		var swaps []*swap
		defer func() { done <- swaps }()
		t := time.NewTicker(o.swap)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Each swap moves to the next version in turn, never to the one
			// serving. Pickup is measured from before the trainer starts:
			// it includes the trainer's own start-up, so it errs long.
			sw := &swap{id: versions[(i+1)%len(versions)], at: time.Now()}
			current.Store(sw)
			if err := exec.Command(trainer, "rollback", "-artifacts", artifacts, sw.id).Run(); err != nil {
				log.Printf("rollback %s: %v", sw.id, err)
				continue
			}
			swaps = append(swaps, sw)
		}
	}()
	return done
}

func (rep *Report) addLoad(lat [][]time.Duration, total, failed int, elapsed time.Duration) {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	rep.Seconds, rep.Requests, rep.Errors = elapsed.Seconds(), total, failed
	rep.RequestsPerSec = float64(total) / elapsed.Seconds()
	rep.P50ms, rep.P99ms, rep.P999ms = pct(all, 0.50), pct(all, 0.99), pct(all, 0.999)
	if len(all) > 0 {
		rep.Maxms = ms(all[len(all)-1])
	}
}

// addSwaps reports pickups: a swap is served when a response carries its
// version; the last swap may be cut off by the end of the load.
func (rep *Report) addSwaps(swaps []*swap) {
	var pickups []time.Duration
	for _, s := range swaps {
		rep.Swaps++
		if seen := s.seenAt.Load(); seen != 0 {
			pickups = append(pickups, max(time.Unix(0, seen).Sub(s.at), 0))
		}
	}
	rep.SwapsServed = len(pickups)
	slices.Sort(pickups)
	if len(pickups) > 0 {
		rep.PickupMedianMs, rep.PickupMaxMs = ms(pickups[len(pickups)/2]), ms(pickups[len(pickups)-1])
	}
}

// settle lets connections close and timers settle, then samples until the
// goroutine count is back where it started (or 10 s pass).
func settle(c *http.Client, base string, pid int, before Sample) Sample {
	var s Sample
	c.CloseIdleConnections()
	for range 20 {
		time.Sleep(500 * time.Millisecond)
		s = sample(c, base, pid)
		c.CloseIdleConnections()
		if s.Goroutines <= before.Goroutines {
			break
		}
	}
	return s
}

func (rep *Report) print(out io.Writer) {
	fmt.Fprintf(out, "%s %s, %d clients, %.1f s: %d requests, %.0f req/s (%.0f rows/s), %d errors\n", rep.Target, rep.Mode, rep.Clients, rep.Seconds,
		rep.Requests, rep.RequestsPerSec, rep.RowsPerSec, rep.Errors)
	fmt.Fprintf(out, "latency ms: p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", rep.P50ms, rep.P99ms, rep.P999ms, rep.Maxms)
	fmt.Fprintf(out, "server CPU: %.1f µs a request\n", rep.ServerCPUus)
	if rep.Swaps > 0 {
		fmt.Fprintf(out, "swaps: %d done, %d seen served; pickup median %.1f ms, max %.1f ms\n", rep.Swaps, rep.SwapsServed, rep.PickupMedianMs, rep.PickupMaxMs)
	}
	fmt.Fprintf(out, "server before: RSS %.1f MB, heap %.1f MB, %v goroutines\n", float64(rep.Before.RSSBytes)/1e6, rep.Before.HeapBytes/1e6, rep.Before.Goroutines)
	fmt.Fprintf(out, "server after:  RSS %.1f MB, heap %.1f MB, %v goroutines\n", float64(rep.After.RSSBytes)/1e6, rep.After.HeapBytes/1e6, rep.After.Goroutines)
}

func predict(c *http.Client, base string, body []byte) (string, error) {
	b, err := postJSON(c, base+"/predict", body)
	if err != nil {
		return "", err
	}
	var p struct {
		ID string `json:"model_version_id"`
	}
	err = json.Unmarshal(b, &p)
	return p.ID, err
}

// postJSON posts body and returns the answer of a 200, else an error with
// the status and the answer's start.
func postJSON(c *http.Client, url string, body []byte) ([]byte, error) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %.200s", resp.StatusCode, b)
	}
	return b, nil
}

// freeAddr returns a loopback address with a port free a moment ago; the
// target is given it, so that any log level will do.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServer starts srv and waits until it answers /ready on addr. Its log
// goes through a pipe, as to a container runtime, and is discarded.
func startServer(srv *exec.Cmd, addr string) error {
	stderr, err := srv.StderrPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	go io.Copy(io.Discard, stderr)
	for range 500 {
		if resp, err := http.Get("http://" + addr + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Process.Kill()
	srv.Wait()
	return errors.New("server never became ready on " + addr)
}

func sample(c *http.Client, base string, pid int) Sample {
	var s Sample
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				s.RSSBytes = kb * 1024
			}
		}
	}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return s
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case "go_goroutines":
			s.Goroutines = v
		case "go_memstats_heap_inuse_bytes":
			s.HeapBytes = v
		}
	}
	return s
}

// cpuTime is the user and system time pid has used (Linux /proc; 0
// elsewhere), at the kernel's tick resolution: fine over seconds of load.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return ms(sorted[min(int(q*float64(len(sorted))), len(sorted)-1)])
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
