#!/usr/bin/env bash
# Builds the binaries of the Kubernetes test control plane (src/testcluster) and of its real
# node from the Go module proxy and caches them outside the repo:
#   $EDGE_TOOLS_DIR/bin/{etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,kwok,helm}
#   $EDGE_TOOLS_DIR/bin/{kubelet,kube-proxy,coredns,kube-router}
# Idempotent: a tool whose pinned inputs did not change prints `cached` and is not rebuilt.
# Nothing is written inside the repo (tools/k8s/go.mod and go.sum are read-only here).
#
#   EDGE_TOOLS_DIR   cache root (default ~/.cache/edge-tools)
#   K8S_TOOLS        space-separated subset to build (default: all of them)
#   FORCE=1          rebuild even when cached
set -euo pipefail

# ---- pinned versions --------------------------------------------------------------------
K8S_VERSION=v1.37.2   # k8s.io/kubernetes; every k8s.io/* staging module is replaced with v0.37.2 in tools/k8s/go.mod
ETCD_VERSION=v3.7.0   # go.etcd.io/etcd/server/v3: the version k8s.io/kubernetes v1.37.2 itself requires
KWOK_VERSION=v0.8.0   # sigs.k8s.io/kwok
HELM_VERSION=v3.22.0  # helm.sh/helm/v3 (built against k8s.io/client-go v0.37)
COREDNS_VERSION=v1.15.0     # github.com/coredns/coredns: the real node's cluster DNS
KUBE_ROUTER_VERSION=v2.1.0  # github.com/cloudnativelabs/kube-router/v2: NetworkPolicy (firewall only)
# ------------------------------------------------------------------------------------------

EDGE_TOOLS_DIR=${EDGE_TOOLS_DIR:-$HOME/.cache/edge-tools}
BIN=$EDGE_TOOLS_DIR/bin
STAMPS=$EDGE_TOOLS_DIR/stamps
MODDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/k8s" && pwd)
ALL_TOOLS="etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm kubelet kube-proxy coredns kube-router"
TOOLS=${K8S_TOOLS:-$ALL_TOOLS}

# Use the Go on this machine; never download a toolchain. Static, reproducible binaries.
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
export CGO_ENABLED=${CGO_ENABLED:-0}
BUILD_FLAGS=(-trimpath -buildvcs=false)

mkdir -p "$BIN" "$STAMPS"

# The go.mod must agree with the versions above.
grep -Eq "^[[:space:]]*k8s.io/kubernetes ${K8S_VERSION}\$" "$MODDIR/go.mod" \
  || { echo "tools/k8s/go.mod does not require k8s.io/kubernetes ${K8S_VERSION}" >&2; exit 1; }
grep -Eq "^[[:space:]]*go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\$" "$MODDIR/go.mod" \
  || { echo "tools/k8s/go.mod does not require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}" >&2; exit 1; }
STAGING=v0.${K8S_VERSION#v1.}
if grep -E '^[[:space:]]*k8s.io/[a-z0-9-]+ => k8s.io/[a-z0-9-]+ v' "$MODDIR/go.mod" | grep -v " ${STAGING}\$" >&2; then
  echo "tools/k8s/go.mod: the replace lines above are not pinned to ${STAGING}" >&2; exit 1
fi

GOVER=$(go env GOVERSION)
GO_VERSION="${GOVER} CGO_ENABLED=${CGO_ENABLED} ${BUILD_FLAGS[*]}"
MOD_HASH=$(cat "$MODDIR/go.mod" "$MODDIR/go.sum" | sha256sum | cut -c1-16)

k8s_major=${K8S_VERSION#v}; k8s_major=${k8s_major%%.*}
k8s_minor=${K8S_VERSION#v*.}; k8s_minor=${k8s_minor%%.*}
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=${k8s_major} -X ${pkg}.gitMinor=${k8s_minor}"
  k8s_ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
done
helm_ldflags="-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
helm_ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${k8s_minor}"
helm_ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${k8s_minor}"
kwok_ldflags="-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION}"
# CoreDNS's version is a constant in its source; GitCommit is what `coredns -version` shows after it.
coredns_ldflags="-X github.com/coredns/coredns/coremain.GitCommit=${COREDNS_VERSION}"
kube_router_ldflags="-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=${KUBE_ROUTER_VERSION}"
kube_router_ldflags+=" -X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=1970-01-01T00:00:00Z"

# key <tool>: everything that determines the binary; a change rebuilds it.
key() {
  local main=""
  case $1 in
    kwok) echo "kwok ${KWOK_VERSION} ${GO_VERSION} ${kwok_ldflags}" ;;
    helm) echo "helm ${HELM_VERSION} ${GO_VERSION} ${helm_ldflags}" ;;
    coredns) echo "coredns ${COREDNS_VERSION} ${GO_VERSION} ${coredns_ldflags}" ;;
    kube-router) echo "kube-router ${KUBE_ROUTER_VERSION} ${GO_VERSION} ${kube_router_ldflags}" ;;
    *)
      main=$(sha256sum "$MODDIR/cmd/$1/main.go" | cut -c1-16)
      echo "$1 ${K8S_VERSION} ${ETCD_VERSION} ${GO_VERSION} ${MOD_HASH} ${main} ${k8s_ldflags}" ;;
  esac
}

