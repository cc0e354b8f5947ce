# Shared by the tools/build-*.sh scripts that build a Go binary from a wrapper module and keep
# it in $EDGE_TOOLS_DIR under a name that changes with what it is built from. Source it; it
# defines functions only.

# tool_key <recipe> <wrapper dir>: 12 hex of the recipe plus the wrapper's go.mod, go.sum and
# *.go, so any change to what goes into the binary gives a new directory (never a stale reuse).
tool_key() {
  {
    printf '%s\n' "$1"
    for f in "$2"/go.mod "$2"/go.sum "$2"/*.go; do
      printf '== %s\n' "${f##*/}"
      cat "$f"
    done
  } | sha256sum | cut -c1-12
}

# link_tool <tools dir> <dir name> <binary>: points <tools dir>/bin/<binary> at
# ../<dir name>/<binary>, relative and atomically replaced, unless it already does.
link_tool() {
  local link="$1/bin/$3" target="../$2/$3"
  [[ "$(readlink "$link" 2>/dev/null || true)" == "$target" ]] && return 0
  mkdir -p "$1/bin"
  ln -sfn "$target" "$link.tmp.$$"
  mv -Tf "$link.tmp.$$" "$link"
}

# publish_tool <built binary> <tools dir> <dir name> <binary> <build info>: moves the binary and
# a BUILDINFO file into <tools dir>/<dir name>/ and links it. The binary is built inside <tools
# dir>, so the renames are atomic: a reader sees either no binary or a complete one (processes
# already running keep theirs).
publish_tool() {
  local dir="$2/$3"
  mkdir -p "$dir"
  printf '%s\n' "$5" >"$1.BUILDINFO"
  mv -f "$1.BUILDINFO" "$dir/BUILDINFO"
  mv -f "$1" "$dir/$4"
  link_tool "$2" "$3" "$4"
}
