#!/usr/bin/env bash
# Two-way sync of >=500 events between a local vdir and the server's "default"
# calendar with vdirsyncer, then edits, deletions and a conflict on both sides.
#
# Usage: vdirsyncer.sh [URL USER PASSWORD]   (defaults: CT_URL CT_USER CT_PASSWORD)
# Env: CT_RESULTS_DIR (results), CT_VDIR_KEEP=DIR (copy the final vdir there,
#      used by run.sh to hand it to khal.sh), CT_EVENTS (default 520).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CT_URL="${1:-${CT_URL:?CT_URL or URL argument required}}"
export CT_USER="${2:-${CT_USER:-alice}}"
export CT_PASSWORD="${3:-${CT_PASSWORD:?CT_PASSWORD or PASSWORD argument required}}"
py="$here/.venv/bin/python"
vds="$here/.venv/bin/vdirsyncer"
tool="$here/vdir_tool.py"
out="${CT_RESULTS_DIR:-$here/results/vdirsyncer-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
work="$(mktemp -d /tmp/ct-vdirsyncer.XXXXXX)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

cal_url="$("$py" "$tool" calurl "$CT_URL" default)"
echo "server calendar: $cal_url"
vdir="$work/vdir"
mkdir -p "$vdir/default"
"$py" "$tool" generate "$vdir/default" "${CT_EVENTS:-520}"

cat >"$work/config" <<EOF
[general]
status_path = "$work/status/"

[pair madang]
a = "local"
b = "server"
collections = ["default"]
conflict_resolution = "a wins"
metadata = []

[storage local]
type = "filesystem"
path = "$vdir/"
fileext = ".ics"

[storage server]
type = "caldav"
url = "$CT_URL"
username = "$CT_USER"
password = "$CT_PASSWORD"
EOF

run_vds() { # name args... ; logs to $out/vdirsyncer-<name>.log
    local name="$1"
    shift
    local rc=0
    "$vds" -c "$work/config" -v INFO "$@" </dev/null >"$out/vdirsyncer-$name.log" 2>&1 || rc=$?
    return "$rc"
}
changes() { grep -cE 'Copying|Updating|Deleting' "$out/vdirsyncer-$1.log" || true; }

# 1. discover + initial sync
if run_vds discover discover; then ok "vdirsyncer discover"; else bad "vdirsyncer discover"; cat "$out/vdirsyncer-discover.log"; fi
if grep -q 'default' "$out/vdirsyncer-discover.log"; then ok "discover found collection 'default'"; else bad "discover did not list 'default'"; fi
t0=$(date +%s)
if run_vds sync1 sync; then ok "initial sync ($(changes sync1) changes, $(($(date +%s) - t0)) s)"; else bad "initial sync"; tail -n 30 "$out/vdirsyncer-sync1.log"; fi
if "$py" "$tool" compare "$vdir/default" "$cal_url" "$out/compare-1.json"; then ok "both sides agree after initial sync"; else bad "sides differ after initial sync"; fi

# 2. changes on both sides
for i in 0001 0006 0011 0016 0021 0026 0031 0036 0041 0046; do
    "$py" "$tool" edit-local "$vdir/default" "ct-$i@conformance.madang" "edited locally $i"
done
for i in 0002 0007 0012 0017 0022 0027 0032 0037 0042 0047; do # includes weekly (…2/7 mod 5)
    "$py" "$tool" remote "$cal_url" edit "ct-$i@conformance.madang" "edited on server $i"
done
for i in 0003 0008 0013 0018 0023; do rm "$vdir/default/ct-${i}_conformance.madang.ics"; done
for i in 0004 0009 0014 0019 0024; do "$py" "$tool" remote "$cal_url" delete "ct-$i@conformance.madang"; done
for i in 1 2 3; do
    "$py" "$tool" new-local "$vdir/default" "new-local-$i@conformance.madang" "new local $i"
    "$py" "$tool" remote "$cal_url" new "new-server-$i@conformance.madang" "new server $i"
done
# conflict: the same item edited on both sides; conflict_resolution = "a wins" (local)
"$py" "$tool" edit-local "$vdir/default" "ct-0100@conformance.madang" "conflict: local version"
"$py" "$tool" remote "$cal_url" edit "ct-0100@conformance.madang" "conflict: server version"

if run_vds sync2 sync; then ok "sync after changes ($(changes sync2) changes)"; else bad "sync after changes"; tail -n 30 "$out/vdirsyncer-sync2.log"; fi
if "$py" "$tool" compare "$vdir/default" "$cal_url" "$out/compare-2.json"; then ok "both sides agree after changes"; else bad "sides differ after changes"; fi
expected=$((${CT_EVENTS:-520} - 10 + 6))
count=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["server"])' "$out/compare-2.json")
if [[ "$count" == "$expected" ]]; then ok "server holds $count items (expected $expected)"; else bad "server holds $count items, expected $expected"; fi
s=$("$py" "$tool" summary "$vdir/default" "$cal_url" "ct-0100@conformance.madang")
if [[ "$s" == "conflict: local version|conflict: local version" ]]; then ok "conflict resolved as 'a wins' on both sides"; else bad "conflict result local|server = $s"; fi
s=$("$py" "$tool" summary "$vdir/default" "$cal_url" "ct-0002@conformance.madang")
if [[ "$s" == "edited on server 0002|edited on server 0002" ]]; then ok "server edit reached the vdir"; else bad "server edit: $s"; fi
s=$("$py" "$tool" summary "$vdir/default" "$cal_url" "ct-0001@conformance.madang")
if [[ "$s" == "edited locally 0001|edited locally 0001" ]]; then ok "local edit reached the server"; else bad "local edit: $s"; fi
s=$("$py" "$tool" summary "$vdir/default" "$cal_url" "ct-0003@conformance.madang")$("$py" "$tool" summary "$vdir/default" "$cal_url" "ct-0004@conformance.madang")
if [[ "$s" == "-|--|-" ]]; then ok "deletions propagated both ways"; else bad "deletions: $s"; fi

# 3. a sync with nothing to do must change nothing
if run_vds sync3 sync; then
    n=$(changes sync3)
    if [[ "$n" == 0 ]]; then ok "final sync is a no-op"; else bad "final sync made $n changes"; grep -E 'Copying|Updating|Deleting' "$out/vdirsyncer-sync3.log" | head; fi
else
    bad "final sync"
fi
if "$py" "$tool" compare "$vdir/default" "$cal_url" "$out/compare-3.json"; then ok "both sides still agree"; else bad "sides differ at the end"; fi

if [[ -n "${CT_VDIR_KEEP:-}" ]]; then
    rm -rf "$CT_VDIR_KEEP"
    mkdir -p "$CT_VDIR_KEEP"
    cp -r "$vdir/." "$CT_VDIR_KEEP/"
fi
echo "logs and comparisons in $out"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
