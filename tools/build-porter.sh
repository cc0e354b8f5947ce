#!/usr/bin/env bash
# Builds Porter and its exec mixin from the Go module proxy (no prebuilt download) and lays
# out a PORTER_HOME outside the repo:
#
#   $EDGE_TOOLS_DIR/porter-home/porter                              the CLI
#   $EDGE_TOOLS_DIR/porter-home/runtimes/porter-runtime             copied into bundles by `porter build`
#   $EDGE_TOOLS_DIR/porter-home/mixins/exec/exec                    the exec mixin (client side)
#   $EDGE_TOOLS_DIR/porter-home/mixins/exec/runtimes/exec-runtime   the exec mixin (inside the bundle)
#   $EDGE_TOOLS_DIR/bin/porter -> ../porter-home/porter             symlink
#
# Porter finds its mixins through PORTER_HOME (default ~/.porter), not through the location of
# its binary, so run it as:  PORTER_HOME=$EDGE_TOOLS_DIR/porter-home $EDGE_TOOLS_DIR/bin/porter lint
#
#   tools/build-porter.sh               build if needed (a warm run prints `cached`)
#   FORCE=1 tools/build-porter.sh       rebuild even when cached
#   PORTER_OPTIONAL=1 ...               exit 0 (with a warning) when the proxy does not serve porter
#
# Exit codes: 0 built or cached; 1 build failure; 3 porter is not available from the module proxy
# on this machine (the proxy refuses the module: a 'no', not a time-out; see the message).
#
# Porter v1 ships the exec mixin in the same module (./cmd/exec). Its go.mod has replace
# directives, which `go install module@version` refuses, so we build inside a writable copy of
# the downloaded module (the module cache is read-only) where go.mod and go.sum are its own.
set -euo pipefail

# ---- pinned versions ------------------------------------------------------------------------
PORTER_MODULE=get.porter.sh/porter
PORTER_VERSION=v1.6.1   # schemaVersion 1.0.1 manifests; exec mixin built from the same tag
# ----------------------------------------------------------------------------------------------

EDGE_TOOLS_DIR=${EDGE_TOOLS_DIR:-$HOME/.cache/edge-tools}
HOME_DIR=$EDGE_TOOLS_DIR/porter-home
BIN=$EDGE_TOOLS_DIR/bin
STAMPS=$EDGE_TOOLS_DIR/stamps
STAMP=$STAMPS/porter

export GOTOOLCHAIN=${GOTOOLCHAIN:-local}   # never download a toolchain
export CGO_ENABLED=${CGO_ENABLED:-0}
export GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false"

t_start=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

command -v go >/dev/null || { echo "build-porter: 'go' not found" >&2; exit 1; }
GO_VERSION=$(go env GOVERSION)
# The ldflags porter's own release build sets (magefile: pkg.Version / pkg.Commit). The commit is
# filled in from the proxy's Origin record when it has one (fixed per tag, so not in the cache key).
ldflags_for() { echo "-s -w -X get.porter.sh/porter/pkg.Version=${PORTER_VERSION} -X get.porter.sh/porter/pkg.Commit=$1"; }
KEY="porter ${PORTER_VERSION} ${GO_VERSION} cgo=${CGO_ENABLED} $(ldflags_for '<origin>')"

link_bin() {
  mkdir -p "$BIN"
  ln -sfn ../porter-home/porter "$BIN/porter.tmp.$$"
  mv -Tf "$BIN/porter.tmp.$$" "$BIN/porter"
}

is_cached() {
  [[ -z ${FORCE:-} && -f $STAMP && "$(cat "$STAMP")" == "$KEY" ]] || return 1
  local f
  for f in porter runtimes/porter-runtime mixins/exec/exec mixins/exec/runtimes/exec-runtime; do
    [[ -x $HOME_DIR/$f ]] || return 1
  done
}

if is_cached; then
  [[ "$(readlink "$BIN/porter" 2>/dev/null || true)" == ../porter-home/porter ]] || link_bin
  echo "porter ${PORTER_VERSION}: cached ($HOME_DIR) in $(elapsed "$t_start") s"
  exit 0
