#!/usr/bin/env bash
# Runs INSIDE the bookworm builder tree (chroot, started by build.sh): compiles pihole-FTL from the
# pinned sources in /build/src and leaves it in /build/out/pihole-FTL.
# Bookworm's mbedtls (2.28) and nettle (3.8.1) are too old for FTL v6, so both are built static
# into a private prefix first. The environment carries FTL's GIT_* values (a tarball has no .git).
set -euo pipefail
: "${GIT_HASH:?}" "${GIT_VERSION:?}" "${GIT_TAG:?}" "${GIT_DATE:?}" "${GIT_BRANCH:?}"
jobs=${JOBS:-2}
prefix=/opt/ftl-deps
src=/build/src
work=/build/work
mkdir -p "$work" /build/out
cd "$work"
stamp() { echo "ftl-build: $* ($(date +%T))"; }

stamp "mbedtls 3.6.5, threading on, static"
tar -xzf "$src/mbedtls-v3.6.5.tar.gz"
tar -xzf "$src/mbedtls-framework-4579964.tar.gz"   # unpacks to mbedtls/framework/
cfg=mbedtls/include/mbedtls/mbedtls_config.h
sed -i -e 's|^//\(#define MBEDTLS_THREADING_C\)$|\1|' -e 's|^//\(#define MBEDTLS_THREADING_PTHREAD\)$|\1|' "$cfg"
if ! grep -qx '#define MBEDTLS_THREADING_C' "$cfg" || ! grep -qx '#define MBEDTLS_THREADING_PTHREAD' "$cfg"; then
    echo "ftl-build: could not turn on MBEDTLS_THREADING_C/PTHREAD in $cfg" >&2
    exit 1
fi
cmake -S mbedtls -B mbedtls/build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF -DUSE_SHARED_MBEDTLS_LIBRARY=OFF \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON >/dev/null
cmake --build mbedtls/build -j "$jobs" >/dev/null
cmake --install mbedtls/build >/dev/null

stamp "nettle 3.9.1, static"
tar -xzf "$src/nettle-3.9.1.tar.gz"
(cd nettle && autoconf && autoheader &&
    ./configure --prefix="$prefix" --libdir="$prefix/lib" --enable-static --disable-shared \
        --disable-openssl --disable-mini-gmp --disable-documentation >/dev/null &&
    make -j "$jobs" >/dev/null && make install >/dev/null)

stamp "FTL $GIT_VERSION ($GIT_HASH)"
tar -xzf "$src/FTL-v6.3.3-nosqlite.tar.gz"
# FTL's own src/database/sqlite3.c is not in the tarball: better-sqlite3 12.4.1 carries the same
# SQLite 3.50.4 amalgamation with one patch of its own. Undo that patch, then apply FTL's.
tar -xzf "$src/better-sqlite3-12.4.1.tgz" package/deps/sqlite3/sqlite3.c package/deps/patches/1208.patch
grep -q '^#define SQLITE_VERSION *"3.50.4"' FTL/src/database/sqlite3.h
cp package/deps/sqlite3/sqlite3.c FTL/src/database/sqlite3.c
patch -R --no-backup-if-mismatch FTL/src/database/sqlite3.c package/deps/patches/1208.patch
(cd FTL && patch -p1 --no-backup-if-mismatch <patch/sqlite3/0002-make-sqlite3ErrName-public.patch)
export GIT_BRANCH GIT_HASH GIT_VERSION GIT_TAG GIT_DATE
export CI_ARCH=linux/amd64 STATIC=false
# -isystem, not -I: FTL builds with -Werror=redundant-decls, which mbedtls' headers trip over.
cmake -S FTL -B FTL/cmake -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="-isystem $prefix/include" >/dev/null
cmake --build FTL/cmake -j "$jobs" >/dev/null

# What docker-pi-hole's Dockerfile checks of the binary it installs, plus FTL's own self-check.
readelf -h FTL/cmake/pihole-FTL >/dev/null
FTL/cmake/pihole-FTL verify
FTL/cmake/pihole-FTL -vv
cp FTL/cmake/pihole-FTL /build/out/pihole-FTL
stamp "done"
