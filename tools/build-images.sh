#!/usr/bin/env bash
# Builds and (optionally) pushes the four workload images from workloads/Dockerfile with Docker,
# on the official Node image, and the OpenTelemetry Collector image (otelcol-edge cross-compiled
# per platform by tools/build-otelcol.sh --arch, needs Go) on the official Debian image (a machine
# with internet access):
#   tools/build-images.sh                                    build amd64 + arm64 with docker buildx
#   REGISTRY=myreg.example/nested-edge PUSH=1 tools/build-images.sh
#   NODE_IMAGE=myreg.example/node:20.20.2-bookworm-slim tools/build-images.sh
#   DEBIAN_IMAGE=myreg.example/debian:bookworm-slim tools/build-images.sh
# Without Docker (this repo's development machines), `npm run images` builds every image with
# buildah on base images made here from Debian packages (docs/images-and-air-gap.md).
# Tags: the package version and the git revision, so a tag always names the source it came from.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! { command -v docker >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; }; then
  echo "build-images: needs docker buildx; without Docker run \`npm run images\` (buildah)" >&2
  exit 1
fi
REGISTRY=${REGISTRY:-ghcr.io/nested-edge}
NODE_IMAGE=${NODE_IMAGE:-docker.io/library/node:20.20.2-bookworm-slim}
DEBIAN_IMAGE=${DEBIAN_IMAGE:-docker.io/library/debian:bookworm-slim}
VERSION=$(node -p "require('./package.json').version")
REVISION=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64}
for workload in temperature-sensor opc-plc opc-publisher data-gateway; do
  image="$REGISTRY/$workload"
  docker buildx build --platform "$PLATFORMS" -f workloads/Dockerfile \
    --build-arg "NODE_IMAGE=$NODE_IMAGE" --build-arg "WORKLOAD=$workload" \
    --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" \
    --build-arg "CREATED=$(git log -1 --format=%cI 2>/dev/null || date -u +%FT%TZ)" \
    -t "$image:$VERSION" -t "$image:$VERSION-git.$REVISION" ${PUSH:+--push} .
  echo "built $image:$VERSION ($REVISION)"
done

# The collector: one static binary per platform in the context's otelcol/<arch>/ (docker buildx
# sets TARGETARCH), tagged with the collector's version (what porter.yaml's images: names).
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp tools/images/Containerfile.otel-collector "$ctx/"
for platform in ${PLATFORMS//,/ }; do
  arch=${platform#linux/}
  out=$(bash tools/build-otelcol.sh --arch "$arch")
  mkdir -p "$ctx/otelcol/$arch"
  cp "$(sed -n 's/^otelcol-edge=//p' <<<"$out")" "$ctx/otelcol/$arch/otelcol-edge"
  OTELCOL_VERSION=$(sed -n 's/^version=//p' <<<"$out")
done
image="$REGISTRY/otel-collector"
docker buildx build --platform "$PLATFORMS" -f "$ctx/Containerfile.otel-collector" \
  --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "OTELCOL_VERSION=$OTELCOL_VERSION" \
  --build-arg "REVISION=$REVISION" --build-arg "CREATED=$(git log -1 --format=%cI 2>/dev/null || date -u +%FT%TZ)" \
  -t "$image:$OTELCOL_VERSION" -t "$image:$OTELCOL_VERSION-git.$REVISION" ${PUSH:+--push} "$ctx"
echo "built $image:$OTELCOL_VERSION ($REVISION)"
