#!/usr/bin/env bash
# The local control plane: real etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok (fake nodes), built from pinned upstream Go modules
# into a cache outside the repository and run on loopback by kwokctl's binary
# runtime. No Docker, no registry, no downloads at start-up.
#
#   hack/cluster.sh build   build (or reuse) every binary, printing progress
#                           (helm too: the chart's lint, template and install tests);
#                           `build helm` builds just the named ones
#   hack/cluster.sh up      build, then start the cluster (idempotent); the last
#                           line printed is `export KUBECONFIG=<path>`
#   hack/cluster.sh down    stop and delete the cluster (the cache stays)
#   hack/cluster.sh env     print the binary paths as KWOK_*_BINARY=... lines
#
# A binary named by its kwokctl variable (KWOK_KUBE_APISERVER_BINARY,
# KWOK_KUBE_CONTROLLER_MANAGER_BINARY, KWOK_KUBE_SCHEDULER_BINARY,
# KWOK_ETCD_BINARY, KWOK_CONTROLLER_BINARY, KWOK_KUBECTL_BINARY, and
# KWOKCTL_BINARY; HELM_BINARY for helm) or found on PATH at the pinned version
# is used instead of building it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
toolchain="$here/toolchain"
# shellcheck source=toolchain/versions.env
source "$toolchain/versions.env"

cache_root="${TOURNIQUET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tourniquet}"
bin_dir="$cache_root/toolchain/k8s-v$KUBE_VERSION-etcd-v$ETCD_VERSION-kwok-v$KWOK_VERSION/bin"
cluster_name="${TOURNIQUET_CLUSTER_NAME:-tourniquet}"
kwok_workdir="$cache_root/kwok"
kubeconfig="$cache_root/clusters/$cluster_name.kubeconfig"
# helm is not part of the control plane: its own directory, keyed by its version.
helm_bin_dir="$cache_root/toolchain/helm-v$HELM_VERSION/bin"

log() { printf '%s\n' "$*" >&2; }

# name|module dir|package|version stamped|ldflags kind
components=(
  "etcd|etcd|.|$ETCD_VERSION|etcd"
  "kube-apiserver|kubernetes|k8s.io/kubernetes/cmd/kube-apiserver|$KUBE_VERSION|kube"
  "kube-controller-manager|kubernetes|k8s.io/kubernetes/cmd/kube-controller-manager|$KUBE_VERSION|kube"
  "kube-scheduler|kubernetes|k8s.io/kubernetes/cmd/kube-scheduler|$KUBE_VERSION|kube"
  "kubectl|kubernetes|k8s.io/kubernetes/cmd/kubectl|$KUBE_VERSION|kube"
  "kwok|kwok|sigs.k8s.io/kwok/cmd/kwok|$KWOK_VERSION|kwok"
  "kwokctl|kwok|sigs.k8s.io/kwok/cmd/kwokctl|$KWOK_VERSION|kwok"
  "helm|helm|helm.sh/helm/v3/cmd/helm|$HELM_VERSION|helm"
)

env_var_for() {
  case "$1" in
    etcd) echo KWOK_ETCD_BINARY ;;
    kube-apiserver) echo KWOK_KUBE_APISERVER_BINARY ;;
    kube-controller-manager) echo KWOK_KUBE_CONTROLLER_MANAGER_BINARY ;;
    kube-scheduler) echo KWOK_KUBE_SCHEDULER_BINARY ;;
    kubectl) echo KWOK_KUBECTL_BINARY ;;
    kwok) echo KWOK_CONTROLLER_BINARY ;;
    kwokctl) echo KWOKCTL_BINARY ;;
    helm) echo HELM_BINARY ;;
  esac
}

bin_dir_for() {
  case "$1" in
    helm) echo "$helm_bin_dir" ;;
    *) echo "$bin_dir" ;;
  esac
}

ldflags_for() {
  local kind="$1" version="$2"
  local date
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  case "$kind" in
    kube)
      local major="${version%%.*}" rest="${version#*.}"
      local minor="${rest%%.*}" f=""
      for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        f+=" -X $pkg.gitVersion=v$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        f+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
      done
      echo "-s -w$f" ;;
    kwok)
      echo "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$version -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$KUBE_VERSION" ;;
    helm)
      # As helm's own Makefile: the version, and the Kubernetes version that
      # `helm template` and `helm lint` assume, from the client-go helm builds with.
      local client_go major minor f=""
      client_go="$(cd "$toolchain/helm" && GOFLAGS=-mod=mod go list -m -f '{{.Version}}' k8s.io/client-go)"
      client_go="${client_go#v}"
      major=$(( ${client_go%%.*} + 1 ))
      minor="${client_go#*.}"
      minor="${minor%%.*}"
      f+=" -X helm.sh/helm/v3/internal/version.version=v$version"
      f+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
      for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
        f+=" -X $pkg.k8sVersionMajor=$major -X $pkg.k8sVersionMinor=$minor"
      done
      echo "-s -w$f" ;;
    *) echo "-s -w" ;;
  esac
}

# A binary on PATH is only trusted when it reports the pinned version: a
# kubectl several minors away from the API server is outside the skew policy.
path_binary_at_version() {
  local name="$1" version="$2" found
  found="$(type -P "$name")" || return 1
  case "$name" in
    kubectl) "$found" version --client 2>/dev/null | grep -q "v$version\$" ;;
    etcd) "$found" --version 2>/dev/null | grep -q "etcd Version: $version\$" ;;
    helm) "$found" version --short 2>/dev/null | grep -q "^v$version\(+\|\$\)" ;;
    *) "$found" --version 2>/dev/null | grep -qw "v\?$version" ;;
  esac && echo "$found"
}

