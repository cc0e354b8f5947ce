#!/usr/bin/env bash
# Build Dapr's control-plane services from the Go module proxy (no prebuilt download), for the
# Dapr images (src/images/build.ts):
#
#   tools/build-dapr-control-plane.sh operator sentry      # for this machine's architecture
#   tools/build-dapr-control-plane.sh --arch arm64 placement
#   DAPR_CP_FORCE=1 tools/build-dapr-control-plane.sh injector   # rebuild even if cached
#
# Names: operator, sentry, injector, placement, scheduler (the sidecar, daprd, is our slim
# wrapper: tools/build-daprd.sh). Each is `go build github.com/dapr/dapr/cmd/<name>` inside the
# checksum-verified github.com/dapr/dapr module itself (its own go.mod and go.sum: the same
# dependency versions as the upstream release, but for components-contrib: see CONTRIB_VERSION),
# with dapr's release ldflags (tools/lib/dapr-build.sh,
# the same as daprd's), CGO_ENABLED=0, -trimpath, GOOS=linux GOARCH=<arch>. Output:
#   $EDGE_TOOLS_DIR/dapr-<name>-<version>-linux-<arch>-<hash>/<name>   (immutable, per recipe)
# where <hash> covers the recipe below and the go.mod and go.sum built with. Stdout ends, per name,
# with `<name>=<path>`, then `version=<version>`, for the image build to read. Nothing is written
# inside the repository.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/dapr-build.sh
source "$here/lib/dapr-build.sh"   # DAPR_VERSION, DAPR_LDFLAGS, parse_arch, check_elf, check_dapr_stamp
parse_arch build-dapr-control-plane "$@"
EDGE_TOOLS_DIR="${EDGE_TOOLS_DIR:-$HOME/.cache/edge-tools}"
CONTROL_PLANE=(operator sentry injector placement scheduler)
# dapr v1.16.2 requires components-contrib v1.16.3, which the module proxy refuses (403); the
# operator imports its metadata package. As for daprd (tools/daprd/go.mod): v1.16.0, its go.sum
# lines from tools/daprd/go.sum, put into a temporary -modfile (the module stays untouched).
CONTRIB_VERSION=v1.16.0

[[ ${#positional[@]} -gt 0 ]] || { echo "build-dapr-control-plane: name one or more of ${CONTROL_PLANE[*]}" >&2; exit 2; }
for n in "${positional[@]}"; do
  [[ " ${CONTROL_PLANE[*]} " == *" $n "* ]] || { echo "build-dapr-control-plane: unknown service $n (${CONTROL_PLANE[*]})" >&2; exit 2; }
done
command -v go >/dev/null || { echo "build-dapr-control-plane: 'go' not found (need Go >= 1.24.9)" >&2; exit 1; }

# Use the Go on this machine; never download a toolchain. Static binaries; never touch go.mod or
# go.sum (-mod=readonly) nor stamp VCS info; keep the caller's other GOFLAGS.
export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"
arch="${arch:-$(go env GOHOSTARCH)}"

# The module, downloaded (or found) and checked against the checksum database; read-only.
module_dir="$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "github.com/dapr/dapr@$DAPR_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
[[ -f "$module_dir/go.mod" ]] || { echo "build-dapr-control-plane: github.com/dapr/dapr@$DAPR_VERSION not downloaded" >&2; exit 1; }
modfiles="$(mktemp -d "${TMPDIR:-/tmp}/dapr-cp-mod.XXXXXX")"
trap 'rm -rf "$modfiles"' EXIT
cp "$module_dir/go.mod" "$modfiles/go.mod"
cp "$module_dir/go.sum" "$modfiles/go.sum"
chmod u+w "$modfiles/go.mod" "$modfiles/go.sum"
printf '\nreplace github.com/dapr/components-contrib => github.com/dapr/components-contrib %s\n' "$CONTRIB_VERSION" >>"$modfiles/go.mod"
grep "^github.com/dapr/components-contrib $CONTRIB_VERSION[ /]" "$here/daprd/go.sum" >>"$modfiles/go.sum"

# dest_of <name>: where the binary of this recipe lives (the key changes with anything that
# changes the binary).
dest_of() {
  local recipe key
  recipe="dapr=$DAPR_VERSION cmd=$1 contrib=$CONTRIB_VERSION cgo=0 trimpath goos=linux goarch=$arch ldflags=$DAPR_LDFLAGS"
  key="$({ printf '%s\n' "$recipe"; cat "$modfiles/go.mod" "$modfiles/go.sum"; } | sha256sum | cut -c1-12)"
  echo "$EDGE_TOOLS_DIR/dapr-$1-$DAPR_VERSION-linux-$arch-$key/$1"
}

# build_one <name> <dest>: compiles into a temp dir inside $EDGE_TOOLS_DIR, checks, then renames.
build_one() {
  local name="$1" dest="$2" tmp t0 t1
  tmp="$(mktemp -d "$EDGE_TOOLS_DIR/.build-dapr-$name.XXXXXX")"
  t0=$SECONDS
  (cd "$module_dir" && GOOS=linux GOARCH="$arch" go list -modfile="$modfiles/go.mod" -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "./cmd/$name" >"$tmp/deps.txt")
  t1=$SECONDS
  echo "  $name: modules ready in $((t1 - t0))s ($(grep -c . "$tmp/deps.txt") packages)"
  (cd "$module_dir" && GOOS=linux GOARCH="$arch" go build -modfile="$modfiles/go.mod" -trimpath -ldflags "$DAPR_LDFLAGS" -o "$tmp/$name" "./cmd/$name")
  # The version the service logs at start ("-- version 1.16.2") is the one stamped here.
  if ! check_elf "$tmp/$name" "$arch" || ! check_dapr_stamp "$tmp/$name"; then rm -rf "$tmp"; exit 1; fi
  mkdir -p "${dest%/*}"
  printf 'dapr=%s cmd=%s contrib=%s goos=linux goarch=%s\nbuilt=%s go=%s modules=%ss compile=%ss\n' "$DAPR_VERSION" "$name" "$CONTRIB_VERSION" "$arch" \
    "$(date -u +%FT%TZ)" "$(go env GOVERSION)" "$((t1 - t0))" "$((SECONDS - t1))" >"${dest%/*}/BUILDINFO"
  mv -f "$tmp/$name" "$dest"
  rm -rf "$tmp"
  echo "  $name (linux/$arch): built $dest ($(du -h "$dest" | cut -f1)) in $((SECONDS - t0))s"
}

mkdir -p "$EDGE_TOOLS_DIR"
# One build at a time per cache dir (another session may race us); taken only when one is missing.
locked=""
for n in "${positional[@]}"; do
  dest="$(dest_of "$n")"
  if [[ -n "${DAPR_CP_FORCE:-}" || ! -x "$dest" ]]; then
    if [[ -z "$locked" ]]; then
      exec 9>"$EDGE_TOOLS_DIR/.dapr-control-plane.lock"
      flock 9
      locked=1
      echo "dapr control plane $DAPR_VERSION (linux/$arch): $(go env GOVERSION), module $module_dir"
    fi
    # Built while we waited?
    if [[ -n "${DAPR_CP_FORCE:-}" || ! -x "$dest" ]]; then build_one "$n" "$dest"; fi
  else
    echo "  $n (linux/$arch): cached ($dest)"
  fi
done
for n in "${positional[@]}"; do echo "$n=$(dest_of "$n")"; done
echo "version=$DAPR_RELEASE"
