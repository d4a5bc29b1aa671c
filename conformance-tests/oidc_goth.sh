#!/usr/bin/env bash
# goth's openidConnect provider (Gitea's OIDC library) against Madang: builds
# goth/main.go in GOPATH mode against Debian's golang-github-markbates-goth-dev
# and runs oidc_goth.py, which drives it (see there for what is checked).
#
# Usage: oidc_goth.sh   (env: CT_URL, CT_USER, CT_PASSWORD, CT_USER2, CT_PASSWORD2, CT_MADANG_CLI,
#                        CT_RESULTS_DIR)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${CT_RESULTS_DIR:-$here/results/oidc_goth-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
command -v go >/dev/null || { echo "FAIL go not installed (Debian golang-go; run setup.sh)"; exit 1; }
[[ -d /usr/share/gocode/src/github.com/markbates/goth ]] ||
    { echo "FAIL goth not installed (Debian golang-github-markbates-goth-dev; run setup.sh)"; exit 1; }
work="$(mktemp -d /tmp/ct-goth.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# GOPATH mode, as the issue asks: Debian's packaged goth and golang.org/x/oauth2, no module download.
# GOCACHE stays in the temp dir unless the caller has one (it speeds up rebuilds).
echo "building goth/main.go ($(go version | cut -d' ' -f3), goth $(dpkg-query -W -f '${Version}' golang-github-markbates-goth-dev 2>/dev/null || echo '?'))"
if ! (cd "$here/goth" && GO111MODULE=off GOPATH="$work/gopath:/usr/share/gocode" GOFLAGS= \
    GOCACHE="${GOCACHE:-$work/gocache}" GOPROXY=off timeout 120 go build -o "$work/gothrp" . ) >"$out/go-build.log" 2>&1; then
    cat "$out/go-build.log"
    echo "FAIL go build of goth/main.go"
    exit 1
fi
timeout 100 "$here/.venv/bin/python" "$here/oidc_goth.py" "$work/gothrp"
