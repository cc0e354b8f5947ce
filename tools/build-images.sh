#!/usr/bin/env bash
# Builds and (optionally) pushes the four workload images from workloads/Dockerfile.
#   tools/build-images.sh                          build with docker buildx (amd64 + arm64) or buildah
#   REGISTRY=myreg.example/nested-edge PUSH=1 tools/build-images.sh
# Tags: the package version and the git revision, so a tag always names the source it came from.
# Not run on the development machines of this repo (no Docker engine); see README "Images".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REGISTRY=${REGISTRY:-ghcr.io/nested-edge}
VERSION=$(node -p "require('./package.json').version")
REVISION=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64}
for workload in temperature-sensor opc-plc opc-publisher data-gateway; do
  image="$REGISTRY/$workload"
  args=(--build-arg "WORKLOAD=$workload" --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" -f workloads/Dockerfile)
  if command -v docker >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; then
    docker buildx build --platform "$PLATFORMS" "${args[@]}" -t "$image:$VERSION" -t "$image:$REVISION" ${PUSH:+--push} .
  elif command -v buildah >/dev/null 2>&1; then
    buildah build "${args[@]}" -t "$image:$VERSION" -t "$image:$REVISION" .
    if [ -n "${PUSH:-}" ]; then buildah push "$image:$VERSION"; buildah push "$image:$REVISION"; fi
  else
    echo "build-images: needs docker buildx or buildah" >&2; exit 1
  fi
  echo "built $image:$VERSION ($REVISION)"
done