resolve() {
  local name="$1" version="$2" var
  var="$(env_var_for "$name")"
  if [[ -n "${!var:-}" ]]; then echo "${!var}"; return; fi
  local dir
  dir="$(bin_dir_for "$name")"
  if [[ -x "$dir/$name" ]]; then echo "$dir/$name"; return; fi
  path_binary_at_version "$name" "$version" || echo ""
}

cmd_build() {
  mkdir -p "$bin_dir" "$helm_bin_dir"
  # With names (`build helm`), only those components; without, every one.
  local selected=("${components[@]}")
  if (($#)); then
    selected=()
    local want entry found
    for want in "$@"; do
      found=""
      for entry in "${components[@]}"; do
        [[ "${entry%%|*}" == "$want" ]] && selected+=("$entry") && found=1
      done
      [[ -n "$found" ]] || { log "unknown component: $want"; exit 2; }
    done
  fi
  local total=${#selected[@]} i=0 started
  for entry in "${selected[@]}"; do
    IFS='|' read -r name moddir pkg version kind <<<"$entry"
    i=$((i + 1))
    local have
    have="$(resolve "$name" "$version")"
    if [[ -n "$have" ]]; then
      log "[$i/$total] $name v$version: using $have"
      continue
    fi
    log "[$i/$total] $name v$version: building from pinned Go module (first run only; a few minutes)..."
    started=$(date +%s)
    local dir ldflags
    dir="$(bin_dir_for "$name")"
    # Unique per build: two concurrent first runs must not clobber each other.
    local tmp="$dir/.$name.partial.$$"
    ldflags="$(ldflags_for "$kind" "$version")"
    (cd "$toolchain/$moddir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "$ldflags" -o "$tmp" "$pkg")
    mv "$tmp" "$dir/$name"
    log "[$i/$total] $name v$version: built in $(( $(date +%s) - started ))s -> $dir/$name"
  done
  log "toolchain ready in $bin_dir ($(du -sh "$bin_dir" | cut -f1)) and $helm_bin_dir"
}

cmd_env() {
  for entry in "${components[@]}"; do
    IFS='|' read -r name _ _ version _ <<<"$entry"
    echo "$(env_var_for "$name")=$(resolve "$name" "$version")"
  done
}

run_kwokctl() {
  KWOK_WORKDIR="$kwok_workdir" "$(resolve kwokctl "$KWOK_VERSION")" "$@"
}

cluster_running() {
  [[ -f "$kubeconfig" ]] &&
    "$(resolve kubectl "$KUBE_VERSION")" --kubeconfig "$kubeconfig" --request-timeout=5s \
      get --raw=/readyz >/dev/null 2>&1
}

cmd_up() {
  cmd_build
  if cluster_running; then
    log "cluster '$cluster_name' already running"
  else
    # A cluster left behind by a killed run or a reboot holds stale pids.
    run_kwokctl delete cluster --name "$cluster_name" >/dev/null 2>&1 || true
    log "starting cluster '$cluster_name' (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)..."
    local started
    started=$(date +%s)
    eval "$(cmd_env | sed 's/^/export /')"
    # TOURNIQUET_SCALE=1 (make bench-scale): the controllers without client QPS limits and
    # with more workers, so populating thousands of Deployments takes minutes.
    local scale=()
    if [[ -n "${TOURNIQUET_SCALE:-}" ]]; then
      scale=(--disable-qps-limits
        --extra-args kube-controller-manager=concurrent-deployment-syncs=20
        --extra-args kube-controller-manager=concurrent-replicaset-syncs=20)
    fi
    run_kwokctl create cluster --name "$cluster_name" --runtime binary \
      --kube-authorization --kube-admission "${scale[@]}" \
      --etcd-binary "$KWOK_ETCD_BINARY" \
      --kube-apiserver-binary "$KWOK_KUBE_APISERVER_BINARY" \
      --kube-controller-manager-binary "$KWOK_KUBE_CONTROLLER_MANAGER_BINARY" \
      --kube-scheduler-binary "$KWOK_KUBE_SCHEDULER_BINARY" \
      --kwok-controller-binary "$KWOK_CONTROLLER_BINARY" \
      --wait 120s >&2
    mkdir -p "$(dirname "$kubeconfig")"
    run_kwokctl get kubeconfig --name "$cluster_name" >"$kubeconfig"
    chmod 600 "$kubeconfig"
    add_nodes
    log "cluster '$cluster_name' up in $(( $(date +%s) - started ))s"
  fi
  echo "export KUBECONFIG=$kubeconfig"
}

# Fake nodes that kwok keeps Ready; pods scheduled onto them become Ready too.
add_nodes() {
  local kubectl_bin
  kubectl_bin="$(resolve kubectl "$KUBE_VERSION")"
  for n in 0 1; do
    "$kubectl_bin" --kubeconfig "$kubeconfig" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$n
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-$n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
spec: {}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
EOF
  done
  "$kubectl_bin" --kubeconfig "$kubeconfig" wait --for=condition=Ready node --all --timeout=60s >&2
}

cmd_down() {
  if [[ -x "$(resolve kwokctl "$KWOK_VERSION")" ]]; then
    run_kwokctl delete cluster --name "$cluster_name" >&2 || true
  fi
  rm -f "$kubeconfig"
  log "cluster '$cluster_name' deleted (binaries kept in $bin_dir)"
}

case "${1:-}" in
  build) shift; cmd_build "$@" ;;
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  *) echo "usage: $0 build [component...]|up|down|env" >&2; exit 2 ;;
esac
