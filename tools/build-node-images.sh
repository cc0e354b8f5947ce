#!/usr/bin/env bash
# Builds the two images a real test node needs and cannot pull (no registry is reachable here),
# each a one-file image FROM scratch saved as a docker-archive that `ctr images import` takes:
#   pause    build/pause/linux/pause.c from the pinned k8s.io/kubernetes module, gcc -static
#            (containerd's sandbox_image)
#   coredns  the static $EDGE_TOOLS_DIR/bin/coredns that tools/build-k8s-tools.sh builds
# into $EDGE_TOOLS_DIR/images/, plus node-images.json naming both. Idempotent: an image whose
# inputs did not change prints `cached`. The last two lines of output are, for TypeScript:
#   pause=<archive path> <image ref>
#   coredns=<archive path> <image ref>
#
#   EDGE_TOOLS_DIR   cache root (default ~/.cache/edge-tools)
#   FORCE=1          rebuild even when cached
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# One place for the Kubernetes and CoreDNS pins: the script that builds the binaries.
pin() { sed -n "s/^$1=\([^ ]*\).*/\1/p" "$HERE/build-k8s-tools.sh"; }
K8S_VERSION=$(pin K8S_VERSION)
COREDNS_VERSION=$(pin COREDNS_VERSION)
# ---- pinned versions --------------------------------------------------------------------
PAUSE_VERSION=3.10.2   # TAG in build/pause/Makefile of k8s.io/kubernetes ${K8S_VERSION} (checked below)
# ------------------------------------------------------------------------------------------
[[ -n $K8S_VERSION && -n $COREDNS_VERSION ]] || { echo "build-node-images: pins not found in build-k8s-tools.sh" >&2; exit 1; }

