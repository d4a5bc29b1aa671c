#!/usr/bin/env bash
# Runs the conformance suites against a fresh `madang serve` per suite.
#
# Usage: run.sh [sqlite|postgres|all|radicale] [suite...]
#   backend  sqlite (default: all = sqlite + postgres); "radicale" runs the
#            same suites against Radicale to validate the harness itself.
#   suites   any of: caldav_library caldav_server_tester vdirsyncer khal vdirsyncer_contacts khard feeds subscriptions
#            directory birthdays replay schemathesis oidc_authlib oidc_goth oidc_apache web_flows web_browser web_client
#            mailproxy_imap mailproxy_smtp mail_setup thunderbird litmus
#            (default: all of them; feeds, directory, birthdays, the identity suites oidc_*, web_flows, web_browser and web_client, and the
#            mail suites mailproxy_*, mail_setup and thunderbird, are skipped on radicale)
# Env: MADANG_BIN (default target/release/madang), CT_SKIP_SETUP=1 (do not run setup.sh)
# Results: conformance-tests/results/<timestamp>-<pid>/<backend>/<suite>/ (output.txt,
#          server.log and whatever the suite writes), summary.txt beside them.
# Exit status: non-zero if any blocking suite failed. litmus is NON-BLOCKING.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ALL_SUITES=(caldav_library caldav_server_tester vdirsyncer khal vdirsyncer_contacts khard feeds subscriptions directory birthdays
    replay schemathesis oidc_authlib oidc_goth oidc_apache web_flows web_browser web_client mailproxy_imap mailproxy_smtp
    mail_setup thunderbird litmus)
NON_BLOCKING=(litmus)
# Madang's own features (published feeds, directory and birthday calendars, OIDC provider, web pages, mail
# listeners): nothing to test on Radicale.
MADANG_ONLY=(feeds subscriptions directory birthdays oidc_authlib oidc_goth oidc_apache web_flows web_browser web_client mailproxy_imap
    mailproxy_smtp mail_setup thunderbird)

backend_arg="${1:-all}"
shift || true
case "$backend_arg" in
    all) backends=(sqlite postgres) ;;
    sqlite | postgres | radicale) backends=("$backend_arg") ;;
    *)
        echo "usage: $0 [sqlite|postgres|all|radicale] [suite...]" >&2
        exit 2
        ;;
esac
suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=("${ALL_SUITES[@]}")
for s in "${suites[@]}"; do
    [[ " ${ALL_SUITES[*]} " == *" $s "* ]] || { echo "unknown suite '$s' (${ALL_SUITES[*]})" >&2; exit 2; }
done

[[ "${CT_SKIP_SETUP:-0}" == 1 ]] || "$here/setup.sh"

if [[ " ${backends[*]} " == *" postgres "* ]] && ! pg_isready -h "${CT_PG_HOST:-127.0.0.1}" -p "${CT_PG_PORT:-5432}" >/dev/null 2>&1; then
    echo "PostgreSQL is not answering on ${CT_PG_HOST:-127.0.0.1}:${CT_PG_PORT:-5432}" >&2
    exit 1
fi

stamp="$(date +%Y%m%d-%H%M%S)-$$" # the PID keeps concurrent runs apart
root="$here/results/$stamp"
mkdir -p "$root"
ln -sfn "$stamp" "$here/results/latest"

run_suite() { # run_suite SUITE: the suite's command, in the caller's environment
    case "$1" in
        caldav_library) "$here/.venv/bin/python" "$here/caldav_library.py" ;;
        caldav_server_tester) "$here/caldav_server_tester.sh" ;;
        vdirsyncer) "$here/vdirsyncer.sh" ;;
        khal) "$here/khal.sh" ;;
        vdirsyncer_contacts) "$here/vdirsyncer_contacts.sh" ;;
        khard) "$here/khard.sh" ;;
        # Whole-collection GET (python icalendar, vobject) and a published feed synced by vdirsyncer's
        # `http` storage; seconds.
        feeds) timeout 300 "$here/.venv/bin/python" "$here/feeds.py" ;;
        # External calendar subscriptions: a local feed server, the JSON API and python caldav; seconds.
        subscriptions) timeout 120 "$here/.venv/bin/python" "$here/subscriptions.py" ;;
        # The company directory through vdirsyncer and khard, and the birthday calendar through python caldav.
        directory) "$here/directory.sh" ;;
        birthdays) "$here/.venv/bin/python" "$here/birthdays.py" ;;
        replay) "$here/.venv/bin/python" "$here/replay.py" ;;
        schemathesis) "$here/schemathesis.sh" ;;
        litmus) "$here/litmus.sh" ;;
        # The identity suites are bounded by `timeout` (each is designed to take well under a minute).
        oidc_authlib) timeout 120 "$here/.venv/bin/python" "$here/oidc_authlib.py" ;;
        oidc_goth) timeout 120 "$here/oidc_goth.sh" ;;
        oidc_apache) timeout 120 "$here/.venv/bin/python" "$here/oidc_apache.py" ;;
        web_flows) timeout 120 "$here/.venv/bin/python" "$here/web_flows.py" ;;
        # A real headless Chromium (Debian's, through chromedriver); designed to take under 90 s.
        web_browser) timeout 90 "$here/.venv/bin/python" "$here/web_browser.py" ;;
        # The web client's Playwright specs in Debian's Chromium (web_client/README.md).
        web_client) timeout 900 "$here/web_client/run.sh" ;;
        # curl, mbsync and imaplib through the IMAP listener to a real Dovecot; well under 2 minutes.
        mailproxy_imap) timeout 300 "$here/.venv/bin/python" "$here/mailproxy_imap.py" ;;
        # swaks and curl submitting through Madang's SMTP listeners into the harness's Dovecot.
        mailproxy_smtp) timeout 180 "$here/mailproxy_smtp.sh" ;;
        # Autoconfig, Autodiscover and the Apple profile (curl, xml.etree, plistlib); seconds.
        mail_setup) timeout 120 "$here/mail_setup.sh" ;;
        # Thunderbird (Debian ESR) headless through Marionette; designed to take under two minutes.
        thunderbird) timeout 300 "$here/.venv/bin/python" "$here/thunderbird.py" ;;
    esac
}

