#!/usr/bin/env bash
# Runs the web client's Playwright specs against a running Madang (the `web_client` suite of
# conformance-tests/run.sh, or on its own; README.md here).
#   env: MADANG_URL or CT_URL (server), MADANG_CLI or CT_MADANG_CLI (madang on its storage),
#        CT_BACKEND (names the screenshot folder), CT_RESULTS_DIR (where reports and screenshots go)
#   args: passed to `playwright test` (e.g. a spec file, --grep)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

export MADANG_URL="${MADANG_URL:-${CT_URL:?MADANG_URL or CT_URL must name the server}}"
export MADANG_CLI="${MADANG_CLI:-${CT_MADANG_CLI:-}}"
export MADANG_BACKEND="${MADANG_BACKEND:-${CT_BACKEND:-server}}"
export MADANG_PYTHON="${MADANG_PYTHON:-$here/../.venv/bin/python}"
export MADANG_WC_SCREENSHOTS="${MADANG_WC_SCREENSHOTS:-$here/screenshots}"
out="${CT_RESULTS_DIR:-$here/test-results/run-$(date +%Y%m%d-%H%M%S)}"
export MADANG_WC_OUTPUT="${MADANG_WC_OUTPUT:-$out/playwright}"
# Playwright never downloads a browser here: the config launches /usr/bin/chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PLAYWRIGHT_BROWSERS_PATH=0

[[ -x node_modules/.bin/playwright ]] || bash "$here/setup.sh"
[[ -x "${MADANG_CHROMIUM:-/usr/bin/chromium}" ]] || { echo "web_client: ${MADANG_CHROMIUM:-/usr/bin/chromium} missing (Debian package chromium)" >&2; exit 1; }

shots="$MADANG_WC_SCREENSHOTS/$MADANG_BACKEND"
rm -rf "$shots"
mkdir -p "$shots" "$MADANG_WC_OUTPUT"
rc=0
# Unit tests of the client's pure modules (node's own runner; no browser), when no spec was named.
shopt -s nullglob
units=(*.test.mjs)
if [[ $# -eq 0 && ${#units[@]} -gt 0 ]]; then
    node --experimental-detect-module --test "${units[@]}" || rc=$?
fi
node_modules/.bin/playwright test "$@" || rc=$?
# The screenshots stay beside the specs (gitignored) and go with the run's results (CI artefacts).
if [[ -n "${CT_RESULTS_DIR:-}" ]]; then
    mkdir -p "$CT_RESULTS_DIR/screenshots"
    cp -r "$shots/." "$CT_RESULTS_DIR/screenshots/" 2>/dev/null || true
    echo "web_client: screenshots in $CT_RESULTS_DIR/screenshots"
fi
exit "$rc"
