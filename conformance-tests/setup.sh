#!/usr/bin/env bash
# Idempotent set-up of the conformance harness: a venv in conformance-tests/.venv
# with the pinned client stack (requirements.txt), schemathesis in its own venv
# conformance-tests/.venv-schemathesis (requirements-schemathesis.txt), and the
# Debian packages the suites use (litmus, curl, psql client, Go + goth, Apache +
# mod_auth_openidc, Chromium + chromedriver), installed only when missing.
# Fast when already set up: a venv is rebuilt only when its requirements file changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"

missing=()
command -v litmus >/dev/null || missing+=(litmus)
command -v curl >/dev/null || missing+=(curl)
command -v psql >/dev/null || missing+=(postgresql-client)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
# The identity suites: goth (Gitea's OIDC library) built with Debian's Go in GOPATH mode,
# and Apache httpd with mod_auth_openidc (run as the suite's own process, never the service).
# web_browser drives Debian's headless Chromium through its chromedriver (Selenium, pinned in requirements.txt).
for pkg in golang-go golang-github-markbates-goth-dev apache2 libapache2-mod-auth-openidc chromium chromium-driver; do
    [[ "$(dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "setup: installing Debian packages: ${missing[*]}"
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
    else
        echo "setup: missing ${missing[*]} and cannot apt-get install them (need root + apt)" >&2
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
