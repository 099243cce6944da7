#!/usr/bin/env bash
# End-to-end check of the object-store Compose setup (docker-compose.s3.yml),
# driven through the Makefile as README's "Scaling out" tells a user to:
# SeaweedFS built from the Go module proxy, the trainer writing to it, three
# API replicas following it. Needs a Docker engine, docker compose or
# docker-compose, curl, GNU make, and Go (to build SeaweedFS, cached after
# the first time). Traffic goes to 127.0.0.1 only.
#
#   .ci/compose-s3-e2e.sh          run everything, remove the project at the end
#   KEEP=1 .ci/compose-s3-e2e.sh   on failure, leave it for a look
#
# Checks: train, all three replicas serve it; the object store paused for
# 10 s under load: 0 failed predictions and /ready stays 200 saying what
# failed; unpaused: the next promotion is followed by all three; one
# replica stopped: the other two keep serving.
set -euo pipefail
cd "$(dirname "$0")/.."

export PROJECT="${PROJECT:-${COMPOSE_PROJECT_NAME:-mlservice}}"
S3_PROJECT="${PROJECT}-s3"
export API1_PORT="${API1_PORT:-8101}" API2_PORT="${API2_PORT:-8102}" API3_PORT="${API3_PORT:-8103}" S3_PORT="${S3_PORT:-8333}"
PORTS=("$API1_PORT" "$API2_PORT" "$API3_PORT")
COMPOSE_CMD=$(if docker compose version >/dev/null 2>&1; then echo 'docker compose'; else echo docker-compose; fi)
S3C="$COMPOSE_CMD -p $S3_PROJECT -f docker-compose.s3.yml"
WORK="$(mktemp -d)"
START=$SECONDS
BODY='{"age":42,"income":55000,"account_balance":1200.5,"transactions_last_30d":14,"is_premium":1}'

. .ci/lib.sh
serving() { curl -s --max-time 2 "http://127.0.0.1:$1/ready" | json_str model_version_id; }
all_serve() { local p; for p in "$@"; do [ "$(serving "$p")" = "$V" ] || return 1; done; }
seaweedfs_id() { $S3C ps -q seaweedfs; }

# load PORT...: until $WORK/stop exists, POST /predict to each port in turn
# from two loops per port; one line per failure in $WORK/failures, a count
# of successes in $WORK/ok.<pid>.
LOADERS=()
load() {
	rm -f "$WORK/stop"
	local p i
	for p in "$@"; do
		for i in 1 2; do
			(
				n=0
				while [ ! -e "$WORK/stop" ]; do
					code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
						-H 'Content-Type: application/json' --data-binary "$BODY" "http://127.0.0.1:$p/predict" || true)
					if [ "$code" = 200 ]; then n=$((n + 1)); else echo "$(date +%T.%N) port $p: HTTP ${code:-none}" >>"$WORK/failures"; fi
				done
				echo "$n" >"$WORK/ok.$BASHPID"
			) &
			LOADERS+=($!)
		done
	done
}
stop_load() {
	touch "$WORK/stop"
	wait "${LOADERS[@]}" 2>/dev/null || true
	LOADERS=()
	OK=$(cat "$WORK"/ok.* 2>/dev/null | awk '{s += $1} END {print s + 0}')
	FAILED=0
	[ ! -f "$WORK/failures" ] || FAILED=$(wc -l <"$WORK/failures")
	rm -f "$WORK"/ok.* "$WORK/failures"
}

