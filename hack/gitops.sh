#!/usr/bin/env bash
# Real GitOps on the local control plane: Flux's source-controller and
# kustomize-controller, built from pinned Go modules (hack/toolchain/*-controller)
# into the toolchain cache like the control plane, and a loopback git server
# (Flux's gittestserver, hack/toolchain/gitserver) that Flux reads from and you
# can push to. They run as local processes against the cluster of
# TOURNIQUET_CLUSTER_NAME (start it first: hack/cluster.sh up).
#
#   hack/gitops.sh build   build (or reuse) the three binaries, printing progress
#   hack/gitops.sh up      build, install Flux's CRDs (and Argo CD's Application and
#                          AppProject CRDs: its controllers are not run), start the controllers and the
#                          git server (idempotent); the last line printed is
#                          `export TOURNIQUET_GIT_URL=<url of a repository Flux can read>`
#   hack/gitops.sh down    stop them (the CRDs and the cache stay)
#   hack/gitops.sh crds    print the paths of the CRD manifests it installs
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
toolchain="$here/toolchain"
# shellcheck source=toolchain/versions.env
source "$toolchain/versions.env"

cache_root="${TOURNIQUET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tourniquet}"
bin_dir="$cache_root/toolchain/flux-source-v$FLUX_SOURCE_VERSION-kustomize-v$FLUX_KUSTOMIZE_VERSION-gittestserver-v$GITTESTSERVER_VERSION/bin"
cluster_name="${TOURNIQUET_CLUSTER_NAME:-tourniquet}"
kubeconfig="$cache_root/clusters/$cluster_name.kubeconfig"
state="$cache_root/gitops/$cluster_name"

log() { printf '%s\n' "$*" >&2; }

# name|wrapper module dir|package|version
components=(
  "source-controller|source-controller|github.com/fluxcd/source-controller|$FLUX_SOURCE_VERSION"
  "kustomize-controller|kustomize-controller|github.com/fluxcd/kustomize-controller|$FLUX_KUSTOMIZE_VERSION"
  "gitserver|gitserver|.|$GITTESTSERVER_VERSION"
)

