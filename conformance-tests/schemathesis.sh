#!/usr/bin/env bash
# schemathesis (property-based API testing) against the JSON API's own OpenAPI
# spec: every operation of GET /api/v1/openapi.json gets generated valid and
# invalid requests (path, query, headers, bodies) with Basic auth as alice, and
# every response must be no 5xx, a status the spec declares for the operation,
# a declared content type, declared headers, and a body that validates against
# the declared schema.
#
# Usage: schemathesis.sh [URL USER PASSWORD]   (defaults: CT_URL CT_USER CT_PASSWORD)
# Env: CT_RESULTS_DIR, CT_ST_MAX_EXAMPLES (default 25 per operation and phase),
#      CT_ST_TIMEOUT (default 150 s for the whole run), CT_ST_SEED (default: random;
#      the seed is printed, rerun with it to reproduce), CT_ST_WORKERS (default 2),
#      CT_ST_PHASES (default examples,coverage,fuzzing; the spec has no links, so
#      the stateful phase would find nothing to chain).
# schemathesis.toml points most collection sub-route requests at existing collections.
# Writes to the results dir: junit.xml, events.ndjson, schemathesis.txt (the
# tool's own output with reproducible curl commands for every failure).
# Prints `schemathesis: N operations, M failures` and exits non-zero on any
# failure, error or timeout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
url="${1:-${CT_URL:?CT_URL or URL argument required}}"
user="${2:-${CT_USER:-alice}}"
password="${3:-${CT_PASSWORD:?CT_PASSWORD or PASSWORD argument required}}"
st="$here/.venv-schemathesis/bin/schemathesis"
out="${CT_RESULTS_DIR:-$here/results/schemathesis-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
[[ -x "$st" ]] || { echo "schemathesis is not in $here/.venv-schemathesis: run setup.sh (pinned in requirements-schemathesis.txt)" >&2; exit 1; }

spec_url="${url%/}/api/v1/openapi.json"
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
seed="${CT_ST_SEED:-$(python3 -c 'import random; print(random.randrange(1, 2**31))')}"
limit="${CT_ST_TIMEOUT:-150}"

# The spec is public; fetch it once so a broken spec fails loudly here.
curl -sf --max-time 10 -o "$out/openapi.json" "$spec_url" || { echo "cannot GET $spec_url" >&2; exit 1; }

# Chat and mail are off until an administrator turns them on (src/modules.rs); without it every chat
# or mail operation would only ever meet 403 module_disabled. An administrator made for the purpose
# turns them on, and the run waits until the server says so.
if [[ -n "${CT_MADANG_CLI:-}" ]]; then
    admin="ct-st-admin"
    admin_password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
    printf '%s\n' "$admin_password" | "$CT_MADANG_CLI" user add "$admin" --email "$admin@example.com" --admin >/dev/null 2>&1 ||
        printf '%s\n' "$admin_password" | "$CT_MADANG_CLI" user set-password "$admin" >/dev/null 2>&1 || true
    code="$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -u "$admin:$admin_password" -X PUT \
        -H 'Content-Type: application/json' --data '{"chat": true, "mail": true}' "${url%/}/api/v1/admin/modules" || true)"
    [[ "$code" == 200 ]] || { echo "cannot turn the chat and mail modules on (HTTP $code)" >&2; exit 1; }
    for _ in $(seq 1 50); do
        curl -sf --max-time 5 -u "$user:$password" "${url%/}/api/v1/me" | grep -q '"mail":true' && break
        sleep 0.1
    done
fi

# The calendar the DELETE /calendars/{id} tests delete (schemathesis.toml); the defaults stay.
# 409: left over from an earlier run against the same server.
code="$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -u "$user:$password" -H 'Content-Type: application/json' \
    --data '{"id": "ct-doomed", "name": "Deleted by schemathesis"}' "${url%/}/api/v1/calendars" || true)"
[[ "$code" == 201 || "$code" == 409 ]] || { echo "cannot create the calendar ct-doomed (HTTP $code)" >&2; exit 1; }

args=(
    --config-file "$here/schemathesis.toml"
    run "$spec_url"
    --auth "$user:$password"
    --checks "$checks"
    --phases "${CT_ST_PHASES:-examples,coverage,fuzzing}"
    --max-examples "${CT_ST_MAX_EXAMPLES:-25}"
    --seed "$seed"
    --workers "${CT_ST_WORKERS:-2}"
    --request-timeout 10
    --generation-database none
    --suppress-health-check all
    --report "junit,ndjson"
    --report-junit-path "$out/junit.xml"
    --report-ndjson-path "$out/events.ndjson"
    --no-color
)
echo "schemathesis $("$st" --version | awk '{print $NF}') against $spec_url (seed $seed, timeout ${limit}s)"
rc=0
# The run happens in a scratch dir so nothing (.hypothesis, reports) lands in the repo.
work="$(mktemp -d /tmp/ct-schemathesis.XXXXXX)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && exec timeout --signal=INT --kill-after=15 "$limit" "$st" "${args[@]}") 2>&1 | tee "$out/schemathesis.txt" ||
    rc=$?
[[ $rc -ne 124 ]] || echo "schemathesis did not finish within ${limit}s"

# Operations from the spec; failures from the JUnit report (one <failure>/<error> per distinct problem).
summary="$(python3 - "$out/openapi.json" "$out/junit.xml" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
spec = json.load(open(sys.argv[1]))
ops = sum(1 for item in spec.get("paths", {}).values() for m in item if m in ("get", "put", "post", "delete", "patch", "head", "options"))
try:
    root = ET.parse(sys.argv[2]).getroot()
    cases = list(root.iter("testcase"))
    failures = sum(len(tc.findall("failure")) + len(tc.findall("error")) for tc in cases)
    ran = len(cases)
    bad = sum(1 for tc in cases if tc.findall("failure") or tc.findall("error"))
except (OSError, ET.ParseError):
    failures, ran, bad = -1, 0, 0
print(ops, failures, ran, bad)
EOF
)"
read -r ops failures ran bad <<<"$summary"
if [[ "$failures" -lt 0 ]]; then
    echo "schemathesis: $ops operations, no report (exit status $rc)"
    exit 1
fi
# N is what schemathesis tested (it leaves out the spec's own route); none at all is a failure.
echo "schemathesis: $ran operations, $failures failures ($ops operations in the spec; report in $out)"
echo "operations: $((ran - bad)) passed, $bad failed" # the line run.sh's summary table shows
[[ $rc -eq 0 && $failures -eq 0 && $ran -gt 0 ]]
