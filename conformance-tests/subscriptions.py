#!/usr/bin/env python3
"""External calendar subscriptions seen by a real CalDAV client (issue 16): a feed served by a
local http.server (ETag, 304 counted) is subscribed to through the JSON API; python `caldav`
finds it as a read-only calendar in the home, sees its events change after the feed changes and
a refresh is asked for, and a feed turned to garbage or too big leaves the calendar as it was
with a clear `last_error`. Another user reaches none of it.

Usage: subscriptions.py   (CT_URL, CT_USER, CT_PASSWORD, CT_USER2, CT_PASSWORD2 from lib.sh;
the server must allow 127.0.0.1 in dav.subscription_allowed_networks, see run.sh)
Ends with "N passed, N failed" and exits non-zero on any failure.
"""

import hashlib
import http.server
import os
import sys
import threading

import caldav
import requests
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ct_web import Checks  # noqa: E402  (the suites' one ok/FAIL counter)

URL = os.environ["CT_URL"]
USER, PASSWORD = os.environ.get("CT_USER", "alice"), os.environ["CT_PASSWORD"]
USER2, PASSWORD2 = os.environ.get("CT_USER2", "bob"), os.environ["CT_PASSWORD2"]

CHECKS = Checks()
check = CHECKS.ok


def feed_of(events):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//ct feed//EN", "X-PUBLISHED-TTL:PT1H"]
    for uid, summary in events:
        lines += ["BEGIN:VEVENT", f"UID:{uid}@ct-feed", "DTSTAMP:20270101T000000Z", "DTSTART:20270310T090000Z",
                  "DTEND:20270310T100000Z", f"SUMMARY:{summary}", "END:VEVENT"]
    return "\r\n".join(lines + ["END:VCALENDAR", ""])


state = {"body": feed_of([("one", "Spring holiday"), ("two", "Team day")]), "mode": "feed", "304": 0}


class Feed(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if state["mode"] == "garbage":
            body = b"<html>please sign in</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
        elif state["mode"] == "big":
            body = b"X" * (2 << 20)
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
        else:
            body = state["body"].encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                state["304"] += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar; charset=utf-8")
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
threading.Thread(target=server.serve_forever, daemon=True).start()
# A path with a secret in it, like Google's private addresses: it must never reach the server log.
SECRET = "private-" + hashlib.sha256(os.urandom(16)).hexdigest()[:24]
feed_url = f"http://127.0.0.1:{server.server_address[1]}/calendar/ical/{SECRET}/basic.ics"

api = requests.Session()
api.auth = (USER, PASSWORD)
r = api.post(f"{URL}api/v1/subscriptions", json={"url": feed_url, "name": "CT Holidays"})
check(r.status_code == 201 and r.json().get("last_error") is None, "subscribed through the JSON API", r.text[:300])
sub = r.json() if r.status_code == 201 else {}
sid = sub.get("id", "ct-holidays")


def refresh():
    return api.post(f"{URL}api/v1/subscriptions/{sid}/refresh").json()


client = caldav.DAVClient(url=URL, username=USER, password=PASSWORD)
calendars = {c.get_display_name(): c for c in client.principal().calendars()}
cal = calendars.get("CT Holidays")
check(cal is not None, "caldav lists the subscribed calendar in the home", str(list(calendars)))
if cal is None:
    sys.exit(CHECKS.finish() or 1)


def summaries():
    return sorted(str(c.get("SUMMARY")) for e in cal.events() for c in e.icalendar_instance.walk("VEVENT"))


check(summaries() == ["Spring holiday", "Team day"], "its events are the feed's", str(summaries()))

propfind = """<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:current-user-privilege-set/></D:prop></D:propfind>"""
r = api.request("PROPFIND", str(cal.url), data=propfind, headers={"Depth": "0", "Content-Type": "application/xml"})
check(r.status_code == 207 and "<D:read/>" in r.text and "<D:write" not in r.text, "current-user-privilege-set: read only",
      r.text[:300])
try:
    cal.save_event(feed_of([("mine", "Mine")]))
    check(False, "saving an event into the subscribed calendar is refused", "it was accepted")
except Exception as e:
    check("403" in str(e) or "Forbidden" in str(e) or "need-privileges" in str(e),
          "saving an event into the subscribed calendar is refused (403)", repr(e))

# Unchanged feed: a conditional GET answered 304.
info = refresh()
check(state["304"] == 1 and info.get("not_modified_count") == 1, "an unchanged feed is answered 304, counted", str(info))

# Changed feed: the client sees the change after a refresh.
state["body"] = feed_of([("one", "Spring holiday (moved)"), ("three", "Summer party")])
info = refresh()
check(info.get("last_error") is None, "a changed feed is fetched", str(info))
check(summaries() == ["Spring holiday (moved)", "Summer party"], "caldav sees the changed events", str(summaries()))

# Garbage and oversized answers: a clear error, nothing stored lost.
for mode, words in [("garbage", "not an iCalendar"), ("big", "larger than")]:
    state["mode"] = mode
    info = refresh()
    check(words in (info.get("last_error") or ""), f"a {mode} answer is a clear error", str(info))
    check(summaries() == ["Spring holiday (moved)", "Summer party"], f"after the {mode} answer the events are kept",
          str(summaries()))
state["mode"] = "feed"

# Another user: no subscription, no calendar.
other = requests.Session()
other.auth = (USER2, PASSWORD2)
check(other.get(f"{URL}api/v1/subscriptions").json() == [], f"{USER2} lists no subscriptions")
r = other.post(f"{URL}api/v1/subscriptions/{sid}/refresh")
check(r.status_code == 404, f"{USER2} cannot refresh {USER}'s subscription", str(r.status_code))
r = other.request("PROPFIND", str(cal.url), headers={"Depth": "1"})
check(r.status_code in (403, 404) and "Summer party" not in r.text, f"{USER2} cannot read the calendar", str(r.status_code))

r = api.delete(f"{URL}api/v1/subscriptions/{sid}")
check(r.status_code == 204, "unsubscribed", str(r.status_code))
names = [c.get_display_name() for c in client.principal().calendars()]
check("CT Holidays" not in names, "the calendar is gone from the home", str(names))

log = os.environ.get("CT_SERVER_LOG")
if log and os.path.exists(log):
    text = open(log, encoding="utf-8", errors="replace").read()
    check(SECRET not in text, "the feed's secret address is not in the server log")
    check("calendar subscription" in text, "the server log names the subscription (by host)", text[-300:])

server.shutdown()
sys.exit(CHECKS.finish())
