#!/usr/bin/env bash
# Makes the two inputs of the base images, cached under $EDGE_TOOLS_DIR/images by their pinned
# versions (a warm run only prints the paths):
#   debian-<suite>-<variant>-<arch>-<key>.tar   a Debian root filesystem: debootstrap from the
#                                               mirror this machine's apt uses, updates applied,
#                                               docs and apt lists stripped
#   node-<version>-npm-<version>-<arch>.tar     /usr/local/{bin/node,lib/node_modules/npm}, from the
#                                               npm registry, checked against pinned integrities
# Usage: tools/images/base-rootfs.sh amd64|arm64    prints "debian=<tar>" and "node=<tar>"
# A foreign architecture needs qemu-user-static registered with binfmt_misc (tools/setup.sh --images).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
arch=${1:?usage: base-rootfs.sh amd64|arm64}
case "$arch" in
  amd64) npm_arch=x64; node_integrity=$NODE_INTEGRITY_AMD64; qemu=qemu-x86_64 ;;
  arm64) npm_arch=arm64; node_integrity=$NODE_INTEGRITY_ARM64; qemu=qemu-aarch64 ;;
  *) echo "base-rootfs: unsupported architecture $arch (amd64, arm64)" >&2; exit 2 ;;
esac
cache="${EDGE_TOOLS_DIR:-$HOME/.cache/edge-tools}/images"
mkdir -p "$cache"
log() { echo "[base-rootfs $arch] $*" >&2; }

# The mirrors apt uses here (deb822 .sources or one-line lists); Debian's own as the fallback.
uris=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs: *//p'; sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\(http[^ ]*\).*/\2/p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
mirror=$(echo "$uris" | grep -E '/debian/?$' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
security=$(echo "$uris" | grep -E '/debian-security/?$' | head -1 || true)
security=${security:-${mirror%/debian}/debian-security}

key=$(printf '%s\n' "$DEBIAN_SUITE" "$DEBIAN_VARIANT" "$arch" "$mirror" "$security" "$(sed -n '/^# --- debian/,/^# --- end debian/p' "$0")" | sha256sum | cut -c1-12)
debian_tar="$cache/debian-$DEBIAN_SUITE-$DEBIAN_VARIANT-$arch-$key.tar"
node_tar="$cache/node-$NODE_VERSION-npm-$NPM_VERSION-$arch.tar"

work=$(mktemp -d "$cache/.work-XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- debian ---------------------------------------------------------------------------------
if [ ! -f "$debian_tar" ]; then
  if [ "$(dpkg --print-architecture)" != "$arch" ] && ! grep -q '^enabled' "/proc/sys/fs/binfmt_misc/$qemu" 2>/dev/null; then
    echo "base-rootfs: building an $arch root filesystem needs $qemu registered in /proc/sys/fs/binfmt_misc (run tools/setup.sh --images as root)" >&2
    exit 3
  fi
  root="$work/rootfs"
  log "debootstrap --variant=$DEBIAN_VARIANT $DEBIAN_SUITE from $mirror"
  debootstrap --variant="$DEBIAN_VARIANT" --arch="$arch" "$DEBIAN_SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # Later `apt-get install`s (the broker and proxy images) also get no docs and no recommends.
  cat >"$root/etc/dpkg/dpkg.cfg.d/01-nested-edge-nodoc" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CFG
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/01-nested-edge-norecommends"
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: $DEBIAN_SUITE $DEBIAN_SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $DEBIAN_SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  log "applying updates"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  { chroot "$root" apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -y -qq -o Dpkg::Options::=--force-confold upgrade \
    && chroot "$root" apt-get clean; } >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; exit 1; }
  mkdir -p "$root/usr/share/nested-edge/sbom"
  chroot "$root" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' >"$root/usr/share/nested-edge/sbom/debian-packages.tsv"
  # What debootstrap copied from this machine, and what no image needs.
  rm -rf "$root/etc/resolv.conf" "$root/etc/hostname" "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin \
    "$root/var/log/"* "$root/var/cache/debconf/"*-old "$root/usr/share/man/"* "$root/usr/share/info/"* "$root/tmp/"*
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  : >"$root/etc/machine-id"
  tar -C "$root" --numeric-owner --sort=name -cf "$work/debian.tar" .
  mv "$work/debian.tar" "$debian_tar"
  log "wrote $debian_tar ($(du -h "$debian_tar" | cut -f1))"
fi
# --- end debian -----------------------------------------------------------------------------

# --- node -----------------------------------------------------------------------------------
# npm pack checks the download against the registry's integrity; we check it against our pin.
fetch() { # <package@version> <integrity> -> extracted into $work/<name>/package
  local spec=$1 want=$2 dir="$work/${1%@*}" got
  mkdir -p "$dir"
  got=$(cd "$dir" && npm pack "$spec" --json --loglevel=error 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[0].integrity))')
  [ "$got" = "$want" ] || { echo "base-rootfs: $spec integrity $got, pinned $want" >&2; exit 1; }
  tar -C "$dir" -xzf "$dir"/*.tgz
}
if [ ! -f "$node_tar" ]; then
  log "node-linux-$npm_arch@$NODE_VERSION and npm@$NPM_VERSION from the npm registry"
  fetch "node-linux-$npm_arch@$NODE_VERSION" "$node_integrity"
  fetch "npm@$NPM_VERSION" "$NPM_INTEGRITY"
  t="$work/node-root"
  mkdir -p "$t/usr/local/bin" "$t/usr/local/lib/node_modules" "$t/usr/local/share/doc/node"
  cp "$work/node-linux-$npm_arch/package/bin/node" "$t/usr/local/bin/node"
  cp "$work/node-linux-$npm_arch/package/LICENSE" "$t/usr/local/share/doc/node/LICENSE"
  cp -r "$work/npm/package" "$t/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$t/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$t/usr/local/bin/npx"
  tar -C "$t" --numeric-owner --owner=0 --group=0 --sort=name -cf "$work/node.tar" usr
  mv "$work/node.tar" "$node_tar"
  log "wrote $node_tar ($(du -h "$node_tar" | cut -f1))"
fi
echo "debian=$debian_tar"
echo "node=$node_tar"
