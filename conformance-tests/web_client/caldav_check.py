#!/usr/bin/env python3
"""Prints a calendar's objects as python `caldav` (a real CalDAV client) sees them, as JSON, so the
browser specs can check what the web client wrote (RRULE, TZID, overrides) from the outside.

    caldav_check.py --url CALENDAR_URL --user NAME --password PW [--expand START END] [--uid UID]

CALENDAR_URL is the collection, e.g. http://127.0.0.1:PORT/dav/calendars/NAME/default/. START/END are
ISO dates or date-times (UTC when naive) for a server-side expanded search (CALDAV:expand).

Output (stdout, one JSON document):
    {"url": ..., "objects": [{"url", "etag", "data": "<the iCalendar text as served>",
                              "components": [{"type": "VEVENT", "uid", "summary", "sequence",
                                              "dtstart": {"value", "params"}, "dtend", "due",
                                              "recurrence_id", "rrule": "FREQ=WEEKLY;...",
                                              "exdate": [...], "rdate": [...], "related_to": [...],
                                              "status", "properties": {NAME: [{"value","params"}]}}],
                              "timezones": ["Europe/Berlin", ...]}],
     "expanded": [{"uid", "summary", "dtstart", "recurrence_id"}]   # only with --expand
    }
Values are the iCalendar text of the property (e.g. "20260302T090000"), params a dict of its
parameters (e.g. {"TZID": "Europe/Berlin"}). Exits 1 with a message on stderr if the calendar cannot
be read.
"""

import argparse
import datetime as dt
import json
import sys

import caldav
import icalendar

# Properties copied as lists of {value, params}; the common ones also get a flat key above.
SKIP_IN_PROPERTIES = {"BEGIN", "END"}


def prop_json(prop):
    """One property: its value as iCalendar text and its parameters."""
    try:
        value = prop.to_ical().decode()
    except AttributeError:  # plain strings in some icalendar versions
        value = str(prop)
    params = {k: str(v) for k, v in getattr(prop, "params", {}).items()}
    return {"value": value, "params": params}


def props(component, name):
    """Every occurrence of a property (icalendar gives one value or a list)."""
    raw = component.get(name)
    if raw is None:
        return []
    return [prop_json(p) for p in (raw if isinstance(raw, list) else [raw])]


def first(component, name):
    found = props(component, name)
    return found[0] if found else None


def component_json(c):
    properties = {}
    for name, value in c.property_items(recursive=False):
        if name in SKIP_IN_PROPERTIES:
            continue
        properties.setdefault(name, []).append(prop_json(value))
    rrule = c.get("RRULE")
    return {
        "type": c.name,
        "uid": str(c.get("UID", "")),
        "summary": str(c.get("SUMMARY", "")) if c.get("SUMMARY") is not None else None,
        "sequence": int(c.get("SEQUENCE")) if c.get("SEQUENCE") is not None else None,
        "status": str(c.get("STATUS")) if c.get("STATUS") is not None else None,
        "dtstart": first(c, "DTSTART"),
        "dtend": first(c, "DTEND"),
        "due": first(c, "DUE"),
        "recurrence_id": first(c, "RECURRENCE-ID"),
        "rrule": rrule.to_ical().decode() if rrule is not None else None,
        "exdate": props(c, "EXDATE"),
        "rdate": props(c, "RDATE"),
        "related_to": props(c, "RELATED-TO"),
        "alarms": [component_json(a) for a in c.subcomponents if a.name == "VALARM"],
        "properties": properties,
    }


def object_json(obj):
    data = obj.data
    cal = icalendar.Calendar.from_ical(data)
    comps = [component_json(c) for c in cal.subcomponents if c.name in ("VEVENT", "VTODO", "VJOURNAL")]
    tzs = [str(c.get("TZID")) for c in cal.subcomponents if c.name == "VTIMEZONE"]
    etag = getattr(obj, "props", {}).get("{DAV:}getetag") if hasattr(obj, "props") else None
    return {"url": str(obj.url), "etag": etag, "data": data, "components": comps, "timezones": tzs}


def parse_when(text):
    when = dt.datetime.fromisoformat(text) if "T" in text else dt.datetime.fromisoformat(text + "T00:00:00")
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="the calendar collection's URL")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--uid", help="only the object with this UID")
    ap.add_argument("--expand", nargs=2, metavar=("START", "END"), help="also list expanded instances in [START, END)")
    args = ap.parse_args()

    client = caldav.DAVClient(url=args.url, username=args.user, password=args.password, require_tls=False)
    cal = client.calendar(url=args.url)
    try:
        objs = [cal.object_by_uid(args.uid)] if args.uid else list(cal.objects(load_objects=True))
        # objects() may hand back objects whose data was not fetched when the server omits it
        for o in objs:
            if not o.data:
                o.load()
        out = {"url": args.url, "objects": [object_json(o) for o in objs]}
        if args.expand:
            start, end = (parse_when(x) for x in args.expand)
            instances = []
            for o in cal.search(start=start, end=end, expand=True, server_expand=True):
                for c in icalendar.Calendar.from_ical(o.data).subcomponents:
                    if c.name not in ("VEVENT", "VTODO"):
                        continue
                    instances.append({
                        "uid": str(c.get("UID", "")),
                        "summary": str(c.get("SUMMARY", "")),
                        "dtstart": first(c, "DTSTART"),
                        "recurrence_id": first(c, "RECURRENCE-ID"),
                    })
            instances.sort(key=lambda i: (i["dtstart"] or {}).get("value", ""))
            out["expanded"] = instances
    except Exception as e:  # noqa: BLE001 - the spec gets one line saying what failed
        print(f"caldav_check: cannot read {args.url}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
