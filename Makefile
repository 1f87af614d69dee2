# Tourniquet — kubebuilder-style targets. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CLUSTER := hack/cluster.sh
# The local control plane's kubeconfig; KUBECONFIG in the environment wins.
LOCAL_KUBECONFIG = $(or $(TOURNIQUET_CACHE),$(HOME)/.cache/tourniquet)/clusters/tourniquet.kubeconfig
export KUBECONFIG ?= $(LOCAL_KUBECONFIG)
KUBECTL = $(shell $(CLUSTER) env | sed -n 's/^KWOK_KUBECTL_BINARY=//p' | grep . || echo kubectl)
HELM = $(shell $(CLUSTER) env | sed -n 's/^HELM_BINARY=//p' | grep . || echo helm)
CHART := charts/tourniquet
PYTEST_ARGS ?=

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	/^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } \
	/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

# Every package comes from the lock, as a wheel checked against its sha256; then the
# project itself, resolving nothing more (its build backend is in the lock too).
$(VENV)/.installed: pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes --only-binary=:all: -r requirements-dev.lock
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv from requirements-dev.lock (hashes), the operator editable.

.PHONY: lock
lock: venv ## Regenerate requirements.lock and requirements-dev.lock (hashes) with uv; UPGRADE=1 for the newest versions.
	UV=$(VENV)/bin/uv hack/lock.sh

.PHONY: manifests
manifests: venv ## Generate CRDs (crds/, config/crd, chart) and both admission policies from the models.
	$(PY) -m tourniquet.api.manifests

.PHONY: fmt
fmt: venv ## Format the code.
	$(VENV)/bin/ruff format operator tests devkit bench
	$(VENV)/bin/ruff check --fix operator tests devkit bench

.PHONY: lint
lint: venv ## Ruff, mypy (strict) and the import contract (core stays pure, layers point down).
	$(VENV)/bin/ruff format --check operator tests devkit bench
	$(VENV)/bin/ruff check operator tests devkit bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

.PHONY: test-unit
test-unit: venv ## Unit tests only (pure, no cluster).
	$(VENV)/bin/pytest tests/unit -q $(PYTEST_ARGS)

.PHONY: test
test: venv lint promstack toolchain gitops-toolchain image ## Lint, unit tests and e2e tests on the local control plane (built on first use).
	$(VENV)/bin/pytest tests -q $(PYTEST_ARGS)

.PHONY: promstack
promstack: ## Install Prometheus and Alertmanager (Debian packages) for the alert e2e tests, if missing.
	hack/install-promstack.sh

.PHONY: test-e2e
test-e2e: venv promstack toolchain gitops-toolchain ## E2e tests only (--cluster=local|kind|existing, see README).
	$(VENV)/bin/pytest tests/e2e -q $(PYTEST_ARGS)

.PHONY: bench
bench: venv ## Benchmarks with goals: suspect search over large indexes, incident latency on the local control plane (BENCH_ARGS="--runs 5 --skip-cluster").
	$(PY) -m bench.run $(BENCH_ARGS)

.PHONY: bench-scale
bench-scale: venv toolchain ## Cost as the cluster grows: 100/1,000/5,000 Deployments on a separate local cluster "scale" (SCALE_ARGS="--sizes 100,1000").
	$(PY) -m bench.scale $(SCALE_ARGS)

##@ Image

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_ARCHIVE := dist/tourniquet-$(VERSION).oci.tar
# What goes into the image: rebuilt only when one of these changes.
IMAGE_INPUTS := Dockerfile requirements.lock requirements-dev.lock pyproject.toml README.md \
  hack/build-image.sh hack/image_config.py \
  $(shell find operator -type f -not -path '*/__pycache__/*' -not -name '*.pyc')

$(IMAGE_ARCHIVE): $(IMAGE_INPUTS) | $(VENV)/.installed
	hack/install-image-tools.sh
	PY=$(PY) hack/build-image.sh

.PHONY: image
image: venv $(IMAGE_ARCHIVE) ## Build the operator image without Docker (mmdebstrap, buildah): dist/tourniquet-<version>.oci.tar.

