#!/usr/bin/env bash
# Build the lab's vSphere simulator launcher (tests/lab/vcsim/vcsim) offline from Debian's Go
# toolchain and govmomi library. Skips the build when the binary is newer than main.go.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin="$here/vcsim"
if [ -x "$bin" ] && [ "$bin" -nt "$here/main.go" ]; then
    echo "vcsim: up to date ($bin)"
    exit 0
fi
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/vmware/govmomi/simulator ] || missing+=(golang-github-vmware-govmomi-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "vcsim: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null ||
        { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null; }
fi
cd "$here"
# The Go build cache stays under the checkout (tests/lab/.cache), like every other lab cache.
GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="${GOCACHE:-$(dirname "$here")/.cache/go-build}" GOFLAGS='' \
    go build -o "$bin.tmp.$$" main.go
mv "$bin.tmp.$$" "$bin"
echo "vcsim: built $bin"
