#!/usr/bin/env bash
# khal over data that went through the server: upload >=500 generated events
# plus DST/override fixtures with vdirsyncer, download them into a second,
# empty vdir, then `khal list` the week 2026-10-19..25 (which holds the end of
# DST in Europe on 2026-10-25) and compare every instance with an independent
# computation (icalendar + recurring_ical_events), both over the downloaded
# files and over the original ones (so the server must not change meaning).
#
# Usage: khal.sh [URL USER PASSWORD]   (defaults: CT_URL CT_USER CT_PASSWORD)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CT_URL="${1:-${CT_URL:?CT_URL or URL argument required}}"
export CT_USER="${2:-${CT_USER:-alice}}"
export CT_PASSWORD="${3:-${CT_PASSWORD:?CT_PASSWORD or PASSWORD argument required}}"
venv="$here/.venv"
py="$venv/bin/python"
out="${CT_RESULTS_DIR:-$here/results/khal-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
work="$(mktemp -d /tmp/ct-khal.XXXXXX)"
trap 'rm -rf "$work"' EXIT
week_start=2026-10-19
week_end=2026-10-26 # exclusive

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

mkdir -p "$work/up/default" "$work/down/default"
"$py" "$here/vdir_tool.py" generate "$work/up/default" "${CT_EVENTS:-520}"
"$py" "$here/khal_expect.py" dst-fixtures "$work/up/default"

cat >"$work/vdirsyncer.conf" <<EOF
[general]
status_path = "$work/status/"

[pair up]
a = "up_local"
b = "server"
collections = ["default"]
conflict_resolution = "a wins"

[pair down]
a = "down_local"
b = "server"
collections = ["default"]
conflict_resolution = "b wins"

[storage up_local]
type = "filesystem"
path = "$work/up/"
fileext = ".ics"

[storage down_local]
type = "filesystem"
path = "$work/down/"
fileext = ".ics"

[storage server]
type = "caldav"
url = "$CT_URL"
username = "$CT_USER"
password = "$CT_PASSWORD"
EOF
vds() { "$venv/bin/vdirsyncer" -c "$work/vdirsyncer.conf" "$@" </dev/null >>"$out/vdirsyncer.log" 2>&1; }
if vds discover && vds sync up; then ok "uploaded with vdirsyncer"; else bad "upload"; tail -n 20 "$out/vdirsyncer.log"; fi
if vds sync down; then ok "downloaded into an empty vdir"; else bad "download"; tail -n 20 "$out/vdirsyncer.log"; fi
n_up=$(find "$work/up/default" -name '*.ics' | wc -l)
n_down=$(find "$work/down/default" -name '*.ics' | wc -l)
if [[ "$n_down" -ge "$n_up" ]]; then ok "downloaded $n_down items (uploaded $n_up)"; else bad "downloaded $n_down items, uploaded $n_up"; fi

cat >"$work/khal.conf" <<EOF
[calendars]
[[madang]]
path = $work/down/default
type = calendar

[locale]
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
local_timezone = Europe/Berlin
default_timezone = Europe/Berlin
firstweekday = 0

[default]
default_calendar = madang

[sqlite]
path = $work/khal.db
EOF
# One line per event per day; the same instance on several days is one line after sort -u.
if "$venv/bin/khal" -c "$work/khal.conf" list --day-format "" \
    --format "{start}|{end}|{title}|{uid}" "$week_start" 7d >"$work/khal.raw" 2>"$out/khal.stderr"; then
    sort -u "$work/khal.raw" >"$out/khal-list.txt"
    ok "khal list $week_start 7d: $(wc -l <"$out/khal-list.txt") instances"
else
    bad "khal list failed"
    cat "$out/khal.stderr"
fi
"$py" "$here/khal_expect.py" instances "$work/down/default" "$week_start" "$week_end" >"$out/expected-downloaded.txt"
"$py" "$here/khal_expect.py" instances "$work/up/default" "$week_start" "$week_end" >"$out/expected-original.txt"
if "$py" "$here/khal_expect.py" diff "$out/khal-list.txt" "$out/expected-downloaded.txt"; then
    ok "khal instances == recurring_ical_events over the downloaded files"
else
    bad "khal and recurring_ical_events disagree on the downloaded files"
fi
if "$py" "$here/khal_expect.py" diff "$out/khal-list.txt" "$out/expected-original.txt"; then
    ok "khal instances == recurring_ical_events over the original files (server kept the meaning)"
else
    bad "instances from the server's copies differ from the originals"
fi
# Absolute anchors around the DST change, so a bug shared by both tools is caught.
for want in \
    "2026-10-24 09:00|2026-10-24 09:30|Daily UTC report|dst-daily-utc@conformance.madang" \
    "2026-10-25 08:00|2026-10-25 08:30|Daily UTC report|dst-daily-utc@conformance.madang" \
    "2026-10-25 09:00|2026-10-25 09:30|Daily standup (Berlin)|dst-daily-berlin@conformance.madang" \
    "2026-10-22 16:00|2026-10-22 16:30|Daily standup (moved)|dst-daily-berlin@conformance.madang" \
    "2026-10-25 01:00|2026-10-25 04:00|Night shift across the change|dst-night@conformance.madang" \
    "2026-10-19|2026-10-19|Weekly all-day|dst-weekly-allday@conformance.madang"; do
    if grep -qxF "$want" "$out/khal-list.txt"; then ok "khal shows: $want"; else bad "khal lacks: $want"; fi
done
for unwanted in \
    "2026-10-23 09:00|2026-10-23 09:30|Daily standup (Berlin)|dst-daily-berlin@conformance.madang" \
    "2026-10-22 09:00|2026-10-22 09:30|Daily standup (Berlin)|dst-daily-berlin@conformance.madang" \
    "2026-10-25|2026-10-25|Weekly all-day|dst-weekly-allday@conformance.madang"; do
    if grep -qxF "$unwanted" "$out/khal-list.txt"; then bad "khal shows excluded/overridden: $unwanted"; else ok "excluded/overridden absent: ${unwanted%%|*} ${unwanted##*|}"; fi
done
echo "results in $out"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