.PHONY: image-test
image-test: image toolchain ## Smoke-test the built image: its entrypoint as UID 65532, read-only root, on the local control plane.
	$(VENV)/bin/pytest tests/e2e/test_image.py -q $(PYTEST_ARGS)

##@ Local control plane

.PHONY: toolchain
toolchain: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok and helm once into the cache.
	$(CLUSTER) build

.PHONY: gitops-toolchain
gitops-toolchain: ## Build Flux's source-controller and kustomize-controller and a git server once into the cache.
	hack/gitops.sh build

.PHONY: gitops-up
gitops-up: ## Start Flux (and Argo CD's CRDs) and a git server for the local cluster; prints `export TOURNIQUET_GIT_URL=...` last.
	@hack/gitops.sh up

.PHONY: gitops-down
gitops-down: ## Stop the local Flux controllers and the git server.
	@hack/gitops.sh down

.PHONY: cluster-up
cluster-up: ## Start the local control plane (idempotent); prints `export KUBECONFIG=...` last.
	$(CLUSTER) up

.PHONY: cluster-down
cluster-down: ## Stop and delete the local control plane, and its Flux if started (the built binaries stay cached).
	hack/gitops.sh down
	$(CLUSTER) down

##@ Deployment

.PHONY: install
install: manifests ## Install CRDs, both admission policies, the people roles and the operator's ServiceAccount with its RBAC.
	$(KUBECTL) apply -f crds/
	$(KUBECTL) apply -k config/policy
	$(KUBECTL) apply -f config/default/namespace.yaml
	$(KUBECTL) apply -k config/rbac
	$(KUBECTL) wait --for=condition=Established crd/incidents.tourniquet.dev crd/runbooks.tourniquet.dev --timeout=60s

.PHONY: uninstall
uninstall: ## Remove what `make install` created, CRDs included (and with them every Incident and Runbook).
	$(KUBECTL) delete --ignore-not-found -k config/policy
	$(KUBECTL) delete --ignore-not-found -k config/rbac
	$(KUBECTL) delete --ignore-not-found -f crds/

OPERATOR_KUBECONFIG ?= $(or $(TOURNIQUET_CACHE),$(HOME)/.cache/tourniquet)/operator.kubeconfig

.PHONY: run
run: venv ## Run the operator in the foreground as its ServiceAccount (make install first), all namespaces; metrics on 127.0.0.1:8080.
	KUBECTL=$(KUBECTL) $(PY) -m devkit.identity $(OPERATOR_KUBECONFIG)
	KUBECONFIG=$(OPERATOR_KUBECONFIG) $(PY) -m tourniquet run --all-namespaces

.PHONY: deploy
deploy: manifests ## Deploy the operator with kustomize (config/default: CRDs, RBAC, policy, operator in tourniquet-system).
	$(KUBECTL) apply -k config/default
	@echo "next: $(KUBECTL) -n tourniquet-system rollout status deployment/tourniquet (the image must be pullable: see README, Installing)"

.PHONY: undeploy
undeploy: ## Remove what `make deploy` created, CRDs included (and with them every Incident and Runbook).
	$(KUBECTL) delete --ignore-not-found -k config/default

.PHONY: helm
helm: ## Build helm from its pinned Go module into the tool cache (hack/toolchain/helm).
	$(CLUSTER) build helm

.PHONY: chart-lint
chart-lint: helm ## helm lint the chart (default values and the namespaced mode).
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) --set 'watchNamespaces={team-a,team-b}' \
	  --set metrics.serviceMonitor.enabled=true --set metrics.prometheusRule.enabled=true

.PHONY: chart-test
chart-test: venv chart-lint ## Chart and kustomize checks: lint, template, server dry-run under Pod Security "restricted", install/uninstall, RBAC.
	$(VENV)/bin/pytest tests/unit/test_chart.py tests/e2e/test_install.py -q $(PYTEST_ARGS)

.PHONY: demo
demo: venv ## The whole job on the local control plane: a bad rollout, an incident, approval, undo, MTTR.
	$(PY) -m devkit.demo
