#!/bin/sh
# Runs inside the builder tree (see ../build.sh): builds tdnf from the source tree in /build/src
# (a copy: cmake writes into the source tree) and writes what the lab image gets to
# /build/out/tdnf.tar. Installed as Photon OS installs it: /usr/bin/tdnf, libraries in /usr/lib,
# /etc/tdnf/tdnf.conf (upstream's file, which is Photon's), systemd units (not enabled).
set -eu
mkdir -p /build/b /build/dest /build/out
cd /build/b
cmake -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=Release \
    -DSYSTEMD_DIR=/usr/lib/systemd/system /build/src
make -j"$(nproc)"
make install DESTDIR=/build/dest
cd /build/dest
# Headers, pkg-config files, upstream's own test suite and test helper: not on a Photon host.
rm -rf usr/include usr/share/tdnf/pytests usr/bin/jsondumptest
find . -name pkgconfig -type d -prune -exec rm -rf {} +
# Photon's tdnf package creates these; tdnf keeps its cache and history there.
mkdir -p var/cache/tdnf var/lib/tdnf etc/yum.repos.d
test -x usr/bin/tdnf
tar -cf /build/out/tdnf.tar .
