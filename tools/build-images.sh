#!/usr/bin/env bash
# Builds and (optionally) pushes the four workload images from workloads/Dockerfile with Docker,
# on the official Node image (a machine with internet access):
#   tools/build-images.sh                                    build amd64 + arm64 with docker buildx
#   REGISTRY=myreg.example/nested-edge PUSH=1 tools/build-images.sh
#   NODE_IMAGE=myreg.example/node:20.20.2-bookworm-slim tools/build-images.sh
# Without Docker (this repo's development machines), `npm run images` builds every image with
# buildah on base images made here from Debian packages (README, "Images and air-gapped install").
# Tags: the package version and the git revision, so a tag always names the source it came from.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! { command -v docker >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; }; then
  echo "build-images: needs docker buildx; without Docker run \`npm run images\` (buildah)" >&2
  exit 1
fi
REGISTRY=${REGISTRY:-ghcr.io/nested-edge}
NODE_IMAGE=${NODE_IMAGE:-docker.io/library/node:20.20.2-bookworm-slim}
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
