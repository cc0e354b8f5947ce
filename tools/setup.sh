#!/usr/bin/env bash
# One idempotent setup for this repo: Debian packages, npm dependencies, the TypeScript build,
# and the Go-built tools (cached outside the repo in $EDGE_TOOLS_DIR, default ~/.cache/edge-tools).
#
#   npm run setup              what `edge up` (the local target) needs
#   npm run setup -- --all     also the test toolchain: PostgreSQL, Squid, etcd, the Kubernetes
#                              control plane, kwok, helm, the OpenTelemetry Collector, a real
#                              node (kubelet, kube-proxy, CoreDNS, kube-router, containerd, runc,
#                              CNI plugins, the pause and CoreDNS images), and everything
#                              --images does (what `npm test` needs)
#   npm run setup -- --images  what `npm run images` needs: buildah, skopeo, debootstrap,
#                              docker-registry, qemu-user-static (arm64 through binfmt_misc), and
#                              the base images made from Debian packages and the npm registry
# A warm run takes seconds and prints what it found.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

all=0
images=0
for arg in "$@"; do
  case "$arg" in
    --all) all=1; images=1 ;;
    --images) images=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "setup: unknown option $arg (try --all or --images)" >&2; exit 2 ;;
  esac
done

# shellcheck source=lib/retry.sh
source tools/lib/retry.sh
started=$(date +%s)
step() { printf '[setup %4ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }

# --- Debian packages -------------------------------------------------------------------------
packages=(mosquitto mosquitto-clients openssl iproute2 procps)
[ "$all" = 1 ] && packages+=(squid postgresql etcd-server)
# The real test node: its container runtime, CNI plugins, what kube-proxy and kube-router drive,
# and gcc for the static pause binary.
[ "$all" = 1 ] && packages+=(containerd runc containernetworking-plugins ipset nftables conntrack gcc libc6-dev)
[ "$images" = 1 ] && packages+=(buildah skopeo debootstrap docker-registry qemu-user-static util-linux)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing Debian packages: ${missing[*]}"
  [ "$(id -u)" = 0 ] || { echo "setup: installing ${missing[*]} needs root (run as root, or install them yourself)" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  retry apt-get update -qq
  # The packages' own services are not used: every broker/proxy/database/runtime runs under our
  # supervision (the tests start their own containerd with their own config).
  retry apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for svc in mosquitto squid postgresql etcd docker-registry containerd; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
  done
else
  step "Debian packages present: ${packages[*]}"
fi

# --- npm dependencies and build --------------------------------------------------------------
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm dependencies (npm ci)"
  retry npm ci --no-audit --no-fund --loglevel=error
else
  step "npm dependencies up to date"
fi
step "compiling TypeScript"
npx --no-install tsc -p tsconfig.json

# --- Go-built tools --------------------------------------------------------------------------
step "daprd"
bash tools/build-daprd.sh
if [ "$all" = 1 ]; then
  step "Kubernetes test control plane and node, kwok, helm, CoreDNS, kube-router"
  bash tools/build-k8s-tools.sh
  step "node images (pause, CoreDNS)"
  bash tools/build-node-images.sh
  step "OpenTelemetry Collector (otelcol-edge)"
  bash tools/build-otelcol.sh
  # The upstream Dapr Helm chart ships inside the Dapr Go module: the platform step installs it.
  dapr_version=$(sed -n 's/^DAPR_VERSION=\(v[0-9.]*\).*/\1/p' tools/lib/dapr-build.sh)
  chart_dir="${EDGE_TOOLS_DIR:-$HOME/.cache/edge-tools}/charts/dapr-${dapr_version#v}"
  if [ ! -f "$chart_dir/Chart.yaml" ]; then
    module_dir=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "github.com/dapr/dapr@$dapr_version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    mkdir -p "$(dirname "$chart_dir")"
    cp -r "$module_dir/charts/dapr" "$chart_dir.tmp" && chmod -R u+w "$chart_dir.tmp" && mv "$chart_dir.tmp" "$chart_dir"
    step "Dapr chart extracted to $chart_dir"
  else
    step "Dapr chart present: $chart_dir"
  fi
fi
if [ "$images" = 1 ]; then
  step "base images (Debian minbase + Node, per architecture this machine can build)"
  bash tools/images/setup-images.sh
fi
step "done"
