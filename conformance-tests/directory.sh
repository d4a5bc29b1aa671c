#!/usr/bin/env bash
# The company directory through real clients: vdirsyncer finds it in alice's
# address-book home and downloads it read-only, khard (vobject) parses every
# card and finds colleagues by e-mail as a mail client's autocomplete does; an
# account created and one disabled with the CLI show up and disappear at the
# next sync; curl sees `current-user-privilege-set` without write privileges
# and a PUT refused with 403 `DAV:need-privileges`.
#
# Usage: directory.sh [URL USER PASSWORD]   (defaults: CT_URL CT_USER CT_PASSWORD)
# Env: CT_RESULTS_DIR, CT_MADANG_CLI (the CLI on the server's storage, from lib.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=khard_conf.sh
. "$here/khard_conf.sh"
export CT_URL="${1:-${CT_URL:?CT_URL or URL argument required}}"
export CT_USER="${2:-${CT_USER:-alice}}"
export CT_PASSWORD="${3:-${CT_PASSWORD:?CT_PASSWORD or PASSWORD argument required}}"
cli="${CT_MADANG_CLI:?CT_MADANG_CLI is set by lib.sh (ct_start_madang)}"
vds="$here/.venv/bin/vdirsyncer"
khard="$here/.venv/bin/khard"
out="${CT_RESULTS_DIR:-$here/results/directory-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
work="$(mktemp -d /tmp/ct-directory.XXXXXX)"
trap 'rm -rf "$work"' EXIT
[[ -x "$khard" && -x "$vds" ]] || { echo "vdirsyncer/khard are not in $here/.venv: run setup.sh" >&2; exit 1; }

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

book="${CT_URL}dav/addressbooks/$CT_USER/directory/"
printf 'carol-secret-pw\n' | "$cli" user add carol --email carol.jones@example.com --display-name "Carol Jones" \
    >>"$out/cli.log" 2>&1 || bad "madang user add carol"
printf 'dan-secret-pw\n' | "$cli" user add dan --email dan@example.com --display-name "Dan Østergaard" \
    >>"$out/cli.log" 2>&1 || bad "madang user add dan"

mkdir -p "$work/dir/directory"
cat >"$work/vdirsyncer.conf" <<CONF
[general]
status_path = "$work/status/"

[pair dir]
a = "local"
b = "server"
collections = ["directory"]

[storage local]
type = "filesystem"
path = "$work/dir/"
fileext = ".vcf"

[storage server]
type = "carddav"
url = "$CT_URL"
username = "$CT_USER"
password = "$CT_PASSWORD"
read_only = true
CONF
vds_run() { "$vds" -c "$work/vdirsyncer.conf" "$@" </dev/null >>"$out/vdirsyncer.log" 2>&1; }
count() { find "$work/dir/directory" -name '*.vcf' | wc -l; }

if vds_run discover dir && vds_run sync dir; then ok "vdirsyncer discovered and synced the directory"; else bad "sync"; tail -n 30 "$out/vdirsyncer.log"; fi
if [[ "$(count)" == 4 ]]; then ok "4 cards: alice, bob, carol, dan"; else bad "$(count) cards, expected 4"; fi

khard_conf "$work/khard.conf" directory "$work/dir/directory/"
kh() { "$khard" -c "$work/khard.conf" "$@" </dev/null 2>>"$out/khard-stderr.log"; }
if kh list --parsable >"$out/list.tsv"; then ok "khard lists the directory (skip_unparsable = no: every card parses)"; else bad "khard list"; tail -n 20 "$out/khard-stderr.log"; fi
if grep -q $'\tCarol Jones' "$out/list.tsv" && grep -q $'\tDan Østergaard' "$out/list.tsv"; then ok "display names as the accounts have them"; else bad "names: $(cut -f2 "$out/list.tsv" | tr '\n' ',')"; fi
kh email --parsable --remove-first-line carol >"$out/email-carol.tsv" || true
if grep -q "carol.jones@example.com" "$out/email-carol.tsv"; then ok "khard email 'carol' finds carol.jones@example.com"; else bad "khard email carol: $(cat "$out/email-carol.tsv")"; fi
kh email --parsable --remove-first-line østergaard >"$out/email-dan.tsv" || true
if grep -q "dan@example.com" "$out/email-dan.tsv"; then ok "khard email 'østergaard' finds dan@example.com"; else bad "khard email østergaard: $(cat "$out/email-dan.tsv")"; fi
if grep -rqiE 'argon2|password' "$work/dir/directory"; then bad "a card holds credentials"; else ok "no credentials in any card"; fi

# A departure: the disabled account's card is gone at the next sync, the others untouched.
before="$(cd "$work/dir/directory" && md5sum ./*.vcf | sort)"
"$cli" user disable carol >>"$out/cli.log" 2>&1 || bad "madang user disable carol"
if vds_run sync dir; then ok "second sync"; else bad "second sync"; tail -n 30 "$out/vdirsyncer.log"; fi
if [[ "$(count)" == 3 ]] && ! grep -rq "carol.jones@example.com" "$work/dir/directory"; then ok "carol's card removed after she was disabled"; else bad "$(count) cards after disabling carol"; fi
after="$(cd "$work/dir/directory" && md5sum ./*.vcf | sort)"
if [[ "$(comm -13 <(echo "$before") <(echo "$after") | wc -l)" == 0 ]]; then ok "the other cards are byte-identical"; else bad "other cards changed"; fi

# Read-only, honestly advertised and enforced.
auth=(-s -u "$CT_USER:$CT_PASSWORD")
curl "${auth[@]}" -X PROPFIND -H 'Depth: 0' -H 'Content-Type: application/xml' \
    --data '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:current-user-privilege-set/></D:prop></D:propfind>' \
    "$book" >"$out/cups.xml"
if grep -q '<D:read/>' "$out/cups.xml" && ! grep -qE '<D:(write|write-content|bind|all)/>' "$out/cups.xml"; then
    ok "current-user-privilege-set: read only"
else
    bad "current-user-privilege-set: $(cat "$out/cups.xml")"
fi
status=$(curl "${auth[@]}" -o "$out/put.xml" -w '%{http_code}' -X PUT -H 'Content-Type: text/vcard' \
    --data-binary $'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:intruder\r\nFN:Intruder\r\nN:Intruder;;;;\r\nEND:VCARD\r\n' \
    "${book}intruder.vcf")
if [[ "$status" == 403 ]] && grep -q 'need-privileges' "$out/put.xml" && grep -q '<D:bind/>' "$out/put.xml"; then
    ok "PUT into the directory: 403 need-privileges (bind)"
else
    bad "PUT into the directory: $status $(cat "$out/put.xml")"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
