#!/usr/bin/env bash
# Build a slim, pinned OpenTelemetry Collector (`otelcol-edge`) from the Go module proxy.
#
#   tools/build-otelcol.sh                # build if needed, print where it is
#   EDGE_TOOLS_DIR=/x tools/build-otelcol.sh
#   OTELCOL_FORCE=1 tools/build-otelcol.sh  # rebuild even if cached
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
set -euo pipefail

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

key="$(tool_key "$recipe" "$wrapper")"
name="otelcol-edge-$OTELCOL_VERSION-$key"
dest="$EDGE_TOOLS_DIR/$name/otelcol-edge"
link="$EDGE_TOOLS_DIR/bin/otelcol-edge"

cached() {
  link_tool "$EDGE_TOOLS_DIR" "$name" otelcol-edge
  echo "otelcol-edge $OTELCOL_VERSION: cached ($dest)"
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

echo "otelcol-edge $OTELCOL_VERSION: building (contrib $CONTRIB_VERSION, $(go env GOVERSION), key $key)"
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

got="$("$tmp/otelcol-edge" --version)"
if [[ "$got" != *" version $ver" ]]; then
  echo "build-otelcol: built binary reports '$got', expected version $ver" >&2
  exit 1
fi

publish_tool "$tmp/otelcol-edge" "$EDGE_TOOLS_DIR" "$name" otelcol-edge "$(printf '%s\nbuilt=%s go=%s modules=%ss compile=%ss' "$recipe" "$(date -u +%FT%TZ)" "$(go env GOVERSION)" "$((t1 - t0))" "$((t2 - t1))")"

size="$(du -h "$dest" | cut -f1)"
echo "otelcol-edge $OTELCOL_VERSION: built $dest ($size) in $((SECONDS - t0))s; $link -> it"
