#!/usr/bin/env bash
# Real SMTP clients submitting through Madang's submission listeners (issue 15) into the
# harness's Dovecot (conformance-tests/dovecot.sh; its submission service files what it takes
# under $MADANG_TEST_DOVECOT_DIR/sink): swaks on the STARTTLS port (587-style) and on the
# implicit-TLS port (465-style), and curl's smtps:// upload. Checked: the login succeeds with an
# app password (by user name and by address), a wrong password gets 535, MAIL before AUTH gets
# 530, a sender other than the linked account gets 550, and what was accepted reached the sink
# with its envelope and its bytes.
#
# Needs a server with submission listeners (run.sh `suite_server_env mailproxy_smtp` starts one)
# and the MADANG_TEST_DOVECOT_* lines of dovecot.sh in the environment (.ci/test sets them).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CT_URL:?run through run.sh (or export CT_URL and the CT_*_PORT lines)}"
out="${CT_RESULTS_DIR:-$here/results/mailproxy_smtp-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
work="$(mktemp -d /tmp/ct-smtp.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if [[ -z "${MADANG_TEST_DOVECOT_DIR:-}" || -z "${CT_SUBMISSION_PORT:-}" ]]; then
    echo "no Dovecot (MADANG_TEST_DOVECOT_*) or no mail listeners (run.sh starts them): nothing to submit to" >&2
    exit 1
fi
command -v swaks >/dev/null || { echo "swaks is not installed (debian-packages.txt)" >&2; exit 1; }
ca="$MADANG_TEST_DOVECOT_CA"
sink="$MADANG_TEST_DOVECOT_DIR/sink"
run_id="ct$$-${CT_BACKEND:-x}"

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

# --- Set-up: the mail module on, alice's Dovecot mailbox linked, an app password for her phone.
admin_pw="admin-secret-pw"
printf '%s\n' "$admin_pw" | "$CT_MADANG_CLI" user add ctadmin --email ctadmin@example.com --admin >/dev/null
curl -sSf -o /dev/null -u "ctadmin:$admin_pw" -X PUT -H 'Content-Type: application/json' \
    --data '{"mail": true}' "${CT_URL}api/v1/admin/modules"
link="$(curl -sS -u "$CT_USER:$CT_PASSWORD" -X POST -H 'Content-Type: application/json' -w '\n%{http_code}' \
    --data "{\"email\": \"alice@example.test\", \"display_name\": \"Alice\",
             \"imap_host\": \"localhost\", \"imap_port\": $MADANG_TEST_DOVECOT_IMAPS, \"imap_security\": \"tls\",
             \"smtp_host\": \"localhost\", \"smtp_port\": $MADANG_TEST_DOVECOT_SUBMISSION, \"smtp_security\": \"starttls\",
             \"username\": \"alice@example.test\", \"password\": \"alice-imap-pw\"}" \
    "${CT_URL}api/v1/mail/accounts")"
[[ "${link##*$'\n'}" == 201 ]] || { echo "linking alice's mailbox failed: $link" >&2; exit 1; }
app_pw="$("$CT_MADANG_CLI" app-password add "$CT_USER" phone | tail -n 1 | awk '{print $NF}')"
[[ -n "$app_pw" ]] || { echo "no app password" >&2; exit 1; }

# swaks NAME EXPECTED-EXIT GREP ARGS...: runs swaks, keeps its transcript, checks exit and text.
swaks_case() {
    local name="$1" want="$2" pattern="$3" rc=0
    shift 3
    swaks --server 127.0.0.1 --helo "[127.0.0.1]" --timeout 30 --tls-verify --tls-ca-path "$ca" \
        "$@" >"$out/swaks-$name.txt" 2>&1 || rc=$?
    if [[ $rc -ne $want ]]; then
        bad "swaks $name: exit $rc, wanted $want ($(grep -E '^ *<~?\*? *[0-9]{3}' "$out/swaks-$name.txt" | tail -n 3 | tr '\n' ' '))"
    elif ! grep -Eq "$pattern" "$out/swaks-$name.txt"; then
        bad "swaks $name: no /$pattern/ in the transcript ($out/swaks-$name.txt)"
    else
        ok "swaks $name"
    fi
}

