# reco: every operator command. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Reuse a build folder outside the clone when the caller sets one (CI does).
export CARGO_TARGET_DIR ?= $(CURDIR)/target
CARGO ?= cargo

.PHONY: help build test audit test-unit lint build-lambda deploy-etl deploy-vector-db deploy-streaming deploy-pipeline plan destroy local-up local-down local-status demo bench images

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build every crate (debug)
	$(CARGO) build --workspace --all-targets

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: lint audit ## Run every check: fmt, clippy, dependency audit, unit + integration tests (local stack), Lambda zips, Terraform checks + apply to the emulator
	bash scripts/local-install.sh --with-cargo-lambda
	$(CARGO) test --workspace --features integration
	bash scripts/terraform-check.sh
	bash scripts/build-lambda.sh
	bash scripts/terraform-apply-local-test.sh

audit: ## Dependency audit offline (cargo-deny: bans, licenses, sources; advisories from ../shared/security's RustSec copy when present)
	bash scripts/audit.sh

test-unit: ## The quick loop: every test that needs no service (no local stack), under a minute after the build
	$(CARGO) test --workspace

local-up: ## Install (if missing) and start MariaDB, PostgreSQL + pgvector and moto on 127.0.0.1; write .local/env
	@bash scripts/local-up.sh

local-down: ## Stop the local services this project started
	@bash scripts/local-down.sh

local-status: ## Show each local service up or down
	@bash scripts/local-status.sh

# One switch for the target environment, default real AWS: RECO_ENV, or ENV as its short
# form (`ENV=local make deploy-etl`). Both are exported with the same value, for the scripts
# and for the reco CLI they run.
RECO_ENV ?= aws
ENV ?= $(RECO_ENV)
override RECO_ENV := $(ENV)
export ENV RECO_ENV

build-lambda: ## Build the Lambda zips (provided.al2023, x86_64) into dist/lambda/
	@bash scripts/build-lambda.sh

deploy-etl: build-lambda ## Apply the etl part (network, source DB, data lake, Glue, the ETL + train functions, unscheduled); ENV=local for the emulator
	@bash scripts/deploy.sh apply etl

deploy-vector-db: ## Apply the vector-db part (RDS PostgreSQL + s3Import role); ENV=local for the emulator
	@bash scripts/deploy.sh apply vector-db

deploy-streaming: build-lambda ## Apply the streaming part (Kinesis, transform Lambda, Firehose, recommendations bucket, publisher Lambda + queue, storefront with CloudFront)
	@bash scripts/deploy.sh apply streaming

deploy-pipeline: build-lambda ## Apply the daily loop (state machine + its daily schedule, load-embeddings and score-all functions, alarms, dashboard) with every part it needs
	@bash scripts/deploy.sh apply pipeline

plan: ## terraform plan of the whole stack (ENV=local|aws)
	@bash scripts/deploy.sh plan all

destroy: ## Destroy the whole stack (ENV=local|aws)
	@bash scripts/deploy.sh destroy all

demo: ## Run the whole pipeline locally, end to end
	@bash scripts/demo.sh

bench: ## Run the benchmarks (every bench/<area>/run.sh, or one: make bench BENCH=<area>)
	@bash scripts/bench.sh $(BENCH)

images: ## Render images/architecture.png from images/architecture.dot (Graphviz)
	@command -v dot >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get install -y -qq graphviz || sudo apt-get install -y -qq graphviz; }
	dot -Tpng -Gdpi=110 images/architecture.dot -o images/architecture.png