fi

mkdir -p "$EDGE_TOOLS_DIR" "$STAMPS"
exec 9>"$EDGE_TOOLS_DIR/.porter.lock"   # one build at a time per cache dir
flock 9
if is_cached; then
  link_bin
  echo "porter ${PORTER_VERSION}: cached ($HOME_DIR) in $(elapsed "$t_start") s"
  exit 0
fi

echo "porter ${PORTER_VERSION}: not cached, fetching ${PORTER_MODULE} (${GO_VERSION}; GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE))"

# ---- 1. fetch the module -------------------------------------------------------------------
t0=$(date +%s.%N)
tmp=$(mktemp -d "$EDGE_TOOLS_DIR/.build-porter.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && go mod download -json "${PORTER_MODULE}@${PORTER_VERSION}") >"$tmp/module.json" 2>"$tmp/download.err"; then
  reason=$(sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' "$tmp/module.json" | head -n1)
  [[ -n $reason ]] || reason=$(head -n3 "$tmp/download.err")
  {
    echo "build-porter: ${PORTER_MODULE}@${PORTER_VERSION} is not available from the Go module proxy here:"
    echo "  ${reason}"
    echo "  Without porter, \`porter lint\`/\`porter build\` cannot run on this machine; test/porter.test.ts"
    echo "  then skips the porter CLI checks and runs its own structural checks of porter.yaml."
  } >&2
  if [[ -n ${PORTER_OPTIONAL:-} ]]; then
    echo "build-porter: PORTER_OPTIONAL is set: continuing without porter" >&2
    exit 0
  fi
  exit 3
fi
mod_dir=$(node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(m.Dir??"")' "$tmp/module.json")
commit=$(node -e 'const m=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));process.stdout.write(m.Origin?.Hash??"unknown")' "$tmp/module.json")
[[ -d $mod_dir ]] || { echo "build-porter: go mod download gave no directory for ${PORTER_MODULE}" >&2; exit 1; }
echo "  module ready in $(elapsed "$t0") s (commit ${commit})"

# ---- 2. build porter and the exec mixin in a writable copy -----------------------------------
cp -R "$mod_dir" "$tmp/src"
chmod -R u+w "$tmp/src"
ldflags=$(ldflags_for "$commit")
for cmd in porter exec; do
  t1=$(date +%s.%N)
  go build -C "$tmp/src" -trimpath -ldflags "$ldflags" -o "$tmp/out/$cmd" "./cmd/$cmd"
  echo "  $cmd compiled+linked in $(elapsed "$t1") s"
done

got=$("$tmp/out/porter" version 2>&1 || true)
[[ $got == *"${PORTER_VERSION}"* ]] || { echo "build-porter: built porter reports '$got', expected ${PORTER_VERSION}" >&2; exit 1; }

# ---- 3. lay out PORTER_HOME -------------------------------------------------------------------
new=$tmp/home
mkdir -p "$new/runtimes" "$new/mixins/exec/runtimes"
install -m 0755 "$tmp/out/porter" "$new/porter"
install -m 0755 "$tmp/out/porter" "$new/runtimes/porter-runtime"        # linux/amd64 client == runtime
install -m 0755 "$tmp/out/exec" "$new/mixins/exec/exec"
install -m 0755 "$tmp/out/exec" "$new/mixins/exec/runtimes/exec-runtime"
# Keep anything porter itself wrote there (config, plugins, its state) across rebuilds.
if [[ -d $HOME_DIR ]]; then
  for f in porter runtimes/porter-runtime mixins/exec/exec mixins/exec/runtimes/exec-runtime; do
    mkdir -p "$(dirname "$HOME_DIR/$f")"
    mv -f "$new/$f" "$HOME_DIR/$f"
  done
else
  mv -T "$new" "$HOME_DIR"
fi
printf '%s\n' "$KEY" >"$STAMP"
link_bin
echo "porter ${PORTER_VERSION}: built $HOME_DIR ($(du -sh "$HOME_DIR/porter" | cut -f1) porter) in $(elapsed "$t_start") s; $BIN/porter -> it"