# The envelope line and file of the message with this subject, within 10 s (one python3 per
# look: the sink holds every message the Rust tests sent too).
find_in_sink() {
    local i
    for i in $(seq 50); do
        python3 - "$sink" "$1" <<'EOF' && return 0
import json, os, sys
sink, subject = sys.argv[1], ("Subject: " + sys.argv[2] + "\r\n").encode()
try:
    lines = open(os.path.join(sink, "envelopes.jsonl")).read().splitlines()
except FileNotFoundError:
    sys.exit(1)
for line in reversed(lines):
    path = os.path.join(sink, "new", json.loads(line)["file"])
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        continue
    if subject in data:
        print(line)
        print(path)
        sys.exit(0)
sys.exit(1)
EOF
        sleep 0.2
    done
    return 1
}

# check_sink SUBJECT FROM TO [BODY-FILE]: delivered once, with this envelope (and these bytes at its end).
check_sink() {
    local subject="$1" from="$2" to="$3" body="${4:-}" found envelope file
    if ! found="$(find_in_sink "$subject")"; then
        bad "sink: $subject never arrived"
        return
    fi
    envelope="$(sed -n 1p <<<"$found")"
    file="$(sed -n 2p <<<"$found")"
    if ! python3 - "$envelope" "$from" "$to" <<'EOF'; then
import json, sys
e = json.loads(sys.argv[1])
sys.exit(0 if e["from"] == sys.argv[2] and e["to"] == sys.argv[3].split(",") else 1)
EOF
        bad "sink: $subject has the envelope $envelope, wanted from $from to $to"
        return
    fi
    if [[ -n "$body" ]] && ! python3 - "$file" "$body" <<'EOF'; then
import sys
sink, sent = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
# Dovecot's submission service adds its Received: header on top; the rest must be the client's bytes.
sys.exit(0 if sink.endswith(sent) and sink[: len(sink) - len(sent)].startswith(b"Received: ") else 1)
EOF
        bad "sink: $subject arrived changed ($file vs $body)"
        return
    fi
    ok "sink: $subject arrived with its envelope${body:+ and its bytes}"
}

never_in_sink() {
    if grep -rqs "^Subject: $1" "$sink/new"; then bad "sink: $1 was sent, and must not have been"; else ok "sink: no $1"; fi
}

# --- 587-style: STARTTLS required before AUTH (swaks -tls), AUTH PLAIN with the app password.
s="$run_id-starttls"
swaks_case starttls-plain 0 '^ *<~ +250 ' --port "$CT_SUBMISSION_PORT" -tls --auth PLAIN \
    --auth-user "$CT_USER" --auth-password "$app_pw" --from alice@example.test --to carol@example.org \
    --header "Subject: $s"
check_sink "$s" alice@example.test carol@example.org
# AUTH LOGIN, logging in by address as autoconfig's %EMAILADDRESS% makes apps do, two recipients.
s="$run_id-login"
swaks_case starttls-login 0 '^ *<~ +235 ' --port "$CT_SUBMISSION_PORT" -tls --auth LOGIN \
    --auth-user alice@example.test --auth-password "$app_pw" --from alice@example.test \
    --to carol@example.org,dave@example.org --header "Subject: $s"
check_sink "$s" alice@example.test carol@example.org,dave@example.org
# RFC 2920: swaks sends MAIL, RCPT and DATA in one batch when PIPELINING is offered.
s="$run_id-pipelined"
swaks_case pipelined 0 '^ *<~ +250 ' --port "$CT_SUBMISSION_PORT" -tls --pipeline --auth PLAIN \
    --auth-user "$CT_USER" --auth-password "$app_pw" --from alice@example.test \
    --to gina@example.org,hank@example.org --header "Subject: $s"
