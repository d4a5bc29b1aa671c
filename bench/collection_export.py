#!/usr/bin/env python3
"""Whole-collection GET and published feeds (issue 16) against a running Madang: fills a calendar
with N events over CalDAV (8 at a time), then prints the median of 9 of: GET of the calendar, its 304,
the published feed (POST /api/v1/calendars/default/publication), and the feed's 304.

Usage: collection_export.py BASE_URL USER PASSWORD N   (a fresh user: its default calendar is filled)
"""
import statistics, sys, time, requests, concurrent.futures as cf
base, user, pw, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = requests.Session(); s.auth = (user, pw)
cal = f"{base}/dav/calendars/{user}/default/"
def put(i):
    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//m//EN\r\nBEGIN:VEVENT\r\nUID:e%d\r\nDTSTAMP:20260101T000000Z\r\n"
            "DTSTART:20260101T%02d0000Z\r\nDURATION:PT1H\r\nSUMMARY:Event %d\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n") % (i, i % 24, i)
    r = s.put(f"{cal}e{i}.ics", data=body, headers={"Content-Type": "text/calendar", "If-None-Match": "*"}); assert r.status_code == 201, r.text
with cf.ThreadPoolExecutor(8) as ex: list(ex.map(put, range(n)))
def med(f, k=9):
    ts = []
    for _ in range(k):
        t = time.perf_counter(); r = f(); ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts), r
full, r = med(lambda: s.get(cal)); etag = r.headers["etag"]
nm, r2 = med(lambda: s.get(cal, headers={"If-None-Match": etag}))
assert r2.status_code == 304
pub = s.post(f"{base}/api/v1/calendars/default/publication", headers={"X-Madang-CSRF": "1"})
url = pub.json()["url"] if pub.status_code == 201 else None
print(f"events={n} bytes={len(r.content)} GET median={full:.1f} ms  304 median={nm:.1f} ms", end="")
if url:
    feed, r3 = med(lambda: requests.get(url)); fe = r3.headers["etag"]
    f304, _ = med(lambda: requests.get(url, headers={"If-None-Match": fe}))
    print(f"  feed median={feed:.1f} ms  feed 304 median={f304:.1f} ms")
else:
    print(f"  publish: {pub.status_code} {pub.text[:200]}")
