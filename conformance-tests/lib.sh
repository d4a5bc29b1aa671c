# shellcheck shell=bash
# Shared helpers for the conformance suites. Source it; do not run it.
#
#   ct_start_server sqlite|postgres|radicale
#       Starts a fresh server on a free loopback port with users alice and bob,
#       waits until it answers, and exports:
#         CT_URL (base URL, ends with /), CT_USER/CT_PASSWORD (alice),
#         CT_USER2/CT_PASSWORD2 (bob), CT_SERVER_KIND (madang|radicale),
#         CT_BACKEND, CT_SERVER_PID, CT_SERVER_LOG, and (Madang only)
#         CT_MADANG_CLI: a command running `madang` on the server's storage,
#         e.g. "$CT_MADANG_CLI" oidc client add ID --redirect-uri URI.
#       A trap on EXIT stops the server by PID, drops the PostgreSQL database
#       and removes the temporary data directory.
#   ct_stop_server      Stops it now (idempotent).
#   ct_dump_server_log  Prints the server log (called on failure unless CT_DUMP_LOG=0).
# CT_KEEP_LOG_AS=FILE copies the server log there when the server is stopped.
#
# "radicale" is not a Madang backend: it runs Radicale (from the venv) with the
# same two users and a "default" calendar plus a "tasks" list per user, so the
# suites can be validated against a known-good server.

CT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CT_REPO="$(cd "$CT_DIR/.." && pwd)"
CT_VENV="$CT_DIR/.venv"
CT_RESULTS_ROOT="${CT_RESULTS_ROOT:-$CT_DIR/results}"
CT_PG_HOST="${CT_PG_HOST:-127.0.0.1}"
CT_PG_PORT="${CT_PG_PORT:-5432}"
CT_PG_USER="${CT_PG_USER:-postgres}"

export CT_USER="${CT_USER:-alice}"
export CT_PASSWORD="${CT_PASSWORD:-alice-secret-pw}"
export CT_USER2="${CT_USER2:-bob}"
export CT_PASSWORD2="${CT_PASSWORD2:-bob-secret-pw}"

CT_SERVER_PID=""
CT_TMP=""
CT_PG_DB=""

ct_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ct_die() { ct_log "ERROR: $*"; exit 1; }

ct_madang_bin() {
    local bin="${MADANG_BIN:-$CT_REPO/target/release/madang}"
    [[ -x "$bin" ]] || ct_die "Madang binary not found at $bin (build it or set MADANG_BIN)"
    printf '%s\n' "$bin"
}

ct_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

ct_dump_server_log() {
    if [[ -n "${CT_SERVER_LOG:-}" && -f "$CT_SERVER_LOG" ]]; then
        echo "----- server log ($CT_SERVER_LOG, last 200 lines) -----" >&2
        tail -n 200 "$CT_SERVER_LOG" >&2
        echo "----- end of server log -----" >&2
    fi
}

ct_stop_server() {
    if [[ -n "$CT_SERVER_PID" ]]; then
        if kill -0 "$CT_SERVER_PID" 2>/dev/null; then
            kill "$CT_SERVER_PID" 2>/dev/null || true
            local i
            for i in $(seq 1 50); do
                kill -0 "$CT_SERVER_PID" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$CT_SERVER_PID" 2>/dev/null; then
                ct_log "server $CT_SERVER_PID did not stop on TERM; sending KILL (i=$i)"
                kill -9 "$CT_SERVER_PID" 2>/dev/null || true
            fi
            wait "$CT_SERVER_PID" 2>/dev/null || true
        fi
        CT_SERVER_PID=""
    fi
    if [[ -n "$CT_PG_DB" ]]; then
        psql -h "$CT_PG_HOST" -p "$CT_PG_PORT" -U "$CT_PG_USER" -d postgres -q -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS \"$CT_PG_DB\" WITH (FORCE)" >/dev/null 2>&1 ||
            ct_log "could not drop database $CT_PG_DB"
        CT_PG_DB=""
    fi
    if [[ -n "$CT_TMP" && -d "$CT_TMP" ]]; then
        # keep the log: copy it next to the results before the temp dir goes
        if [[ -n "${CT_KEEP_LOG_AS:-}" && -f "${CT_SERVER_LOG:-}" ]]; then
            cp "$CT_SERVER_LOG" "$CT_KEEP_LOG_AS" 2>/dev/null || true
        fi
        rm -rf "$CT_TMP"
        CT_TMP=""
    fi
}

