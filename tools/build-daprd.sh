#!/usr/bin/env bash
# Build a slim, pinned `daprd` from the Go module proxy (no prebuilt download).
#
#   tools/build-daprd.sh            # build if needed, print where it is
#   EDGE_TOOLS_DIR=/x tools/build-daprd.sh
#   DAPRD_FORCE=1 tools/build-daprd.sh   # rebuild even if cached
#
# The wrapper module in tools/daprd/ registers only the components this
# project uses (see tools/daprd/main.go). Output:
#   $EDGE_TOOLS_DIR/daprd-<version>-<hash>/daprd   (immutable, per recipe)
#   $EDGE_TOOLS_DIR/bin/daprd -> the above           (symlink)
# where <hash> covers the wrapper's go.mod, go.sum, *.go and the build recipe
# below. Nothing is written inside the repository.
set -euo pipefail

DAPR_VERSION=v1.16.2                                     # github.com/dapr/dapr
DAPR_COMMIT=3c7722a8c5648354e24256993caf047bc8c80666      # tag v1.16.2
CONTRIB_VERSION=v1.16.0   # components-contrib actually built (replace in go.mod)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wrapper="$here/daprd"
# shellcheck source=lib/go-tool-cache.sh
source "$here/lib/go-tool-cache.sh"
EDGE_TOOLS_DIR="${EDGE_TOOLS_DIR:-$HOME/.cache/edge-tools}"

# Same variables dapr's Makefile sets (DEFAULT_LDFLAGS); release builds use
# the version without the leading "v", so `daprd --version` prints 1.16.2.
ver="${DAPR_VERSION#v}"
ldflags="-s -w \
 -X github.com/dapr/dapr/pkg/buildinfo.version=$ver \
 -X github.com/dapr/dapr/pkg/buildinfo.gitversion=$DAPR_VERSION \
 -X github.com/dapr/dapr/pkg/buildinfo.gitcommit=$DAPR_COMMIT \
 -X github.com/dapr/kit/logger.DaprVersion=$ver"
# Anything that changes the produced binary must change $recipe (it is part
# of the cache key together with the wrapper's go.mod, go.sum and *.go).
recipe="dapr=$DAPR_VERSION contrib=$CONTRIB_VERSION cgo=0 trimpath notag-stub ldflags=$ldflags"

key="$(tool_key "$recipe" "$wrapper")"
name="daprd-$DAPR_VERSION-$key"
dest="$EDGE_TOOLS_DIR/$name/daprd"
link="$EDGE_TOOLS_DIR/bin/daprd"

if [[ -z "${DAPRD_FORCE:-}" && -x "$dest" ]]; then
  link_tool "$EDGE_TOOLS_DIR" "$name" daprd
  echo "daprd $DAPR_VERSION: cached ($dest)"
  exit 0
fi

# --- build -----------------------------------------------------------------
command -v go >/dev/null || { echo "build-daprd: 'go' not found (need Go >= 1.24.9)" >&2; exit 1; }
mkdir -p "$EDGE_TOOLS_DIR"

# One build at a time per cache dir (another session may race us).
exec 9>"$EDGE_TOOLS_DIR/.daprd.lock"
flock 9
if [[ -z "${DAPRD_FORCE:-}" && -x "$dest" ]]; then   # built while we waited
  link_tool "$EDGE_TOOLS_DIR" "$name" daprd
  echo "daprd $DAPR_VERSION: cached ($dest)"
  exit 0
fi

tmp="$(mktemp -d "$EDGE_TOOLS_DIR/.build-daprd.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

export CGO_ENABLED=0
# Never let a build touch go.mod/go.sum (-mod=readonly) or stamp VCS info of
# the surrounding repo; keep the caller's other GOFLAGS.
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"

echo "daprd $DAPR_VERSION: building (components-contrib $CONTRIB_VERSION, $(go env GOVERSION), key $key)"
echo "  GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE)"
t0=$SECONDS
# Phase 1: fetch (only) the modules whose packages the binary needs.
(cd "$wrapper" && go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' . >"$tmp/deps.txt")
t1=$SECONDS
echo "  modules ready in $((t1 - t0))s ($(grep -c . "$tmp/deps.txt") packages)"
# Phase 2: compile + link.
# dapr's cmd/daprd/components (imported by cmd/daprd/app) has a guard file,
# zz_notag.go, that panics at init unless daprd is built with -tags
# allcomponents/stablecomponents; those tags compile 50-130 components we
# don't want. `go build -overlay` may not touch files under GOMODCACHE, so we
# keep a copy of the (checksum-verified) dapr module outside the repo with
# that one file reduced to its package clause, and point the build at it via
# a temporary -modfile (the committed go.mod/go.sum are never modified).
dapr_dir="$(cd "$wrapper" && go list -m -f '{{.Dir}}' github.com/dapr/dapr)"
src="$EDGE_TOOLS_DIR/src/dapr-$DAPR_VERSION-notag"
if [[ ! -f "$src/.edge-notag-ok" ]]; then
  rm -rf "$src" "$src.new"
  mkdir -p "$EDGE_TOOLS_DIR/src"
  cp -R "$dapr_dir" "$src.new"
  chmod -R u+w "$src.new"
  guard="$src.new/cmd/daprd/components/zz_notag.go"
  [[ -f "$guard" ]] || { echo "build-daprd: $guard not found (dapr layout changed?)" >&2; exit 1; }
  printf '%s\n' "// Emptied by tools/build-daprd.sh: components are registered by the wrapper." \
    "package components" >"$guard"
  touch "$src.new/.edge-notag-ok"
  mv -T "$src.new" "$src"
  echo "  patched dapr source copy: $src"
fi
cp "$wrapper/go.mod" "$tmp/build.mod"
cp "$wrapper/go.sum" "$tmp/build.sum"
printf '\nreplace github.com/dapr/dapr => %s\n' "$src" >>"$tmp/build.mod"
(cd "$wrapper" && go build -modfile="$tmp/build.mod" -trimpath -ldflags "$ldflags" -o "$tmp/daprd" .)
t2=$SECONDS
echo "  compiled+linked in $((t2 - t1))s"

got="$("$tmp/daprd" --version)"
if [[ "$got" != "$ver" ]]; then
  echo "build-daprd: built binary reports version '$got', expected '$ver'" >&2
  exit 1
fi

publish_tool "$tmp/daprd" "$EDGE_TOOLS_DIR" "$name" daprd "$(printf '%s\nbuilt=%s go=%s' "$recipe" "$(date -u +%FT%TZ)" "$(go env GOVERSION)")"

size="$(du -h "$dest" | cut -f1)"
echo "daprd $DAPR_VERSION: built $dest ($size) in $((SECONDS - t0))s; $link -> it"
