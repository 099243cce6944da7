#!/usr/bin/env bash
# Builds SeaweedFS's weed command, at the exact version docker/seaweedfs/go.mod
# requires, into a cache keyed by that version, and prints the binary's path.
# A cached binary is reused: only the first build is slow (several minutes
# on two cores, most of it compiling SeaweedFS's dependencies).
#
#   docker/seaweedfs/build.sh            print the path, building if needed
#   WEED_CACHE=DIR docker/seaweedfs/build.sh
#   WEED_NO_BUILD=1 docker/seaweedfs/build.sh   print the cached path, or exit 3
#
# The cache is ${WEED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlservice}/weed-<version>/weed;
# internal/weedtest looks in the same place. The binary is static
# (CGO_ENABLED=0), so the same file goes into the scratch image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '$1 == "github.com/seaweedfs/seaweedfs" {print $2; exit} $1 == "require" && $2 == "github.com/seaweedfs/seaweedfs" {print $3; exit}' "$here/go.mod")
[ -n "$version" ] || { echo "build.sh: no seaweedfs version in $here/go.mod" >&2; exit 1; }
cache=${WEED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlservice}
out=$cache/weed-$version/weed
if [ -x "$out" ]; then
	echo "$out"
	exit 0
fi
if [ -n "${WEED_NO_BUILD:-}" ]; then
	echo "build.sh: weed $version is not built yet (run docker/seaweedfs/build.sh once: several minutes cold)" >&2
	exit 3
fi
mkdir -p "$(dirname "$out")"
t0=$SECONDS
echo "build.sh: building weed $version (cold: several minutes)" >&2
(cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp.$$" github.com/seaweedfs/seaweedfs/weed)
mv -f "$out.tmp.$$" "$out"
echo "build.sh: built $out in $((SECONDS - t0))s" >&2
echo "$out"
