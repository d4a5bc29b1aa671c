#!/usr/bin/env bash
# Two-way sync of >=200 contacts (vCard 3.0 and 4.0 mixed) between a local vdir
# and the server's address book with vdirsyncer's carddav storage, then edits,
# deletions and creations on both sides and a conflict.
#
# Usage: vdirsyncer_contacts.sh [URL USER PASSWORD]   (defaults: CT_URL CT_USER CT_PASSWORD)
# Env: CT_RESULTS_DIR (results), CT_CONTACTS (default 520),
#      CT_SERVER_KIND (madang: the provisioned "default" address book;
#      radicale: a "contacts" address book is made with extended MKCOL).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CT_URL="${1:-${CT_URL:?CT_URL or URL argument required}}"
export CT_USER="${2:-${CT_USER:-alice}}"
export CT_PASSWORD="${3:-${CT_PASSWORD:?CT_PASSWORD or PASSWORD argument required}}"
py="$here/.venv/bin/python"
vds="$here/.venv/bin/vdirsyncer"
tool="$here/vcard_tool.py"
n="${CT_CONTACTS:-520}"
out="${CT_RESULTS_DIR:-$here/results/vdirsyncer_contacts-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
work="$(mktemp -d /tmp/ct-vdirsyncer-contacts.XXXXXX)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

if [[ "${CT_SERVER_KIND:-madang}" == radicale ]]; then
    book=contacts
    "$py" "$tool" mkbook "$CT_URL" "$book" >/dev/null
else
    book=default # provisioned on first DAV use, named "Contacts"
fi
book_url="$("$py" "$tool" bookurl "$CT_URL" "$book")"
echo "server address book: $book_url"
vdir="$work/vdir"
mkdir -p "$vdir/$book"
"$py" "$tool" generate "$vdir/$book" "$n"

cat >"$work/config" <<CONF
[general]
status_path = "$work/status/"

[pair contacts]
a = "local"
b = "server"
collections = ["$book"]
conflict_resolution = "a wins"
metadata = ["displayname"]

[storage local]
type = "filesystem"
path = "$vdir/"
fileext = ".vcf"

[storage server]
type = "carddav"
url = "$CT_URL"
username = "$CT_USER"
password = "$CT_PASSWORD"
CONF

run_vds() { # name args... ; logs to $out/vdirsyncer-<name>.log
    local name="$1"
    shift
    local rc=0
    "$vds" -c "$work/config" -v INFO "$@" </dev/null >"$out/vdirsyncer-$name.log" 2>&1 || rc=$?
    return "$rc"
}
changes() { grep -cE 'Copying|Updating|Deleting' "$out/vdirsyncer-$1.log" || true; }

# 1. discovery (well-known carddav → principal → addressbook-home-set) and the initial upload
if run_vds discover discover; then ok "vdirsyncer discover"; else bad "vdirsyncer discover"; cat "$out/vdirsyncer-discover.log"; fi
if grep -q "$book" "$out/vdirsyncer-discover.log"; then ok "discover found address book '$book'"; else bad "discover did not list '$book'"; fi
t0=$(date +%s)
if run_vds sync1 sync; then ok "initial sync ($(changes sync1) changes, $(($(date +%s) - t0)) s)"; else bad "initial sync"; tail -n 30 "$out/vdirsyncer-sync1.log"; fi
if "$py" "$tool" compare "$vdir/$book" "$book_url" "$out/compare-1.json"; then ok "both sides agree after initial sync"; else bad "sides differ after initial sync"; fi
if run_vds metasync metasync; then ok "metasync (displayname)"; else bad "metasync"; tail -n 20 "$out/vdirsyncer-metasync.log"; fi

# 2. changes on both sides (odd numbers are vCard 4.0 cards)
for i in 0001 0006 0011 0016 0021 0026 0031 0036 0041 0046; do
    "$py" "$tool" edit-local "$vdir/$book" "ct-card-$i" "edited locally $i"
done
for i in 0002 0007 0012 0017 0022 0027 0032 0037 0042 0047; do
    "$py" "$tool" remote "$book_url" edit "ct-card-$i" "edited on server $i"
done
for i in 0003 0008 0013 0018 0023; do "$py" "$tool" rm-local "$vdir/$book" "ct-card-$i"; done
for i in 0004 0009 0014 0019 0024; do "$py" "$tool" remote "$book_url" delete "ct-card-$i"; done
for i in 1 2 3; do
    "$py" "$tool" new-local "$vdir/$book" "new-local-$i" "Local Person$i"
    "$py" "$tool" remote "$book_url" new "new-server-$i" "Server Person$i"
done
# conflict: the same card edited on both sides; conflict_resolution = "a wins" (local)
"$py" "$tool" edit-local "$vdir/$book" "ct-card-0100" "conflict: local version"
"$py" "$tool" remote "$book_url" edit "ct-card-0100" "conflict: server version"

if run_vds sync2 sync; then ok "sync after changes ($(changes sync2) changes)"; else bad "sync after changes"; tail -n 30 "$out/vdirsyncer-sync2.log"; fi
if "$py" "$tool" compare "$vdir/$book" "$book_url" "$out/compare-2.json"; then ok "both sides agree after changes"; else bad "sides differ after changes"; fi
expected=$((n - 10 + 6))
count=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["server"])' "$out/compare-2.json")
if [[ "$count" == "$expected" ]]; then ok "server holds $count cards (expected $expected)"; else bad "server holds $count cards, expected $expected"; fi
s=$("$py" "$tool" note "$vdir/$book" "$book_url" "ct-card-0100")
if [[ "$s" == "conflict: local version|conflict: local version" ]]; then ok "conflict resolved as 'a wins' on both sides"; else bad "conflict result local|server = $s"; fi
s=$("$py" "$tool" note "$vdir/$book" "$book_url" "ct-card-0007")
if [[ "$s" == "edited on server 0007|edited on server 0007" ]]; then ok "server edit of a 4.0 card reached the vdir"; else bad "server edit: $s"; fi
s=$("$py" "$tool" note "$vdir/$book" "$book_url" "ct-card-0001")
if [[ "$s" == "edited locally 0001|edited locally 0001" ]]; then ok "local edit of a 4.0 card reached the server"; else bad "local edit: $s"; fi
s=$("$py" "$tool" note "$vdir/$book" "$book_url" "ct-card-0003")$("$py" "$tool" note "$vdir/$book" "$book_url" "ct-card-0004")
if [[ "$s" == "-|--|-" ]]; then ok "deletions propagated both ways"; else bad "deletions: $s"; fi
s=$("$py" "$tool" note "$vdir/$book" "$book_url" "new-server-1")
if [[ "$s" == "None|None" ]]; then ok "a card created on the server reached the vdir"; else bad "new server card: $s"; fi

# 3. a sync with nothing to do must change nothing
if run_vds sync3 sync; then
    c=$(changes sync3)
    if [[ "$c" == 0 ]]; then ok "final sync is a no-op"; else bad "final sync made $c changes"; grep -E 'Copying|Updating|Deleting' "$out/vdirsyncer-sync3.log" | head; fi
else
    bad "final sync"
fi
if "$py" "$tool" compare "$vdir/$book" "$book_url" "$out/compare-3.json"; then ok "both sides still agree"; else bad "sides differ at the end"; fi

if [[ -n "${CT_VDIR_KEEP:-}" ]]; then
    rm -rf "$CT_VDIR_KEEP"
    mkdir -p "$CT_VDIR_KEEP"
    cp -r "$vdir/." "$CT_VDIR_KEEP/"
fi
echo "logs and comparisons in $out"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
