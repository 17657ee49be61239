#!/usr/bin/env bash
# Build the Pi-hole STAND-IN image (lab only): a static Go binary (stdlib only) in a FROM scratch image.
# Usage: build.sh [IMAGE]   (default homelab-photon/pihole-standin:test); prints the image name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=${1:-homelab-photon/pihole-standin:test}
ctx=$(mktemp -d /tmp/pihole-standin.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
(cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOCACHE="${GOCACHE:-/tmp/pihole-standin-gocache}" \
    go build -trimpath -ldflags='-s -w' -o "$ctx/pihole-standin" .)
cp "$here/Dockerfile" "$ctx/"
docker build -q -t "$image" "$ctx" >/dev/null
echo "$image"
