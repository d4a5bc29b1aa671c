#!/usr/bin/env bash
# Installs the web client suite's pinned npm packages (package-lock.json) into node_modules with
# `npm ci`, again whenever the lock file changes. Needs Node.js >= 20 and npm; downloads no browser
# (the suite drives Debian's /usr/bin/chromium). Called by conformance-tests/setup.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v node >/dev/null && command -v npm >/dev/null ||
    { echo "web_client setup: node and npm are needed (Node.js >= 20)" >&2; exit 1; }
major="$(node -p 'process.versions.node.split(".")[0]')"
[[ "$major" -ge 20 ]] || { echo "web_client setup: Node.js $(node --version) is too old (>= 20)" >&2; exit 1; }
stamp="$here/node_modules/.lock.sha256"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [[ -x "$here/node_modules/.bin/playwright" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi
echo "web_client setup: npm ci (package-lock.json)"
(cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
printf '%s\n' "$want" >"$stamp"
