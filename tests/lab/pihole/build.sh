#!/usr/bin/env bash
# Give the lab the REAL Pi-hole image that the collection's pihole role pins.
# Usage: build.sh [IMAGE]   (default: pihole_image of roles/pihole/defaults/main.yml)
# Prints the image reference on its last line. In order:
#   1. IMAGE is here already: built by this script from the current recipe (label
#      homelab-photon.source=<hash of recipe + pinned sources>), or pulled from a registry
#      (no such label, and a RepoDigest of IMAGE's own repository): done.
#   2. `docker pull IMAGE` (bounded; HOMELAB_PIHOLE_PULL=0 skips it): where a registry serves it,
#      that is the real thing: done.
#   3. Build it from the pinned upstream sources in ${HOMELAB_SOURCES:-<repo>/../shared/sources}
#      (each tarball checked against SHA256SUMS there before anything is built): FTL compiled in a
#      Debian bookworm builder tree, docker-pi-hole's Dockerfile steps in a bookworm runtime tree,
#      imported FROM scratch with upstream's ENV/EXPOSE/HEALTHCHECK/ENTRYPOINT. IMAGE is tagged
#      only at the very end. Intermediate results are cached in tests/lab/.cache/pihole/.
# Environment: HOMELAB_SOURCES, HOMELAB_PIHOLE_PULL (0: no pull), HOMELAB_PIHOLE_PULL_TIMEOUT
# (seconds, default 30), HOMELAB_PIHOLE_JOBS (make -j, default 2). See README.md here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lab=$(cd "$here/.." && pwd)
repo_root=$(cd "$lab/../.." && pwd)
cache="$lab/.cache/pihole"
suite=bookworm
label_key=homelab-photon.source
builder_label="homelab-photon.builder=tests/lab/pihole"

say() { echo "pihole-image: $*" >&2; }
die() { echo "pihole-image: ERROR: $*" >&2; exit 1; }

