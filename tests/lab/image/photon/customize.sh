#!/bin/sh
# Runs inside the Photon image's tree (see ../build.sh), after the Debian customization, tdnf and
# the repositories are in place: makes the host Photon OS 5.0 to Ansible and to tdnf, and checks it.
set -eux
# Debian's release files go; photon-release (an RPM, in the rpm database like on Photon) brings
# Photon's. Without /etc/debian_version Ansible reads only /etc/os-release.
rm -f /etc/debian_version /etc/os-release /usr/lib/os-release /etc/lsb-release /etc/issue /etc/issue.net
rpm -i /usr/share/homelab-lab/repos/photon/5.0/photon_release_5.0_*/photon-release-5.0-*.noarch.rpm
ldconfig

# Checks: a recipe that does not give this is a failed build, not a surprising lab host.
. /etc/os-release
[ "$NAME" = "VMware Photon OS" ] && [ "$VERSION_ID" = 5.0 ] && [ "$ID" = photon ]
grep -qx 'VMware Photon OS 5.0' /etc/photon-release
[ ! -e /etc/debian_version ]
[ "$(rpm -q --whatprovides 'system-release(releasever)' --qf '%{NAME}-%{VERSION}')" = photon-release-5.0 ]
[ "$(rpm -qf /etc/os-release --qf '%{NAME}')" = photon-release ]
[ "$(tdnf --version)" = "tdnf: 3.6.0" ]
for key in gpgcheck=1 installonly_limit=3 clean_requirements_on_remove=0 repodir=/etc/yum.repos.d \
        cachedir=/var/cache/tdnf; do
    grep -qx "$key" /etc/tdnf/tdnf.conf
done
tdnf -j repolist all | grep -q '"Repo":"photon-extras","RepoName":"VMware Photon Extras 5.0 ([^)]*)","Enabled":false'
tdnf -j --assumeno install nfs-utils | grep -q '"Name":"rpcbind"'
tdnf -j --enablerepo=photon-extras list available wget | grep -q '"Repo":"photon-extras"'
# Only photon-release is installed: the markers (docker, nfs-utils, ...) are for the roles to install.
[ "$(rpm -qa)" = "$(rpm -q photon-release)" ]
# A fresh host: no metadata cache, no tdnf history yet.
rm -rf /var/cache/tdnf/* /var/lib/tdnf/*
