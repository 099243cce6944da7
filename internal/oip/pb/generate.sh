#!/bin/sh
# Regenerates the Go code (*.pb.go, service_grpc.pb.go) from the *.proto files
# with Debian's protoc (protobuf-compiler) and the two Go plugins at pinned
# versions, installed from the Go module proxy into a temporary directory.
# Run it (or `go generate ./internal/oip/pb`) after editing the .proto; the
# test TestDescriptorMatchesProto fails while the committed code is stale.
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN=$bin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN=$bin go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
cd "$root"
PATH=$bin:$PATH protoc -I . \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	internal/oip/pb/*.proto
