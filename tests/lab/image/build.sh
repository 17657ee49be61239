#!/usr/bin/env bash
# Build the lab host image: a Debian 13 systemd container that stands in for a Photon OS 5 host
# (systemd-networkd and systemd-resolved with Photon's defaults, sshd, python3, rpm, Docker and
# compose v2 installed but disabled, cloud-init, root's password `changeme` and expired).
# The image is tagged by a hash of this recipe, so an unchanged recipe is never built twice.
# Prints the image reference on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lab=$(cd "$here/.." && pwd)
cache="$lab/.cache"
mkdir -p "$cache"
suite=trixie
repo=homelab-photon-lab

hash=$( (cd "$here" && find build.sh packages.txt rootfs -type f -print0 | sort -z \
          | xargs -0 sha256sum; echo "$suite") | sha256sum | cut -c1-12)
image="$repo:$hash"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "lab: image $image is cached" >&2
    echo "$image"
    exit 0
fi

# The Debian mirror this machine's apt already uses (never a name written here).
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "lab: no Debian mirror found in this machine's apt sources" >&2; exit 1; }

command -v debootstrap >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
}

root=$(mktemp -d "$cache/rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
pkgs=$(grep -v '^#' "$here/packages.txt" | paste -sd, -)
# The debootstrapped tree is kept as a tarball keyed by suite and package list, so a change to
# the files laid over it rebuilds in seconds.
base="$cache/base-$( (echo "$suite"; cat "$here/packages.txt") | sha256sum | cut -c1-12).tar"
if [ -f "$base" ]; then
    echo "lab: unpacking cached $suite tree" >&2
    tar -C "$root" -xf "$base"
else
    echo "lab: debootstrap $suite into $root (about a minute)" >&2
    debootstrap --variant=minbase --include="$pkgs" "$suite" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
        tail -n 30 "$cache/debootstrap.log" >&2; exit 1; }
    rm -f "$cache"/base-*.tar
    tar -C "$root" -cf "$base.tmp" . && mv "$base.tmp" "$base"
fi

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

echo "lab: importing $image" >&2
tar -C "$root" -c . | docker import -c 'CMD ["/sbin/init"]' - "$image" >/dev/null
docker tag "$image" "$repo:latest"
# Older recipes' images are dead weight.
docker images --format '{{.Repository}}:{{.Tag}}' "$repo" | grep -v -e ":$hash\$" -e ':latest$' \
    | xargs -r docker rmi >/dev/null 2>&1 || true
echo "$image"
