#!/usr/bin/env bash
# An S3-compatible server for the blob store's tests: moto's server (PyPI `moto[server]`, pinned in
# requirements-s3.txt, installed in conformance-tests/.venv-s3) on 127.0.0.1 and a random port.
#
#   bash conformance-tests/s3_server.sh start   # prints the endpoint URL, e.g. http://127.0.0.1:41234
#   bash conformance-tests/s3_server.sh stop    # stops the server this script started
#
# The tests read the URL from MADANG_TEST_S3_URL and make their own buckets, so one server serves
# every test. State (pid, port, log) lives in conformance-tests/.s3/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-s3"
req="$here/requirements-s3.txt"
state="$here/.s3"

install() {
    local stamp="$venv/.requirements.sha256" want
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [[ -x "$venv/bin/moto_server" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    echo "s3_server: installing moto into $venv" >&2
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
    [[ -x "$venv/bin/moto_server" ]] || { echo "s3_server: moto_server missing from $venv" >&2; exit 1; }
    printf '%s\n' "$want" >"$stamp"
}

start() {
    install
    mkdir -p "$state"
    if [[ -f "$state/pid" ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
        echo "http://127.0.0.1:$(cat "$state/port")"
        return 0
    fi
    local port pid i
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 40000))
        "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/log" 2>&1 &
        pid=$!
        for i in $(seq 1 100); do
            if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then
                echo "$pid" >"$state/pid"
                echo "$port" >"$state/port"
                echo "http://127.0.0.1:$port"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
    done
    echo "s3_server: moto did not start; see $state/log" >&2
    exit 1
}

stop() {
    if [[ -f "$state/pid" ]]; then
        kill "$(cat "$state/pid")" 2>/dev/null || true
        rm -f "$state/pid" "$state/port"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