image=${1:-}
if [ -z "$image" ]; then
    image=$(sed -n 's/^pihole_image:[[:space:]]*["'\'']\{0,1\}\([^"'\''[:space:]]*\).*/\1/p' \
        "$repo_root/roles/pihole/defaults/main.yml" | head -n 1)
    [ -n "$image" ] || die "no pihole_image in $repo_root/roles/pihole/defaults/main.yml"
fi

# The recipe: these files (sources.sha256 pins each upstream tarball by its sha256) and the suite.
recipe_files=(build.sh build-ftl.sh assemble.sh builder-packages.txt runtime-packages.txt sources.sha256)
key_of() { sha256sum | cut -c1-16; }
hash=$( (cd "$here" && sha256sum "${recipe_files[@]}"; echo "$suite") | key_of)

# --- 1. Already here? -------------------------------------------------------------------------
ref_repository() { # IMAGE -> its repository as RepoDigests spell it (docker.io/library/ dropped)
    local ref=${1%%@*} last
    last=${ref##*/}
    case "$last" in *:*) ref=${ref%:*} ;; esac
    ref=${ref#docker.io/}
    ref=${ref#index.docker.io/}
    echo "${ref#library/}"
}
image_present() { # [quiet]
    local label digests quiet=${1:-}
    label=$(docker image inspect -f "{{index .Config.Labels \"$label_key\"}}" "$image" 2>/dev/null) || return 1
    if [ -n "$label" ] && [ "$label" != "<no value>" ]; then
        # Ours: good only when built from this very recipe.
        if [ "$label" = "$hash" ]; then
            say "$image is built from the current recipe ($hash)"
            return 0
        fi
        [ -n "$quiet" ] || say "$image was built from another recipe ($label, now $hash): rebuilding"
        return 1
    fi
    # Not ours: accepted when a registry gave it, i.e. it has a digest of IMAGE's own repository.
    # A local build or import has no RepoDigests (and `docker load` drops them), so a stand-in tagged
    # with the official name is never taken for the official image.
    digests=$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$image" 2>/dev/null || true)
    if grep -q "^$(ref_repository "$image")@sha256:" <<<"$digests"; then
        say "$image was pulled from a registry"
        return 0
    fi
    [ -n "$quiet" ] || say "$image exists but is neither this recipe's build nor pulled from a registry: replacing it"
    return 1
}
if image_present; then
    echo "$image"
    exit 0
fi

# --- 2. A registry? -----------------------------------------------------------------------------
if [ "${HOMELAB_PIHOLE_PULL:-1}" != 0 ]; then
    if timeout "${HOMELAB_PIHOLE_PULL_TIMEOUT:-30}" docker pull -q "$image" >/dev/null 2>&1; then
        say "pulled $image from a registry"
        echo "$image"
        exit 0
    fi
    say "no registry serves $image: building it from source"
else
    say "HOMELAB_PIHOLE_PULL=0: no pull, building $image from source"
fi

# --- 3. From source -----------------------------------------------------------------------------
case "$image" in *@*) die "$image names a digest: only a registry can give it (no registry answered)" ;; esac
sources=${HOMELAB_SOURCES:-$repo_root/../shared/sources}
[ -d "$sources" ] || die "cannot get $image: not pulled from a registry, and there is no sources directory $sources.
Either run where a registry serves pihole/pihole (docker pull $image), or provide the pinned upstream
sources (listed in $here/sources.sha256) with their SHA256SUMS in ../shared/sources beside the
repository, or in the directory named by HOMELAB_SOURCES."
[ -f "$sources/SHA256SUMS" ] || die "$sources/SHA256SUMS is missing: cannot check the sources"

# Every tarball the recipe uses, checked before anything is built: present, listed in SHA256SUMS,
# equal to that sum, and the very file the recipe pins.
while read -r pinned name; do
    [ -f "$sources/$name" ] || die "missing source tarball $sources/$name"
    listed=$(awk -v n="$name" '$2 == n || $2 == "*" n {print $1; exit}' "$sources/SHA256SUMS")
    [ -n "$listed" ] || die "$name is not listed in $sources/SHA256SUMS"
    actual=$(sha256sum "$sources/$name" | cut -d' ' -f1)
    [ "$actual" = "$listed" ] || die "corrupt source tarball $sources/$name: sha256 $actual, SHA256SUMS says $listed"
    [ "$listed" = "$pinned" ] || die "$sources/$name is not the version this recipe pins (sha256 $listed, pinned $pinned in $here/sources.sha256)"
done <"$here/sources.sha256"

# Facts of the pinned sources: each git archive names its commit (pax comment) and is dated by it.
tar_commit() { python3 - "$1" <<'PY'
import datetime
import sys
import tarfile
with tarfile.open(sys.argv[1]) as tar:
    first = tar.next()
    when = datetime.datetime.fromtimestamp(first.mtime, datetime.timezone.utc)
    print(tar.pax_headers.get("comment", ""), when.strftime("%Y-%m-%d %H:%M:%S +0000"))
PY
}
docker_tag=$(sed -n 's/^\([^ ]*\)  docker-pi-hole-\(.*\)\.tar\.gz$/\2/p' "$here/sources.sha256")
web_tag=$(sed -n 's/^\([^ ]*\)  web-\(.*\)\.tar\.gz$/\2/p' "$here/sources.sha256")
core_tag=$(sed -n 's/^\([^ ]*\)  pi-hole-\(.*\)\.tar\.gz$/\2/p' "$here/sources.sha256")
case "$(ref_repository "$image")" in
    pihole/pihole)
        tag=${image##*:}
        [ "$tag" = "$docker_tag" ] || die "the pinned sources are docker-pi-hole $docker_tag: they cannot make $image" ;;
esac

command -v debootstrap >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
}
# The Debian mirror this machine's apt already uses (never a name written here).
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || die "no Debian mirror found in this machine's apt sources"

mkdir -p "$cache/logs"
# One build at a time (lab-up and a test may ask together); the winner's image serves both.
exec 9>"$cache/lock"
flock 9
if image_present quiet; then
    echo "$image"
    exit 0
fi

work=$(mktemp -d "$cache/work.XXXXXX")
iid=""
bg_pid=""
cleanup() {
    local rc=$?
    [ -z "$bg_pid" ] || kill -- "-$bg_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    # A failed or interrupted run removes the image it built, unless it carries a tag (a build cache
    # hit can give the very image some tag already names).
    [ -n "$iid" ] || iid=$(cat "$work/iid" 2>/dev/null || true)
    if [ "$rc" != 0 ] && [ -n "$iid" ] && [ "$(docker image inspect -f '{{len .RepoTags}}' "$iid" 2>/dev/null)" = 0 ]; then
        docker rmi "$iid" >/dev/null 2>&1 || true
    fi
    # Every chroot ran in its own mount namespace: nothing is mounted below $work any more, and
    # --one-file-system would refuse to cross into anything that were.
    rm -rf --one-file-system "$work"
    rm -f "$cache"/*.tmp
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started=$SECONDS

# Run a command in a tree, with /proc mounted in a private mount namespace that ends with it.
in_tree() { # DIR ENV... -- COMMAND...
    local dir=$1; shift
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    unshare --mount --propagation private -- \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        "${envs[@]}" chroot "$dir" /bin/sh -c 'mount -t proc proc /proc && exec "$@"' sh "$@"
}

# A debootstrapped tree, kept as a tarball keyed by suite and package list.
base_tree() { # NAME PACKAGES_FILE -> prints the tarball's path
    local name=$1 list=$2 key tarball root pkgs
    key=$( (echo "$suite"; cat "$here/$list") | key_of)
    tarball="$cache/$name-$key.tar"
    if [ ! -f "$tarball" ]; then
        root="$work/$name-debootstrap"
        mkdir -p "$root"
        pkgs=$(grep -v -e '^#' -e '^$' "$here/$list" | paste -sd, -)
        say "debootstrap $suite $name tree (about a minute)"
        unshare --mount --propagation private -- \
            debootstrap --variant=minbase --include="$pkgs" "$suite" "$root" "$mirror" \
            >"$cache/logs/$name-debootstrap.log" 2>&1 || {
            tail -n 30 "$cache/logs/$name-debootstrap.log" >&2; die "debootstrap of the $name tree failed"; }
        tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf --one-file-system "$root"
        find "$cache" -maxdepth 1 -name "$name-*.tar" ! -name "$name-$key.tar" -delete
    fi
    echo "$tarball"
}

read -r ftl_commit ftl_date < <(tar_commit "$sources/FTL-v6.3.3-nosqlite.tar.gz") || true
read -r web_commit web_date < <(tar_commit "$sources/web-$web_tag.tar.gz") || true
read -r core_commit core_date < <(tar_commit "$sources/pi-hole-$core_tag.tar.gz") || true
if [ -z "$ftl_commit" ] || [ -z "$web_commit" ] || [ -z "$core_commit" ]; then
    die "a source tarball names no commit (not a git archive?)"
fi
ftl_env=(GIT_BRANCH=master "GIT_HASH=${ftl_commit:0:8}" GIT_VERSION=v6.3.3 GIT_TAG=v6.3.3 "GIT_DATE=$ftl_date"
         "JOBS=${HOMELAB_PIHOLE_JOBS:-2}")
asm_env=("PIHOLE_DOCKER_TAG=$docker_tag" "WEB_TAG=$web_tag" "WEB_COMMIT=$web_commit" "WEB_DATE=$web_date"
         "CORE_TAG=$core_tag" "CORE_COMMIT=$core_commit" "CORE_DATE=$core_date")

builder_key=$( (echo "$suite"; cat "$here/builder-packages.txt") | key_of)
runtime_key=$( (echo "$suite"; cat "$here/runtime-packages.txt") | key_of)
ftl_key=$( (echo "$builder_key"; cat "$here/build-ftl.sh"; grep -v -e ' web-' -e ' pi-hole-' -e ' docker-pi-hole-' \
    "$here/sources.sha256"; printf '%s\n' "${ftl_env[@]}" | grep -v '^JOBS=') | key_of)
# The tree also depends on how this script packs it: build.sh is part of its key (an edit here costs
# a re-assembly, seconds), not of FTL's.
rootfs_key=$( (echo "$runtime_key $ftl_key"; cat "$here/assemble.sh" "$here/build.sh" "$here/sources.sha256"
               printf '%s\n' "${asm_env[@]}") | key_of)
ftl_bin="$cache/pihole-FTL-$ftl_key"
rootfs="$cache/rootfs-$rootfs_key.tar"

if [ ! -f "$rootfs" ]; then
    # The runtime tree's debootstrap runs beside the FTL build (network and dpkg vs. compiler).
    runtime_tar="$cache/runtime-$runtime_key.tar"
    if [ ! -f "$runtime_tar" ]; then
        set -m   # its own process group, so that a failure here stops debootstrap too
        base_tree runtime runtime-packages.txt >/dev/null &
        bg_pid=$!
        set +m
    fi
    if [ ! -f "$ftl_bin" ]; then
        builder_tar=$(base_tree builder builder-packages.txt)
        say "compiling mbedtls, nettle and FTL in the builder tree (about 2 minutes on 2 cores)"
        tree="$work/builder"
        mkdir -p "$tree"
        tar -C "$tree" -xf "$builder_tar"
        mkdir -p "$tree/build/src"
        grep -v -e ' web-' -e ' pi-hole-' -e ' docker-pi-hole-' "$here/sources.sha256" | while read -r _ name; do
            cp "$sources/$name" "$tree/build/src/"; done
        install -m 0755 "$here/build-ftl.sh" "$tree/build/build-ftl.sh"
        in_tree "$tree" "${ftl_env[@]}" -- /bin/bash /build/build-ftl.sh >"$cache/logs/ftl-build.log" 2>&1 || {
            tail -n 40 "$cache/logs/ftl-build.log" >&2; die "building FTL failed (log: $cache/logs/ftl-build.log)"; }
        cp "$tree/build/out/pihole-FTL" "$ftl_bin.tmp" && mv "$ftl_bin.tmp" "$ftl_bin"
        find "$cache" -maxdepth 1 -name 'pihole-FTL-*' ! -name "pihole-FTL-$ftl_key" -delete
        rm -rf --one-file-system "$tree"
        say "FTL built ($((SECONDS - started)) s so far)"
    fi
    if [ -n "$bg_pid" ]; then
        wait "$bg_pid" || die "debootstrap of the runtime tree failed (log: $cache/logs/runtime-debootstrap.log)"
        bg_pid=""
    fi
    runtime_tar=$(base_tree runtime runtime-packages.txt)

    say "assembling the runtime tree (docker-pi-hole's Dockerfile steps)"
    tree="$work/runtime"
    mkdir -p "$tree"
    tar -C "$tree" -xf "$runtime_tar"
    mkdir -p "$tree/tmp/pihole-build"
    for name in "docker-pi-hole-$docker_tag.tar.gz" "web-$web_tag.tar.gz" "pi-hole-$core_tag.tar.gz"; do
        cp "$sources/$name" "$tree/tmp/pihole-build/"; done
    cp "$ftl_bin" "$tree/tmp/pihole-build/pihole-FTL"
    install -m 0755 "$here/assemble.sh" "$tree/tmp/pihole-build/assemble.sh"
    in_tree "$tree" "${asm_env[@]}" -- /bin/bash /tmp/pihole-build/assemble.sh >"$cache/logs/assemble.log" 2>&1 || {
        tail -n 40 "$cache/logs/assemble.log" >&2; die "assembling the runtime tree failed (log: $cache/logs/assemble.log)"; }
    # /dev, /proc, /sys are the engine's business at run time.
    find "$tree/dev" "$tree/proc" "$tree/sys" -mindepth 1 -delete 2>/dev/null || true
    tar -C "$tree" --numeric-owner -cf "$rootfs.tmp" . && mv "$rootfs.tmp" "$rootfs"
    find "$cache" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$rootfs_key.tar" -delete
    rm -rf --one-file-system "$tree"
fi

# The image: FROM scratch with the tree, and docker-pi-hole's own ENV, EXPOSE, HEALTHCHECK and
# ENTRYPOINT lines, taken from its Dockerfile as they are (no start period: the real image has none).
say "importing $image"
ctx="$work/context"
mkdir -p "$ctx"
ln "$rootfs" "$ctx/rootfs.tar" 2>/dev/null || cp "$rootfs" "$ctx/rootfs.tar"
tar -xzf "$sources/docker-pi-hole-$docker_tag.tar.gz" -O docker-pi-hole/src/Dockerfile >"$work/upstream.Dockerfile"
upstream_lines=$(grep -E '^(ENV|EXPOSE|HEALTHCHECK|ENTRYPOINT|CMD|WORKDIR|USER|VOLUME|STOPSIGNAL) ' "$work/upstream.Dockerfile")
if ! grep -q '^HEALTHCHECK ' <<<"$upstream_lines" || ! grep -q '^ENTRYPOINT ' <<<"$upstream_lines"; then
    die "docker-pi-hole's Dockerfile has no HEALTHCHECK or ENTRYPOINT line: the recipe needs a look"
fi
if grep -q '^ENV .*\$' <<<"$upstream_lines"; then
    die "docker-pi-hole's Dockerfile sets ENV from build arguments: the recipe needs a look"
fi
{
    echo "FROM scratch"
    echo "ADD rootfs.tar /"
    echo "# Alpine's own (the base of the official image):"
    echo "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    echo "# docker-pi-hole $docker_tag src/Dockerfile:"
    echo "$upstream_lines"
} >"$ctx/Dockerfile"
docker build -q --force-rm --iidfile "$work/iid" \
    --label "$label_key=$hash" \
    --label "$builder_label" \
    --label "org.opencontainers.image.title=Pi-hole (lab build from source)" \
    --label "org.opencontainers.image.description=docker-pi-hole $docker_tag (FTL v6.3.3, web $web_tag, core $core_tag) built from the pinned upstream sources by homelab.photon tests/lab/pihole/build.sh on Debian $suite; not the official image" \
    --label "org.opencontainers.image.version=$docker_tag" \
    --label "org.opencontainers.image.licenses=EUPL-1.2" \
    "$ctx" >"$cache/logs/docker-build.log" 2>&1 || {
    tail -n 20 "$cache/logs/docker-build.log" >&2; die "docker build failed"; }
iid=$(cat "$work/iid")
docker tag "$iid" "$image"

# Images this script built for older recipes are dead weight (only those with its label).
docker images -q --no-trunc --filter "label=$builder_label" | sort -u | while read -r old; do
    [ "$(docker image inspect -f "{{index .Config.Labels \"$label_key\"}}" "$old")" = "$hash" ] && continue
    for ref in $(docker image inspect -f '{{range .RepoTags}}{{.}} {{end}}' "$old"); do
        docker rmi "$ref" >/dev/null 2>&1 || true
    done
    docker rmi "$old" >/dev/null 2>&1 || true
done
say "built $image in $((SECONDS - started)) s"
echo "$image"