# shellcheck source=lib/retry.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/retry.sh"

# The wrapper module's dependencies, fetched once per run before the first build that needs them.
fetched=0
fetch_wrapper_modules() {
  [[ $fetched == 1 ]] && return 0
  (cd "$MODDIR" && retry go mod download)
  fetched=1
}

build() {
  local tool=$1 tmp
  tmp=$(mktemp -d "$EDGE_TOOLS_DIR/.build.XXXXXX")
  case $tool in
    # -mod=readonly: go.mod/go.sum are never rewritten by a build.
    etcd)
      fetch_wrapper_modules
      go build -C "$MODDIR" -mod=readonly "${BUILD_FLAGS[@]}" -ldflags "-s -w" -o "$tmp/$tool" ./cmd/etcd ;;
    # kubelet and kube-proxy too build with CGO_ENABLED=0 (upstream's release builds are static as well).
    kube-apiserver | kube-controller-manager | kube-scheduler | kubectl | kubelet | kube-proxy)
      fetch_wrapper_modules
      go build -C "$MODDIR" -mod=readonly "${BUILD_FLAGS[@]}" -ldflags "-s -w ${k8s_ldflags}" -o "$tmp/$tool" "./cmd/$tool" ;;
    # go install pkg@version: the module's own go.mod and go.sum, checked against the checksum database.
    kwok) (cd "$tmp" && GOBIN="$tmp" retry go install "${BUILD_FLAGS[@]}" -ldflags "-s -w ${kwok_ldflags}" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}") ;;
    helm) (cd "$tmp" && GOBIN="$tmp" retry go install "${BUILD_FLAGS[@]}" -ldflags "-s -w ${helm_ldflags}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}") ;;
    coredns) (cd "$tmp" && GOBIN="$tmp" retry go install "${BUILD_FLAGS[@]}" -ldflags "-s -w ${coredns_ldflags}" "github.com/coredns/coredns@${COREDNS_VERSION}") ;;
    kube-router) (cd "$tmp" && GOBIN="$tmp" retry go install "${BUILD_FLAGS[@]}" -ldflags "-s -w ${kube_router_ldflags}" "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@${KUBE_ROUTER_VERSION}") ;;
    *) echo "unknown tool: $tool" >&2; rm -rf "$tmp"; return 1 ;;
  esac
  mv -f "$tmp/$tool" "$BIN/$tool"
  rm -rf "$tmp"
}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'; }

echo "edge k8s tools -> $BIN (${GOVER}; kubernetes ${K8S_VERSION}, etcd ${ETCD_VERSION}, kwok ${KWOK_VERSION}, helm ${HELM_VERSION}, coredns ${COREDNS_VERSION}, kube-router ${KUBE_ROUTER_VERSION})"
total_start=$(date +%s.%N)
for tool in $TOOLS; do
  want=$(key "$tool")
  if [[ -z ${FORCE:-} && -x $BIN/$tool && -f $STAMPS/$tool && "$(cat "$STAMPS/$tool")" == "$want" ]]; then
    printf '  %-24s cached\n' "$tool"
    continue
  fi
  printf '  %-24s building...\n' "$tool"
  start=$(date +%s.%N)
  rm -f "$STAMPS/$tool"
  build "$tool"
  printf '%s\n' "$want" >"$STAMPS/$tool"
  printf '  %-24s built in %.1f s\n' "$tool" "$(elapsed "$start")"
done
# kwok simulates kubelets through "Stages" and refuses to start without any. Its own stage files
# (nodes Ready with a lease, pods Ready as soon as bound, Job pods Succeeded, deleted pods removed)
# ship in the kwok module: take them from there instead of keeping a copy in this repo.
stages=$EDGE_TOOLS_DIR/kwok-stages-${KWOK_VERSION}.yaml
if [[ ! -s $stages ]]; then
  kwok_dir=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    printf -- '---\n'; cat "$kwok_dir/kustomize/stage/$f"
  done >"$stages.tmp" && mv -f "$stages.tmp" "$stages"
  printf '  %-24s extracted from the kwok module\n' "kwok stages"
else
  printf '  %-24s cached\n' "kwok stages"
fi
printf 'done in %.1f s\n' "$(elapsed "$total_start")"
