# Shared by tools/build-daprd.sh and tools/build-dapr-control-plane.sh: the pinned Dapr release,
# the ldflags dapr's Makefile sets for a release build, and the --arch option. Source it; it sets
# variables and defines functions only.

DAPR_VERSION=v1.16.2                                     # github.com/dapr/dapr
DAPR_COMMIT=3c7722a8c5648354e24256993caf047bc8c80666      # tag v1.16.2

# Same variables dapr's Makefile sets (DEFAULT_LDFLAGS); release builds use the version without
# the leading "v", so every binary reports (daprd --version) and logs ("-- version") 1.16.2.
DAPR_RELEASE="${DAPR_VERSION#v}"
DAPR_LDFLAGS="-s -w \
 -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_RELEASE \
 -X github.com/dapr/dapr/pkg/buildinfo.gitversion=$DAPR_VERSION \
 -X github.com/dapr/dapr/pkg/buildinfo.gitcommit=$DAPR_COMMIT \
 -X github.com/dapr/kit/logger.DaprVersion=$DAPR_RELEASE"

# parse_arch <script name> <args...>: sets $arch (empty, amd64 or arm64) and $positional (the
# other arguments); exits 2 on a bad option.
parse_arch() {
  local me="$1"
  shift
  arch=""
  positional=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --arch) arch="${2:-}"; shift 2 || { echo "$me: --arch needs amd64 or arm64" >&2; exit 2; } ;;
      -*) echo "$me: unknown option $1 (--arch amd64|arm64)" >&2; exit 2 ;;
      *) positional+=("$1"); shift ;;
    esac
  done
  [[ -z "$arch" || "$arch" == amd64 || "$arch" == arm64 ]] || { echo "$me: --arch must be amd64 or arm64 (got $arch)" >&2; exit 2; }
}

# check_elf <binary> <arch>: fails unless it is an ELF for linux/<arch> (a foreign one may not
# run here, so its header is what can be checked).
check_elf() {
  local elf want
  elf="$(od -An -tx1 -j18 -N2 "$1" | tr -d ' \n')"
  want="$([[ "$2" == amd64 ]] && echo 3e00 || echo b700)"   # e_machine: EM_X86_64 / EM_AARCH64
  [[ "$elf" == "$want" ]] || { echo "$1 is not a linux/$2 ELF (e_machine $elf)" >&2; return 1; }
}

# check_dapr_stamp <binary>: fails unless the release ldflags were applied. -trimpath keeps them
# out of the Go build info, and "1.16.2" is in every module path; the commit is set only by -X
# (VCS stamping is off), so finding it proves the stamp, for a binary of any architecture.
check_dapr_stamp() {
  grep -q -a -F "$DAPR_COMMIT" "$1" || { echo "$1: the -X stamp (commit $DAPR_COMMIT) is not in the binary" >&2; return 1; }
}
