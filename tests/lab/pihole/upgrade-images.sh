#!/usr/bin/env bash
# The lab's upgrade tags of the real Pi-hole, built FROM the lab's pihole/pihole:2025.11.0 (build.sh),
# never pulled: they exist only in the lab.
#   pihole/pihole:2025.11.0-lab2        GOOD: the same Pi-hole, one layer more (a new image id and tag)
#   pihole/pihole:2025.11.0-lab-broken  BAD: changes /etc/pihole at start, never healthy, no DNS
# Usage: upgrade-images.sh   Prints the two references, good first. Each is cached: rebuilt only when
# its recipe (the files in upgrade/) or the base image changed (label homelab-photon.upgrade-source).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=pihole/pihole:2025.11.0
good=pihole/pihole:2025.11.0-lab2
broken=pihole/pihole:2025.11.0-lab-broken
label_key=homelab-photon.upgrade-source

"$here/build.sh" "$base" >/dev/null
base_id=$(docker image inspect -f '{{.Id}}' "$base")

build() { # REF DOCKERFILE
    local ref=$1 dockerfile=$2 hash found
    hash=$( (cd "$here/upgrade" && sha256sum "$dockerfile" broken-start.sh; echo "$base_id") | sha256sum | cut -c1-16)
    found=$(docker image inspect -f "{{index .Config.Labels \"$label_key\"}}" "$ref" 2>/dev/null || true)
    if [ "$found" = "$hash" ]; then
        echo "pihole-upgrade-images: $ref is built from the current recipe ($hash)" >&2
        return
    fi
    echo "pihole-upgrade-images: building $ref from $base" >&2
    docker build -q --build-arg "BASE=$base" -f "$here/upgrade/$dockerfile" \
        --label "$label_key=$hash" \
        --label "homelab-photon.builder=tests/lab/pihole/upgrade-images.sh" \
        --label "org.opencontainers.image.version=${ref##*:}" \
        -t "$ref" "$here/upgrade" >/dev/null
}
build "$good" Dockerfile.good
build "$broken" Dockerfile.broken
echo "$good"
echo "$broken"
