#!/usr/bin/env bash
# Build a slim, pinned OpenTelemetry Collector (`otelcol-edge`) from the Go module proxy.
#
#   tools/build-otelcol.sh                # build if needed, print where it is
#   EDGE_TOOLS_DIR=/x tools/build-otelcol.sh
#   OTELCOL_FORCE=1 tools/build-otelcol.sh  # rebuild even if cached
#   tools/build-otelcol.sh --arch arm64     # cross-compile for an image (linux/amd64 or linux/arm64)
#
# The wrapper module in tools/otelcol/ registers only what the per-level collectors use (see
# tools/otelcol/main.go): the otlp receiver, the otlp_grpc/otlp_http/file exporters, the batch
# and memory_limiter processors. A hand-written main instead of the Collector Builder: the
# builder would generate the same ~60 lines and then `go mod tidy` on every cold build, whereas a
# committed go.mod/go.sum pins every module and is checked against the checksum database once.
# Output:
#   $EDGE_TOOLS_DIR/otelcol-edge-<version>-<hash>/otelcol-edge   (immutable, per recipe)
#   $EDGE_TOOLS_DIR/bin/otelcol-edge -> the above                  (symlink)
# where <hash> covers the wrapper's go.mod, go.sum, *.go and the recipe below. Nothing is written
# inside the repository.
# With --arch (the otel-collector image, src/images/build.ts): a static linux/<arch> binary by Go
# cross-compilation, whatever this machine is, in
#   $EDGE_TOOLS_DIR/otelcol-edge-<version>-linux-<arch>-<hash>/otelcol-edge   (no bin/ link)
# where the recipe (so <hash>) also names GOOS and GOARCH; the last two lines of stdout are
# `otelcol-edge=<path>` and `version=<version>`, for the image build to read.
set -euo pipefail

arch=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --arch) arch="${2:-}"; shift 2 || { echo "build-otelcol: --arch needs amd64 or arm64" >&2; exit 2; } ;;
    *) echo "build-otelcol: unknown option $1 (--arch amd64|arm64)" >&2; exit 2 ;;
  esac
done
[[ -z "$arch" || "$arch" == amd64 || "$arch" == arm64 ]] || { echo "build-otelcol: --arch must be amd64 or arm64 (got $arch)" >&2; exit 2; }

OTELCOL_VERSION=v0.165.0   # go.opentelemetry.io/collector/{otelcol,receiver/otlpreceiver,exporter/otlp*,processor/*}
OTELCOL_STABLE=v1.71.0     # the collector's 1.x modules of the same release (component, confmap, pdata, ...)
CONTRIB_VERSION=v0.165.0   # opentelemetry-collector-contrib exporter/fileexporter (v0.165.1's internal modules are not on the proxy)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wrapper="$here/otelcol"
# shellcheck source=lib/go-tool-cache.sh
source "$here/lib/go-tool-cache.sh"
EDGE_TOOLS_DIR="${EDGE_TOOLS_DIR:-$HOME/.cache/edge-tools}"

# The go.mod must agree with the versions above (a bump changes both, or neither).
for want in "go.opentelemetry.io/collector/otelcol $OTELCOL_VERSION" \
            "go.opentelemetry.io/collector/component $OTELCOL_STABLE" \
            "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter $CONTRIB_VERSION"; do
  grep -Eq "^[[:space:]]*${want}\$" "$wrapper/go.mod" || { echo "build-otelcol: tools/otelcol/go.mod does not require $want" >&2; exit 1; }
done

ver="${OTELCOL_VERSION#v}-edge"
ldflags="-s -w -X main.version=$ver"
# Anything that changes the produced binary must change $recipe (it is part of the cache key
# together with the wrapper's go.mod, go.sum and *.go).
recipe="otelcol=$OTELCOL_VERSION stable=$OTELCOL_STABLE contrib=$CONTRIB_VERSION cgo=0 trimpath ldflags=$ldflags"
# The host build keeps its recipe (and key) as it was; a cross build names its target in both.
[[ -n "$arch" ]] && recipe="$recipe goos=linux goarch=$arch"

key="$(tool_key "$recipe" "$wrapper")"
if [[ -n "$arch" ]]; then
  name="otelcol-edge-$OTELCOL_VERSION-linux-$arch-$key"
else
  name="otelcol-edge-$OTELCOL_VERSION-$key"
fi
dest="$EDGE_TOOLS_DIR/$name/otelcol-edge"
link="$EDGE_TOOLS_DIR/bin/otelcol-edge"