suite_server_env() { # SUITE DIR: what a suite's server needs besides the defaults, as CT_SERVER_ENV lines
    unset CT_SERVER_ENV
    own_dovecot=""
    case "$1" in
        web_client)
            # Its subscription spec subscribes to a feed this server publishes, on 127.0.0.1.
            export CT_SERVER_ENV="MADANG_DAV_SUBSCRIPTION_ALLOWED_NETWORKS=127.0.0.1"
            ;;
        subscriptions)
            # Its feed server is on 127.0.0.1, which the outbound guard refuses by default.
            export CT_SERVER_ENV="MADANG_DAV_SUBSCRIPTION_ALLOWED_NETWORKS=127.0.0.1
MADANG_DAV_SUBSCRIPTION_MAX_SIZE=1MiB"
            ;;
        mailproxy_imap)
            # A Dovecot of its own when the harness has none (run.sh called by hand).
            if [[ -z "${MADANG_TEST_DOVECOT_DIR:-}" ]]; then
                own_dovecot="$(mktemp -d /tmp/madang-ct-dovecot.XXXXXX)"
                local lines line
                lines="$(bash "$here/dovecot.sh" start "$own_dovecot")" || { echo "Dovecot did not start" >&2; return 1; }
                while IFS= read -r line; do export "${line?}"; done <<<"$lines"
            fi
            CT_IMAP_PORT="$(ct_free_port)"
            CT_IMAPS_PORT="$(ct_free_port)"
            export CT_IMAP_PORT CT_IMAPS_PORT
            export CT_SERVER_ENV="MADANG_MAILPROXY_IMAP_LISTEN=127.0.0.1:$CT_IMAP_PORT
MADANG_MAILPROXY_IMAPS_LISTEN=127.0.0.1:$CT_IMAPS_PORT
MADANG_MAILPROXY_TLS_CERT=$MADANG_TEST_DOVECOT_DIR/cert.pem
MADANG_MAILPROXY_TLS_KEY=$MADANG_TEST_DOVECOT_DIR/key.pem"
            ;;
        mailproxy_smtp)
            # Submission listeners with Dovecot's certificate (for localhost) on free ports; a small
            # SIZE so the limit is quick to reach.
            [[ -n "${MADANG_TEST_DOVECOT_DIR:-}" ]] || return 0
            CT_SUBMISSION_PORT="$(ct_free_port)" CT_SUBMISSIONS_PORT="$(ct_free_port)"
            export CT_SUBMISSION_PORT CT_SUBMISSIONS_PORT
            export CT_SERVER_ENV="MADANG_MAILPROXY_SUBMISSION_LISTEN=127.0.0.1:$CT_SUBMISSION_PORT
MADANG_MAILPROXY_SUBMISSIONS_LISTEN=127.0.0.1:$CT_SUBMISSIONS_PORT
MADANG_MAILPROXY_TLS_CERT=$MADANG_TEST_DOVECOT_DIR/cert.pem
MADANG_MAILPROXY_TLS_KEY=$MADANG_TEST_DOVECOT_DIR/key.pem
MADANG_MAILPROXY_HOSTNAME=localhost
MADANG_MAILPROXY_MAX_MESSAGE_SIZE=1MiB"
            ;;
        mail_setup)
            # Mail listeners on loopback ports: what autoconfig and the profile advertise comes from
            # them. Implicit TLS needs a certificate even there; a throw-away one will do.
            CT_MAIL_IMAPS_PORT="$(ct_free_port)" CT_MAIL_IMAP_PORT="$(ct_free_port)"
            CT_MAIL_SUBMISSIONS_PORT="$(ct_free_port)" CT_MAIL_SUBMISSION_PORT="$(ct_free_port)"
            export CT_MAIL_IMAPS_PORT CT_MAIL_IMAP_PORT CT_MAIL_SUBMISSIONS_PORT CT_MAIL_SUBMISSION_PORT
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
                -subj /CN=mail.example.test -keyout "$2/mail-key.pem" -out "$2/mail-cert.pem" 2>/dev/null
            export CT_SERVER_ENV="MADANG_MAILPROXY_HOSTNAME=mail.example.test
