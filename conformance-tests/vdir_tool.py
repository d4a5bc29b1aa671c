#!/usr/bin/env python3
"""Helper for vdirsyncer.sh and khal.sh: generate a vdir, edit either side,
and compare a local vdir with a server calendar.

  vdir_tool.py generate DIR [N]              write N (>=500) events into DIR
  vdir_tool.py edit-local DIR UID SUMMARY    rewrite DIR/UID.ics with a new SUMMARY (SEQUENCE+1)
  vdir_tool.py new-local DIR UID SUMMARY     add a single event
  vdir_tool.py remote CAL_URL edit UID SUMMARY | delete UID | new UID SUMMARY
  vdir_tool.py compare DIR CAL_URL OUT_JSON  both sides hold the same UIDs with the same content
  vdir_tool.py calurl BASE NAME | home BASE   discover a calendar's URL / the calendar home

Server access uses CT_USER/CT_PASSWORD. Content is compared per UID as a
hash over every property (name, params, value) of every VEVENT, so the
server may re-fold lines or reorder components but must not change data.
"""

import datetime as dt
import hashlib
import json
import os
import random
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urljoin

import icalendar
import requests

DAV = "{DAV:}"
CAL = "{urn:ietf:params:xml:ns:caldav}"
CRLF = "\r\n"

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


def session():
    s = requests.Session()
    s.auth = (os.environ.get("CT_USER", "alice"), os.environ["CT_PASSWORD"])
    return s


def wrap(vevent, tz=False):
    parts = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Madang conformance//vdir_tool//EN"]
    if tz:
        parts.append(BERLIN_TZ)
    parts += [vevent.strip(), "END:VCALENDAR", ""]
    return CRLF.join(CRLF.join(p.splitlines()) for p in parts)


def gen_event(i, rnd):
    """Deterministic mix: 0..4 -> kind."""
    kind = i % 5
    uid = f"ct-{i:04d}@conformance.madang"
    day = dt.date(2026, 9, 1) + dt.timedelta(days=rnd.randrange(0, 120))
    hour = rnd.randrange(7, 19)
    if kind in (0, 1):  # single event, Europe/Berlin
        s = dt.datetime.combine(day, dt.time(hour, 0))
        e = s + dt.timedelta(minutes=rnd.choice([30, 60, 90]))
        ev = f"""BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260801T000000Z
DTSTART;TZID=Europe/Berlin:{s:%Y%m%dT%H%M%S}
DTEND;TZID=Europe/Berlin:{e:%Y%m%dT%H%M%S}
SUMMARY:Meeting {i}
DESCRIPTION:Generated event {i}\\, kind single
END:VEVENT"""
        return uid, wrap(ev, tz=True)
    if kind == 2:  # single event in UTC
        s = dt.datetime.combine(day, dt.time(hour, 15))
        e = s + dt.timedelta(hours=1)
        ev = f"""BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260801T000000Z
DTSTART:{s:%Y%m%dT%H%M%S}Z
DTEND:{e:%Y%m%dT%H%M%S}Z
SUMMARY:Call {i}
END:VEVENT"""
        return uid, wrap(ev)
    if kind == 3:  # weekly, Europe/Berlin, with an EXDATE
        s = dt.datetime.combine(day, dt.time(hour, 30))
        e = s + dt.timedelta(hours=1)
        ex = s + dt.timedelta(weeks=2)
        ev = f"""BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260801T000000Z
DTSTART;TZID=Europe/Berlin:{s:%Y%m%dT%H%M%S}
DTEND;TZID=Europe/Berlin:{e:%Y%m%dT%H%M%S}
RRULE:FREQ=WEEKLY;COUNT=10
EXDATE;TZID=Europe/Berlin:{ex:%Y%m%dT%H%M%S}
SUMMARY:Weekly {i}
END:VEVENT"""
        return uid, wrap(ev, tz=True)
    # all-day, 1-3 days
    e = day + dt.timedelta(days=rnd.randrange(1, 4))
    ev = f"""BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260801T000000Z
DTSTART;VALUE=DATE:{day:%Y%m%d}
DTEND;VALUE=DATE:{e:%Y%m%d}
SUMMARY:All-day {i}
TRANSP:TRANSPARENT
END:VEVENT"""
    return uid, wrap(ev)