ct_on_exit() {
    local rc=$?
    if [[ $rc -ne 0 && "${CT_DUMP_LOG:-1}" != 0 ]]; then ct_dump_server_log; fi
    ct_stop_server
    return "$rc"
}

# Wait until URL answers with one of the given status codes (default 200).
ct_wait_http() {
    local url="$1" want="${2:-200}" i code
    for i in $(seq 1 150); do
        if [[ -n "$CT_SERVER_PID" ]] && ! kill -0 "$CT_SERVER_PID" 2>/dev/null; then
            ct_log "server process exited before becoming ready"
            return 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
        if [[ " $want " == *" $code "* ]]; then return 0; fi
        sleep 0.2
    done
    ct_log "timed out waiting for $url (last status $code, tried $i times)"
    return 1
}

# Environment variables that would override the harness's storage or listen
# address, or load a config file, are removed for every madang invocation, and
# madang runs in the temp dir so no ./madang.toml is picked up.
CT_MADANG_ENV_UNSET=(-u MADANG_CONFIG -u MADANG_DATABASE_URL -u MADANG_DATA_DIR -u MADANG_LISTEN -u MADANG_SERVER_LISTEN)

ct_storage_args() {
    if [[ -n "$CT_PG_DB" ]]; then
        printf '%s\n' --database-url "postgres://$CT_PG_USER@$CT_PG_HOST:$CT_PG_PORT/$CT_PG_DB"
    else
        printf '%s\n' --data-dir "$CT_TMP/data"
    fi
}

# ct_madang ARGS... : run the binary in the foreground with the backend's storage flags.
ct_madang() {
    local bin storage
    bin="$(ct_madang_bin)"
    mapfile -t storage < <(ct_storage_args)
    (cd "$CT_TMP" && exec env "${CT_MADANG_ENV_UNSET[@]}" "$bin" "${storage[@]}" "$@")
}

# Writes $CT_TMP/madang-cli, a command that runs the madang CLI on this server's
# storage (same flags and environment as ct_madang), and exports its path as
# CT_MADANG_CLI for the suites that register OIDC clients, approve sign-ups etc.
ct_write_cli_wrapper() {
    local bin="$1" storage a
    mapfile -t storage < <(ct_storage_args)
    {
        echo '#!/usr/bin/env bash'
        printf 'cd %q || exit 1\n' "$CT_TMP"
        printf 'exec env'
        for a in "${CT_MADANG_ENV_UNSET[@]}"; do printf ' %q' "$a"; done
        printf ' %q' "$bin" "${storage[@]}"
        printf ' "$@"\n'
    } >"$CT_TMP/madang-cli"
    chmod +x "$CT_TMP/madang-cli"
    export CT_MADANG_CLI="$CT_TMP/madang-cli"
}

