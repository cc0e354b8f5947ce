#!/usr/bin/env bash
# Part of `tools/setup.sh --images` (and --all), after the TypeScript build: lets this machine run
# arm64 programs through qemu-user-static when the kernel allows it (binfmt_misc), then makes the
# base images (Debian minbase, Node) of every architecture it can build, cached in
# $EDGE_TOOLS_DIR by their pinned versions. Idempotent: a warm run only looks them up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [ "$(dpkg --print-architecture)" = amd64 ] && [ "$(id -u)" = 0 ]; then
  misc=/proc/sys/fs/binfmt_misc
  # Without systemd nothing mounts binfmt_misc or loads /usr/lib/binfmt.d: do what systemd-binfmt would.
  [ -e "$misc/status" ] || mount -t binfmt_misc binfmt_misc "$misc" 2>/dev/null \
    || echo "setup-images: cannot mount binfmt_misc ($misc): arm64 images will not be built" >&2
  if [ -e "$misc/register" ] && [ ! -e "$misc/qemu-aarch64" ]; then
    cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$misc/register" 2>/dev/null \
      || echo "setup-images: the kernel refused the qemu-aarch64 binfmt entry: arm64 images will not be built" >&2
  fi
fi
node dist/src/images/main.js base
