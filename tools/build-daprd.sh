#!/usr/bin/env bash
# Build a slim, pinned `daprd` from the Go module proxy (no prebuilt download).
#
#   tools/build-daprd.sh            # build if needed, print where it is
#   EDGE_TOOLS_DIR=/x tools/build-daprd.sh
#   DAPRD_FORCE=1 tools/build-daprd.sh   # rebuild even if cached
#   tools/build-daprd.sh --arch arm64    # cross-compile for the daprd image (linux/amd64 or linux/arm64)
#
# The wrapper module in tools/daprd/ registers only the components this
# project uses (see tools/daprd/main.go). Output:
#   $EDGE_TOOLS_DIR/daprd-<version>-<hash>/daprd   (immutable, per recipe)
#   $EDGE_TOOLS_DIR/bin/daprd -> the above           (symlink)
# where <hash> covers the wrapper's go.mod, go.sum, *.go and the build recipe
# below. Nothing is written inside the repository.
# With --arch (the daprd image, src/images/build.ts): a static linux/<arch> binary by Go
# cross-compilation, whatever this machine is, in
#   $EDGE_TOOLS_DIR/daprd-<version>-linux-<arch>-<hash>/daprd   (no bin/ link)
# where the recipe (so <hash>) also names GOOS and GOARCH; the last two lines of stdout are
# `daprd=<path>` and `version=<version>`, for the image build to read.
set -euo pipefail

CONTRIB_VERSION=v1.16.0   # components-contrib actually built (replace in go.mod)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wrapper="$here/daprd"
# shellcheck source=lib/go-tool-cache.sh
source "$here/lib/go-tool-cache.sh"
# shellcheck source=lib/dapr-build.sh
source "$here/lib/dapr-build.sh"   # DAPR_VERSION, DAPR_COMMIT, DAPR_LDFLAGS, parse_arch
parse_arch build-daprd "$@"
[[ ${#positional[@]} -eq 0 ]] || { echo "build-daprd: unexpected argument ${positional[0]}" >&2; exit 2; }
EDGE_TOOLS_DIR="${EDGE_TOOLS_DIR:-$HOME/.cache/edge-tools}"

ver="$DAPR_RELEASE"
ldflags="$DAPR_LDFLAGS"
# Anything that changes the produced binary must change $recipe (it is part
# of the cache key together with the wrapper's go.mod, go.sum and *.go).
recipe="dapr=$DAPR_VERSION contrib=$CONTRIB_VERSION cgo=0 trimpath notag-stub ldflags=$ldflags"
# The host build keeps its recipe (and key) as it was; a cross build names its target in both.
[[ -n "$arch" ]] && recipe="$recipe goos=linux goarch=$arch"

key="$(tool_key "$recipe" "$wrapper")"
if [[ -n "$arch" ]]; then
  name="daprd-$DAPR_VERSION-linux-$arch-$key"
else
  name="daprd-$DAPR_VERSION-$key"
fi
dest="$EDGE_TOOLS_DIR/$name/daprd"
link="$EDGE_TOOLS_DIR/bin/daprd"

# What an image build reads: the binary and the version it reports.
machine_lines() {
  if [[ -n "$arch" ]]; then
    echo "daprd=$dest"
    echo "version=$ver"
  fi
}

cached() {
  [[ -z "$arch" ]] && link_tool "$EDGE_TOOLS_DIR" "$name" daprd
  echo "daprd $DAPR_VERSION${arch:+ (linux/$arch)}: cached ($dest)"
  machine_lines
  exit 0
}

[[ -z "${DAPRD_FORCE:-}" && -x "$dest" ]] && cached

# --- build -----------------------------------------------------------------
command -v go >/dev/null || { echo "build-daprd: 'go' not found (need Go >= 1.24.9)" >&2; exit 1; }
mkdir -p "$EDGE_TOOLS_DIR"

# One build at a time per cache dir (another session may race us).
exec 9>"$EDGE_TOOLS_DIR/.daprd.lock"
flock 9
[[ -z "${DAPRD_FORCE:-}" && -x "$dest" ]] && cached   # built while we waited

tmp="$(mktemp -d "$EDGE_TOOLS_DIR/.build-daprd.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Use the Go on this machine; never download a toolchain.
export GOTOOLCHAIN=local CGO_ENABLED=0
# Never let a build touch go.mod/go.sum (-mod=readonly) or stamp VCS info of
# the surrounding repo; keep the caller's other GOFLAGS.
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"
# Cross-compilation: the same modules and sources, another target (no cgo, so no C toolchain).
[[ -n "$arch" ]] && export GOOS=linux GOARCH="$arch"

echo "daprd $DAPR_VERSION${arch:+ (linux/$arch)}: building (components-contrib $CONTRIB_VERSION, $(go env GOVERSION), key $key)"
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

if [[ -n "$arch" ]]; then
  # Another architecture may not run here: check what was built (the image's smoke test runs it).
  check_elf "$tmp/daprd" "$arch" && check_dapr_stamp "$tmp/daprd" || exit 1
fi
if [[ -z "$arch" || "$arch" == "$(go env GOHOSTARCH)" ]]; then
  got="$("$tmp/daprd" --version)"
  if [[ "$got" != "$ver" ]]; then
    echo "build-daprd: built binary reports version '$got', expected '$ver'" >&2
    exit 1
  fi
fi

info="$(printf '%s\nbuilt=%s go=%s compile=%ss' "$recipe" "$(date -u +%FT%TZ)" "$(go env GOVERSION)" "$((t2 - t1))")"
if [[ -z "$arch" ]]; then
  publish_tool "$tmp/daprd" "$EDGE_TOOLS_DIR" "$name" daprd "$info"
else
  # As publish_tool, without pointing bin/daprd (the host's sidecar) at it.
  mkdir -p "$EDGE_TOOLS_DIR/$name"
  printf '%s\n' "$info" >"$tmp/BUILDINFO"
  mv -f "$tmp/BUILDINFO" "$EDGE_TOOLS_DIR/$name/BUILDINFO"
  mv -f "$tmp/daprd" "$dest"
fi

size="$(du -h "$dest" | cut -f1)"
if [[ -n "$arch" ]]; then
  echo "daprd $DAPR_VERSION (linux/$arch): built $dest ($size) in $((SECONDS - t0))s"
  machine_lines
else
  echo "daprd $DAPR_VERSION: built $dest ($size) in $((SECONDS - t0))s; $link -> it"
fi
