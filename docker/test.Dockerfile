# The test image: every package's compiled test binary (`go test -c`, static,
# CGO_ENABLED=0) beside the files its tests read, laid out like the
# repository under /src, so the suite runs offline with no Go toolchain.
#
# Build context: bin/test/, which `make test-binaries` stages:
#
#   bin/test/src/go.mod, data/*.csv, every testdata/ directory
#   bin/test/src/<package dir>/<name>.test   e.g. src/model/model.test,
#                                            src/mlservice.test (root package)
#   bin/test/tmp/                            empty: scratch has no /tmp
#
#   docker build -f docker/test.Dockerfile -t mlservice-test:local bin/test
#
# A scratch image has no shell to loop over packages, so each `docker run`
# runs one test binary in its own package directory; `make test` loops:
#
#   docker run --rm --network none -w /src/model mlservice-test:local \
#       /src/model/model.test -test.count=1
#
# With no arguments the image runs the root package's tests. Tests that need
# the go tool (cmd/server's end-to-end test builds the binaries) skip
# themselves because there is no `go` on PATH here.
FROM scratch

LABEL org.opencontainers.image.title="mlservice-test" \
      org.opencontainers.image.description="mlservice compiled test suite (one static test binary per package)" \
      mlservice.image="test"

COPY --chown=10001:10001 tmp/ /tmp/
COPY --chown=10001:10001 src/ /src/

USER 10001:10001
ENV HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /src
CMD ["/src/mlservice.test", "-test.count=1"]