def cmd_generate(d, n=520):
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(20261025)
    n = int(n)
    for i in range(n):
        uid, text = gen_event(i, rnd)
        (d / (uid.replace("@", "_") + ".ics")).write_bytes(text.encode())
    print(f"generated {n} events in {d}")


def find_local(d, uid):
    for p in Path(d).glob("*.ics"):
        c = icalendar.Calendar.from_ical(p.read_bytes())
        for comp in c.walk("VEVENT"):
            if str(comp["UID"]) == uid:
                return p, c
    raise SystemExit(f"UID {uid} not in {d}")


def bump(c, summary):
    for comp in c.walk("VEVENT"):
        comp["SUMMARY"] = summary
        seq = int(comp.get("SEQUENCE", 0)) + 1
        if "SEQUENCE" in comp:
            del comp["SEQUENCE"]
        comp.add("SEQUENCE", seq)
    return c


def cmd_edit_local(d, uid, summary):
    p, c = find_local(d, uid)
    p.write_bytes(bump(c, summary).to_ical())


def cmd_new_local(d, uid, summary):
    ev = f"""BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260801T000000Z
DTSTART:20261015T100000Z
DTEND:20261015T110000Z
SUMMARY:{summary}
END:VEVENT"""
    (Path(d) / (uid.replace("@", "_") + ".ics")).write_bytes(wrap(ev).encode())


def server_items(cal_url):
    """uid -> (href, etag, calendar text) via one calendar-query REPORT."""
    body = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"/></C:filter>
</C:calendar-query>"""
    r = session().request("REPORT", cal_url, data=body.encode(), timeout=120,
                          headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"})
    if r.status_code != 207:
        raise SystemExit(f"REPORT {cal_url}: {r.status_code} {r.text[:500]}")
    out = {}
    for resp in ET.fromstring(r.content).findall(f"{DAV}response"):
        href = resp.findtext(f"{DAV}href")
        data = None
        etag = None
        for ps in resp.findall(f"{DAV}propstat"):
            if "200" not in (ps.findtext(f"{DAV}status") or ""):
                continue
            data = ps.findtext(f"{DAV}prop/{CAL}calendar-data") or data
            etag = ps.findtext(f"{DAV}prop/{DAV}getetag") or etag
        if data is None:
            continue
        c = icalendar.Calendar.from_ical(data)
        uids = {str(v["UID"]) for v in c.walk("VEVENT")}
        assert len(uids) == 1, f"{href}: {uids}"
        out[uids.pop()] = (urljoin(cal_url, href), etag, data)
    # cross-check the count with a plain Depth:1 PROPFIND
    r = session().request("PROPFIND", cal_url, headers={"Depth": "1", "Content-Type": "application/xml"}, timeout=120,
                          data=b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>')
    members = [h for h in (x.findtext(f"{DAV}href") for x in ET.fromstring(r.content).findall(f"{DAV}response"))
               if not urljoin(cal_url, h).rstrip("/") == cal_url.rstrip("/")]
    if len(members) != len(out):
        raise SystemExit(f"PROPFIND lists {len(members)} members but calendar-query returned {len(out)}")
    return out


def cmd_remote(cal_url, action, uid, summary=None):
    s = session()
    items = server_items(cal_url)
    if action == "new":
        ev = f"""BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260801T000000Z
