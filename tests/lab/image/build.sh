#!/usr/bin/env bash
# Build the two lab host images from one debootstrapped Debian 13 (trixie) tree
# (tests/lab/README.md, "The lab host image"):
#   homelab-photon-lab:<hash>         Photon OS 5.0 to Ansible and to tdnf: Photon's release files
#                                     (an installed photon-release RPM), the real tdnf 3.6.0 built
#                                     from ../shared/sources, and local RPM repositories of marker
#                                     packages (photon/). The default lab host.
#   homelab-photon-lab-debian:<hash>  the plain Debian 13 host, for the roles' non-Photon path.
# Both: systemd-networkd and systemd-resolved with Photon's defaults, sshd, python3, rpm, Docker
# and compose v2 installed but disabled, cloud-init, root's password `changeme` and expired.
#
# Each image is tagged by a hash of everything it is built from (and `:latest`), so an unchanged
# recipe is never built twice. The debootstrapped tree, the builder tree, tdnf and the
# repositories are cached as tarballs in tests/lab/.cache/, each keyed by its own inputs: a change
# to rootfs/ or photon/rootfs/ only re-lays the tree and re-imports (seconds).
# Prints the Photon image reference on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lab=$(cd "$here/.." && pwd)
repo_root=$(cd "$lab/../.." && pwd)
cache="$lab/.cache"
mkdir -p "$cache"
suite=trixie
photon_repo=homelab-photon-lab
debian_repo=homelab-photon-lab-debian
sources=${HOMELAB_SOURCES:-$repo_root/../shared/sources}
tdnf_src=tdnf-3.6.0-5747b3d.tar.gz

sha() { sha256sum | cut -c1-12; }
files_hash() { (cd "$here" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum); }
# The pinned source's hash, from SHA256SUMS (checked against the file before it is built).
tdnf_sha=$(awk -v f="$tdnf_src" '$2 == f {print $1}' "$sources/SHA256SUMS" 2>/dev/null || true)
[ -n "$tdnf_sha" ] || { echo "lab: $tdnf_src is not listed in $sources/SHA256SUMS" >&2; exit 1; }

base_key=$( (echo "$suite"; cat "$here/packages.txt") | sha)
builder_key=$( (echo "$base_key"; cat "$here/photon/build-deps.txt") | sha)
tdnf_key=$( (echo "$builder_key $tdnf_sha"; files_hash photon/build-tdnf.sh) | sha)
repos_key=$( (echo "$builder_key"; files_hash photon/build-repos.sh photon/markers.txt photon/marker.spec \
                photon/photon-release.spec photon/updateinfo.xml photon/updateinfo-lab-update-set.xml) | sha)
debian_hash=$( (echo "$suite"; files_hash build.sh packages.txt rootfs) | sha)
photon_hash=$( (echo "$debian_hash $tdnf_key $repos_key"; files_hash photon) | sha)
debian_image="$debian_repo:$debian_hash"
photon_image="$photon_repo:$photon_hash"

have() { docker image inspect "$1" >/dev/null 2>&1; }
cached() {
    if have "$debian_image" && have "$photon_image"; then
        echo "lab: images $photon_image and $debian_image are cached" >&2
        echo "$photon_image"
        exit 0
    fi
}
cached
# One build at a time (several test runs may call lab-up at once); the first one builds.
exec 9>"$cache/image-build.lock"
flock 9
cached

# Run a command inside TREE with /proc mounted; the mount lives in a private mount namespace and
# disappears with it, so no mount is ever left under the tree that is removed afterwards.
in_tree() {
    local tree=$1
    shift
    # shellcheck disable=SC2016  # $0 and $@ are the inner shell's, not this script's
    unshare --mount --propagation private /bin/sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' \
        "$tree" "$@"
}

# The Debian mirror this machine's apt already uses (never a name written here).
mirror() {
    local found
    found=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    [ -n "$found" ] || found=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$found" ] || { echo "lab: no Debian mirror found in this machine's apt sources" >&2; return 1; }
    echo "$found"
}

# Work trees live in the cache directory and are removed on exit, whatever happens.
trees=()
cleanup() { local t; for t in "${trees[@]}"; do rm -rf --one-file-system "$t"; done; }
trap cleanup EXIT
# new_tree KIND VAR: a fresh work tree, its path in VAR.
# Trees made by new_tree (assigned through printf -v, which shellcheck cannot follow).
root=""
builder=""
new_tree() {
    local t
    t=$(mktemp -d "$cache/$1.XXXXXX")
    trees+=("$t")
    printf -v "$2" '%s' "$t"
}

# Keep only the newest cache file of a kind.
keep_only() {
    local kind=$1 keep=$2 f
    for f in "$cache/$kind"-*.tar; do
        [ -e "$f" ] && [ "$f" != "$keep" ] && rm -f "$f"
    done
    return 0
}

# --- the debootstrapped base, cached by suite and package list ---------------------------------
base="$cache/base-$base_key.tar"
if [ ! -f "$base" ]; then
    command -v debootstrap >/dev/null 2>&1 || {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    }
    m=$(mirror)
    new_tree base root
    pkgs=$(grep -v '^#' "$here/packages.txt" | paste -sd, -)
    echo "lab: debootstrap $suite (about two minutes)" >&2
    debootstrap --variant=minbase --include="$pkgs" "$suite" "$root" "$m" >"$cache/debootstrap.log" 2>&1 || {
        tail -n 30 "$cache/debootstrap.log" >&2; exit 1; }
    tar -C "$root" -cf "$base.tmp" . && mv "$base.tmp" "$base"
    rm -rf --one-file-system "$root"
    keep_only base "$base"
