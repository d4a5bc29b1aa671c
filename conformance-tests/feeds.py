#!/usr/bin/env python3
"""Whole-collection GET and published calendars (issue 16) with real clients.

Python `icalendar` parses a CalDAV GET of a whole calendar (one VCALENDAR, each VTIMEZONE
once) and `vobject` that of an address book; curl-like conditional requests get 304;
then alice publishes her calendar through the JSON API and vdirsyncer's `http` storage syncs
the secret `.ics` URL, without credentials, into a filesystem vdir, follows a change at the
next sync, and fails once the URL is revoked. Bob gets nothing of alice's.

Usage: feeds.py   (CT_URL, CT_USER, CT_PASSWORD, CT_USER2, CT_PASSWORD2 from lib.sh)
Ends with "N passed, N failed" and exits non-zero on any failure.
"""

import base64
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import icalendar
import vobject
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ct_web import Checks  # noqa: E402  (the suites' one ok/FAIL counter)

BASE = os.environ["CT_URL"].rstrip("/")
USER, PASSWORD = os.environ.get("CT_USER", "alice"), os.environ["CT_PASSWORD"]
USER2, PASSWORD2 = os.environ.get("CT_USER2", "bob"), os.environ["CT_PASSWORD2"]
VDIRSYNCER = str(Path(__file__).resolve().parent / ".venv" / "bin" / "vdirsyncer")
CAL = f"/dav/calendars/{USER}/default/"
BOOK = f"/dav/addressbooks/{USER}/default/"

CHECKS = Checks()
check = CHECKS.ok


def request(method, path, body=None, headers=None, auth=(USER, PASSWORD)):
    url = path if path.startswith("http") else BASE + path
    req = urllib.request.Request(url, data=body.encode() if isinstance(body, str) else body, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")


SEOUL = """BEGIN:VTIMEZONE
TZID:Asia/Seoul
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:+0900
TZOFFSETTO:+0900
TZNAME:KST
END:STANDARD
END:VTIMEZONE"""


def vcal(body, tz=True):
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Madang conformance//feeds//EN\n"
    text += (SEOUL + "\n" if tz else "") + body.strip() + "\nEND:VCALENDAR\n"
    return text.replace("\n", "\r\n")


def event(uid, day, summary, extra=""):
    return vcal(
        f"BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20260101T000000Z\nDTSTART;TZID=Asia/Seoul:202612{day}T090000\n"
        f"DURATION:PT1H\nSUMMARY:{summary}\n{extra}END:VEVENT"
    )


def put(path, text, ctype="text/calendar"):
    status, _, body = request("PUT", path, text, {"Content-Type": ctype})
    check(status in (201, 204), f"PUT {path}", f"{status} {body[:200]}")


def fill():
    put(CAL + "standup.ics", event("standup@feeds", "01", "Standup", "RRULE:FREQ=DAILY;COUNT=5\n"))
    # An override of the series, in the same object.
    override = event("standup@feeds", "01", "Standup", "RRULE:FREQ=DAILY;COUNT=5\n").replace(
        "END:VCALENDAR",
        "BEGIN:VEVENT\r\nUID:standup@feeds\r\nDTSTAMP:20260101T000000Z\r\n"
        "RECURRENCE-ID;TZID=Asia/Seoul:20261203T090000\r\nDTSTART;TZID=Asia/Seoul:20261203T100000\r\n"
        "DURATION:PT1H\r\nSUMMARY:Standup (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR",
    )
    put(CAL + "standup.ics", override)
    put(CAL + "review.ics", event("review@feeds", "04", "Review; quarterly, with notes"))
    put(CAL + "todo.ics", vcal("BEGIN:VTODO\nUID:todo@feeds\nDTSTAMP:20260101T000000Z\nSUMMARY:Write notes\nEND:VTODO", tz=False))
    for uid, name in (("ann", "Ann Lee"), ("bo", "Bo Kim")):
        card = f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}@feeds\r\nFN:{name}\r\nN:{name.split()[1]};{name.split()[0]};;;\r\nEND:VCARD\r\n"
        put(f"{BOOK}{uid}.vcf", card, "text/vcard")
    body = (
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
        "<D:displayname>Team plans</D:displayname></D:prop></D:set></D:propertyupdate>"
    )
    status, _, _ = request("PROPPATCH", CAL, body, {"Content-Type": "application/xml"})
    check(status == 207, "PROPPATCH displayname")


