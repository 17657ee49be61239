#!/bin/sh
# The lab's BROKEN Pi-hole release (pihole/pihole:2025.11.0-lab-broken): what a bad upgrade does.
# Like a new version that migrates its data and then cannot start, it changes /etc/pihole (a marker
# file, pihole.toml rewritten without the local records, gravity.db with the lists removed) and then
# never answers DNS, so the image's own health check (dig pi.hole) never passes.
set -eu
date -u '+written by the lab broken image at %Y-%m-%dT%H:%M:%SZ' >/etc/pihole/lab-broken-image.marker
if [ -f /etc/pihole/pihole.toml ]; then
    mv /etc/pihole/pihole.toml /etc/pihole/pihole.toml.lab-broken-old
fi
printf '# rewritten by the lab broken image\n[dns]\n  hosts = []\n' >/etc/pihole/pihole.toml
rm -f /etc/pihole/gravity.db
echo "lab broken image: /etc/pihole changed, not starting FTL" >&2
exec sleep infinity
