# The trainer image: the static trainer binary on an empty base, run once per
# training job (`make train DAY=day_02.csv`, or
# `docker-compose run --rm trainer train /data/day_02.csv`).
#
# Build context: the repository root, trimmed by .dockerignore to bin/docker/
# (see api.Dockerfile):
#
#   docker build -f docker/trainer.Dockerfile -t mlservice-trainer:local .
#
# /artifacts is baked in, empty and owned by the runtime user (the same uid as
# the API), so the trainer can write into a freshly created named volume and
# the API can read what it wrote. Training data is mounted read-only at /data.
FROM scratch

LABEL org.opencontainers.image.title="mlservice-trainer" \
      org.opencontainers.image.description="mlservice trainer: validate, train, promote, roll back (static Go binary on scratch)" \
      mlservice.image="trainer"

COPY --chown=10001:10001 bin/docker/empty/ /artifacts/
COPY bin/docker/trainer /trainer

USER 10001:10001
ENV ARTIFACTS_DIR=/artifacts
ENTRYPOINT ["/trainer"]
CMD ["train", "/data/day_01.csv"]