def whole_collection_get():
    status, headers, text = request("GET", CAL)
    check(status == 200, "GET of the whole calendar", f"{status} {text[:300]}")
    check(headers.get("Content-Type", "").startswith("text/calendar"), "Content-Type text/calendar", str(dict(headers)))
    check(".ics" in headers.get("Content-Disposition", ""), "Content-Disposition names an .ics file", str(dict(headers)))
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as e:  # noqa: BLE001 - any parse failure is the finding
        check(False, "python icalendar parses the document", repr(e))
        return None
    check(cal.name == "VCALENDAR", "one VCALENDAR")
    check(str(cal.get("PRODID", "")).startswith("-//Madang//"), "PRODID is Madang's", str(cal.get("PRODID")))
    check(str(cal.get("X-WR-CALNAME")) == "Team plans", "X-WR-CALNAME is the display name", str(cal.get("X-WR-CALNAME")))
    zones = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
    check(len(zones) == 1 and str(zones[0]["TZID"]) == "Asia/Seoul", "each VTIMEZONE once", str(len(zones)))
    events = [c for c in cal.walk("VEVENT")]
    check(len(events) == 3, "three VEVENTs (a series, its override, another)", str(len(events)))
    check(len(list(cal.walk("VTODO"))) == 1, "the VTODO")
    review = [e for e in events if str(e["UID"]) == "review@feeds"]
    check(
        review and str(review[0]["SUMMARY"]) == "Review; quarterly, with notes",
        "text round-trips unescaped",
        str(review and review[0]["SUMMARY"]),
    )
    start = review[0].decoded("DTSTART") if review else None
    check(start is not None and start.utcoffset().total_seconds() == 9 * 3600, "DTSTART resolves in Asia/Seoul", str(start))
    etag = headers.get("ETag")
    status, _, body = request("GET", CAL, headers={"If-None-Match": etag})
    check(status == 304 and body == "", "If-None-Match with its ETag: 304", str(status))
    status, headers, _ = request("HEAD", CAL)
    check(status == 200 and headers.get("ETag") == etag, "HEAD: 200, same ETag", str(status))

    status, headers, text = request("GET", BOOK)
    check(status == 200 and headers.get("Content-Type", "").startswith("text/vcard"), "GET of the address book", str(status))
    try:
        cards = list(vobject.readComponents(text))
        names = sorted(c.fn.value for c in cards)
        check(names == ["Ann Lee", "Bo Kim"], "vobject reads every card", str(names))
    except Exception as e:  # noqa: BLE001
        check(False, "vobject parses the address book", repr(e))

    # Bob gets what he gets for any of alice's resources: 403, and nothing of hers.
    for path in (CAL, BOOK):
        status, _, body = request("GET", path, auth=(USER2, PASSWORD2))
        check(status == 403 and "Standup" not in body and "Ann" not in body, f"bob GET {path}: 403", str(status))
    return etag


