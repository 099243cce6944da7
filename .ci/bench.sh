#!/usr/bin/env bash
# Side-by-side benchmarks against the Python reference (pandas, scikit-learn,
# FastAPI/uvicorn) on this machine: the figures in BENCHMARKS.md.
#
#   .ci/bench.sh              # everything (about 10 minutes)
#   .ci/bench.sh train serve  # only some parts: train, growth, serve, bare, wide, soak
#
# Environment: PYREF (the reference's directory, default ../shared/reference/python),
# RUNS (alternated runs per trainer, default 5), SERVE_SECONDS (default 10).
# Loopback only; every load is bounded in time. Missing tools are installed
# with apt when possible, and anything skipped is said so.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYREF=${PYREF:-$ROOT/../shared/reference/python}
RUNS=${RUNS:-5}
SERVE_SECONDS=${SERVE_SECONDS:-10}
PARTS=${*:-train growth serve bare wide soak}
WORK=$(mktemp -d /tmp/mlservice-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

say() { printf '\n== %s\n' "$*"; }
skip() { printf '\n!! SKIPPED: %s\n' "$*"; }
want() { [[ " $PARTS " == *" $1 "* ]]; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

say "machine"
echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
go version
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

need_apt() { # need_apt command package...
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${@:2}") >/dev/null 2>&1 || true
  fi
  command -v "$1" >/dev/null 2>&1
}
HAVE_PY=0
if [ -f "$PYREF/pipeline.py" ]; then
  if ! /usr/bin/python3 -c 'import sklearn, pandas, fastapi, uvicorn' 2>/dev/null; then
    need_apt false python3-sklearn python3-pandas python3-fastapi python3-uvicorn || true
  fi
  /usr/bin/python3 -c 'import sklearn, pandas, fastapi, uvicorn' 2>/dev/null && HAVE_PY=1
fi
[ $HAVE_PY = 1 ] || skip "the Python reference (not at $PYREF or its packages missing): Go figures only, no ratios"
need_apt hey hey || skip "hey is not installed: the serve part needs it"
TIME=/usr/bin/time
need_apt "$TIME" time || { echo "GNU time is needed for peak RSS"; exit 1; }

say "build"
CGO_ENABLED=0 go build -trimpath -o "$WORK/trainer" ./cmd/trainer
CGO_ENABLED=0 go build -trimpath -o "$WORK/server" ./cmd/server
go build -o "$WORK/loadgen" ./cmd/loadgen
go build -o "$WORK/gen" ./data/gen
for n in 10000 100000 1000000; do "$WORK/gen" -rows $n -file "$WORK/rows_$n.csv"; done
ls -l "$WORK"/rows_*.csv | awk '{print $5, $9}'

# timed CMD... prints "wall_seconds peak_rss_kb" of one run.
timed() { "$TIME" -f '%e %M' -o "$WORK/time.out" "$@" >/dev/null 2>"$WORK/stderr.out" || { cat "$WORK/stderr.out"; return 1; }; cat "$WORK/time.out"; }

if want train; then
  say "train end to end, 1,000,000 rows, $RUNS alternated runs each"
  : >"$WORK/go.txt"; : >"$WORK/py.txt"
  for i in $(seq "$RUNS"); do
    rm -rf "$WORK/art" "$WORK/pyart"
    timed "$WORK/trainer" train -artifacts "$WORK/art" "$WORK/rows_1000000.csv" >>"$WORK/go.txt"
    if [ $HAVE_PY = 1 ]; then
      ARTIFACTS_DIR="$WORK/pyart" BALANCED_CLASS_WEIGHT=False timed /usr/bin/python3 "$PYREF/pipeline.py" "$WORK/rows_1000000.csv" >>"$WORK/py.txt"
    fi
  done
  go_t=$(cut -d' ' -f1 "$WORK/go.txt" | median); go_m=$(cut -d' ' -f2 "$WORK/go.txt" | median)
  printf 'go trainer:    median %s s, peak RSS %s MB   (runs: %s)\n' "$go_t" "$((${go_m%.*} / 1024))" "$(cut -d' ' -f1 "$WORK/go.txt" | xargs)"
  if [ $HAVE_PY = 1 ]; then
    py_t=$(cut -d' ' -f1 "$WORK/py.txt" | median); py_m=$(cut -d' ' -f2 "$WORK/py.txt" | median)
    printf 'pipeline.py:   median %s s, peak RSS %s MB   (runs: %s)\n' "$py_t" "$((${py_m%.*} / 1024))" "$(cut -d' ' -f1 "$WORK/py.txt" | xargs)"
    awk -v a="$py_t" -v b="$go_t" -v c="$py_m" -v d="$go_m" 'BEGIN {printf "ratio: %.1fx faster, %.2f of the RSS (targets: >= 3x, <= 0.33)\n", a/b, d/c}'
  fi
fi

if want growth; then
  say "cost growth: trainer at 10k, 100k, 1M, 10M rows (3 runs each, medians)"
  "$WORK/gen" -rows 10000000 -file "$WORK/rows_10000000.csv"
  printf '%10s %10s %10s %12s %14s\n' rows seconds "RSS MB" "matrix MB" "RSS/matrix"
  for n in 10000 100000 1000000 10000000; do
    : >"$WORK/g.txt"
    for i in 1 2 3; do rm -rf "$WORK/art"; timed "$WORK/trainer" train -artifacts "$WORK/art" "$WORK/rows_$n.csv" >>"$WORK/g.txt"; done
    t=$(cut -d' ' -f1 "$WORK/g.txt" | median); m=$(cut -d' ' -f2 "$WORK/g.txt" | median)
    # The numeric matrix: six float64 columns per row, as the CSV holds them.
    awk -v n=$n -v t="$t" -v m="$m" 'BEGIN {mat=n*6*8/1e6; rss=m*1024/1e6; printf "%10d %10.3f %10.1f %12.1f %14.2f\n", n, t, rss, mat, rss/mat}'
  done
  rm -f "$WORK/rows_10000000.csv"
fi

# serve_one NAME URL: hey at 32 and 1 connections; prints a summary line.
serve_one() {
  local name=$1 url=$2 body='{"age":42,"income":52000,"account_balance":1800,"transactions_last_30d":12,"is_premium":1}'
  hey -z 2s -c 8 -m POST -T application/json -d "$body" "$url" >/dev/null # warm up
  hey -z "${SERVE_SECONDS}s" -c 32 -m POST -T application/json -d "$body" "$url" >"$WORK/hey32.txt"
  hey -z "${SERVE_SECONDS}s" -c 1 -m POST -T application/json -d "$body" -o csv "$url" >"$WORK/hey1.csv"
  local rps p50 p99 non200 p50c1
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/hey32.txt")
  p50=$(awk '/ 50% in/ {print $3*1000}' "$WORK/hey32.txt")
  p99=$(awk '/ 99% in/ {print $3*1000}' "$WORK/hey32.txt")
  non200=$(awk '/^\s+\[[0-9]+\]/ {gsub(/[\[\]]/,"",$1); if ($1 != 200) n += $2} END {print n+0}' "$WORK/hey32.txt")
  p50c1=$(awk -F, 'NR>1 {print $1*1000}' "$WORK/hey1.csv" | median)
  printf '%-8s c=32: %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms  non-200 %s | c=1: p50 %.3f ms\n' "$name" "$rps" "$p50" "$p99" "$non200" "$p50c1"
  echo "$name $rps $p99 $p50c1" >>"$WORK/serve.txt"
}

if want serve; then
  say "serve: POST /predict, hey ${SERVE_SECONDS}s at 32 connections and at 1, on 127.0.0.1"
  if command -v hey >/dev/null; then
    rm -rf "$WORK/art" "$WORK/pyart"; : >"$WORK/serve.txt"
    "$WORK/trainer" train -artifacts "$WORK/art" data/day_01.csv >/dev/null 2>&1
    LOG_FORMAT=json "$WORK/server" -addr 127.0.0.1:18000 -artifacts "$WORK/art" 2>/dev/null &
    GOPID=$!
    if [ $HAVE_PY = 1 ]; then
      ARTIFACTS_DIR="$WORK/pyart" BALANCED_CLASS_WEIGHT=False /usr/bin/python3 "$PYREF/pipeline.py" data/day_01.csv >/dev/null
      (cd "$PYREF" && ARTIFACTS_DIR="$WORK/pyart" exec /usr/bin/python3 -m uvicorn api:app --host 127.0.0.1 --port 18001 --log-level warning) &
      PYPID=$!
    fi
    for _ in $(seq 100); do curl -sf localhost:18000/ready >/dev/null && { [ $HAVE_PY = 0 ] || curl -sf localhost:18001/ready >/dev/null; } && break; sleep 0.1; done
    for round in 1 2; do
      serve_one go http://127.0.0.1:18000/predict
      [ $HAVE_PY = 1 ] && serve_one python http://127.0.0.1:18001/predict
    done
    echo "go server RSS after load: $(awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$GOPID/status)"
    [ $HAVE_PY = 1 ] && echo "uvicorn RSS after load: $(awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$PYPID/status)"
    if [ $HAVE_PY = 1 ]; then
      awk '$1=="go" {gr+=$2; gp+=$3; n++} $1=="python" {pr+=$2; pp+=$3; m++}
           END {printf "ratio (means of %d rounds): %.0fx the requests/s (target >= 40x), %.3f of the p99 (target <= 0.067)\n", n, (gr/n)/(pr/m), (gp/n)/(pp/m)}' "$WORK/serve.txt"
    fi
    kill $GOPID ${PYPID:-} 2>/dev/null || true; wait 2>/dev/null || true
  fi
fi

# jsonfield FILE KEY prints a number from loadgen's -json report.
jsonfield() { sed -n "s/^  \"$2\": \([-0-9.e+]*\),\{0,1\}$/\1/p" "$1"; }

if want bare; then
  say "server vs a bare net/http handler (reads the body, writes a fixed answer): POST /predict, cmd/loadgen ${SERVE_SECONDS}s at 32 clients, $RUNS alternated runs each"
  : >"$WORK/bare.txt"
  for i in $(seq "$RUNS"); do
    for target in server bare; do
      flag=; [ $target = bare ] && flag=-bare
      "$WORK/loadgen" -bin "$WORK" -d "${SERVE_SECONDS}s" -c 32 -swap 0 $flag -json "$WORK/lg.json" >/dev/null
      line="$target $(jsonfield "$WORK/lg.json" requests_per_sec) $(jsonfield "$WORK/lg.json" p50_ms) $(jsonfield "$WORK/lg.json" p99_ms) $(jsonfield "$WORK/lg.json" errors) $(jsonfield "$WORK/lg.json" server_cpu_us_per_request)"
      echo "$line" >>"$WORK/bare.txt"
      awk '{printf "%-6s %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms  errors %d  target CPU %5.1f us/request\n", $1, $2, $3, $4, $5, $6}' <<<"$line"
    done
  done
  for target in server bare; do
    printf '%-6s median %8.0f req/s  p50 %6.3f ms  p99 %6.3f ms  target CPU %5.1f us/request\n' $target \
      "$(awk -v t=$target '$1==t {print $2}' "$WORK/bare.txt" | median)" \
      "$(awk -v t=$target '$1==t {print $3}' "$WORK/bare.txt" | median)" \
      "$(awk -v t=$target '$1==t {print $4}' "$WORK/bare.txt" | median)" \
      "$(awk -v t=$target '$1==t {print $6}' "$WORK/bare.txt" | median)"
  done
  s=$(awk '$1=="server" {print $2}' "$WORK/bare.txt" | median); b=$(awk '$1=="bare" {print $2}' "$WORK/bare.txt" | median)
  awk -v s="$s" -v b="$b" 'BEGIN {printf "ratio: %.2f of the bare handler'"'"'s requests/s (target >= 0.9)\n", s/b}'
fi

if want wide; then
  # The wide table: 30 numbers and 3 categories of 20 values, written by the
  # same script that times scikit-learn's ColumnTransformer pipeline on it.
  WIDE_ROWS=${WIDE_ROWS:-1000000}; WIDE_RUNS=${WIDE_RUNS:-1}
  say "wide table: $WIDE_ROWS rows (30 numbers, 3 categories of 20), $WIDE_RUNS alternated runs each"
  if /usr/bin/python3 -c 'import sklearn, pandas' 2>/dev/null; then
    /usr/bin/python3 testdata/tables/bench_wide.py --write "$WORK/wide.csv" --rows "$WIDE_ROWS" >/dev/null
    : >"$WORK/wgo.txt"; : >"$WORK/wpy.txt"
    for i in $(seq "$WIDE_RUNS"); do
      rm -rf "$WORK/wart"
      timed "$WORK/trainer" train -artifacts "$WORK/wart" -schema testdata/tables/bench_wide.schema.json "$WORK/wide.csv" >>"$WORK/wgo.txt"
      timed /usr/bin/python3 testdata/tables/bench_wide.py --time "$WORK/wide.csv" >>"$WORK/wpy.txt"
    done
    wg_t=$(cut -d' ' -f1 "$WORK/wgo.txt" | median); wg_m=$(cut -d' ' -f2 "$WORK/wgo.txt" | median)
    wp_t=$(cut -d' ' -f1 "$WORK/wpy.txt" | median); wp_m=$(cut -d' ' -f2 "$WORK/wpy.txt" | median)
    printf 'go trainer -schema: median %s s, peak RSS %s MB\n' "$wg_t" "$((${wg_m%.*} / 1024))"
    printf 'bench_wide.py:      median %s s, peak RSS %s MB\n' "$wp_t" "$((${wp_m%.*} / 1024))"
    awk -v a="$wp_t" -v b="$wg_t" -v c="$wp_m" -v d="$wg_m" 'BEGIN {printf "ratio: %.1fx faster, %.2f of the RSS (target: >= 3x)\n", a/b, d/c}'
    rm -f "$WORK/wide.csv"
  else
    skip "the wide table needs /usr/bin/python3 with scikit-learn and pandas to write and time it"
  fi
  go test -run XXX -bench 'BenchmarkStorePredict$|BenchmarkStorePredictRowWide' -benchmem -count 5 . | grep -E '^Benchmark'
fi

if want soak; then
  say "hot swap soak: 60 s at 32 clients, a version swap every second (cmd/loadgen)"
  go run ./cmd/loadgen -bin "$WORK" -d 60s -c 32 -swap 1s
fi
