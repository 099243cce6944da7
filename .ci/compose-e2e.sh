#!/usr/bin/env bash
# End-to-end check of the Docker Compose deployment, driven through the
# Makefile exactly as the README tells a user to drive it. Needs a Docker
# engine, `docker compose` or docker-compose, curl and GNU make; no registry
# (the images are FROM scratch around binaries compiled on this machine).
#
#   .ci/compose-e2e.sh              run everything, nuke the project at the end
#   KEEP=1 .ci/compose-e2e.sh       on failure, leave containers/volume for a look
#   SKIP_TEST_IMAGE=1 ...           skip `make test` (the containerised suite)
#   API_PORT=18000 ...              publish the API on another host port
#                                   (the second project below uses API_PORT+1)
#
# It removes the "mlservice" Compose project (containers, network, artifacts
# volume, images; COMPOSE_PROJECT_NAME or PROJECT names another) before it
# starts and when it ends, and a second project, PROJECT-e2e-other, trained
# on a table of its own with SCHEMA=, that `make nuke` removes while sparing
# the first.
set -euo pipefail
cd "$(dirname "$0")/.."

export PROJECT="${PROJECT:-${COMPOSE_PROJECT_NAME:-mlservice}}"
OTHER="${PROJECT}-e2e-other"
OTHER_PORT=$((${API_PORT:-8000} + 1))
export API_PORT="${API_PORT:-8000}"
API="http://127.0.0.1:${API_PORT}"
LABEL="com.docker.compose.project=${PROJECT}"
WORK="$(mktemp -d)"
START=$SECONDS

# ---- helpers -------------------------------------------------------------------

. .ci/lib.sh
api_id() { docker ps -aq --no-trunc --filter "label=${LABEL}" --filter label=com.docker.compose.service=api | head -n 1; }
predict_version() {
	curl -sS --max-time 2 -X POST -H 'Content-Type: application/json' \
		--data-binary '{"age":42,"income":55000,"account_balance":1200.5,"transactions_last_30d":14,"is_premium":1}' \
		"$API/predict" 2>/dev/null | json_str model_version_id
}
leftovers() { # every container, network, volume and image of project $1 (default PROJECT)
	local p=${1:-$PROJECT} img
	{
		docker ps -aq --filter "label=com.docker.compose.project=$p" | sed 's/^/container /'
		docker network ls -q --filter "label=com.docker.compose.project=$p" | sed 's/^/network /'
		docker volume ls -q --filter "label=com.docker.compose.project=$p" | sed 's/^/volume /'
		for img in "$p-api:local" "$p-trainer:local" "$p-test:local"; do
			! docker image inspect "$img" >/dev/null 2>&1 || echo "image $img"
		done
	} | sort -u
}
# other MAKE-ARGS...: make for the second project, named only by
# COMPOSE_PROJECT_NAME (PROJECT, exported above, would win over it).
other() { env -u PROJECT COMPOSE_PROJECT_NAME="$OTHER" API_PORT="$OTHER_PORT" make "$@"; }

