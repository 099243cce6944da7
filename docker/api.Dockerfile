# The API image: the static server binary on an empty base. No shell, no
# package manager, no CA bundle (the server makes no outgoing TLS calls).
#
# Build context: the repository root, trimmed by .dockerignore to bin/docker/.
# `make build` compiles bin/docker/server first (CGO_ENABLED=0) and creates
# the empty directory bin/docker/empty/; then:
#
#   docker build -f docker/api.Dockerfile -t mlservice-api:local .
#
# /artifacts is baked in, empty and owned by the runtime user, so a fresh named
# volume mounted there starts with that ownership (Docker copies the image
# directory's owner and mode into an empty volume on first mount). Compose
# mounts it read-only for this service; only the trainer writes.
FROM scratch

LABEL org.opencontainers.image.title="mlservice-api" \
      org.opencontainers.image.description="mlservice HTTP prediction API (static Go binary on scratch)" \
      mlservice.image="api"

COPY --chown=10001:10001 bin/docker/empty/ /artifacts/
COPY bin/docker/server /server

USER 10001:10001
ENV ARTIFACTS_DIR=/artifacts
EXPOSE 8000
# A scratch image has no curl: the binary probes its own /health on ADDR.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/server", "-healthcheck"]
ENTRYPOINT ["/server"]
