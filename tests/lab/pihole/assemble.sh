#!/usr/bin/env bash
# Runs INSIDE the bookworm runtime tree (chroot, started by build.sh): the steps of
# docker-pi-hole's src/Dockerfile, on Debian instead of Alpine, from the pinned sources in $in.
# Environment: PIHOLE_DOCKER_TAG, and <WEB|CORE>_<TAG|COMMIT|DATE> of the web and core trees.
set -euo pipefail
: "${PIHOLE_DOCKER_TAG:?}" "${WEB_TAG:?}" "${WEB_COMMIT:?}" "${WEB_DATE:?}" "${CORE_TAG:?}" "${CORE_COMMIT:?}" "${CORE_DATE:?}"
in=/tmp/pihole-build
umask 022
PIHOLE_UID=1000
PIHOLE_GID=1000

# docker-pi-hole's src/ (start.sh, bash_functions.sh, crontab.txt)
tar -xzf "$in/docker-pi-hole-$PIHOLE_DOCKER_TAG.tar.gz" -C "$in" --no-same-owner --no-same-permissions
dph=$in/docker-pi-hole/src

# COPY crontab.txt /crontab.txt
install -m 0644 "$dph/crontab.txt" /crontab.txt

# ADD https://ftl.pi-hole.net/macvendor.db /macvendor.db: not reachable here. An empty database of
# the same schema keeps FTL's vendor lookups quiet (they find nothing) and start.sh's chown working.
pihole-FTL() { "$in/pihole-FTL" "$@"; }
rm -f /macvendor.db
pihole-FTL sqlite3 /macvendor.db \
    'CREATE TABLE macvendor (mac TEXT NOT NULL, vendor TEXT NOT NULL, PRIMARY KEY (mac));' >/dev/null
chmod 0600 /macvendor.db

# clone_repo web -> /var/www/html/admin, clone_repo pi-hole -> /etc/.pihole: upstream clones the
# latest release tag and creates a branch "master" on it; `pihole -v` reads tag and branch with git.
# Here each tree is unpacked from its git archive and committed once (author and date fixed, so the
# same tree gives the same commit), tagged, on branch master.
git_tree() { # TARBALL TOPDIR DEST TAG UPSTREAM_COMMIT DATE NAME
    local tarball=$1 top=$2 dest=$3 tag=$4 commit=$5 date=$6 name=$7
    mkdir -p "$(dirname "$dest")"
    rm -rf "$dest"
    tar -xzf "$tarball" -C "$in" --no-same-owner --no-same-permissions
    mv "$in/$top" "$dest"
    (
        cd "$dest"
        export GIT_AUTHOR_NAME="homelab.photon lab" GIT_AUTHOR_EMAIL="lab@homelab-photon.invalid"
        export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
        export GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date"
        git init -q -b master .
        git remote add origin "https://github.com/pi-hole/$name.git"
        git add -A -f .
        git commit -q -m "pi-hole/$name $tag (upstream commit $commit), unpacked from its git archive"
        git tag -a -m "$tag" "$tag"
        git gc -q --prune=now
        [ "$(git describe --tags --always)" = "$tag" ] && [ "$(git rev-parse --abbrev-ref HEAD)" = master ]
    )
}
git_tree "$in/web-$WEB_TAG.tar.gz" web /var/www/html/admin "$WEB_TAG" "$WEB_COMMIT" "$WEB_DATE" web
git_tree "$in/pi-hole-$CORE_TAG.tar.gz" pi-hole /etc/.pihole "$CORE_TAG" "$CORE_COMMIT" "$CORE_DATE" pi-hole

# The Dockerfile's install lines, as upstream has them (Alpine's addgroup/adduser -S by Debian names).
cd /etc/.pihole
install -Dm755 -d /opt/pihole
install -Dm755 -t /opt/pihole gravity.sh
install -Dm755 -t /opt/pihole ./advanced/Scripts/*.sh
install -Dm755 -t /opt/pihole ./advanced/Scripts/COL_TABLE
install -Dm755 -d /etc/pihole
install -Dm644 -t /etc/pihole ./advanced/Templates/logrotate
install -Dm755 -d /var/log/pihole
install -Dm755 -d /var/lib/logrotate
install -Dm755 -t /usr/local/bin pihole
install -Dm644 ./advanced/bash-completion/pihole.bash /etc/bash_completion.d/pihole
install -Dm644 ./advanced/bash-completion/pihole-ftl.bash /etc/bash_completion.d/pihole-FTL
install -T -m 0755 ./advanced/Templates/pihole-FTL-prestart.sh /opt/pihole/pihole-FTL-prestart.sh
install -T -m 0755 ./advanced/Templates/pihole-FTL-poststop.sh /opt/pihole/pihole-FTL-poststop.sh
groupadd --system --gid "$PIHOLE_GID" pihole
# (Debian's system range ends at 999; Alpine's adduser -S takes 1000 without a word.)
useradd --system --uid "$PIHOLE_UID" --gid pihole --home-dir /home/pihole --create-home \
    --shell /usr/sbin/nologin -K SYS_UID_MAX="$PIHOLE_UID" pihole
echo "$PIHOLE_DOCKER_TAG" >/pihole.docker.tag
cd /

# COPY --chmod=0755 bash_functions.sh / start.sh
install -m 0755 "$dph/bash_functions.sh" /usr/bin/bash_functions.sh
install -m 0755 "$dph/start.sh" /usr/bin/start.sh

# The local-ftl-install stage: COPY --chmod=0755 pihole-FTL /usr/bin/pihole-FTL
install -m 0755 "$in/pihole-FTL" /usr/bin/pihole-FTL
unset -f pihole-FTL
/usr/bin/pihole-FTL -vv >/dev/null
# Nothing of these checks' runs stays behind (FTL logged that it found no pihole.toml).
rm -rf /var/log/pihole/* /etc/pihole/pihole.toml /etc/pihole/*.db
[ "$(ls /etc/pihole)" = logrotate ]

# Debian, not Alpine: start.sh starts Alpine's busybox /usr/sbin/crond; Debian's is cron (it also
# forks into the background and reads the crontab that start.sh installs with /usr/bin/crontab).
ln -sfn cron /usr/sbin/crond

# Leave no package caches, host files, documentation or translations (the copyright notices stay),
# as Debian's slim images do.
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old
find /usr/share/doc -mindepth 2 ! -name copyright ! -type d -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/locale/* /usr/share/lintian/* /var/log/apt/* /var/log/*.log
: >/etc/resolv.conf
echo localhost >/etc/hostname
rm -rf "$in"
