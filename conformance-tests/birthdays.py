#!/usr/bin/env python3
"""The birthday calendar through the python `caldav` library: contacts with birthdays
stored over CardDAV show up as yearly events in a read-only calendar of the user's
home, follow changes to the contacts, and refuse writes; another user never sees them.

Usage: birthdays.py   (CT_URL, CT_USER, CT_PASSWORD, CT_USER2, CT_PASSWORD2 from lib.sh)
Ends with "N passed, N failed" and exits non-zero on any failure.
"""

import datetime as dt
import os
import sys
import uuid

import caldav
import requests
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ct_web import Checks  # noqa: E402  (the suites' one ok/FAIL counter)

URL = os.environ["CT_URL"]
USER, PASSWORD = os.environ.get("CT_USER", "alice"), os.environ["CT_PASSWORD"]
USER2, PASSWORD2 = os.environ.get("CT_USER2", "bob"), os.environ["CT_PASSWORD2"]

CHECKS = Checks()
check = CHECKS.ok


def card(uid, name, extra):
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{name}", f"N:{name};;;;", *extra, "END:VCARD"]
    return "\r\n".join(lines) + "\r\n"


book = f"{URL}dav/addressbooks/{USER}/default/"
s = requests.Session()
s.auth = (USER, PASSWORD)
zoe = f"{book}zoe-{uuid.uuid4().hex}.vcf"
leap = f"{book}leap-{uuid.uuid4().hex}.vcf"
r1 = s.put(zoe, data=card("zoe-1", "Zoë Müller", ["BDAY:1990-04-15"]).encode(), headers={"Content-Type": "text/vcard"})
r2 = s.put(leap, data=card("leap-1", "Leap Day", ["BDAY;X-APPLE-OMIT-YEAR=1604:1604-02-29"]).encode(),
           headers={"Content-Type": "text/vcard"})
check(r1.status_code == 201 and r2.status_code == 201, "two contacts with birthdays stored over CardDAV",
      f"{r1.status_code} {r2.status_code}")

client = caldav.DAVClient(url=URL, username=USER, password=PASSWORD)
principal = client.principal()
calendars = {c.get_display_name(): c for c in principal.calendars()}
cal = calendars.get("Birthdays")
check(cal is not None, "caldav lists a 'Birthdays' calendar in the home", str(list(calendars)))
if cal is None:
    sys.exit(CHECKS.finish() or 1)


def events_between(start, end):
    found = cal.search(start=start, end=end, event=True, expand=True)
    out = []
    for e in found:
        for comp in e.icalendar_instance.walk("VEVENT"):
            out.append((str(comp.get("SUMMARY")), comp.decoded("DTSTART")))
    return sorted(out, key=lambda x: str(x[1]))


got = events_between(dt.datetime(2027, 1, 1), dt.datetime(2028, 1, 1))
summaries = [s_ for s_, _ in got]
check("Birthday: Zoë Müller (1990)" in summaries, "Zoë's birthday with her birth year", str(got))
check(any(s_ == "Birthday: Zoë Müller (1990)" and d == dt.date(2027, 4, 15) for s_, d in got), "on 15 April 2027", str(got))
check(any(s_ == "Birthday: Leap Day" and d == dt.date(2027, 2, 28) for s_, d in got),
      "a year-less 29 February falls on 28 February in 2027", str(got))
got28 = events_between(dt.datetime(2028, 2, 1), dt.datetime(2028, 3, 1))
check(any(d == dt.date(2028, 2, 29) for _, d in got28), "and on 29 February in 2028", str(got28))

# Read-only: the privilege set says so, and a write is refused.
propfind = """<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:current-user-privilege-set/></D:prop></D:propfind>"""
r = s.request("PROPFIND", str(cal.url), data=propfind, headers={"Depth": "0", "Content-Type": "application/xml"})
check(r.status_code == 207 and "<D:read/>" in r.text and "<D:write" not in r.text and "<D:bind/>" not in r.text,
      "current-user-privilege-set: read only", r.text[:300])
ics = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//ct//EN", "BEGIN:VEVENT", f"UID:{uuid.uuid4()}",
    "DTSTAMP:20270101T000000Z", "DTSTART:20270101T100000Z", "DTEND:20270101T110000Z", "SUMMARY:Mine",
    "END:VEVENT", "END:VCALENDAR", ""])
try:
    cal.save_event(ics)
    check(False, "saving an event into the birthday calendar is refused", "it was accepted")
except Exception as e:  # caldav raises its PutError / AuthorizationError on the 403
    check("403" in str(e) or "Forbidden" in str(e) or "need-privileges" in str(e),
          "saving an event into the birthday calendar is refused (403)", repr(e))

# The calendar follows the contacts: a changed date moves the event, a deleted contact removes it.
r = s.put(zoe, data=card("zoe-1", "Zoë Müller", ["BDAY:1990-04-16"]).encode(), headers={"Content-Type": "text/vcard"})
got = events_between(dt.datetime(2027, 1, 1), dt.datetime(2028, 1, 1))
check(any(d == dt.date(2027, 4, 16) for _, d in got) and not any(d == dt.date(2027, 4, 15) for _, d in got),
      "a changed BDAY moves the event", str(got))
s.delete(leap)
got = events_between(dt.datetime(2027, 1, 1), dt.datetime(2028, 1, 1))
check(not any(s_.startswith("Birthday: Leap") for s_, _ in got), "a deleted contact's event is gone", str(got))

# Another user sees neither the calendar nor its events.
other = caldav.DAVClient(url=URL, username=USER2, password=PASSWORD2)
names2 = [c.get_display_name() for c in other.principal().calendars()]
bobs = [c for c in other.principal().calendars() if c.get_display_name() == "Birthdays"]
check(all("Zoë" not in str(e.data) for c in bobs for e in c.events()), f"{USER2}'s birthday calendar holds none of {USER}'s contacts", str(names2))
r = requests.request("PROPFIND", str(cal.url), auth=(USER2, PASSWORD2), headers={"Depth": "1"})
check(r.status_code == 403 and "Zoë" not in r.text, f"{USER2} cannot read {USER}'s birthday calendar", str(r.status_code))

sys.exit(CHECKS.finish())
