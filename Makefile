# Day-to-day commands for mlservice. `make` (or `make help`) lists them.
#
# The Docker targets work with the Compose plugin (`docker compose`) or the
# standalone `docker-compose`, whichever answers first. Images are FROM scratch
# and hold static binaries compiled here by the host's Go toolchain, or inside
# a golang container when there is no `go` on PATH.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

# ---- settings (override on the command line: make train DAY=day_12.csv) ----

# The Compose project: COMPOSE_PROJECT_NAME when set, else mlservice. Every
# target, and the image and volume names, follow it, so two projects on one
# engine never touch each other's containers, volumes or images.
PROJECT      ?= $(or $(COMPOSE_PROJECT_NAME),mlservice)
DAY          ?= day_01.csv
# The host directory train and validate read DAY from (mounted at /data).
DATA_DIR     ?= data
# A schema file on the host for train and validate (mounted read-only):
# make train DATA_DIR=~/tables DAY=t.csv SCHEMA=~/tables/t.schema.json. Without
# it, train uses the schema the current version was declared with.
SCHEMA       ?=
API_PORT     ?= 8000
# Several models in one volume: MODEL=NAME makes train, versions and
# rollback work on the volume's NAME/ (trainer -artifacts /artifacts/NAME);
# `make serve MODELS=1` serves every subdirectory of the volume as a model
# named after it (MODELS_DIR=/artifacts).
MODEL        ?=
MODELS       ?=
API_URL      ?= http://127.0.0.1:$(API_PORT)
ENV_FILE     := ml-service.env
GO           ?= go
GOLANG_IMAGE ?= golang:1.26
# Extra flags for the test binaries in `make test`, e.g. TESTFLAGS=-test.v
TESTFLAGS    ?=
# Extra flags for `make go-test`, e.g. GOTESTFLAGS=-race
GOTESTFLAGS  ?=
# -q keeps `make build` readable; DOCKER_BUILD_FLAGS= shows every step.
DOCKER_BUILD_FLAGS ?= -q

API_IMAGE     := $(PROJECT)-api:local
TRAINER_IMAGE := $(PROJECT)-trainer:local
TEST_IMAGE    := $(PROJECT)-test:local
GOCACHE_VOLUME := $(PROJECT)_gocache

PREDICT_BODY ?= {"age":42,"income":55000,"account_balance":1200.5,"transactions_last_30d":14,"is_premium":1}

# ADMIN_TOKEN from the shell wins, else the one in ml-service.env (if any).
# Exported, never put on a command line, so it does not show in `ps`.
ADMIN_TOKEN ?= $(shell sed -n 's/^ADMIN_TOKEN=//p' $(ENV_FILE) 2>/dev/null | tail -n 1)
export ADMIN_TOKEN API_PORT

# `make train DAY=day_12` works as well as DAY=day_12.csv.
DAY_FILE = $(if $(filter %.csv,$(DAY)),$(DAY),$(DAY).csv)
# What the compose files read: the images and the data directory.
MLSERVICE_API_IMAGE       := $(API_IMAGE)
MLSERVICE_TRAINER_IMAGE   := $(TRAINER_IMAGE)
MLSERVICE_DATA_DIR        := $(abspath $(DATA_DIR))
MLSERVICE_MODELS_DIR      := $(if $(MODELS),/artifacts)
export MLSERVICE_API_IMAGE MLSERVICE_TRAINER_IMAGE MLSERVICE_DATA_DIR MLSERVICE_MODELS_DIR
MODEL_FLAG = $(if $(MODEL),-artifacts /artifacts/$(MODEL))
# train and validate: the schema file mounted at /schema.json, and its flag.
SCHEMA_ARGS = $(if $(SCHEMA),-v "$(abspath $(SCHEMA))":/schema.json:ro)
SCHEMA_FLAG = $(if $(SCHEMA),-schema /schema.json)
SCHEMA_FLAG_HOST = $(if $(SCHEMA),-schema "$(SCHEMA)")
define check_day
	[ -f "$(DATA_DIR)/$(DAY_FILE)" ] || { echo "error: $(DATA_DIR)/$(DAY_FILE) not found (DATA_DIR=$(DATA_DIR)); try one of: $$(cd "$(DATA_DIR)" 2>/dev/null && ls *.csv | tr '\n' ' ')" >&2; exit 2; }; \
	[ -z "$(SCHEMA)" ] || [ -f "$(SCHEMA)" ] || { echo "error: SCHEMA=$(SCHEMA) is not a file" >&2; exit 2; }
