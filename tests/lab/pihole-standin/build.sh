#!/usr/bin/env bash
# Build the Pi-hole STAND-IN image (lab only): a static Go binary (stdlib only) in a FROM scratch image.
# Usage: build.sh [IMAGE]   (default homelab-photon/pihole-standin:test); prints the image name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=${1:-homelab-photon/pihole-standin:test}
# Built once per source: the image carries a hash of what it is built from.
hash=$(cd "$here" && cat main.go go.mod Dockerfile build.sh | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "homelab-photon.source"}}' "$image" 2>/dev/null)" = "$hash" ]; then
    echo "$image"
    exit 0
fi
ctx=$(mktemp -d /tmp/pihole-standin.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
(cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOCACHE="${GOCACHE:-/tmp/pihole-standin-gocache}" \
    go build -trimpath -ldflags='-s -w' -o "$ctx/pihole-standin" .)
cp "$here/Dockerfile" "$ctx/"
docker build -q --label "homelab-photon.source=$hash" -t "$image" "$ctx" >/dev/null
docker image prune -f --filter label=homelab-photon.source >/dev/null
echo "$image"