POLLER=
on_exit() {
	local rc=$?
	[ -z "$POLLER" ] || kill "$POLLER" 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		echo
		echo "---- compose-e2e failed (exit $rc); state of project ${PROJECT}:"
		docker ps -a --filter "label=${LABEL}" || true
		id=$(api_id || true)
		[ -z "$id" ] || { echo "---- api logs (last 40 lines)"; docker logs --tail 40 "$id" 2>&1 || true; }
		if [ -n "${KEEP:-}" ]; then
			echo "KEEP is set: leaving the project in place (make nuke to remove it)"
		else
			make nuke >/dev/null 2>&1 || true
			other nuke >/dev/null 2>&1 || true
		fi
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap on_exit EXIT

# ---- 1. a clean slate --------------------------------------------------------------

step "make nuke (start from a clean state)"
make nuke
other nuke >/dev/null
[ -z "$(leftovers)$(leftovers "$OTHER")" ] || fail "make nuke left: $(leftovers | tr '\n' ' ') $(leftovers "$OTHER" | tr '\n' ' ')"
pass "no container, network, volume or image of ${PROJECT}"

# ---- 2. the README quickstart ------------------------------------------------------

step "make build"
t0=$SECONDS
make build
BUILD_SECONDS=$((SECONDS - t0))
pass "built in ${BUILD_SECONDS}s"

step "make train (day_01.csv into a fresh volume)"
make train >"$WORK/train1.json"
cat "$WORK/train1.json"
grep -q '"promoted":true' "$WORK/train1.json" || fail "day_01 was not promoted into a fresh volume"
V1=$(json_str model_version_id <"$WORK/train1.json")
[ -n "$V1" ] || fail "no model_version_id in the trainer's output"
pass "day_01 promoted as $V1 (the trainer, uid 10001, could write into the new volume)"

step "make serve"
make serve
[ "$(docker inspect -f '{{.State.Health.Status}}' "$(api_id)")" = healthy ] || fail "api is not healthy after make serve"
pass "api container is healthy"

step "make predict"
out=$(make predict)
echo "$out"
[[ "$out" =~ ^\{\"prediction\":[01],\"probability\":([0-9.eE+-]+),\"model_version_id\":\"([^\"]+)\"\}$ ]] ||
	fail "make predict printed something else than {\"prediction\":…,\"probability\":…,\"model_version_id\":…}"
awk -v p="${BASH_REMATCH[1]}" 'BEGIN { exit !(p >= 0 && p <= 1) }' || fail "probability ${BASH_REMATCH[1]} is not in [0, 1]"
[ "${BASH_REMATCH[2]}" = "$V1" ] || fail "predict answered with version ${BASH_REMATCH[2]}, want $V1"
pass "prediction from $V1"

step "make ready / make health"
out=$(make ready)
echo "$out"
[[ "$out" == *'"ready":true'* ]] || fail "make ready does not say ready true"
make health | grep -q '"status":"ok"' || fail "make health does not say ok"
pass "ready true, health ok"

# ---- 3. a promotion is served without a reload -----------------------------------------

step "make train DAY=day_02.csv while polling /predict (no make reload)"
# Record each version /predict answers with, and when it first answered it.
(
	last=$V1
	while :; do
		v=$(predict_version || true)
		if [ -n "$v" ] && [ "$v" != "$last" ]; then
			echo "$(now) $v" >>"$WORK/seen"
			last=$v
		fi
		sleep 0.02
	done
) &
POLLER=$!
# Time-stamp the trainer's JSON line: it is printed right after the promotion.
make train DAY=day_02.csv | while IFS= read -r line; do echo "$(now) $line"; done >"$WORK/train2.out"
t_done=$(now)
cut -d' ' -f2- "$WORK/train2.out"
json_line=$(grep '"model_version_id"' "$WORK/train2.out" | head -n 1) || fail "no JSON result from the day_02 trainer"
t_json=${json_line%% *}
grep -q '"promoted":true' <<<"$json_line" || fail "day_02 was not promoted over day_01"
V2=$(json_str model_version_id <<<"$json_line")
wait_for 5 "/predict to answer with $V2" grep -qs " $V2\$" "$WORK/seen"
kill "$POLLER" 2>/dev/null || true
wait "$POLLER" 2>/dev/null || true
POLLER=
t_seen=$(grep " $V2\$" "$WORK/seen" | head -n 1 | cut -d' ' -f1)
lag=$(awk -v a="$t_seen" -v b="$t_json" 'BEGIN { printf "%.3f", a - b }')
lag_done=$(awk -v a="$t_seen" -v b="$t_done" 'BEGIN { printf "%.3f", a - b }')
echo "    trainer printed its result at $t_json, make train returned at $t_done,"
echo "    /predict first answered with $V2 at $t_seen: ${lag}s after the result (${lag_done}s after make returned)"
awk -v l="$lag" 'BEGIN { exit !(l <= 1.0) }' || fail "the API took ${lag}s (> 1 s) to serve the promoted version"
pass "promotion of $V2 served ${lag}s after the trainer finished, without a reload"

# ---- 4. the restart policy brings a crashed API back ---------------------------------------

step "crash the api process; restart policy unless-stopped brings it back"
id=$(api_id)
restarts=$(docker inspect -f '{{.RestartCount}}' "$id")
pid=$(docker inspect -f '{{.State.Pid}}' "$id")
# `docker kill` counts as a deliberate stop: the engine marks the container
# manually stopped and never applies the restart policy after it (whatever the
# signal). A crash is the process dying on its own, so SIGKILL it from outside
# Docker's API -- but only when the pid on this host really is the container's
# /server (the engine may run in a VM, where the same number is another process).
is_api_process() {
	[ -r "/proc/$pid/cgroup" ] && grep -q "$id" "/proc/$pid/cgroup" &&
		[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" = "/server " ]
}
if is_api_process && { kill -KILL "$pid" 2>/dev/null || sudo -n kill -KILL "$pid" 2>/dev/null; }; then
	running_again() {
		[ "$(docker inspect -f '{{.State.Running}} {{.RestartCount}}' "$id")" = "true $((restarts + 1))" ] &&
			[ "$(predict_version)" = "$V2" ]
	}
	wait_for 30 "the api container to restart and serve $V2" running_again
	pass "restarted by the engine (RestartCount $restarts -> $((restarts + 1))), serving $V2 again"
	make serve >/dev/null
	pass "healthy again"
else
	echo
	echo
	echo "    !!! SKIPPED: cannot SIGKILL the api's process (engine pid $pid) from this host: the"
	echo "    !!! engine runs in a VM, or no permission and no passwordless sudo."
	echo "    !!! Crash recovery by the restart policy was NOT checked."
fi

# ---- 5. the api cannot write to the artifacts volume -------------------------------------

step "the api's artifacts mount is read-only"
mount=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/artifacts"}}{{.Type}} {{.Name}} rw={{.RW}}{{end}}{{end}}' "$id")
echo "    api mount at /artifacts: $mount"
[[ "$mount" == "volume ${PROJECT}_artifacts rw=false" ]] || fail "the api's /artifacts is not the read-only ${PROJECT}_artifacts volume"
# Proof beyond the flag: a trainer that takes the api container's very mounts
# (--volumes-from keeps their read-only mode) must fail to promote anything.
rc=0
docker run --rm --volumes-from "$id" -v "$PWD/data:/data:ro" "${PROJECT}-trainer:local" \
	train /data/day_05.csv >"$WORK/ro.out" 2>"$WORK/ro.err" || rc=$?
cat "$WORK/ro.err" | sed 's/^/    trainer: /'
[ "$rc" -ne 0 ] || fail "a trainer with the api's mounts promoted a version"
grep -qi 'read-only file system' "$WORK/ro.err" || fail "the write failed, but not because the file system is read-only"
[ "$(predict_version)" = "$V2" ] || fail "the serving version changed"
pass "writing through the api's mount fails with EROFS (exit $rc); still serving $V2"

# ---- 6. a fresh volume created by the api (read-only) is still writable by the trainer ----

step "fresh volume created by the api first: not ready, then train, then ready without reload"
make cleanup
docker volume rm "${PROJECT}_artifacts" >/dev/null
make serve
rc=0
make ready >"$WORK/ready.out" 2>&1 || rc=$?
cat "$WORK/ready.out"
[ "$rc" -ne 0 ] && grep -q '"ready":false' "$WORK/ready.out" || fail "make ready should fail with ready false on an empty volume"
grep -q "make train" "$WORK/ready.out" || fail "make ready on an empty volume should hint at make train"
pass "ready false (HTTP 503) on the empty volume"
make train DAY=day_01.csv >"$WORK/train3.json"
grep -q '"promoted":true' "$WORK/train3.json" || fail "the trainer could not promote into a volume the api created"
V3=$(json_str model_version_id <"$WORK/train3.json")
wait_for 2 "/ready to report $V3" bash -c "curl -sf '$API/ready' | grep -q '\"ready\":true.*$V3'"
pass "trainer wrote into the api-created volume; api became ready with $V3 by itself"

# ---- 7. a second project with a table of its own; nuke spares the first -------------

step "COMPOSE_PROJECT_NAME=$OTHER: make images, train with DATA_DIR= and SCHEMA=, serve"
other images >/dev/null
other train DATA_DIR=testdata/tables DAY=grunfeld.csv SCHEMA=testdata/tables/grunfeld.schema.json >"$WORK/other1.json"
grep -q '"promoted":true' "$WORK/other1.json" && grep -q '"feature_schema_version":"grunfeld@1+sha256:' "$WORK/other1.json" ||
	fail "SCHEMA= did not train grunfeld under its schema: $(cat "$WORK/other1.json")"
VO=$(json_str model_version_id <"$WORK/other1.json")
other train DATA_DIR=testdata/tables DAY=grunfeld.csv >"$WORK/other2.json" 2>"$WORK/other2.err"
grep -q '"skipped":true' "$WORK/other2.json" && grep -q 'no -schema given: using grunfeld@1' "$WORK/other2.err" ||
	fail "the second train without SCHEMA= did not reuse the declared schema: $(cat "$WORK/other2.json" "$WORK/other2.err")"
other validate DATA_DIR=testdata/tables DAY=grunfeld.csv SCHEMA=testdata/tables/grunfeld.schema.json | grep -q '"valid":true' ||
	fail "make validate SCHEMA= failed"
other serve >/dev/null
curl -sf "http://127.0.0.1:${OTHER_PORT}/schema" | grep -q '"name":"grunfeld"' || fail "the second project's API does not serve grunfeld's schema"
[ "$(docker volume ls -q --filter "label=com.docker.compose.project=$OTHER")" = "${OTHER}_artifacts" ] ||
	fail "the second project's volume is not ${OTHER}_artifacts"
[ "$(predict_version)" = "$V3" ] || fail "the first project's API stopped serving $V3"
pass "$OTHER trained $VO under grunfeld's schema, reused it without SCHEMA=, serves it on :$OTHER_PORT"

step "COMPOSE_PROJECT_NAME=$OTHER make nuke: the second project goes, the first stays"
before=$(leftovers)
other nuke
left=$(leftovers "$OTHER")
[ -z "$left" ] || fail "make nuke of $OTHER left: $(tr '\n' ' ' <<<"$left")"
[ "$(leftovers)" = "$before" ] || fail "make nuke of $OTHER touched $PROJECT: before $(tr '\n' ' ' <<<"$before"), after $(leftovers | tr '\n' ' ')"
[ "$(predict_version)" = "$V3" ] || fail "the first project's API stopped serving $V3 after the other's nuke"
pass "nothing of $OTHER remains; $PROJECT's containers, volume and images are as they were, still serving $V3"

# ---- 8. the containerised test suite ----------------------------------------------------

if [ -n "${SKIP_TEST_IMAGE:-}" ]; then
	step "make test: SKIPPED (SKIP_TEST_IMAGE is set)"
else
	step "make test (every package's compiled tests, offline, in the test image)"
	make test
	pass "test image suite passed"
fi

# ---- 9. sizes, then nothing left behind --------------------------------------------------

step "image sizes"
docker image ls --filter "reference=${PROJECT}-*" --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}'

step "make nuke"
make nuke
sleep 0.5
left=$(leftovers)
[ -z "$left" ] || fail "make nuke left: $(tr '\n' ' ' <<<"$left")"
pass "no container, network, volume or image of ${PROJECT} remains"

printf '\n\033[32mcompose-e2e: all checks passed in %ds (make build: %ss)\033[0m\n' "$((SECONDS - START))" "$BUILD_SECONDS"
