#!/usr/bin/env python3
"""Scenario test with the python `caldav` library (what many scripts and bots use).

Usage: caldav_library.py [--url URL] [--user U --password P] [--user2 U --password2 P]
Defaults come from CT_URL, CT_USER, CT_PASSWORD, CT_USER2, CT_PASSWORD2.
CT_SERVER_KIND=madang additionally checks Madang's URL layout
(/dav/principals/<user>/, /dav/calendars/<user>/).

The steps run in order and share state; every check is reported, and the
script ends with "N passed, N failed" and exits non-zero on any failure.
"""

import argparse
import datetime as dt
import os
import sys
import traceback
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urljoin, urlparse

import caldav
import icalendar
import requests
from caldav.lib import error as caldav_error

UTC = dt.timezone.utc
DAV = "{DAV:}"
CAL = "{urn:ietf:params:xml:ns:caldav}"

BERLIN_TZ = """BEGIN:VTIMEZONE
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


def vcal(*components, tz=False):
    body = "\r\n".join(c.strip() for c in components)
    tzpart = BERLIN_TZ + "\r\n" if tz else ""
    text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Madang conformance//caldav_library//EN\r\n" + tzpart + body + "\r\nEND:VCALENDAR\r\n"
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


UID_WEEKLY = "weekly-" + uuid.uuid4().hex
UID_SINGLE = "single-" + uuid.uuid4().hex
UID_ALLDAY = "allday-" + uuid.uuid4().hex
UID_OUTSIDE = "outside-" + uuid.uuid4().hex
UID_TODO = "todo-" + uuid.uuid4().hex
UID_JOURNAL = "journal-" + uuid.uuid4().hex
UID_ADDED = "added-" + uuid.uuid4().hex

# Weekly on Monday 10:00 Europe/Berlin from 2026-10-05, 6 instances
# (10-05, 10-12, 10-19, 10-26, 11-02, 11-09); 10-19 excluded; 10-12 moved
# to 14:00 with another summary. DST ends 2026-10-25, so 10-26 10:00 is 09:00Z.
WEEKLY = vcal(
    f"""BEGIN:VEVENT
UID:{UID_WEEKLY}
DTSTAMP:20260901T000000Z
DTSTART;TZID=Europe/Berlin:20261005T100000
DTEND;TZID=Europe/Berlin:20261005T110000
SUMMARY:Weekly sync
RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6
EXDATE;TZID=Europe/Berlin:20261019T100000
END:VEVENT""",
    f"""BEGIN:VEVENT
UID:{UID_WEEKLY}
DTSTAMP:20260901T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20261012T100000
DTSTART;TZID=Europe/Berlin:20261012T140000
DTEND;TZID=Europe/Berlin:20261012T150000
SUMMARY:Weekly sync (moved)
END:VEVENT""",
    tz=True,
)
SINGLE = vcal(
    f"""BEGIN:VEVENT
UID:{UID_SINGLE}
DTSTAMP:20260901T000000Z
DTSTART:20261020T120000Z
DTEND:20261020T130000Z
SUMMARY:Single lunch
END:VEVENT"""
)
ALLDAY = vcal(
    f"""BEGIN:VEVENT
UID:{UID_ALLDAY}
DTSTAMP:20260901T000000Z
DTSTART;VALUE=DATE:20261022
DTEND;VALUE=DATE:20261023
SUMMARY:All day thing
END:VEVENT"""
)
OUTSIDE = vcal(
    f"""BEGIN:VEVENT
UID:{UID_OUTSIDE}
DTSTAMP:20260901T000000Z
DTSTART:20261201T120000Z
DTEND:20261201T130000Z
SUMMARY:December
END:VEVENT"""
)
TODO = vcal(
    f"""BEGIN:VTODO
UID:{UID_TODO}
DTSTAMP:20260901T000000Z
DTSTART:20261010T090000Z
DUE:20261015T170000Z
SUMMARY:File the report
STATUS:NEEDS-ACTION
END:VTODO"""
)
JOURNAL = vcal(
    f"""BEGIN:VJOURNAL
UID:{UID_JOURNAL}
DTSTAMP:20260901T000000Z
DTSTART;VALUE=DATE:20261011
SUMMARY:Diary
DESCRIPTION:Nothing happened.
END:VJOURNAL"""
)
ADDED = vcal(
    f"""BEGIN:VEVENT
