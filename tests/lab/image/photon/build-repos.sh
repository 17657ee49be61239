#!/bin/sh
# Runs inside the builder tree (see ../build.sh): builds the lab's RPM repositories with rpmbuild
# and createrepo_c from /build/photon (markers.txt, marker.spec, photon-release.spec,
# updateinfo.xml) and writes them to /build/out/repos.tar, laid out as Photon's repository URLs are
# (photon/RELEASEVER/photon_updates_RELEASEVER_BASEARCH/...), under /usr/share/homelab-lab/repos.
set -eu
releasever=5.0
basearch=$(uname -m)
top=/build/rpmbuild
repos=/build/repos/usr/share/homelab-lab/repos/photon/$releasever
markers=/usr/share/homelab-lab/markers
mkdir -p "$top" "$repos"

rpmbuild_() {
    rpmbuild -bb --quiet --define "_topdir $top" --define "_buildhost homelab-lab" "$@"
}

repo_dir() {
    # photon-updates -> photon_updates_5.0_x86_64; the base repository "photon" -> photon_release_...
    case "$1" in
        photon) name=photon_release ;;
        *) name=$(echo "$1" | tr - _) ;;
    esac
    echo "$repos/${name}_${releasever}_${basearch}"
}

rpmbuild_ /build/photon/photon-release.spec
dir=$(repo_dir photon)
mkdir -p "$dir"
mv "$top"/RPMS/noarch/photon-release-*.rpm "$dir/"

grep -v '^#' /build/photon/markers.txt | while read -r repo name version release requires program; do
    [ -n "$repo" ] || continue
    if [ "$requires" = - ]; then
        set --
    else
        set -- --define "marker_requires $requires"
    fi
    rpmbuild_ "$@" --define "marker_name $name" --define "marker_version $version" \
        --define "marker_release $release" --define "marker_dir $markers" \
        --define "marker_program $program" /build/photon/marker.spec
    dir=$(repo_dir "$repo")
    mkdir -p "$dir"
    mv "$top/RPMS/noarch/$name-$version-$release.noarch.rpm" "$dir/"
done

for dir in "$repos"/*; do
    createrepo_c --quiet --general-compress-type=gz "$dir"
done
# photon-updates carries advisories, as Photon's does: updateinfo.xml has a security advisory for
# docker-compose 2.33.1, so that `tdnf --security` has an update to apply. (No XML comment in that
# file: libsolv then fails to read it, "Solv - I/O error".)
modifyrepo_c --compress-type=gz --mdtype=updateinfo /build/photon/updateinfo.xml "$(repo_dir photon-updates)/repodata"
# lab-update-set (the update set of homelab.photon.update, no .repo file in the image): a security,
# a bugfix and an enhancement advisory (updateinfo-lab-update-set.xml, its file name is the type
# modifyrepo_c records, hence a copy named updateinfo.xml).
mkdir -p /build/updateinfo-lab-update-set
cp /build/photon/updateinfo-lab-update-set.xml /build/updateinfo-lab-update-set/updateinfo.xml
modifyrepo_c --compress-type=gz --mdtype=updateinfo /build/updateinfo-lab-update-set/updateinfo.xml \
    "$(repo_dir lab-update-set)/repodata"
tar -C /build/repos -cf /build/out/repos.tar .