endef

# Looked up once, and only by the targets that use them.
# The Compose plugin when present, else standalone docker-compose.
COMPOSE_CMD ?= $(eval COMPOSE_CMD := $$(shell \
	if docker compose version >/dev/null 2>&1; then echo 'docker compose'; \
	elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose; fi))$(COMPOSE_CMD)
COMPOSE = $(COMPOSE_CMD) -p $(PROJECT) -f docker-compose.yml
# The object-store setup (docker-compose.s3.yml): a project of its own.
S3_PROJECT ?= $(PROJECT)-s3
S3_COMPOSE = $(COMPOSE_CMD) -p $(S3_PROJECT) -f docker-compose.s3.yml
S3_PORT    ?= 8333
API1_PORT  ?= 8101
API2_PORT  ?= 8102
API3_PORT  ?= 8103
SEAWEEDFS_IMAGE := $(PROJECT)-seaweedfs:local
MLSERVICE_SEAWEEDFS_IMAGE := $(SEAWEEDFS_IMAGE)
export S3_PORT API1_PORT API2_PORT API3_PORT MLSERVICE_SEAWEEDFS_IMAGE
# Binaries are built for the Docker engine's architecture (arm64 on Apple
# silicon's Docker Desktop, amd64 on most servers).
TARGET_ARCH ?= $(eval TARGET_ARCH := $$(shell \
	docker version -f '{{.Server.Arch}}' 2>/dev/null || $(GO) env GOARCH 2>/dev/null || echo amd64))$(TARGET_ARCH)
GOBUILD_ENV = CGO_ENABLED=0 GOOS=linux GOARCH=$(TARGET_ARCH)
GOBUILD_FLAGS = -trimpath -ldflags='-s -w'

# Runs a make target with the host's Go, or inside $(GOLANG_IMAGE) without it
# (or with GO_IN_DOCKER=1). The container path needs the image (pulled once).
define with_go
	if [ -z "$${GO_IN_DOCKER:-}" ] && command -v $(GO) >/dev/null 2>&1; then \
		$(MAKE) $(1) TARGET_ARCH=$(TARGET_ARCH); \
	else \
		echo ">> no '$(GO)' on PATH (or GO_IN_DOCKER set): compiling inside $(GOLANG_IMAGE)"; \
		echo ">> (needs the image locally or a registry to pull it from; install Go 1.26+ to skip this)"; \
		docker run --rm \
			-v "$(CURDIR)":/src -w /src \
			-v $(GOCACHE_VOLUME):/cache -e GOCACHE=/cache/build -e GOMODCACHE=/cache/mod \
			-e GOFLAGS=-buildvcs=false \
			$(GOLANG_IMAGE) \
			sh -c 'command -v make >/dev/null || { echo "$(GOLANG_IMAGE) has no make" >&2; exit 1; }; \
				make $(1) GO=go TARGET_ARCH=$(TARGET_ARCH) && chown -R $(shell id -u):$(shell id -g) bin' \
		|| { echo "error: could not compile in $(GOLANG_IMAGE): install Go 1.26+, or make the image available (docker pull $(GOLANG_IMAGE))" >&2; exit 1; }; \
	fi
endef

# curl wrapper: prints the JSON body; fails on no answer or an HTTP status >= 400.
# $(1): extra curl arguments, $(2): path.
define http
	out=$$(curl -sS --max-time 10 -w '\n%{http_code}' $(1) "$(API_URL)$(2)") \
		|| { echo "error: no answer from $(API_URL)$(2): is the API up? (make serve)" >&2; exit 1; }; \
	code=$$(printf '%s' "$$out" | tail -n 1); \
	body=$${out%$$'\n'*}; printf '%s\n' "$${body%$$'\n'}"; \
	[ "$$code" -lt 400 ] || { echo "HTTP $$code from $(2)" >&2; exit 1; }
endef

