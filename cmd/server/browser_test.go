package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/mlservice/mlservice/internal/needtool"
	"github.com/mlservice/mlservice/internal/testkit"
)

// findChromium returns Debian's chromium (or CHROMIUM if set), or skips the
// test loudly: .ci/run installs it with apt.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	needtool.Missing(t, "SKIPPED: no chromium on PATH (apt-get install chromium, or set CHROMIUM): "+
		"the history page was NOT tested in a real browser")
	return ""
}

// TestHistoryPageInChromium drives Debian's chromium over the real server
// and trainer: three days trained (day 3 is rejected), the page lists every
// version and draws one point each, a version's link opens its page with
// its metrics and confusion matrix, the phone-width layout does not scroll
// sideways, and the browser reports no Content-Security-Policy violation
// and no console error. Screenshots go to the test's artifact directory:
// run with -artifacts (and -outputdir) to keep them.
func TestHistoryPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and starts a browser; skipped with -short")
	}
	chromium := findChromium(t)
	trainerBin, serverBin := testkit.Binaries(t)
	artifacts := t.TempDir()
	var ids []string
	for _, day := range []string{"day_01.csv", "day_02.csv", "day_03.csv"} {
		out, _ := runTrainer(t, trainerBin, artifacts, "train", filepath.Join("../../data", day))
		ids = append(ids, out.ModelVersionID)
	}
	slices.Reverse(ids) // the page lists newest first
	base := testkit.StartServer(t, serverBin, nil, "-artifacts", artifacts).Base
	shots := t.ArtifactDir()
	t.Logf("screenshots in %s", shots)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // chromium refuses to run as root with its sandbox
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("proxy-server", "direct://"), // never leave loopback
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	// The first Run starts the browser; its context must not time out.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || strings.Contains(ev.Entry.Text, "Content Security Policy") {
				p = fmt.Sprintf("log %s: %s (%s)", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL)
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				p = "console error"
			}
		case *runtime.EventExceptionThrown:
			p = "exception: " + ev.ExceptionDetails.Text
		}
		if p != "" {
			mu.Lock()
			problems = append(problems, p)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	screenshot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name), png, 0o644)
		})
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string, v any) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			raw, err := chromedp.Evaluate[json.RawMessage]("JSON.stringify("+expr+")")(ctx, tg)
			if err != nil {
				return err
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return err
			}
			return json.Unmarshal([]byte(s), v)
		})
	}
	text := func(sel string, v *string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
			*v, err = chromedp.Text(chromedp.CSS(sel))(ctx, tg)
			return err
		})
	}

	var rows, points []string
	var serving string
	run("open the history page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#versions")),
		eval(`[...document.querySelectorAll("#versions tr.version")].map(r => r.dataset.version)`, &rows),
		eval(`[...document.querySelectorAll("#f1-chart circle.point")].map(c => c.dataset.version)`, &points),
		text("#serving-version", &serving),
		screenshot("index-1280.png"),
	)
	if !slices.Equal(rows, ids) {
		t.Errorf("the page lists %v, want %v (newest first)", rows, ids)
	}
	if got := slices.Sorted(slices.Values(points)); !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
		t.Errorf("the chart has points %v, want one per version %v", points, ids)
	}
	if serving != ids[1] { // day 3 was rejected: day 2 serves
		t.Errorf("serving %q, want day 2's %s", serving, ids[1])
	}

	// Open the rejected version from its row's link.
	var title, metrics, confusion, url string
	var bars int
	run("follow a version link",
		chromedp.Click(chromedp.CSS(`#versions tr[data-version="`+ids[0]+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#confusion")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
			url, err = chromedp.Location()(ctx, tg)
			return err
		}),
		text("#version-id", &title),
		text("#metrics", &metrics),
		text("#confusion", &confusion),
		eval(`document.querySelectorAll("#coef-chart rect.bar").length`, &bars),
		screenshot("version-1280.png"),
	)
	if url != base+"/ui/versions/"+ids[0] || title != ids[0] {
		t.Errorf("the link opened %s titled %q, want the page of %s", url, title, ids[0])
	}
	for _, want := range []string{"F1", "Precision", "Recall", "ROC AUC"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics table lacks %s: %q", want, metrics)
		}
	}
	for _, want := range []string{"true negative", "false positive", "false negative", "true positive"} {
		if !strings.Contains(confusion, want) {
			t.Errorf("confusion matrix lacks %s: %q", want, confusion)
		}
	}
	if bars != 5 {
		t.Errorf("%d coefficient bars, want 5", bars)
	}

	// A phone: the page fits its width; wide tables scroll in their box.
	var overflow [2]int
	run("phone width",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#versions")),
		eval(`[document.documentElement.scrollWidth, document.documentElement.clientWidth]`, &overflow),
		screenshot("index-390.png"),
		chromedp.Navigate(base+"/ui/versions/"+ids[1]),
		chromedp.WaitVisible(chromedp.CSS("#confusion")),
		screenshot("version-390.png"),
	)
	if overflow[0] > overflow[1] {
		t.Errorf("at 390 px the page is %d px wide: it scrolls sideways", overflow[0])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("the browser reported:\n%s", strings.Join(problems, "\n"))
	}
}