MADANG_MAILPROXY_TLS_CERT=$2/mail-cert.pem
MADANG_MAILPROXY_TLS_KEY=$2/mail-key.pem
MADANG_MAILPROXY_IMAPS_LISTEN=127.0.0.1:$CT_MAIL_IMAPS_PORT
MADANG_MAILPROXY_IMAP_LISTEN=127.0.0.1:$CT_MAIL_IMAP_PORT
MADANG_MAILPROXY_SUBMISSIONS_LISTEN=127.0.0.1:$CT_MAIL_SUBMISSIONS_PORT
MADANG_MAILPROXY_SUBMISSION_LISTEN=127.0.0.1:$CT_MAIL_SUBMISSION_PORT"
            ;;
        thunderbird)
            # Mail listeners with Dovecot's throw-away certificate (for localhost), on free ports.
            [[ -n "${MADANG_TEST_DOVECOT_DIR:-}" ]] || return 0
            CT_IMAPS_PORT="$(ct_free_port)"
            CT_SUBMISSIONS_PORT="$(ct_free_port)"
            export CT_IMAPS_PORT CT_SUBMISSIONS_PORT
            export CT_SERVER_ENV="MADANG_MAILPROXY_IMAPS_LISTEN=127.0.0.1:$CT_IMAPS_PORT
MADANG_MAILPROXY_SUBMISSIONS_LISTEN=127.0.0.1:$CT_SUBMISSIONS_PORT
MADANG_MAILPROXY_TLS_CERT=$MADANG_TEST_DOVECOT_DIR/cert.pem
MADANG_MAILPROXY_TLS_KEY=$MADANG_TEST_DOVECOT_DIR/key.pem
MADANG_MAILPROXY_HOSTNAME=localhost"
            ;;
    esac
}

run_on_fresh_server() { # BACKEND SUITE DIR; run in a subshell so the EXIT trap stops the server
    # shellcheck source=lib.sh
    source "$here/lib.sh"
    export CT_RESULTS_DIR="$3" CT_DUMP_LOG=0 CT_KEEP_LOG_AS="$3/server.log"
    suite_server_env "$2" "$3"
    ct_start_server "$1"
    if [[ -n "${own_dovecot:-}" ]]; then
        trap 'ct_on_exit; bash "$here/dovecot.sh" stop "$own_dovecot"; rm -rf "$own_dovecot"' EXIT
    fi
    run_suite "$2"
}

rows=()
blocking_failed=0
for backend in "${backends[@]}"; do
    for suite in "${suites[@]}"; do
        if [[ "$backend" == radicale && " ${MADANG_ONLY[*]} " == *" $suite "* ]]; then
            rows+=("$(printf '%-9s %-21s %-20s %5ss  %s' "$backend" "$suite" "SKIP" 0 "Madang only")")
            continue
        fi
        dir="$root/$backend/$suite"
        mkdir -p "$dir"
        echo
        echo "=== $suite on $backend ==="
        t0=$(date +%s)
        rc=0
        (run_on_fresh_server "$backend" "$suite" "$dir") 2>&1 | tee "$dir/output.txt" || rc=$?
        secs=$(($(date +%s) - t0))
        last=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$dir/output.txt" | tail -n 1 || true)
        nb=""
        [[ " ${NON_BLOCKING[*]} " == *" $suite "* ]] && nb=" (non-blocking)"
        if [[ $rc -eq 0 ]]; then
            verdict="PASS"
        else
            verdict="FAIL$nb"
            [[ -n "$nb" ]] || blocking_failed=1
            if [[ -f "$dir/server.log" ]]; then
                echo "--- last 40 lines of the server log ($dir/server.log) ---"
                tail -n 40 "$dir/server.log"
            fi
        fi
        rows+=("$(printf '%-9s %-21s %-20s %5ss  %s' "$backend" "$suite" "$verdict" "$secs" "${last:-}")")
    done
done

{
    echo
    echo "=== conformance summary ($root) ==="
    printf '%-9s %-21s %-20s %6s  %s\n' backend suite result time "suite's own count"
    printf '%s\n' "${rows[@]}"
    echo
    echo "litmus is NON-BLOCKING: its result is reported above but does not change the exit status."
} | tee "$root/summary.txt"
npass=$(grep -cE ' PASS ' "$root/summary.txt" || true)
nfail=$(grep -E ' FAIL' "$root/summary.txt" | grep -vc 'non-blocking' || true)
nnb=$(grep -c 'FAIL (non-blocking)' "$root/summary.txt" || true)
echo "non-blocking suites that failed: $nnb"
echo "suites: $npass passed, $nfail failed"
exit "$blocking_failed"
