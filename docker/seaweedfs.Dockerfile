# The object store of the Compose object-store setup (docker-compose.s3.yml):
# SeaweedFS's weed binary, built static from the Go module proxy at the
# version docker/seaweedfs/go.mod pins (docker/seaweedfs/build.sh), on an
# empty base. No registry image is pulled.
#
# Build context: bin/seaweedfs/, which `make s3-build` fills with the binary
# and an empty directory:
#
#   docker build -f docker/seaweedfs.Dockerfile -t mlservice-seaweedfs:local bin/seaweedfs
#
# /data (the volume: blobs and the filer's metadata) and /tmp are baked in
# empty and owned by the runtime user, so a fresh named volume starts with
# that ownership.
FROM scratch

LABEL org.opencontainers.image.title="mlservice-seaweedfs" \
      org.opencontainers.image.description="SeaweedFS (weed server -s3) for mlservice's object-store setup (static Go binary on scratch)" \
      mlservice.image="seaweedfs"

COPY --chown=10001:10001 empty/ /data/
COPY --chown=10001:10001 empty/ /tmp/
COPY weed /weed

USER 10001:10001
EXPOSE 8333
ENTRYPOINT ["/weed"]