ct_start_madang() {
    local backend="$1" bin port storage
    bin="$(ct_madang_bin)"
    CT_TMP="$(mktemp -d /tmp/madang-ct.XXXXXX)"
    mkdir -p "$CT_TMP/data"
    CT_SERVER_LOG="$CT_TMP/server.log"
    : >"$CT_SERVER_LOG"
    if [[ "$backend" == postgres ]]; then
        command -v psql >/dev/null || ct_die "psql not installed"
        CT_PG_DB="madang_ct_$$_$RANDOM"
        psql -h "$CT_PG_HOST" -p "$CT_PG_PORT" -U "$CT_PG_USER" -d postgres -q -v ON_ERROR_STOP=1 \
            -c "CREATE DATABASE \"$CT_PG_DB\"" >>"$CT_SERVER_LOG" 2>&1 ||
            ct_die "cannot create database $CT_PG_DB on $CT_PG_HOST:$CT_PG_PORT"
    fi
    ct_write_cli_wrapper "$bin"
    if "$bin" --help 2>/dev/null | grep -qw migrate; then
        ct_madang migrate >>"$CT_SERVER_LOG" 2>&1 || { ct_dump_server_log; ct_die "madang migrate failed"; }
    fi
    printf '%s\n' "$CT_PASSWORD" | ct_madang user add "$CT_USER" --email "$CT_USER@example.com" >>"$CT_SERVER_LOG" 2>&1 ||
        { ct_dump_server_log; ct_die "madang user add $CT_USER failed"; }
    printf '%s\n' "$CT_PASSWORD2" | ct_madang user add "$CT_USER2" --email "$CT_USER2@example.com" >>"$CT_SERVER_LOG" 2>&1 ||
        { ct_dump_server_log; ct_die "madang user add $CT_USER2 failed"; }
    port="$(ct_free_port)"
    mapfile -t storage < <(ct_storage_args)
    # The harness's Dovecot (.ci/test) is on 127.0.0.1 with a throw-away CA: this server may reach it.
    local mail_env=()
    if [[ -n "${MADANG_TEST_DOVECOT_CA:-}" ]]; then
        mail_env=(MADANG_MAIL_ALLOWED_NETWORKS=127.0.0.1 "MADANG_MAIL_CA_FILE=$MADANG_TEST_DOVECOT_CA")
    fi
    # And its local OAuth provider (conformance-tests/oauth_provider.py), as the company's own.
    if [[ -n "${MADANG_TEST_DOVECOT_OAUTH:-}" ]]; then
        mail_env+=("MADANG_MAIL_OAUTH_CUSTOM_NAME=Test IdP"
            "MADANG_MAIL_OAUTH_CUSTOM_AUTHORIZE_URL=$MADANG_TEST_DOVECOT_OAUTH/authorize"
            "MADANG_MAIL_OAUTH_CUSTOM_TOKEN_URL=$MADANG_TEST_DOVECOT_OAUTH/token"
            "MADANG_MAIL_OAUTH_CUSTOM_SCOPE=mail offline_access"
            MADANG_MAIL_OAUTH_CUSTOM_CLIENT_ID=madang-test MADANG_MAIL_OAUTH_CUSTOM_CLIENT_SECRET=madang-test-secret)
    fi
    # CT_MAILPROXY=1 (the mail listener suites): IMAP and submission listeners on free loopback
    # ports, with the harness Dovecot's certificate (a leaf for localhost/127.0.0.1 under its CA,
    # MADANG_TEST_DOVECOT_CA); the ports are exported as CT_{IMAP,IMAPS,SUBMISSION,SUBMISSIONS}_PORT.
    if [[ "${CT_MAILPROXY:-0}" == 1 && -n "${MADANG_TEST_DOVECOT_DIR:-}" ]]; then
        CT_IMAP_PORT="$(ct_free_port)" CT_IMAPS_PORT="$(ct_free_port)"
        CT_SUBMISSION_PORT="$(ct_free_port)" CT_SUBMISSIONS_PORT="$(ct_free_port)"
        export CT_IMAP_PORT CT_IMAPS_PORT CT_SUBMISSION_PORT CT_SUBMISSIONS_PORT
        mail_env+=("MADANG_MAILPROXY_IMAP_LISTEN=127.0.0.1:$CT_IMAP_PORT"
            "MADANG_MAILPROXY_IMAPS_LISTEN=127.0.0.1:$CT_IMAPS_PORT"
            "MADANG_MAILPROXY_SUBMISSION_LISTEN=127.0.0.1:$CT_SUBMISSION_PORT"
            "MADANG_MAILPROXY_SUBMISSIONS_LISTEN=127.0.0.1:$CT_SUBMISSIONS_PORT"
            "MADANG_MAILPROXY_TLS_CERT=$MADANG_TEST_DOVECOT_DIR/cert.pem"
            "MADANG_MAILPROXY_TLS_KEY=$MADANG_TEST_DOVECOT_DIR/key.pem"
            MADANG_MAILPROXY_HOSTNAME=localhost MADANG_MAILPROXY_MAX_MESSAGE_SIZE=1MiB)
    fi
    # exec in the background subshell: $! is then madang's own PID
    (cd "$CT_TMP" && exec env "${CT_MADANG_ENV_UNSET[@]}" "${mail_env[@]}" NO_COLOR=1 "$bin" "${storage[@]}" serve --listen "127.0.0.1:$port" \
        >>"$CT_SERVER_LOG" 2>&1) &
    CT_SERVER_PID=$!
    export CT_URL="http://127.0.0.1:$port/"
    export CT_SERVER_KIND=madang
    ct_wait_http "${CT_URL}healthz" 200 || { ct_dump_server_log; ct_die "madang did not become healthy"; }
}