DTSTART:20261016T100000Z
DTEND:20261016T110000Z
SUMMARY:{summary}
END:VEVENT"""
        r = s.put(urljoin(cal_url, uid.replace("@", "_") + ".ics"), data=wrap(ev).encode(),
                  headers={"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"}, timeout=30)
        assert r.status_code == 201, f"PUT new: {r.status_code}"
        return
    href, etag, data = items[uid]
    if action == "delete":
        r = s.delete(href, headers={"If-Match": etag}, timeout=30)
        assert r.status_code in (200, 204), f"DELETE: {r.status_code}"
        return
    c = bump(icalendar.Calendar.from_ical(data), summary)
    r = s.put(href, data=c.to_ical(), headers={"Content-Type": "text/calendar; charset=utf-8", "If-Match": etag},
              timeout=30)
    assert r.status_code in (200, 204), f"PUT edit: {r.status_code}"


def content_hash(text):
    c = icalendar.Calendar.from_ical(text)
    comps = []
    for comp in c.walk("VEVENT"):
        props = []
        for name, val in comp.property_items(recursive=False):
            if name in ("BEGIN", "END"):
                continue
            params = sorted((k, str(v)) for k, v in getattr(val, "params", {}).items())
            raw = val.to_ical() if hasattr(val, "to_ical") else str(val).encode()
            props.append((name, params, raw.decode() if isinstance(raw, bytes) else str(raw)))
        comps.append(sorted(props))
    comps.sort()
    return hashlib.sha256(json.dumps(comps).encode()).hexdigest()


def local_items(d):
    out = {}
    for p in Path(d).glob("*.ics"):
        c = icalendar.Calendar.from_ical(p.read_bytes())
        uids = {str(v["UID"]) for v in c.walk("VEVENT")}
        assert len(uids) == 1, f"{p}: {uids}"
        out[uids.pop()] = p.read_text()
    return out


def cmd_compare(d, cal_url, out_json):
    loc = {u: content_hash(t) for u, t in local_items(d).items()}
    srv = {u: content_hash(v[2]) for u, v in server_items(cal_url).items()}
    only_l = sorted(set(loc) - set(srv))
    only_s = sorted(set(srv) - set(loc))
    differ = sorted(u for u in set(loc) & set(srv) if loc[u] != srv[u])
    summ = {"local": len(loc), "server": len(srv), "only_local": only_l, "only_server": only_s, "differ": differ}
    Path(out_json).write_text(json.dumps({"summary": summ, "local": loc, "server": srv}, indent=1))
    print(f"local {len(loc)} items, server {len(srv)} items, only local {len(only_l)}, "
          f"only server {len(only_s)}, content differs {len(differ)}")
    if only_l or only_s or differ:
        print("mismatch:", json.dumps({k: v[:10] for k, v in summ.items() if isinstance(v, list)}))
        sys.exit(1)


def cmd_summary(d, cal_url, uid):
    """Print SUMMARY of UID on both sides (local|server)."""
    loc = local_items(d).get(uid)
    srv = server_items(cal_url).get(uid)
    ls = str(icalendar.Calendar.from_ical(loc).walk("VEVENT")[0]["SUMMARY"]) if loc else "-"
    ss = str(icalendar.Calendar.from_ical(srv[2]).walk("VEVENT")[0]["SUMMARY"]) if srv else "-"
    print(f"{ls}|{ss}")


def _principal(base):
    import caldav

    r = session().request("PROPFIND", urljoin(base, "/.well-known/caldav"), headers={"Depth": "0"},
                          allow_redirects=False, timeout=30)
    ctx = urljoin(base, r.headers["Location"]) if r.status_code in (301, 302, 303, 307, 308) else base
    client = caldav.DAVClient(url=ctx, username=os.environ.get("CT_USER", "alice"),
                              password=os.environ["CT_PASSWORD"], require_tls=False)
    return client.principal()


def cmd_home(base):
    """Discover and print the calendar-home-set URL."""
    print(str(_principal(base).calendar_home_set.url))


def cmd_calurl(base, name):
    """Discover (well-known -> principal -> calendar-home-set) and print the URL of calendar NAME."""
    for c in _principal(base).calendars():
        if str(c.url).rstrip("/").rsplit("/", 1)[-1] == name:
            print(str(c.url))
            return
    raise SystemExit(f"no calendar named {name!r} in the calendar home")


def main(argv):
    cmd, args = argv[1], argv[2:]
    {
        "generate": cmd_generate,
        "edit-local": cmd_edit_local,
        "new-local": cmd_new_local,
        "remote": cmd_remote,
        "compare": cmd_compare,
        "summary": cmd_summary,
        "calurl": cmd_calurl,
        "home": cmd_home,
    }[cmd](*args)


if __name__ == "__main__":
    main(sys.argv)
