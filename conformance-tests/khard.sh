#!/usr/bin/env bash
# khard over contacts that went through the server: upload >=200 generated
# vCards (3.0 and 4.0 mixed) with vdirsyncer's carddav storage, download them
# into a second, empty vdir, then list, search and show them with khard
# (which parses every card with vobject and refuses the run if one does not
# parse) and compare with what the original files say.
#
# Usage: khard.sh [URL USER PASSWORD]   (defaults: CT_URL CT_USER CT_PASSWORD)
# Env: CT_RESULTS_DIR, CT_CONTACTS (default 520), CT_SERVER_KIND (madang|radicale).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=khard_conf.sh
. "$here/khard_conf.sh"
export CT_URL="${1:-${CT_URL:?CT_URL or URL argument required}}"
export CT_USER="${2:-${CT_USER:-alice}}"
export CT_PASSWORD="${3:-${CT_PASSWORD:?CT_PASSWORD or PASSWORD argument required}}"
py="$here/.venv/bin/python"
vds="$here/.venv/bin/vdirsyncer"
khard="$here/.venv/bin/khard"
tool="$here/vcard_tool.py"
n="${CT_CONTACTS:-520}"
out="${CT_RESULTS_DIR:-$here/results/khard-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
work="$(mktemp -d /tmp/ct-khard.XXXXXX)"
trap 'rm -rf "$work"' EXIT
[[ -x "$khard" ]] || { echo "khard is not in $here/.venv: run setup.sh (it is pinned in requirements.txt)" >&2; exit 1; }

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

if [[ "${CT_SERVER_KIND:-madang}" == radicale ]]; then
    book=contacts
    "$py" "$tool" mkbook "$CT_URL" "$book" >/dev/null
else
    book=default
fi
mkdir -p "$work/up/$book" "$work/down/$book"
"$py" "$tool" generate "$work/up/$book" "$n"

cat >"$work/vdirsyncer.conf" <<CONF
[general]
status_path = "$work/status/"

[pair up]
a = "up_local"
b = "server"
collections = ["$book"]

[pair down]
a = "down_local"
b = "server"
collections = ["$book"]

[storage up_local]
type = "filesystem"
path = "$work/up/"
fileext = ".vcf"

[storage down_local]
type = "filesystem"
path = "$work/down/"
fileext = ".vcf"

[storage server]
type = "carddav"
url = "$CT_URL"
username = "$CT_USER"
password = "$CT_PASSWORD"
CONF
vds_run() { "$vds" -c "$work/vdirsyncer.conf" "$@" </dev/null >>"$out/vdirsyncer.log" 2>&1; }
if vds_run discover up && vds_run sync up; then ok "uploaded $n cards with vdirsyncer"; else bad "upload"; tail -n 30 "$out/vdirsyncer.log"; fi
if vds_run discover down && vds_run sync down; then ok "downloaded them into an empty vdir"; else bad "download"; tail -n 30 "$out/vdirsyncer.log"; fi
got=$(find "$work/down/$book" -name '*.vcf' | wc -l)
if [[ "$got" == "$n" ]]; then ok "$got cards downloaded"; else bad "$got cards downloaded, expected $n"; fi

khard_conf "$work/khard.conf" contacts "$work/down/$book/"
kh() { "$khard" -c "$work/khard.conf" "$@" </dev/null 2>>"$out/khard-stderr.log"; }

# 1. every card parses and is listed once
if kh list --parsable >"$out/list.tsv"; then ok "khard list (skip_unparsable = no: every card parses)"; else bad "khard list failed"; tail -n 20 "$out/khard-stderr.log"; fi
cut -f1 "$out/list.tsv" | sort >"$out/uids-listed.txt"
"$py" "$tool" uids "$work/up/$book" | sort >"$out/uids-expected.txt"
if diff -q "$out/uids-expected.txt" "$out/uids-listed.txt" >/dev/null; then ok "khard lists exactly the $n uploaded UIDs"; else bad "listed UIDs differ"; diff "$out/uids-expected.txt" "$out/uids-listed.txt" | head; fi
name=$(awk -F'\t' '$1 == "ct-card-0007" {print $2}' "$out/list.tsv")
if [[ "$name" == "Radia Fernández" ]]; then ok "non-ASCII name survives (ct-card-0007: $name)"; else bad "ct-card-0007 is listed as '$name'"; fi

# 2. searches: e-mail lookups as a mail client does them, against the original files
for q in lovelace müller zoë østergaard "o'neil" nick10; do
    kh email --parsable --remove-first-line "$q" | cut -f1,2 | sort >"$out/email-$q.tsv" || true
    "$py" "$tool" expect "$work/up/$book" "$q" >"$out/email-$q.expected"
    if [[ -s "$out/email-$q.expected" ]] && diff -q "$out/email-$q.expected" "$out/email-$q.tsv" >/dev/null; then
        ok "khard email '$q' finds $(wc -l <"$out/email-$q.tsv") address(es)"
    else
        bad "khard email '$q'"
        diff "$out/email-$q.expected" "$out/email-$q.tsv" | head
    fi
done

# 3. one vCard 4.0 card in detail
kh show --format yaml uid:ct-card-0007 >"$out/show-0007.yaml" || true
phone=$(kh phone --parsable ct-card-0007 | cut -f1 || true)
want_phone=$("$py" -c 'import sys; sys.path.insert(0, sys.argv[1]); import vcard_tool as t; print(t.prop_value(open(sys.argv[2], encoding="utf-8").read(), "TEL"))' "$here" "$work/up/$book/ct-card-0007.vcf")
if [[ -n "$phone" && "$phone" == "$want_phone" ]]; then ok "phone of a 4.0 card: $phone"; else bad "phone of ct-card-0007: '$phone', expected '$want_phone'"; fi
want_org=$("$py" -c 'import sys; sys.path.insert(0, sys.argv[1]); import vcard_tool as t; print(t.prop_value(open(sys.argv[2], encoding="utf-8").read(), "ORG"))' "$here" "$work/up/$book/ct-card-0007.vcf")
if grep -qF -- "$want_org" "$out/show-0007.yaml"; then ok "ORG of a 4.0 card ($want_org)"; else bad "ORG '$want_org' of ct-card-0007 missing"; head -40 "$out/show-0007.yaml"; fi
version=$(sed -n 's/^# Vcard version: //p' "$out/show-0007.yaml")
if [[ "${CT_SERVER_KIND:-madang}" == madang ]]; then
    # RFC 6352 §10.4: vdirsyncer's address-data names no version, so Madang answers 3.0.
    if [[ "$version" == 3.0 ]]; then ok "a stored 4.0 card is served as 3.0 to a client that did not ask for 4.0"; else bad "ct-card-0007 came down as vCard '$version'"; fi
else
    ok "ct-card-0007 came down as vCard $version (${CT_SERVER_KIND} serves cards as stored)"
fi

echo "khard output in $out"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