.PHONY: help
help: ## list the targets
	@echo "mlservice: make TARGET [DAY=day_NN.csv] [DATA_DIR=data] [SCHEMA=FILE] [API_PORT=8000] [COMPOSE_PROJECT_NAME=mlservice]"
	@echo
	@c=; e=; if [ -t 1 ]; then c='\033[36m'; e='\033[0m'; fi; \
	awk -v c="$$c" -v e="$$e" 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %s%-14s%s %s\n", c, $$1, e, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Quickstart: make build && make train && make serve && make predict"

# ---- build ------------------------------------------------------------------

.PHONY: build
build: ## compile static binaries and build the api and trainer images
	@$(call with_go,binaries)
	@$(MAKE) images

.PHONY: binaries
binaries: ## compile the static Linux binaries into bin/docker/ (host Go)
	@mkdir -p bin/docker/empty
	$(GOBUILD_ENV) $(GO) build $(GOBUILD_FLAGS) -o bin/docker/ ./cmd/server ./cmd/trainer

.PHONY: images
images: need-docker ## build the api and trainer images from bin/docker/ (part of build)
	docker build $(DOCKER_BUILD_FLAGS) -f docker/api.Dockerfile -t $(API_IMAGE) .
	docker build $(DOCKER_BUILD_FLAGS) -f docker/trainer.Dockerfile -t $(TRAINER_IMAGE) .
	@docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -F -e '$(API_IMAGE) ' -e '$(TRAINER_IMAGE) ' || true

