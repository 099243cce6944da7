package main

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	env := map[string]string{"ADDR": ":9000", "ARTIFACTS_DIR": "/a", "RELOAD_INTERVAL": "250ms", "ADMIN_TOKEN": "t", "LOG_LEVEL": "debug", "MAX_BATCH": "7"}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig(nil, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != ":9000" || c.artifacts != "/a" || c.reloadInterval != 250*time.Millisecond || c.adminToken != "t" ||
		c.logLevel != slog.LevelDebug || c.maxBatch != 7 || c.maxBody != 1<<20 {
		t.Errorf("from env: %+v", c)
	}
	c, err = parseConfig([]string{"-addr", "127.0.0.1:1", "-artifacts", "/b", "-reload-interval", "1s"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:1" || c.artifacts != "/b" || c.reloadInterval != time.Second {
		t.Errorf("flags must beat env: %+v", c)
	}
	env["RELOAD_INTERVAL"] = "0.5"
	if c, err := parseConfig(nil, getenv, io.Discard); err != nil || c.reloadInterval != 500*time.Millisecond {
		t.Errorf("RELOAD_INTERVAL=0.5: %v %v", c.reloadInterval, err)
	}
	for _, bad := range [][]string{{"-log-level", "loud"}, {"-reload-interval", "0s"}, {"-max-body", "0"}, {"extra"}, {"-nope"}, {"-log-format", "xml"}} {
		if _, err := parseConfig(bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("parseConfig(%q) accepted", bad)
		}
	}
	env["MAX_BATCH"] = "many"
	if _, err := parseConfig(nil, getenv, io.Discard); err == nil {
		t.Error("MAX_BATCH=many accepted")
	}
}

// TestParseConfigDurations: the reload interval has a floor, and a duration
// too long to represent is called that, not malformed or negative.
func TestParseConfigDurations(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string // in the error; "" for none
	}{
		{name: "interval at the floor", env: map[string]string{"RELOAD_INTERVAL": "10ms"}},
		{name: "interval below the floor", env: map[string]string{"RELOAD_INTERVAL": "5ms"}, want: "at least 10ms"},
		{name: "flag below the floor", args: []string{"-reload-interval", "1ns"}, want: "at least 10ms"},
		{name: "bare seconds below the floor", env: map[string]string{"RELOAD_INTERVAL": "0.001"}, want: "at least 10ms"},
		{name: "grace overflows in seconds", env: map[string]string{"SHUTDOWN_GRACE": "1e12"}, want: "SHUTDOWN_GRACE=\"1e12\" is too long"},
		{name: "grace overflows in hours", env: map[string]string{"SHUTDOWN_GRACE": "9999999999h"}, want: "SHUTDOWN_GRACE=\"9999999999h\" is too long"},
		{name: "grace flag overflows", args: []string{"-shutdown-grace", "9999999999h"}, want: "is too long"},
		{name: "interval overflows", env: map[string]string{"RELOAD_INTERVAL": "1e400"}, want: "is too long"},
		{name: "grace malformed", env: map[string]string{"SHUTDOWN_GRACE": "soon"}, want: "is not a duration"},
		{name: "grace NaN", env: map[string]string{"SHUTDOWN_GRACE": "NaN"}, want: "is not a duration"},
		{name: "grace negative", env: map[string]string{"SHUTDOWN_GRACE": "-1s"}, want: "must not be negative"},
		{name: "grace long but fine", env: map[string]string{"SHUTDOWN_GRACE": "2562047h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			var uerr *usageError
			if !errors.As(err, &uerr) {
				t.Errorf("%v is not a usage error (exit 2)", err)
			}
		})
	}
}