fi

# --- tdnf and the RPM repositories, built in a builder tree (base + build-deps.txt) -------------
tdnf_tar="$cache/tdnf-$tdnf_key.tar"
repos_tar="$cache/repos-$repos_key.tar"
if ! have "$photon_image" && { [ ! -f "$tdnf_tar" ] || [ ! -f "$repos_tar" ]; }; then
    builder_tar="$cache/builder-$builder_key.tar"
    new_tree builder builder
    if [ -f "$builder_tar" ]; then
        tar -C "$builder" -xf "$builder_tar"
    else
        echo "lab: builder tree: base + build deps" >&2
        tar -C "$builder" -xf "$base"
        cp /etc/resolv.conf "$builder/etc/resolv.conf"
        deps=$(grep -v '^#' "$here/photon/build-deps.txt" | xargs)
        # shellcheck disable=SC2086
        in_tree "$builder" /bin/sh -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends $deps" >"$cache/builder.log" 2>&1 || {
            tail -n 30 "$cache/builder.log" >&2; exit 1; }
        tar -C "$builder" -cf "$builder_tar.tmp" . && mv "$builder_tar.tmp" "$builder_tar"
        keep_only builder "$builder_tar"
    fi
    mkdir -p "$builder/build/out" "$builder/build/photon"
    if [ ! -f "$tdnf_tar" ]; then
        echo "$tdnf_sha  $sources/$tdnf_src" | sha256sum -c --quiet - || {
            echo "lab: $sources/$tdnf_src does not match SHA256SUMS" >&2; exit 1; }
        echo "lab: building tdnf 3.6.0 from $tdnf_src" >&2
        mkdir -p "$builder/build/src"
        tar -C "$builder/build/src" --strip-components=1 -xzf "$sources/$tdnf_src"
        cp "$here/photon/build-tdnf.sh" "$builder/build/"
        in_tree "$builder" /build/build-tdnf.sh >"$cache/tdnf-build.log" 2>&1 || {
            tail -n 30 "$cache/tdnf-build.log" >&2; exit 1; }
        mv "$builder/build/out/tdnf.tar" "$tdnf_tar"
        keep_only tdnf "$tdnf_tar"
    fi
    if [ ! -f "$repos_tar" ]; then
        echo "lab: building the RPM repositories (rpmbuild, createrepo_c)" >&2
        cp "$here/photon/build-repos.sh" "$here/photon/markers.txt" "$here/photon/marker.spec" \
            "$here/photon/photon-release.spec" "$here/photon/updateinfo.xml" \
            "$here/photon/updateinfo-lab-update-set.xml" "$builder/build/photon/"
        in_tree "$builder" /bin/sh /build/photon/build-repos.sh >"$cache/repos-build.log" 2>&1 || {
            tail -n 30 "$cache/repos-build.log" >&2; exit 1; }
        mv "$builder/build/out/repos.tar" "$repos_tar"
        keep_only repos "$repos_tar"
    fi
    rm -rf --one-file-system "$builder"
fi

# --- the Debian host: base + rootfs/ + customization --------------------------------------------
new_tree rootfs root
echo "lab: unpacking the cached $suite tree" >&2
tar -C "$root" -xf "$base"
cp -a "$here/rootfs/." "$root/"
(chroot "$root" /bin/sh -e -x <<'CHROOT' >"$cache/customize.log" 2>&1
systemctl enable systemd-networkd systemd-resolved ssh lab-boot.service
# Photon OS ships Docker installed but disabled.
systemctl disable docker.service docker.socket containerd.service || true
# Units that have no job in a container.
systemctl mask getty@tty1.service serial-getty@.service console-getty.service \
    systemd-firstboot.service systemd-timesyncd.service run-rpc_pipefs.mount 2>/dev/null || true
# The Photon OVA's root: password changeme, expired, must change at first login.
echo 'root:changeme' | chpasswd
chage -d 0 root
# cloud-init is run by the tests, stage by stage, with the guestinfo of an imported VM.
touch /etc/cloud/cloud-init.disabled
ln -sfn /run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
: > /etc/machine-id
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
CHROOT
) || { tail -n 30 "$cache/customize.log" >&2; exit 1; }

import_image() {
    local tree=$1 image=$2 repo=${2%%:*} hash=${2##*:}
    echo "lab: importing $image" >&2
    tar -C "$tree" -c . | docker import -c 'CMD ["/sbin/init"]' - "$image" >/dev/null
    docker tag "$image" "$repo:latest"
    # Older recipes' images are dead weight (one still in use stays).
    docker images --format '{{.Repository}}:{{.Tag}}' "$repo" | grep -v -e ":$hash\$" -e ':latest$' \
        | xargs -r docker rmi >/dev/null 2>&1 || true
}

if ! have "$debian_image"; then
    import_image "$root" "$debian_image"
fi

# --- the Photon host: the Debian tree + photon/rootfs/ + tdnf + repositories + photon-release ---
if ! have "$photon_image"; then
    cp -a "$here/photon/rootfs/." "$root/"
    tar -C "$root" --keep-directory-symlink --no-overwrite-dir -xf "$tdnf_tar"
    tar -C "$root" --keep-directory-symlink --no-overwrite-dir -xf "$repos_tar"
    cp "$here/photon/customize.sh" "$root/tmp/photon-customize.sh"
    in_tree "$root" /bin/sh /tmp/photon-customize.sh >"$cache/customize-photon.log" 2>&1 || {
        tail -n 30 "$cache/customize-photon.log" >&2; exit 1; }
    rm -f "$root/tmp/photon-customize.sh"
    import_image "$root" "$photon_image"
fi
echo "$photon_image"