cmd_build() {
  mkdir -p "$bin_dir"
  local total=${#components[@]} i=0 started
  for entry in "${components[@]}"; do
    IFS='|' read -r name moddir pkg version <<<"$entry"
    i=$((i + 1))
    if [[ -x "$bin_dir/$name" ]]; then
      log "[$i/$total] $name v$version: using $bin_dir/$name"
      continue
    fi
    log "[$i/$total] $name v$version: building from pinned Go module (first run only; a few minutes)..."
    started=$(date +%s)
    local tmp="$bin_dir/.$name.partial.$$"
    (cd "$toolchain/$moddir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-s -w" -o "$tmp" "$pkg")
    mv "$tmp" "$bin_dir/$name"
    log "[$i/$total] $name v$version: built in $(( $(date +%s) - started ))s -> $bin_dir/$name"
  done
  log "gitops toolchain ready in $bin_dir ($(du -sh "$bin_dir" | cut -f1))"
}

# Flux's own CRD manifests, from the pinned modules (config/crd/bases).
cmd_crds() {
  local moddir module dir
  for moddir in source-controller kustomize-controller; do
    module="github.com/fluxcd/$moddir"
    dir="$(cd "$toolchain/$moddir" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' "$module")"
    if [[ -z "$dir" || ! -d "$dir/config/crd/bases" ]]; then
      (cd "$toolchain/$moddir" && GOFLAGS=-mod=mod go mod download "$module")
      dir="$(cd "$toolchain/$moddir" && GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' "$module")"
    fi
    ls "$dir"/config/crd/bases/*.yaml
  done
  # Argo CD's Application and AppProject CRDs, from its published module (a download
  # outside any module: nothing of Argo CD is built).
  local scratch
  scratch="$(mktemp -d)"
  dir="$(cd "$scratch" && GOFLAGS=-mod=mod go mod download -json \
    "github.com/argoproj/argo-cd/v3@v$ARGOCD_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  rm -rf "$scratch"
  [[ -n "$dir" ]] || { log "could not download Argo CD v$ARGOCD_VERSION's module"; exit 1; }
  ls "$dir"/manifests/crds/application-crd.yaml "$dir"/manifests/crds/appproject-crd.yaml
}

kubectl_() {
  local bin
  bin="$("$here/cluster.sh" env | sed -n 's/^KWOK_KUBECTL_BINARY=//p')"
  "$bin" --kubeconfig "$kubeconfig" "$@"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

alive() { [[ -f "$state/$1.pid" ]] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

start() {
  local name="$1"
  shift
  # setsid: its own session, so the caller's Ctrl-C or exit does not take it down.
  setsid "$bin_dir/$name" "$@" >"$state/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/$name.pid"
}

wait_ready() {
  local name="$1" url="$2" deadline=$(( $(date +%s) + 90 ))
  until curl -fsS "$url" >/dev/null 2>&1; do
    if ! alive "$name"; then
      log "$name exited; the end of its log ($state/$name.log):"
      tail -20 "$state/$name.log" >&2
      exit 1
    fi
    if (( $(date +%s) > deadline )); then
      log "$name not ready after 90s; see $state/$name.log"
      exit 1
    fi
    sleep 0.5
  done
}

git_url() { sed -n 1p "$state/git.url"; }

# The repository TOURNIQUET_GIT_URL names, with a first commit on main, so that a
# GitRepository can point at it before anything else was pushed.
seed_repository() {
  [[ -d "$state/git/tourniquet.git" ]] && return
  local work
  work="$(mktemp -d)"
  git -C "$work" init -q -b main
  printf '# Delivered by the local Flux (hack/gitops.sh)\n' >"$work/README.md"
  git -C "$work" add README.md
  git -C "$work" -c user.name=tourniquet -c user.email=tourniquet@localhost \
    commit -q -m "an empty repository for Flux"
  git -C "$work" push -q "$(git_url)/tourniquet.git" main
  rm -rf "$work"
}

cmd_up() {
  [[ -f "$kubeconfig" ]] || { log "no cluster '$cluster_name': run hack/cluster.sh up first"; exit 1; }
  cmd_build
  mkdir -p "$state"
  if alive source-controller && alive kustomize-controller && alive gitserver; then
    log "gitops for cluster '$cluster_name' already running (logs in $state)"
    echo "export TOURNIQUET_GIT_URL=$(git_url)/tourniquet.git"
    return
  fi
  cmd_down 2>/dev/null || true
  mkdir -p "$state/git" "$state/storage"
  local started
  started=$(date +%s)
  log "installing Flux's and Argo CD's CRDs..."
  local crd
  while read -r crd; do kubectl_ apply --server-side --force-conflicts -f "$crd" >/dev/null; done < <(cmd_crds)
  kubectl_ wait --for=condition=Established crd --all --timeout=60s >/dev/null
  kubectl_ create namespace flux-system --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null

  log "starting the git server, source-controller and kustomize-controller..."
  rm -f "$state/git.url"
  start gitserver -root "$state/git" -url-file "$state/git.url"
  local storage health_s health_k
  storage="127.0.0.1:$(free_port)"
  health_s="127.0.0.1:$(free_port)"
  health_k="127.0.0.1:$(free_port)"
  export KUBECONFIG="$kubeconfig" RUNTIME_NAMESPACE=flux-system
  start source-controller --storage-path "$state/storage" --storage-addr "$storage" \
    --storage-adv-addr "$storage" --metrics-addr "127.0.0.1:$(free_port)" \
    --health-addr "$health_s" --events-addr "" --log-level info
  start kustomize-controller --metrics-addr "127.0.0.1:$(free_port)" \
    --health-addr "$health_k" --events-addr "" --log-level info
  wait_ready source-controller "http://$health_s/readyz"
  wait_ready kustomize-controller "http://$health_k/readyz"
  local deadline=$(( $(date +%s) + 30 ))
  until [[ -s "$state/git.url" ]]; do
    alive gitserver && (( $(date +%s) < deadline )) || { log "git server did not start: $state/gitserver.log"; exit 1; }
    sleep 0.2
  done
  seed_repository
  log "gitops up in $(( $(date +%s) - started ))s: git at $(git_url), logs in $state"
  echo "export TOURNIQUET_GIT_URL=$(git_url)/tourniquet.git"
}

cmd_down() {
  local name
  for name in kustomize-controller source-controller gitserver; do
    if alive "$name"; then
      kill "$(cat "$state/$name.pid")" 2>/dev/null || true
    fi
    rm -f "$state/$name.pid"
  done
  log "gitops for cluster '$cluster_name' stopped"
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  crds) cmd_crds ;;
  *) echo "usage: $0 build|up|down|crds" >&2; exit 2 ;;
esac
