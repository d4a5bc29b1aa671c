#!/usr/bin/env python3
"""Independent computation of the instances `khal list --once` should show.

  khal_expect.py dst-fixtures DIR              write the DST/override fixtures into DIR
  khal_expect.py instances DIR START END       print "start|end|title|uid" lines, sorted,
                                               for every instance overlapping [START, END)
                                               (dates, Europe/Berlin local midnight)
  khal_expect.py diff KHAL_OUT EXPECTED        compare two such listings; exit 1 on difference

Instances come from icalendar + recurring_ical_events, formatted the way
khal.sh configures khal: "%Y-%m-%d %H:%M" in Europe/Berlin for timed events,
"%Y-%m-%d" for all-day ones, and an all-day event's end as its last day
(DTEND - 1 day), as khal prints it.
"""

import datetime as dt
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

BERLIN = ZoneInfo("Europe/Berlin")

VTZ = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""

# Around the end of DST on Sunday 2026-10-25 (03:00 CEST -> 02:00 CET).
FIXTURES = {
    "dst-daily-berlin": f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Madang conformance//khal//EN
{VTZ}
BEGIN:VEVENT
UID:dst-daily-berlin@conformance.madang
DTSTAMP:20260801T000000Z
DTSTART;TZID=Europe/Berlin:20261020T090000
DTEND;TZID=Europe/Berlin:20261020T093000
RRULE:FREQ=DAILY;UNTIL=20261028T080000Z
EXDATE;TZID=Europe/Berlin:20261023T090000
SUMMARY:Daily standup (Berlin)
END:VEVENT
BEGIN:VEVENT
UID:dst-daily-berlin@conformance.madang
DTSTAMP:20260801T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20261022T090000
DTSTART;TZID=Europe/Berlin:20261022T160000
DTEND;TZID=Europe/Berlin:20261022T163000
SUMMARY:Daily standup (moved)
END:VEVENT
END:VCALENDAR
""",
    "dst-daily-utc": """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Madang conformance//khal//EN
BEGIN:VEVENT
UID:dst-daily-utc@conformance.madang
DTSTAMP:20260801T000000Z
DTSTART:20261023T070000Z
DTEND:20261023T073000Z
RRULE:FREQ=DAILY;COUNT=5
SUMMARY:Daily UTC report
END:VEVENT
END:VCALENDAR
""",
    "dst-night": f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Madang conformance//khal//EN
{VTZ}
BEGIN:VEVENT
UID:dst-night@conformance.madang
DTSTAMP:20260801T000000Z
DTSTART;TZID=Europe/Berlin:20261025T010000
DTEND;TZID=Europe/Berlin:20261025T040000
SUMMARY:Night shift across the change
END:VEVENT
END:VCALENDAR
""",
    "dst-weekly-allday": """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Madang conformance//khal//EN
BEGIN:VEVENT
UID:dst-weekly-allday@conformance.madang
DTSTAMP:20260801T000000Z
DTSTART;VALUE=DATE:20261005
DTEND;VALUE=DATE:20261006
RRULE:FREQ=WEEKLY;BYDAY=MO,SU
EXDATE;VALUE=DATE:20261025
SUMMARY:Weekly all-day
END:VEVENT
END:VCALENDAR
""",
}


def cmd_dst_fixtures(d):
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    for name, text in FIXTURES.items():
        (d / f"{name}.ics").write_bytes(text.replace("\n", "\r\n").encode())


def fmt(v, end=False, start=None):
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=BERLIN)  # floating: khal shows it in local time
        return v.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")
    if end:
        last = v - dt.timedelta(days=1)
        if start is not None and last < start:
            last = start
        return last.strftime("%Y-%m-%d")
    return v.strftime("%Y-%m-%d")


def instances(d, start, end):
    s = dt.datetime.combine(dt.date.fromisoformat(start), dt.time(0), BERLIN)
    e = dt.datetime.combine(dt.date.fromisoformat(end), dt.time(0), BERLIN)
    lines = []
    for p in sorted(Path(d).glob("*.ics")):
        cal = icalendar.Calendar.from_ical(p.read_bytes())
        for ev in recurring_ical_events.of(cal).between(s, e):
            st = ev.decoded("DTSTART")
            en = ev.decoded("DTEND") if "DTEND" in ev else st
            lines.append(f"{fmt(st)}|{fmt(en, end=True, start=st)}|{ev['SUMMARY']}|{ev['UID']}")
    return sorted(lines)


def main(argv):
    cmd = argv[1]
    if cmd == "dst-fixtures":
        cmd_dst_fixtures(argv[2])
    elif cmd == "instances":
        print("\n".join(instances(argv[2], argv[3], argv[4])))
    elif cmd == "diff":
        a = sorted(line for line in Path(argv[2]).read_text().splitlines() if line.strip())
        b = sorted(line for line in Path(argv[3]).read_text().splitlines() if line.strip())
        if a == b:
            print(f"identical: {len(a)} instances")
            return 0
        sa, sb = set(a), set(b)
        print(f"DIFFERENT: {len(a)} vs {len(b)} instances")
        for line in sorted(sa - sb)[:40]:
            print(f"  only in {argv[2]}: {line}")
        for line in sorted(sb - sa)[:40]:
            print(f"  only in {argv[3]}: {line}")
        if sa == sb:
            print("  (same set, different multiplicity)")
        return 1
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
