# Helpers the Compose end-to-end scripts share; source it after setting START.

now() { # seconds since the epoch, with microseconds
	if [ -n "${EPOCHREALTIME:-}" ]; then echo "${EPOCHREALTIME/,/.}"; else date +%s.%N; fi
}
step() { printf '\n\033[1m==> [%3ds] %s\033[0m\n' "$((SECONDS - START))" "$*"; }
pass() { printf '    ok: %s\n' "$*"; }
fail() { printf '\n\033[31mFAIL: %s\033[0m\n' "$*" >&2; exit 1; }
json_str() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" | head -n 1; }
# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.05 s.
wait_for() {
	local limit=$1 what=$2; shift 2
	local deadline=$((SECONDS + limit))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${limit}s waiting for: $what"
		sleep 0.05
	done
}