EDGE_TOOLS_DIR=${EDGE_TOOLS_DIR:-$HOME/.cache/edge-tools}
IMAGES=$EDGE_TOOLS_DIR/images
STAMPS=$EDGE_TOOLS_DIR/stamps
PAUSE_REF=localhost/nested-edge/pause:${PAUSE_VERSION}
COREDNS_REF=localhost/nested-edge/coredns:${COREDNS_VERSION#v}
PAUSE_TAR=$IMAGES/pause-${PAUSE_VERSION}.tar
COREDNS_TAR=$IMAGES/coredns-${COREDNS_VERSION#v}.tar
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

# The project's own container storage, exactly as src/images/buildah.ts opens it (vfs under
# $EDGE_TOOLS_DIR/containers), so the machine's default storage is never touched.
STORAGE=(--root "$EDGE_TOOLS_DIR/containers/storage" --runroot "$EDGE_TOOLS_DIR/containers/run" --storage-driver vfs)
bh() { buildah "${STORAGE[@]}" "$@"; }

mkdir -p "$IMAGES" "$STAMPS"
work=$(mktemp -d "$IMAGES/.build.XXXXXX")
ctr=""
cleanup() {
  [[ -n $ctr ]] && bh rm "$ctr" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=lib/retry.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/retry.sh"

# one_file_image <file> <path in image> <ref> <archive> <config...>: an image FROM scratch
# holding only <file>, committed to the project's storage and saved as a docker-archive.
# --timestamp 0 and a fixed file mtime: the same inputs give the same image ID.
one_file_image() {
  local file=$1 dest=$2 ref=$3 archive=$4
  shift 4
  touch -d @0 "$file"
  ctr=$(bh from --quiet scratch)
  bh copy --quiet --chmod 0755 "$ctr" "$file" "$dest" >/dev/null
  bh config --os linux --arch "$(go env GOARCH)" --entrypoint "[\"$dest\"]" "$@" "$ctr"
  bh commit --quiet --timestamp 0 --identity-label=false --rm "$ctr" "$ref" >/dev/null
  ctr=""
  rm -f "$work/archive.tar"
  bh push --quiet "$ref" "docker-archive:$work/archive.tar:$ref"
  mv -f "$work/archive.tar" "$archive"
}

# cached <name> <key> <archive>: true when <archive> was made from inputs with this key.
cached() {
  [[ -z ${FORCE:-} && -s $3 && -f $STAMPS/image-$1 && "$(cat "$STAMPS/image-$1")" == "$2" ]]
}

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'; }

# image <name> <key> <archive> <prepare> <file> <path in image> <ref> <config...>: unless cached,
# runs <prepare> (which makes <file>) and one_file_image, then stamps <archive> with <key>.
image() {
  local name=$1 key=$2 archive=$3 prepare=$4 file=$5 dest=$6 ref=$7 start
  shift 7
  if cached "$name" "$key" "$archive"; then
    printf '  %-10s cached\n' "$name"
    return 0
  fi
  printf '  %-10s building...\n' "$name"
  start=$(date +%s.%N)
  rm -f "$STAMPS/image-$name"
  "$prepare"
  one_file_image "$file" "$dest" "$ref" "$archive" "$@"
  echo "$key" >"$STAMPS/image-$name"
  printf '  %-10s built in %.1f s\n' "$name" "$(elapsed "$start")"
}

echo "edge node images -> $IMAGES (pause ${PAUSE_VERSION} from kubernetes ${K8S_VERSION}, coredns ${COREDNS_VERSION})"

# ---- pause --------------------------------------------------------------------------------
k8s_dir=$(cd "$work" && retry env GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
pause_c=$k8s_dir/build/pause/linux/pause.c
[[ -f $pause_c ]] || { echo "build-node-images: no $pause_c" >&2; exit 1; }
tag=$(sed -n 's/^TAG ?= *\([^ ]*\)$/\1/p' "$k8s_dir/build/pause/Makefile")
[[ $tag == "$PAUSE_VERSION" ]] || { echo "build-node-images: k8s.io/kubernetes ${K8S_VERSION} has pause ${tag}, the pin says ${PAUSE_VERSION}" >&2; exit 1; }
# Upstream's flags (build/pause/Makefile) but -O2; VERSION is what `pause -v` prints.
PAUSE_CFLAGS=(-O2 -Wall -Werror -static -s "-DVERSION=v${PAUSE_VERSION}")
# Upstream's image runs pause as 65535:65535 too.
pause_key=$({
  sha256sum <"$pause_c"
  gcc --version | head -1
  buildah --version
  echo "${PAUSE_CFLAGS[*]} user=65535:65535 ${PAUSE_REF}"
  sed -n '/^one_file_image()/,/^}/p' "${BASH_SOURCE[0]}"
} | sha256sum | cut -c1-16)
prep_pause() { gcc "${PAUSE_CFLAGS[@]}" -o "$work/pause" "$pause_c"; }
image pause "$pause_key" "$PAUSE_TAR" prep_pause "$work/pause" /pause "$PAUSE_REF" --user 65535:65535

# ---- coredns ------------------------------------------------------------------------------
coredns_bin=$EDGE_TOOLS_DIR/bin/coredns
[[ -x $coredns_bin ]] || { echo "build-node-images: no $coredns_bin (run tools/build-k8s-tools.sh first)" >&2; exit 1; }
"$coredns_bin" -version | grep -q "^CoreDNS-${COREDNS_VERSION#v}\$" \
  || { echo "build-node-images: $coredns_bin is not CoreDNS ${COREDNS_VERSION}" >&2; exit 1; }
# Runs as root by default: port 53 needs no added capability; the pod spec may still restrict it.
coredns_key=$({
  sha256sum <"$coredns_bin"
  buildah --version
  echo "/coredns ${COREDNS_REF}"
  sed -n '/^one_file_image()/,/^}/p' "${BASH_SOURCE[0]}"
} | sha256sum | cut -c1-16)
prep_coredns() { cp "$coredns_bin" "$work/coredns"; }
image coredns "$coredns_key" "$COREDNS_TAR" prep_coredns "$work/coredns" /coredns "$COREDNS_REF" --port 53/udp --port 53/tcp

printf '{"pause":{"archive":"%s","ref":"%s"},"coredns":{"archive":"%s","ref":"%s"}}\n' \
  "$PAUSE_TAR" "$PAUSE_REF" "$COREDNS_TAR" "$COREDNS_REF" >"$IMAGES/node-images.json.tmp"
mv -f "$IMAGES/node-images.json.tmp" "$IMAGES/node-images.json"
echo "pause=$PAUSE_TAR $PAUSE_REF"
echo "coredns=$COREDNS_TAR $COREDNS_REF"
