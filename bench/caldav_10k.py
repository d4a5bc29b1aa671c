#!/usr/bin/env python3
"""A 10,000-event calendar against one running CalDAV server: PUT rate, PROPFIND depth 1,
a one-week calendar-query, initial and 10-change delta sync-collection, multiget of 100.

Usage: caldav_10k.py URL USER PASSWORD [N]   (URL = the calendar collection, ending in /)
Prints one line per phase; the issue-6 harness (bench/README.md) will compare servers.
"""
import concurrent.futures
import random
import re
import sys
import time
import uuid

import requests

url, user, password = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 10_000
auth = (user, password)
random.seed(42)
session = requests.Session()
session.auth = auth
adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=16)
session.mount("http://", adapter)

BERLIN = """BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"""


def event(i):
    uid = f"bench-{i}-{uuid.uuid4()}"
    day = random.randrange(0, 365)
    hour = random.randrange(7, 19)
    start = time.strftime("%Y%m%d", time.gmtime(1767225600 + day * 86400)) + f"T{hour:02d}0000"
    end = start[:9] + f"{hour + 1:02d}0000"
    if i % 5 == 0:
        body = (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:{start}\r\n"
                f"DTEND;TZID=Europe/Berlin:{end}\r\nRRULE:FREQ=WEEKLY\r\nEXDATE;TZID=Europe/Berlin:{start}\r\n"
                f"SUMMARY:Weekly {i}\r\nEND:VEVENT\r\n")
        return uid, f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n{BERLIN}{body}END:VCALENDAR\r\n"
    body = (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}Z\r\nDTEND:{end}Z\r\n"
            f"SUMMARY:Event {i}\r\nEND:VEVENT\r\n")
    return uid, f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n{body}END:VCALENDAR\r\n"


def put(item):
    uid, ics = item
    r = session.put(f"{url}{uid}.ics", data=ics.encode(), headers={"Content-Type": "text/calendar"})
    assert r.status_code in (201, 204), (r.status_code, r.text)
    return uid


def timed(label, fn, repeat=3):
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best = dt if best is None or dt < best else best
    print(f"{label:<40} {best * 1000:10.1f} ms")
    return out


items = [event(i) for i in range(n)]
t = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    uids = list(pool.map(put, items))
dt = time.perf_counter() - t
print(f"{'PUT ' + str(n) + ' events, concurrency 8':<40} {n / dt:10.1f} events/s")

propfind = """<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"""
r = timed("PROPFIND depth 1 (getetag)", lambda: session.request("PROPFIND", url, data=propfind, headers={"Depth": "1"}))
assert r.text.count("<D:response>") == n + 1

query = """<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
<c:time-range start="20260413T000000Z" end="20260420T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"""
r = timed("calendar-query, one week", lambda: session.request("REPORT", url, data=query, headers={"Depth": "1"}))
print(f"{'  matched':<40} {r.text.count('<D:response>'):10d} hrefs")

sync = """<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>%s</d:sync-token>
<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"""
r = timed("sync-collection, initial", lambda: session.request("REPORT", url, data=sync % "", headers={"Depth": "1"}))
token = re.search(r"<D:sync-token>([^<]+)</D:sync-token>", r.text).group(1)
for uid, ics in random.sample(items, 10):
    put((uid, ics.replace("SUMMARY:", "SUMMARY:changed ")))
r = timed("sync-collection, 10 changes", lambda: session.request("REPORT", url, data=sync % token))
assert r.text.count("<D:response>") == 10, r.text[:500]

hrefs = "".join(f"<d:href>{url}{u}.ics</d:href>" for u in random.sample(uids, 100))
multiget = f"""<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/><c:calendar-data/></d:prop>{hrefs}</c:calendar-multiget>"""
timed("calendar-multiget, 100 hrefs", lambda: session.request("REPORT", url, data=multiget))
one = f"{url}{uids[0]}.ics"
timed("GET one event", lambda: session.get(one), repeat=20)