on_exit() {
	local rc=$?
	touch "$WORK/stop"
	[ ${#LOADERS[@]} -eq 0 ] || wait "${LOADERS[@]}" 2>/dev/null || true
	id=$(seaweedfs_id 2>/dev/null || true)
	[ -z "$id" ] || docker unpause "$id" >/dev/null 2>&1 || true
	if [ "$rc" -ne 0 ]; then
		echo "---- compose-s3-e2e failed (exit $rc); state of project ${S3_PROJECT}:"
		$S3C ps || true
		$S3C logs --tail=20 || true
		if [ -n "${KEEP:-}" ]; then echo "KEEP is set: leaving it (make s3-nuke removes it)"; else make s3-nuke >/dev/null 2>&1 || true; fi
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap on_exit EXIT

step "make s3-nuke (a clean slate)"
make s3-nuke

step "make s3-build (images, and SeaweedFS from the Go module proxy)"
t0=$SECONDS
make s3-build
BUILD_SECONDS=$((SECONDS - t0))
pass "built in ${BUILD_SECONDS}s"

step "make s3-up (SeaweedFS and three API replicas)"
make s3-up

step "make s3-train DAY=day_01.csv: all three replicas serve it"
make s3-train DAY=day_01.csv >"$WORK/train1.json"
cat "$WORK/train1.json"
grep -q '"promoted":true' "$WORK/train1.json" || fail "day_01 was not promoted into an empty object store"
V=$(json_str model_version_id <"$WORK/train1.json")
wait_for 5 "all three replicas to serve $V" all_serve "${PORTS[@]}"
pass "replicas on ${PORTS[*]} serve $V"

step "pause SeaweedFS for 10 s under load: every prediction answered"
load "${PORTS[@]}"
sleep 2
docker pause "$(seaweedfs_id)" >/dev/null
t_pause=$SECONDS
sleep 7
ready=$(curl -s -w ' HTTP %{http_code}' --max-time 2 "http://127.0.0.1:$API1_PORT/ready")
echo "    /ready while paused: $ready"
[[ "$ready" == *'"ready":true'*'HTTP 200' ]] || fail "/ready is not 200 ready while the object store is paused"
[[ "$ready" == *'object store'* ]] || fail "/ready does not say that the object store failed"
sleep $((10 - (SECONDS - t_pause)))
docker unpause "$(seaweedfs_id)" >/dev/null
sleep 2
stop_load
echo "    $OK predictions answered, $FAILED failed"
[ "$FAILED" -eq 0 ] || fail "$FAILED predictions failed while the object store was paused"
[ "$OK" -gt 0 ] || fail "no prediction was answered"
errs=$(curl -s "http://127.0.0.1:$API1_PORT/metrics" | sed -n 's/^mlservice_store_errors_total //p')
echo "    mlservice_store_errors_total on api-1: $errs"
[ "${errs:-0}" -gt 0 ] || fail "the store errors of the pause were not counted"
pass "0 failed predictions while paused; /ready 200 said what failed; errors counted"

step "after unpause: the next promotion is followed by all three"
make s3-train DAY=day_02.csv >"$WORK/train2.json"
t_json=$(now)
grep -q '"promoted":true' "$WORK/train2.json" || fail "day_02 was not promoted over day_01"
V=$(json_str model_version_id <"$WORK/train2.json")
wait_for 10 "all three replicas to serve $V" all_serve "${PORTS[@]}"
lag=$(awk -v a="$(now)" -v b="$t_json" 'BEGIN { printf "%.3f", a - b }')
pass "all three serve $V ${lag}s after the trainer returned"

step "stop one replica: the other two keep serving"
load "$API1_PORT" "$API3_PORT"
sleep 1
$S3C stop api-2
sleep 3
stop_load
echo "    $OK predictions answered by api-1 and api-3, $FAILED failed"
[ "$FAILED" -eq 0 ] || fail "$FAILED predictions failed after api-2 stopped"
all_serve "$API1_PORT" "$API3_PORT" || fail "api-1 and api-3 no longer serve $V"
pass "api-1 and api-3 kept serving $V"

step "make s3-versions"
make s3-versions

step "make s3-nuke"
make s3-nuke
left=$(docker ps -aq --filter "label=com.docker.compose.project=${S3_PROJECT}")
[ -z "$left" ] || fail "make s3-nuke left containers"
printf '\n\033[32mcompose-s3-e2e: all checks passed in %ds (make s3-build: %ss)\033[0m\n' "$((SECONDS - START))" "$BUILD_SECONDS"
