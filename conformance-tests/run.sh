#!/usr/bin/env bash
# Runs the conformance suites against a fresh `madang serve` per suite.
#
# Usage: run.sh [sqlite|postgres|all|radicale] [suite...]
#   backend  sqlite (default: all = sqlite + postgres); "radicale" runs the
#            same suites against Radicale to validate the harness itself.
#   suites   any of: caldav_library caldav_server_tester vdirsyncer khal vdirsyncer_contacts khard replay schemathesis
#            oidc_authlib oidc_goth oidc_apache web_flows web_browser web_client mailproxy_smtp litmus
#            (default: all of them; the identity suites oidc_*, web_flows, web_browser, web_client and the
#            mail listener suites mailproxy_* are skipped on radicale)
# Env: MADANG_BIN (default target/release/madang), CT_SKIP_SETUP=1 (do not run setup.sh)
# Results: conformance-tests/results/<timestamp>-<pid>/<backend>/<suite>/ (output.txt,
#          server.log and whatever the suite writes), summary.txt beside them.
# Exit status: non-zero if any blocking suite failed. litmus is NON-BLOCKING.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ALL_SUITES=(caldav_library caldav_server_tester vdirsyncer khal vdirsyncer_contacts khard replay schemathesis
    oidc_authlib oidc_goth oidc_apache web_flows web_browser web_client mailproxy_smtp litmus)
NON_BLOCKING=(litmus)
# Madang's own identity features (OIDC provider, web pages): nothing to test on Radicale.
MADANG_ONLY=(oidc_authlib oidc_goth oidc_apache web_flows web_browser web_client mailproxy_smtp)

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
        # swaks and curl submitting through Madang's SMTP listeners into the harness's Dovecot.
        mailproxy_smtp) timeout 180 "$here/mailproxy_smtp.sh" ;;
    esac
}

run_on_fresh_server() { # BACKEND SUITE DIR; run in a subshell so the EXIT trap stops the server
    # shellcheck source=lib.sh
    source "$here/lib.sh"
    export CT_RESULTS_DIR="$3" CT_DUMP_LOG=0 CT_KEEP_LOG_AS="$3/server.log"
    # The mail listener suites need Madang's IMAP and SMTP listeners (lib.sh).
    if [[ "$2" == mailproxy_* ]]; then export CT_MAILPROXY=1; fi
    ct_start_server "$1"
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