ct_start_radicale() {
    local port
    [[ -x "$CT_VENV/bin/radicale" ]] || ct_die "radicale not in venv: run conformance-tests/setup.sh"
    CT_TMP="$(mktemp -d /tmp/radicale-ct.XXXXXX)"
    CT_SERVER_LOG="$CT_TMP/server.log"
    port="$(ct_free_port)"
    printf '%s:%s\n%s:%s\n' "$CT_USER" "$CT_PASSWORD" "$CT_USER2" "$CT_PASSWORD2" >"$CT_TMP/users"
    cat >"$CT_TMP/config" <<EOF
[server]
hosts = 127.0.0.1:$port
[auth]
type = htpasswd
htpasswd_filename = $CT_TMP/users
htpasswd_encryption = plain
[storage]
filesystem_folder = $CT_TMP/storage
[rights]
type = owner_only
[logging]
level = info
EOF
    "$CT_VENV/bin/radicale" --config "$CT_TMP/config" >>"$CT_SERVER_LOG" 2>&1 &
    CT_SERVER_PID=$!
    export CT_URL="http://127.0.0.1:$port/"
    export CT_SERVER_KIND=radicale
    ct_wait_http "$CT_URL" "200 302 301" || { ct_dump_server_log; ct_die "radicale did not start"; }
    # Mirror Madang's per-user "default" calendar and "tasks" list.
    local u p
    for u in "$CT_USER:$CT_PASSWORD" "$CT_USER2:$CT_PASSWORD2"; do
        p="${u#*:}"; u="${u%%:*}"
        curl -sf -o /dev/null -u "$u:$p" -X MKCALENDAR -H 'Content-Type: application/xml' \
            --data '<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Calendar</D:displayname><C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>' \
            "${CT_URL}$u/default/" || ct_die "MKCALENDAR default for $u failed"
        curl -sf -o /dev/null -u "$u:$p" -X MKCALENDAR -H 'Content-Type: application/xml' \
            --data '<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Tasks</D:displayname><C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>' \
            "${CT_URL}$u/tasks/" || ct_die "MKCALENDAR tasks for $u failed"
    done
}

ct_start_server() {
    local backend="$1"
    export CT_BACKEND="$backend"
    trap ct_on_exit EXIT
    case "$backend" in
        sqlite | postgres) ct_start_madang "$backend" ;;
        radicale) ct_start_radicale ;;
        *) ct_die "unknown backend '$backend' (sqlite|postgres|radicale)" ;;
    esac
    export CT_SERVER_PID CT_SERVER_LOG
    ct_log "started $CT_SERVER_KIND ($backend) pid $CT_SERVER_PID at $CT_URL"
}

# URL of a user's calendar home / default calendar, per server kind. Suites
# that can discover should discover; these are for checks after discovery.
ct_home_url() {
    local user="${1:-$CT_USER}"
    case "${CT_SERVER_KIND:-madang}" in
        radicale) printf '%s%s/\n' "$CT_URL" "$user" ;;
        *) printf '%sdav/calendars/%s/\n' "$CT_URL" "$user" ;;
    esac
}