def vdirsyncer(config, *args):
    return subprocess.run(
        [VDIRSYNCER, "-c", str(config), "-v", "INFO", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def publishing(work):
    status, _, text = request("GET", "/api/v1/calendars/default/publication")
    check(status == 200 and '"published":false' in text.replace(" ", ""), "not published at first", text)
    status, _, text = request("POST", "/api/v1/calendars/default/publication")
    check(status == 201, "publish", f"{status} {text}")
    import json

    url = json.loads(text).get("url", "")
    check("/feeds/" in url and url.endswith(".ics"), "the feed URL", url)
    # The server's own address may differ from CT_URL (public_url): fetch through CT_URL.
    feed = BASE + url[url.index("/feeds/"):]

    status, headers, body = request("GET", feed, auth=None)
    check(status == 200 and "BEGIN:VCALENDAR" in body, "the feed without credentials", str(status))
    check("REFRESH-INTERVAL" in body, "REFRESH-INTERVAL in the feed")
    check("no-cache" in headers.get("Cache-Control", ""), "Cache-Control", str(headers.get("Cache-Control")))
    status, _, _ = request("GET", feed, headers={"If-None-Match": headers.get("ETag", "")}, auth=None)
    check(status == 304, "the feed answers 304 to its ETag", str(status))
    wrong = feed[:-10] + ("A" if feed[-10] != "A" else "B") + feed[-9:]
    status, _, body = request("GET", wrong, auth=None)
    check(status == 404 and "Standup" not in body, "a wrong token: 404", str(status))

    vdir = work / "feed"
    vdir.mkdir()
    config = work / "config"
    config.write_text(
        f"""[general]
status_path = "{work}/status/"

[pair published]
a = "local"
b = "feed"
collections = null
conflict_resolution = "b wins"

[storage local]
type = "filesystem"
path = "{vdir}/"
fileext = ".ics"

[storage feed]
type = "http"
url = "{feed}"
"""
    )
    r = vdirsyncer(config, "discover", "published")
    check(r.returncode == 0, "vdirsyncer discover", r.stdout[-800:] + r.stderr[-800:])
    r = vdirsyncer(config, "sync")
    check(r.returncode == 0, "vdirsyncer http storage: sync", r.stdout[-800:] + r.stderr[-800:])
    files = sorted(vdir.glob("*.ics"))
    check(len(files) == 3, "one file per UID in the vdir", str([f.name for f in files]))
    texts = [f.read_text() for f in files]
    check(any("Standup (moved)" in t and "RRULE" in t for t in texts), "the series travels with its override")
    for t in texts:
        try:
            icalendar.Calendar.from_ical(t)
        except Exception as e:  # noqa: BLE001
            check(False, "each synced item parses", repr(e))

    put(CAL + "late.ics", event("late@feeds", "09", "Added later"))
    r = vdirsyncer(config, "sync")
    check(r.returncode == 0, "second sync", r.stderr[-800:])
    check(any("Added later" in f.read_text() for f in vdir.glob("*.ics")), "a change reaches the subscriber")
    check(len(list(vdir.glob("*.ics"))) == 4, "four items now")

    # Bob cannot stop alice's feed: his "default" is his own.
    status, _, _ = request("DELETE", "/api/v1/calendars/default/publication", auth=(USER2, PASSWORD2))
    check(status == 204, "bob's DELETE touches only his own calendar", str(status))
    status, _, _ = request("GET", feed, auth=None)
    check(status == 200, "alice's feed still served after bob's DELETE", str(status))

    status, _, _ = request("DELETE", "/api/v1/calendars/default/publication")
    check(status == 204, "revoke", str(status))
    status, _, _ = request("GET", feed, auth=None)
    check(status == 404, "the revoked URL: 404 at once", str(status))
    r = vdirsyncer(config, "sync")
    out = r.stdout + r.stderr
    check(r.returncode != 0 and "Not Found" in out, "vdirsyncer fails on the revoked URL: Not Found", out[-800:])
    check(len(list(vdir.glob("*.ics"))) == 4, "and deletes nothing locally")

    log = os.environ.get("CT_SERVER_LOG")
    if log and Path(log).exists():
        token = feed.rsplit("/", 1)[1][: -len(".ics")]
        check(token not in Path(log).read_text(errors="replace"), "the feed's token is not in the server log")


def main():
    fill()
    whole_collection_get()
    with tempfile.TemporaryDirectory(prefix="ct-feeds.") as tmp:
        publishing(Path(tmp))
    sys.exit(CHECKS.finish())


if __name__ == "__main__":
    main()
