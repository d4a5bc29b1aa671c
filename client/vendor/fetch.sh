#!/usr/bin/env bash
# Re-fetches the vendored browser libraries from the npm registry at their pinned versions
# and verifies them: the tarball against npm's `dist.integrity` (SHA-512, pinned here), then
# the files kept in the repository against SHA256SUMS.
#
#   client/vendor/fetch.sh          fetch, verify, and (re)write the vendored files
#   client/vendor/fetch.sh --check  only verify the files in the tree against SHA256SUMS
#
# To upgrade: change VERSION and INTEGRITY (`npm view fullcalendar@<v> dist.integrity`), run
# this script, then `sha256sum` the new files into SHA256SUMS and review the diff.
set -euo pipefail
cd "$(dirname "$0")"

# FullCalendar, the standard bundle (MIT): https://fullcalendar.io/docs/initialize-globals
NAME=fullcalendar
VERSION=6.1.22
INTEGRITY=sha512-Nd5NGL2ELAQkRWMORFJIrrHJjdwlgfyw9ZXUB6O1j9biXhtDtdWZTqYS/7mk9mys10ehhNbSiwZetFZGiOC5rw==
# Files kept from the package, as package-path:repository-path.
FILES=(
    "package/index.global.min.js:fullcalendar/index.global.min.js"
    "package/LICENSE.md:fullcalendar/LICENSE.md"
)

if [[ "${1:-}" == "--check" ]]; then
    sha256sum --check --strict SHA256SUMS
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball="$work/$NAME-$VERSION.tgz"
curl --fail --silent --show-error --location \
    "https://registry.npmjs.org/$NAME/-/$NAME-$VERSION.tgz" --output "$tarball"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$actual" != "$INTEGRITY" ]]; then
    echo "integrity mismatch for $NAME@$VERSION: expected $INTEGRITY, got $actual" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$work"
for pair in "${FILES[@]}"; do
    from="$work/${pair%%:*}"
    to="${pair#*:}"
    mkdir -p "$(dirname "$to")"
    cp "$from" "$to"
done
sha256sum --check --strict SHA256SUMS
echo "$NAME@$VERSION fetched and verified"