.PHONY: test-binaries
test-binaries: ## compile each package's tests (go test -c) and stage them in bin/test/
	@rm -rf bin/test && mkdir -p bin/test/src bin/test/tmp
	@mod=$$($(GO) list -m); \
	pkgs=$$($(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); \
	[ -n "$$pkgs" ] || { echo "error: go list found no packages with tests" >&2; exit 1; }; \
	for pkg in $$pkgs; do \
		dir=$${pkg#"$$mod"}; dir=$${dir#/}; \
		name=$$(basename "$${dir:-$$mod}"); \
		out=bin/test/src/$${dir:+$$dir/}$$name.test; \
		echo "$(GOBUILD_ENV) $(GO) test -c -ldflags='-s -w' -o $$out ./$$dir"; \
		$(GOBUILD_ENV) $(GO) test -c -ldflags='-s -w' -o "$$out" "./$$dir"; \
	done
	@# What the tests read, at the paths they expect relative to their package.
	@cp go.mod bin/test/src/
	@mkdir -p bin/test/src/data && cp data/*.csv data/README.md bin/test/src/data/
	@find . -path ./bin -prune -o -path ./.git -prune -o -type d -name testdata -print -prune | \
		while read -r d; do mkdir -p "bin/test/src/$$(dirname "$$d")"; cp -R "$$d" "bin/test/src/$$d"; done

.PHONY: test-image
test-image: need-docker ## compile the tests and build the test image (part of test)
	@$(call with_go,test-binaries)
	docker build $(DOCKER_BUILD_FLAGS) -f docker/test.Dockerfile -t $(TEST_IMAGE) bin/test

# ---- run with Compose ---------------------------------------------------------

.PHONY: train
train: need-compose need-images ## train on DATA_DIR/DAY (data/day_01.csv) [SCHEMA=file] in the trainer container, print its JSON
	@$(check_day)
	@$(COMPOSE) run --rm -T $(SCHEMA_ARGS) trainer train $(MODEL_FLAG) $(SCHEMA_FLAG) /data/$(DAY_FILE)

.PHONY: validate
validate: need-compose need-images ## check DATA_DIR/DAY against the data contract [or SCHEMA=file], without training
	@$(check_day)
	@$(COMPOSE) run --rm -T $(SCHEMA_ARGS) trainer validate $(SCHEMA_FLAG) /data/$(DAY_FILE)

.PHONY: versions
versions: need-compose need-images ## list model versions and promotion decisions (trainer versions)
	@$(COMPOSE) run --rm -T trainer versions $(MODEL_FLAG)

.PHONY: rollback
rollback: need-compose need-images ## point CURRENT at an earlier version: make rollback VERSION=<id>
	@[ -n "$(VERSION)" ] || { echo "usage: make rollback VERSION=<model_version_id> (see make versions)" >&2; exit 2; }
	@$(COMPOSE) run --rm -T trainer rollback $(MODEL_FLAG) $(VERSION)

.PHONY: serve
serve: need-compose need-images ## start the API on 127.0.0.1:API_PORT (8000) and wait until it is healthy
	@$(COMPOSE) up -d api
	@cid=$$($(COMPOSE) ps -q api); \
	for i in $$(seq 1 60); do \
		status=$$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$$cid"); \
		[ "$$status" = healthy ] && break; \
		[ "$$i" = 60 ] && { echo "error: api is still '$$status' after 60 s" >&2; $(COMPOSE) logs --tail=30 api >&2; exit 1; }; \
		sleep 1; \
	done; \
	echo "api is healthy on $(API_URL)"
	@ready=$$(curl -sS --max-time 5 "$(API_URL)/ready" || true); echo "$$ready"; \
	case "$$ready" in *'"ready":true'*) ;; *) echo "(no model yet: make train, and the API picks it up by itself)";; esac

.PHONY: predict
predict: ## POST a sample row to /predict (PREDICT_BODY='{...}' to change it)
	@$(call http,-X POST -H 'Content-Type: application/json' --data-binary '$(PREDICT_BODY)',/predict)

.PHONY: health
health: ## GET /health
	@$(call http,,/health)

.PHONY: ready
ready: ## GET /ready (fails with 503 until a model is loaded, and says what to do)
	@out=$$(curl -sS --max-time 10 -w '\n%{http_code}' "$(API_URL)/ready") \
		|| { echo "error: no answer from $(API_URL)/ready: is the API up? (make serve)" >&2; exit 1; }; \
	code=$$(printf '%s' "$$out" | tail -n 1); body=$${out%$$'\n'*}; printf '%s\n' "$${body%$$'\n'}"; \
	[ "$$code" -lt 400 ] || { echo "HTTP $$code from /ready: no model is serving yet; train one with 'make train' (DAY=day_NN.csv) and the API picks it up by itself" >&2; exit 1; }

.PHONY: reload
reload: ## POST /reload, a forced refresh (sends ADMIN_TOKEN when set); promotions are picked up without it
	@hdr=; if [ -n "$${ADMIN_TOKEN:-}" ]; then \
		auth=$$(mktemp); trap 'rm -f "$$auth"' EXIT; \
		printf 'Authorization: Bearer %s\n' "$$ADMIN_TOKEN" > "$$auth"; \
		hdr="-H @$$auth"; \
	fi; \
	$(call http,-X POST $$hdr,/reload)

.PHONY: model
model: ## GET /model, the serving version's metadata
	@$(call http,,/model)

.PHONY: logs
logs: need-compose ## follow the API logs
	$(COMPOSE) logs -f --tail=100 api

.PHONY: ps
ps: need-compose ## show the project's containers
	$(COMPOSE) ps

.PHONY: stop
stop: need-compose ## stop the API (containers, network and volume stay)
	$(COMPOSE) stop

.PHONY: cleanup
cleanup: need-compose ## stop and remove containers and networks (the artifacts volume stays)
	$(COMPOSE) --profile trainer down --remove-orphans

.PHONY: nuke
nuke: need-compose ## cleanup, then remove the artifacts volume and the project's images
	$(COMPOSE) --profile trainer down --volumes --remove-orphans
	@# Anything left with the project's label (e.g. an interrupted `run`).
	@ids=$$(docker ps -aq --filter label=com.docker.compose.project=$(PROJECT)); [ -z "$$ids" ] || docker rm -f $$ids
	@ids=$$(docker volume ls -q --filter label=com.docker.compose.project=$(PROJECT)); [ -z "$$ids" ] || docker volume rm $$ids
	@ids=$$(docker network ls -q --filter label=com.docker.compose.project=$(PROJECT)); [ -z "$$ids" ] || docker network rm $$ids
	@# This project's images by name: removing a tag leaves another
	@# project's tag of the same image alone.
	@n=0; for img in $(API_IMAGE) $(TRAINER_IMAGE) $(TEST_IMAGE); do \
		! docker image inspect "$$img" >/dev/null 2>&1 || { docker image rm "$$img" >/dev/null; n=$$((n + 1)); }; \
	done; [ "$$n" = 0 ] || echo "removed $$n image(s): $(PROJECT)-{api,trainer,test}:local"
	@! docker volume inspect $(GOCACHE_VOLUME) >/dev/null 2>&1 || docker volume rm $(GOCACHE_VOLUME)
	@echo "nuked: no containers, networks, volumes or images of '$(PROJECT)' remain"

# ---- the object-store setup (docker-compose.s3.yml) ---------------------------
# SeaweedFS as the S3 engine, the trainer writing to it, three API replicas
# (127.0.0.1:API1_PORT..API3_PORT) following it. `make build` does not build
# SeaweedFS: only these targets do, so the quickstart stays fast.

.PHONY: s3-build
s3-build: build need-docker ## build the images, plus SeaweedFS from the Go module proxy (first time: minutes; then cached)
	@command -v $(GO) >/dev/null 2>&1 || { echo "error: building SeaweedFS needs Go 1.26+ on PATH" >&2; exit 1; }
	@mkdir -p bin/seaweedfs/empty
	@t0=$$(date +%s); weed=$$(docker/seaweedfs/build.sh); \
	ln -f "$$weed" bin/seaweedfs/weed 2>/dev/null || cp -f "$$weed" bin/seaweedfs/weed; \
	echo "weed: $$weed ($$(( $$(date +%s) - t0 ))s)"
	docker build $(DOCKER_BUILD_FLAGS) -f docker/seaweedfs.Dockerfile -t $(SEAWEEDFS_IMAGE) bin/seaweedfs

.PHONY: s3-up
s3-up: need-compose need-s3-images ## start SeaweedFS and the three API replicas, wait until they answer
	@$(S3_COMPOSE) up -d seaweedfs api-1 api-2 api-3
	@for i in $$(seq 1 60); do \
		code=$$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(S3_PORT)/" || true); \
		case "$$code" in 2??|3??|4??) break;; esac; \
		[ "$$i" = 60 ] && { echo "error: SeaweedFS does not answer on 127.0.0.1:$(S3_PORT) after 60 s" >&2; $(S3_COMPOSE) logs --tail=30 seaweedfs >&2; exit 1; }; \
		sleep 1; \
	done; echo "seaweedfs answers on 127.0.0.1:$(S3_PORT)"
	@for port in $(API1_PORT) $(API2_PORT) $(API3_PORT); do \
		for i in $$(seq 1 60); do \
			curl -sf --max-time 2 "http://127.0.0.1:$$port/health" >/dev/null && break; \
			[ "$$i" = 60 ] && { echo "error: the API on 127.0.0.1:$$port does not answer after 60 s" >&2; $(S3_COMPOSE) logs --tail=30 >&2; exit 1; }; \
			sleep 1; \
		done; \
		echo "api on 127.0.0.1:$$port: $$(curl -sS --max-time 5 "http://127.0.0.1:$$port/ready" || true)"; \
	done

.PHONY: s3-train
s3-train: need-compose need-s3-images ## train on DATA_DIR/DAY [SCHEMA=file] into the object store (starts SeaweedFS if needed)
	@$(check_day)
	@$(S3_COMPOSE) up -d seaweedfs >/dev/null 2>&1
	@for i in $$(seq 1 60); do \
		code=$$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$(S3_PORT)/" || true); \
		case "$$code" in 2??|3??|4??) break;; esac; \
		[ "$$i" = 60 ] && { echo "error: SeaweedFS does not answer on 127.0.0.1:$(S3_PORT)" >&2; exit 1; }; \
		sleep 1; \
	done
	@$(S3_COMPOSE) run --rm -T $(SCHEMA_ARGS) trainer train $(SCHEMA_FLAG) /data/$(DAY_FILE)

.PHONY: s3-versions
s3-versions: need-compose need-s3-images ## list the versions in the object store
	@$(S3_COMPOSE) run --rm -T trainer versions

.PHONY: s3-rollback
s3-rollback: need-compose need-s3-images ## point CURRENT in the object store at an earlier version: make s3-rollback VERSION=<id>
	@[ -n "$(VERSION)" ] || { echo "usage: make s3-rollback VERSION=<model_version_id> (see make s3-versions)" >&2; exit 2; }
	@$(S3_COMPOSE) run --rm -T trainer rollback $(VERSION)

.PHONY: s3-ps
s3-ps: need-compose ## show the object-store setup's containers
	$(S3_COMPOSE) ps

.PHONY: s3-logs
s3-logs: need-compose ## follow the object-store setup's logs
	$(S3_COMPOSE) logs -f --tail=100

.PHONY: s3-down
s3-down: need-compose ## stop and remove the object-store setup's containers (its SeaweedFS volume stays)
	$(S3_COMPOSE) --profile trainer down --remove-orphans

.PHONY: s3-nuke
s3-nuke: need-compose ## s3-down, then remove the SeaweedFS volume and image
	$(S3_COMPOSE) --profile trainer down --volumes --remove-orphans
	@ids=$$(docker ps -aq --filter label=com.docker.compose.project=$(S3_PROJECT)); [ -z "$$ids" ] || docker rm -f $$ids
	@ids=$$(docker volume ls -q --filter label=com.docker.compose.project=$(S3_PROJECT)); [ -z "$$ids" ] || docker volume rm $$ids
	@! docker image inspect $(SEAWEEDFS_IMAGE) >/dev/null 2>&1 || docker image rm $(SEAWEEDFS_IMAGE) >/dev/null
	@echo "nuked: no containers or volumes of '$(S3_PROJECT)' remain"

# ---- tests -------------------------------------------------------------------

.PHONY: test
test: test-image ## run the whole test suite offline in the test container, one package at a time
	@tests=$$(cd bin/test/src && find . -name '*.test' | sed 's|^\./||' | sort); failed=; \
	[ -n "$$tests" ] || { echo "error: no test binaries in bin/test/src" >&2; exit 1; }; \
	for t in $$tests; do \
		pkg=$$(dirname "$$t"); dir=/src/$$pkg; dir=$${dir%/.}; [ "$$pkg" != . ] || pkg="(root)"; \
		start=$$(date +%s); \
		if docker run --rm --network none -w "$$dir" $(TEST_IMAGE) /src/$$t -test.v -test.count=1 $(TESTFLAGS) > bin/test/last.log 2>&1; then \
			printf 'ok    %-22s %3ss\n' "$$pkg" "$$(( $$(date +%s) - start ))"; \
			grep -B1 -E '^ *--- SKIP' bin/test/last.log | grep -v -E '^(--|=== RUN.*)$$' | sed 's/^/      /' || true; \
		else \
			grep -v -E '^(=== (RUN|PAUSE|CONT|NAME)|--- PASS| +--- PASS)' bin/test/last.log || true; \
			printf 'FAIL  %-22s %3ss\n' "$$pkg" "$$(( $$(date +%s) - start ))"; failed="$$failed $$pkg"; \
		fi; \
	done; \
	[ -z "$$failed" ] || { echo "FAILED:$$failed" >&2; exit 1; }

.PHONY: go-test
go-test: ## host: go test ./... (GOTESTFLAGS=-race for the race detector)
	$(GO) test $(GOTESTFLAGS) ./...

.PHONY: run
run: ## host, no Docker: train DATA_DIR/DAY [SCHEMA=file] into ./artifacts, then serve on 127.0.0.1:API_PORT
	@# Built, not `go run`: go run exits 1 when interrupted, so Ctrl-C would end
	@# in "make: *** Error 1" although the server drains and exits 0.
	$(GO) build -o bin/trainer ./cmd/trainer
	$(GO) build -o bin/server ./cmd/server
	bin/trainer train -artifacts ./artifacts $(SCHEMA_FLAG_HOST) $(DATA_DIR)/$(DAY_FILE)
	bin/server -addr 127.0.0.1:$(API_PORT) -artifacts ./artifacts

# ---- guards ------------------------------------------------------------------

.PHONY: need-docker need-compose need-images need-s3-images
need-docker:
	@docker info >/dev/null 2>&1 || { echo "error: no Docker engine answers (is it running? can you reach its socket?)" >&2; exit 1; }

need-compose: need-docker
	@[ -n "$(COMPOSE_CMD)" ] || { echo "error: neither 'docker compose' nor 'docker-compose' is installed" >&2; exit 1; }

need-s3-images: need-images
	@docker image inspect $(SEAWEEDFS_IMAGE) >/dev/null 2>&1 || { echo "error: image $(SEAWEEDFS_IMAGE) not found: run make s3-build first" >&2; exit 1; }

need-images: need-docker
	@docker image inspect $(API_IMAGE) $(TRAINER_IMAGE) >/dev/null 2>&1 || { echo "error: images $(API_IMAGE) / $(TRAINER_IMAGE) not found: run make build first" >&2; exit 1; }