UID:{UID_ADDED}
DTSTAMP:20260901T000000Z
DTSTART:20261021T120000Z
DTEND:20261021T130000Z
SUMMARY:Added later
END:VEVENT"""
)

RANGE_START = dt.datetime(2026, 10, 1, tzinfo=UTC)
RANGE_END = dt.datetime(2026, 11, 1, tzinfo=UTC)


class Run:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []

    def check(self, name, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            self.failed += 1
            self.failures.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            if os.environ.get("CT_VERBOSE"):
                traceback.print_exc()
            return False
        self.passed += 1
        print(f"ok   {name}")
        return True


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def uids_of(objs):
    return sorted(str(o.icalendar_component["UID"]) for o in objs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=os.environ.get("CT_URL"))
    ap.add_argument("--user", default=os.environ.get("CT_USER", "alice"))
    ap.add_argument("--password", default=os.environ.get("CT_PASSWORD"))
    ap.add_argument("--user2", default=os.environ.get("CT_USER2", "bob"))
    ap.add_argument("--password2", default=os.environ.get("CT_PASSWORD2"))
    ap.add_argument("--kind", default=os.environ.get("CT_SERVER_KIND", "madang"))
    args = ap.parse_args()
    if not args.url or not args.password:
        ap.error("--url/--password (or CT_URL/CT_PASSWORD) are required")
    base = args.url if args.url.endswith("/") else args.url + "/"
    madang = args.kind == "madang"

    run = Run()
    st = {}
    http = requests.Session()
    http.auth = (args.user, args.password)

    # ---- discovery from the bare base URL (RFC 6764 well-known) ----
    def well_known():
        st["context"] = base  # fallback so later steps still run if this fails
        r = http.request("PROPFIND", urljoin(base, "/.well-known/caldav"), headers={"Depth": "0"},
                         allow_redirects=False, timeout=30)
        expect(r.status_code in (301, 302, 303, 307, 308), f"/.well-known/caldav gave {r.status_code}, want a redirect")
        loc = r.headers.get("Location")
        expect(loc, "redirect without Location")
        st["context"] = urljoin(base, loc)
        if madang:
            expect(urlparse(st["context"]).path == "/dav/", f"well-known points to {st['context']}, want /dav/")

    def principal():
        client = caldav.DAVClient(url=st["context"], username=args.user, password=args.password, require_tls=False)
        st["client"] = client
        p = client.principal()
        st["principal"] = p
        path = urlparse(str(p.url)).path
        if madang:
            expect(path == f"/dav/principals/{args.user}/", f"principal is {path}")
        home = p.calendar_home_set
        hpath = urlparse(str(home.url)).path
        if madang:
            expect(hpath == f"/dav/calendars/{args.user}/", f"calendar-home-set is {hpath}")
        st["home"] = str(home.url)

    def list_calendars():
        cals = st["principal"].calendars()
        names = sorted(urlparse(str(c.url)).path.rstrip("/").rsplit("/", 1)[-1] for c in cals)
        print(f"     calendars: {names}")
        expect("default" in names, f"no 'default' calendar in {names}")
        expect("tasks" in names, f"no 'tasks' calendar in {names}")

    def make_calendar():
        cal_id = "ct-" + uuid.uuid4().hex[:8]
        cal = st["principal"].make_calendar(name="Conformance " + cal_id, cal_id=cal_id)
        st["cal"] = cal
        st["cal_id"] = cal_id
        expect(str(cal.url).rstrip("/").endswith(cal_id), f"calendar URL {cal.url}")
        names = [str(c.url) for c in st["principal"].calendars()]
        expect(any(n.rstrip("/").endswith(cal_id) for n in names), "new calendar not listed")
        expect(cal.get_display_name() == "Conformance " + cal_id, "displayname not stored")

    def save_load_events():
        cal = st["cal"]
        st["objs"] = {}
        for uid, data in [(UID_WEEKLY, WEEKLY), (UID_SINGLE, SINGLE), (UID_ALLDAY, ALLDAY), (UID_OUTSIDE, OUTSIDE)]:
            st["objs"][uid] = cal.add_event(data)
        ev = cal.event_by_uid(UID_WEEKLY)
        parsed = icalendar.Calendar.from_ical(ev.data)
        vevents = [c for c in parsed.walk("VEVENT")]
        expect(len(vevents) == 2, f"weekly resource has {len(vevents)} VEVENTs, want 2 (master + override)")
        master = [v for v in vevents if "RECURRENCE-ID" not in v][0]
        expect("RRULE" in master and "EXDATE" in master, "RRULE/EXDATE lost")
        override = [v for v in vevents if "RECURRENCE-ID" in v][0]
        expect(str(override["SUMMARY"]) == "Weekly sync (moved)", "override summary lost")
        expect(override.decoded("DTSTART").astimezone(UTC) == dt.datetime(2026, 10, 12, 12, 0, tzinfo=UTC),
               f"override DTSTART {override.decoded('DTSTART')}")
        ev2 = cal.event_by_url(str(st["objs"][UID_SINGLE].url))
        ev2.load()
        expect(str(ev2.icalendar_component["SUMMARY"]) == "Single lunch", "single event round trip")

    def save_load_todo():
        cal = st["cal"]
        st["objs"][UID_TODO] = cal.add_todo(TODO)
        t = cal.todo_by_uid(UID_TODO)
        expect(str(t.icalendar_component["SUMMARY"]) == "File the report", "todo round trip")
        todos = cal.search(todo=True)
        expect(uids_of(todos) == [UID_TODO], f"todo search gave {uids_of(todos)}")

    def save_load_journal():
        cal = st["cal"]
        st["objs"][UID_JOURNAL] = cal.add_journal(JOURNAL)
        j = cal.journal_by_uid(UID_JOURNAL)
        expect(str(j.icalendar_component["DESCRIPTION"]) == "Nothing happened.", "journal round trip")
        js = cal.search(journal=True)
        expect(uids_of(js) == [UID_JOURNAL], f"journal search gave {uids_of(js)}")

    def search_no_expand():
        res = st["cal"].search(start=RANGE_START, end=RANGE_END, event=True)
        got = uids_of(res)
        want = sorted([UID_WEEKLY, UID_SINGLE, UID_ALLDAY])
        expect(got == want, f"time-range search (no expand) gave {got}, want {want}")

    expected_instances = sorted([
        (UID_WEEKLY, dt.datetime(2026, 10, 5, 8, 0, tzinfo=UTC)),
        (UID_WEEKLY, dt.datetime(2026, 10, 12, 12, 0, tzinfo=UTC)),  # override, 14:00 CEST
        (UID_WEEKLY, dt.datetime(2026, 10, 26, 9, 0, tzinfo=UTC)),  # after DST change
        (UID_SINGLE, dt.datetime(2026, 10, 20, 12, 0, tzinfo=UTC)),
        (UID_ALLDAY, dt.date(2026, 10, 22)),
    ], key=str)

    def norm_start(v):
        if isinstance(v, dt.datetime):
            return v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
        return v

    def search_expand_library():
        res = st["cal"].search(start=RANGE_START, end=RANGE_END, event=True, expand=True, server_expand=True)
        got = sorted(((str(o.icalendar_component["UID"]), norm_start(o.icalendar_component.decoded("DTSTART")))
                      for o in res), key=str)
        expect(len(got) == 5, f"expand=True gave {len(got)} instances, want 5: {got}")
        expect(got == expected_instances, f"expanded instances {got} != {expected_instances}")

    def search_expand_raw():
        # The server itself must expand (RFC 4791 9.6.5): send the REPORT by hand.
        body = f"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data><C:expand start="20261001T000000Z" end="20261101T000000Z"/></C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="20261001T000000Z" end="20261101T000000Z"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
        r = http.request("REPORT", str(st["cal"].url), data=body.encode(),
                         headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}, timeout=60)
        expect(r.status_code == 207, f"REPORT status {r.status_code}")
        root = ET.fromstring(r.content)
        inst = []
        for resp in root.findall(f"{DAV}response"):
            for cd in resp.iter(f"{CAL}calendar-data"):
                c = icalendar.Calendar.from_ical(cd.text)
                for v in c.walk("VEVENT"):
                    expect("RRULE" not in v, "expanded data still has RRULE")
                    inst.append((str(v["UID"]), norm_start(v.decoded("DTSTART"))))
        inst.sort(key=str)
        expect(inst == expected_instances, f"server-expanded instances {inst} != {expected_instances}")

    def sync_token_delta():
        cal = st["cal"]
        first = cal.objects_by_sync_token(load_objects=False, disable_fallback=True)
        token = first.sync_token
        expect(token and not str(token).startswith("fake-"), f"no real sync token: {token!r}")
        expect(len(list(first)) == 6, f"initial sync lists {len(list(first))} objects, want 6")
        # modify the single event, delete the all-day one, add a new one
        single = cal.event_by_uid(UID_SINGLE)
        single.icalendar_component["SUMMARY"] = "Single lunch (edited)"
        single.save()
        st["objs"][UID_ALLDAY].delete()
        added = cal.add_event(ADDED)
        delta = cal.objects_by_sync_token(sync_token=token, load_objects=True, disable_fallback=True)
        changed = sorted(str(o.icalendar_component["UID"]) for o in delta
                         if o.url.canonical() not in delta.deleted_urls)
        expect(changed == sorted([UID_SINGLE, UID_ADDED]), f"delta changed {changed}")
        deleted = sorted(str(u) for u in delta.deleted_urls)
        want_del = [str(st["objs"][UID_ALLDAY].url.canonical())]
        expect(deleted == want_del, f"delta deleted {deleted}, want {want_del}")
        expect(delta.sync_token != token, "token did not change")
        # nothing changed since: an empty delta
        again = cal.objects_by_sync_token(sync_token=delta.sync_token, load_objects=False, disable_fallback=True)
        expect(len(list(again)) == 0 and not again.deleted_urls, f"no-op delta returned {len(list(again))} objects")
        st["added"] = added

    def invalid_sync_token():
        body = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token>http://example.invalid/ns/sync/doesnotexist</D:sync-token>
<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"""
        r = http.request("REPORT", str(st["cal"].url), data=body.encode(),
                         headers={"Depth": "0", "Content-Type": "application/xml; charset=utf-8"}, timeout=30)
        expect(r.status_code in (403, 409), f"unknown sync-token gave {r.status_code}, want 403 (RFC 6578 3.2)")
        expect(b"valid-sync-token" in r.content, "no DAV:valid-sync-token precondition element in the error body")

    # ---- second user ----
    def bob_isolation():
        bob = requests.Session()
        bob.auth = (args.user2, args.password2)
        cal_url = str(st["cal"].url)
        ev_url = str(st["objs"][UID_SINGLE].url)
        probes = [
            ("PROPFIND home", "PROPFIND", st["home"], {"Depth": "1"}, None),
            ("PROPFIND calendar", "PROPFIND", cal_url, {"Depth": "1"}, None),
            ("GET event", "GET", ev_url, {}, None),
            ("PUT into calendar", "PUT", urljoin(cal_url, "bob-was-here.ics"),
             {"Content-Type": "text/calendar"}, ADDED.replace(UID_ADDED, "bob-" + UID_ADDED)),
            ("PUT over event", "PUT", ev_url, {"Content-Type": "text/calendar"}, SINGLE),
            ("DELETE event", "DELETE", ev_url, {}, None),
            ("DELETE calendar", "DELETE", cal_url, {}, None),
            ("PROPPATCH calendar", "PROPPATCH", cal_url, {"Content-Type": "application/xml"},
             '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>pwned</D:displayname></D:prop></D:set></D:propertyupdate>'),
        ]
        bad = []
        for name, method, url, headers, body in probes:
            r = bob.request(method, url, headers=headers, data=body.encode() if body else None, timeout=30)
            print(f"     bob {name}: {r.status_code}")
            if r.status_code not in (403, 404):
                bad.append(f"{name}={r.status_code}")
        # bob's own principal still works and lists no calendar of alice's
        bclient = caldav.DAVClient(url=st["context"], username=args.user2, password=args.password2, require_tls=False)
        bcals = [str(c.url) for c in bclient.principal().calendars()]
        leaked = [c for c in bcals if f"/{args.user}/" in c]
        expect(not leaked, f"bob sees alice's calendars: {leaked}")
        expect(not bad, "bob got through: " + ", ".join(bad))
        # alice's data is untouched
        ev = st["cal"].event_by_uid(UID_SINGLE)
        expect(str(ev.icalendar_component["SUMMARY"]) == "Single lunch (edited)", "alice's event was changed")
        expect(st["cal"].get_display_name().startswith("Conformance"), "alice's displayname was changed")

    def wrong_password():
        r = requests.request("PROPFIND", st["home"], auth=(args.user, "not-the-password"), headers={"Depth": "0"},
                             timeout=30)
        expect(r.status_code == 401, f"wrong password gave {r.status_code}")
        expect("basic" in r.headers.get("WWW-Authenticate", "").lower(), "no Basic challenge")

    def delete_calendar():
        url = str(st["cal"].url)
        st["cal"].delete()
        r = http.request("PROPFIND", url, headers={"Depth": "0"}, timeout=30)
        expect(r.status_code == 404, f"deleted calendar answers PROPFIND with {r.status_code}")
        names = [str(c.url) for c in st["principal"].calendars()]
        expect(not any(n.rstrip("/").endswith(st["cal_id"]) for n in names), "deleted calendar still listed")

    steps = [
        ("discovery: /.well-known/caldav redirects", well_known),
        ("discovery: current-user-principal and calendar-home-set", principal),
        ("list calendars (default + tasks exist)", list_calendars),
        ("MKCALENDAR a new calendar", make_calendar),
        ("save/load events incl. weekly RRULE + EXDATE + RECURRENCE-ID override", save_load_events),
        ("save/load todo + todo search", save_load_todo),
        ("save/load journal + journal search", save_load_journal),
        ("time-range search without expand: exact objects", search_no_expand),
        ("time-range search expand=True (library, server_expand): exact instances", search_expand_library),
        ("time-range REPORT with CALDAV:expand (raw): exact instances, DST-correct", search_expand_raw),
        ("sync-token delta after modify, delete, add", sync_token_delta),
        ("unknown sync-token -> DAV:valid-sync-token", invalid_sync_token),
        ("second user cannot see or modify alice's calendars", bob_isolation),
        ("wrong password -> 401 with Basic challenge", wrong_password),
        ("delete the calendar", delete_calendar),
    ]
    for name, fn in steps:
        run.check(name, fn)
    print(f"{run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
