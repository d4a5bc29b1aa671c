#!/usr/bin/env bash
# Idempotent set-up of the conformance harness: a venv in conformance-tests/.venv
# with the pinned client stack (requirements.txt) and schemathesis in its own venv
# conformance-tests/.venv-schemathesis (requirements-schemathesis.txt), both inside
# this directory, and the web client suite's npm packages (web_client/package-lock.json, `npm ci`
# in web_client/setup.sh; no browser is downloaded). The Debian packages (debian-packages.txt) are checked, not
# installed: install-packages.sh does that, as its own step.
# Fast when already set up: a venv is rebuilt only when its requirements file changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"

# The Debian packages are installed by install-packages.sh, a separate step (a test command must
# not change the machine on its own); here they are only checked, naming what to run.
if command -v dpkg-query >/dev/null; then
    mapfile -t missing < <(bash "$here/missing-packages.sh")
    if [[ ${#missing[@]} -gt 0 ]]; then
        echo "setup: missing Debian packages: ${missing[*]}" >&2
        echo "setup: install them once with: sudo bash conformance-tests/install-packages.sh" >&2
        exit 1
    fi
fi

# install_venv VENV REQUIREMENTS TOOL...: (re)install when the requirements changed.
install_venv() {
    local venv="$1" req="$2" stamp="$1/.requirements.sha256" want tool
    shift 2
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    echo "setup: creating $venv with the pinned stack of $(basename "$req")"
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
    for tool in "$@"; do
        [[ -x "$venv/bin/$tool" ]] || { echo "setup: $tool missing from $venv" >&2; exit 1; }
    done
    printf '%s\n' "$want" >"$stamp"
    echo "setup: done ($venv)"
}

install_venv "$venv" "$req" caldav-server-tester vdirsyncer khal radicale
install_venv "$here/.venv-schemathesis" "$here/requirements-schemathesis.txt" schemathesis
bash "$here/web_client/setup.sh"