check_sink "$s" alice@example.test gina@example.org,hank@example.org
# The EHLO before TLS offers STARTTLS; after it, AUTH in space form and SIZE.
if grep -q '^ *<- *250-STARTTLS' "$out/swaks-starttls-plain.txt" &&
    grep -q '^ *<~ *250-AUTH PLAIN LOGIN' "$out/swaks-starttls-plain.txt" &&
    grep -q '^ *<~ *250-SIZE 1048576' "$out/swaks-starttls-plain.txt"; then
    ok "EHLO: STARTTLS before TLS, AUTH PLAIN LOGIN and SIZE after"
else
    bad "EHLO lines (see $out/swaks-starttls-plain.txt)"
fi

# --- 465-style: TLS from the first byte.
s="$run_id-tls"
swaks_case tls-plain 0 '^ *<~ +250 ' --port "$CT_SUBMISSIONS_PORT" --tls-on-connect --auth PLAIN \
    --auth-user "$CT_USER" --auth-password "$app_pw" --from alice@example.test --to erin@example.org \
    --header "Subject: $s"
check_sink "$s" alice@example.test erin@example.org
# A wrong password: 535 (swaks exit 28, "failed to authenticate").
swaks_case wrong-password 28 '^ *<~\* +535 5\.7\.8' --port "$CT_SUBMISSIONS_PORT" --tls-on-connect \
    --auth PLAIN --auth-user "$CT_USER" --auth-password wrong-password --from alice@example.test \
    --to carol@example.org --header "Subject: $run_id-wrong"
never_in_sink "$run_id-wrong"
# No AUTH at all: MAIL is refused (no open relay; swaks exit 23, error in MAIL).
swaks_case unauthenticated 23 '^ *<~\* +530 5\.7\.0' --port "$CT_SUBMISSIONS_PORT" --tls-on-connect \
    --from alice@example.test --to carol@example.org --header "Subject: $run_id-anon"
never_in_sink "$run_id-anon"
# Logged in as alice, sending as bob: 550 5.7.1 at MAIL.
swaks_case foreign-sender 23 '^ *<~\* +550 5\.7\.1' --port "$CT_SUBMISSIONS_PORT" --tls-on-connect \
    --auth PLAIN --auth-user "$CT_USER" --auth-password "$app_pw" --from bob@example.test \
    --to carol@example.org --header "Subject: $run_id-forged"
never_in_sink "$run_id-forged"

# --- curl: an smtps:// upload of a file, sent as it is (a leading dot, 8-bit text, CRLF lines).
s="$run_id-curl"
printf 'From: Alice <alice@example.test>\r\nTo: frank@example.org\r\nSubject: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n.a line that starts with a dot\r\n안녕하세요\r\nend\r\n' "$s" >"$work/curl.eml"
if curl -sS --url "smtps://127.0.0.1:$CT_SUBMISSIONS_PORT" --cacert "$ca" --user "$CT_USER:$app_pw" \
    --mail-from alice@example.test --mail-rcpt frank@example.org --upload-file "$work/curl.eml" \
    -v >"$out/curl.txt" 2>&1; then
    ok "curl smtps upload"
else
    bad "curl smtps upload ($(tail -n 3 "$out/curl.txt" | tr '\n' ' '))"
fi
check_sink "$s" alice@example.test frank@example.org "$work/curl.eml"
# curl with STARTTLS required (--ssl-reqd) on the 587-style port, and a wrong password: 535.
if curl -sS --url "smtp://127.0.0.1:$CT_SUBMISSION_PORT" --ssl-reqd --cacert "$ca" --user "$CT_USER:nope" \
    --mail-from alice@example.test --mail-rcpt frank@example.org --upload-file "$work/curl.eml" \
    -v >"$out/curl-wrong.txt" 2>&1; then
    bad "curl with a wrong password was accepted"
elif grep -q '^< 535 5.7.8' "$out/curl-wrong.txt"; then
    ok "curl with a wrong password: 535"
else
    bad "curl with a wrong password: no 535 ($out/curl-wrong.txt)"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