# What an image build reads: the binary and the version it reports.
machine_lines() {
  if [[ -n "$arch" ]]; then
    echo "otelcol-edge=$dest"
    echo "version=$ver"
  fi
}

cached() {
  [[ -z "$arch" ]] && link_tool "$EDGE_TOOLS_DIR" "$name" otelcol-edge
  echo "otelcol-edge $OTELCOL_VERSION${arch:+ (linux/$arch)}: cached ($dest)"
  machine_lines
  exit 0
}

[[ -z "${OTELCOL_FORCE:-}" && -x "$dest" ]] && cached

# --- build -----------------------------------------------------------------------------------
command -v go >/dev/null || { echo "build-otelcol: 'go' not found (need Go >= 1.26.0)" >&2; exit 1; }
mkdir -p "$EDGE_TOOLS_DIR"

# One build at a time per cache dir (another session may race us).
exec 9>"$EDGE_TOOLS_DIR/.otelcol.lock"
flock 9
[[ -z "${OTELCOL_FORCE:-}" && -x "$dest" ]] && cached   # built while we waited

tmp="$(mktemp -d "$EDGE_TOOLS_DIR/.build-otelcol.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Use the Go on this machine; never download a toolchain. Static binary; never touch go.mod/go.sum
# (-mod=readonly) nor stamp VCS info of the surrounding repo; keep the caller's other GOFLAGS.
export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"
# Cross-compilation: the same modules and sources, another target (no cgo, so no C toolchain).
[[ -n "$arch" ]] && export GOOS=linux GOARCH="$arch"

echo "otelcol-edge $OTELCOL_VERSION${arch:+ (linux/$arch)}: building (contrib $CONTRIB_VERSION, $(go env GOVERSION), key $key)"
echo "  GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE)"
t0=$SECONDS
# Phase 1: fetch (only) the modules whose packages the binary needs.
(cd "$wrapper" && go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' . >"$tmp/deps.txt")
t1=$SECONDS
echo "  modules ready in $((t1 - t0))s ($(grep -c . "$tmp/deps.txt") packages)"
# Phase 2: compile + link.
(cd "$wrapper" && go build -trimpath -ldflags "$ldflags" -o "$tmp/otelcol-edge" .)
t2=$SECONDS
echo "  compiled+linked in $((t2 - t1))s"

if [[ -z "$arch" ]]; then
  got="$("$tmp/otelcol-edge" --version)"
  if [[ "$got" != *" version $ver" ]]; then
    echo "build-otelcol: built binary reports '$got', expected version $ver" >&2
    exit 1
  fi
else
  # Another architecture may not run here: check what was built instead (the image's smoke test runs it).
  elf="$(od -An -tx1 -j18 -N2 "$tmp/otelcol-edge" | tr -d ' \n')"
  want="$([[ "$arch" == amd64 ]] && echo 3e00 || echo b700)"   # e_machine: EM_X86_64 / EM_AARCH64
  if [[ "$elf" != "$want" ]]; then
    echo "build-otelcol: built binary is not a linux/$arch ELF (e_machine $elf)" >&2
    exit 1
  fi
  if [[ "$arch" == "$(go env GOHOSTARCH)" && "$("$tmp/otelcol-edge" --version)" != *" version $ver" ]]; then
    echo "build-otelcol: built binary does not report version $ver" >&2
    exit 1
  fi
fi

info="$(printf '%s\nbuilt=%s go=%s modules=%ss compile=%ss' "$recipe" "$(date -u +%FT%TZ)" "$(go env GOVERSION)" "$((t1 - t0))" "$((t2 - t1))")"
if [[ -z "$arch" ]]; then
  publish_tool "$tmp/otelcol-edge" "$EDGE_TOOLS_DIR" "$name" otelcol-edge "$info"
else
  # As publish_tool, without pointing bin/otelcol-edge (the host's collector) at it.
  mkdir -p "$EDGE_TOOLS_DIR/$name"
  printf '%s\n' "$info" >"$tmp/BUILDINFO"
  mv -f "$tmp/BUILDINFO" "$EDGE_TOOLS_DIR/$name/BUILDINFO"
  mv -f "$tmp/otelcol-edge" "$dest"
fi

size="$(du -h "$dest" | cut -f1)"
if [[ -n "$arch" ]]; then
  echo "otelcol-edge $OTELCOL_VERSION (linux/$arch): built $dest ($size) in $((SECONDS - t0))s"
  machine_lines
else
  echo "otelcol-edge $OTELCOL_VERSION: built $dest ($size) in $((SECONDS - t0))s; $link -> it"
fi
