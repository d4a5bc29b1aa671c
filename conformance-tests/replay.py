#!/usr/bin/env python3
"""Replays recorded client request sequences (fixtures/replays/*.json) against a server.

Usage: replay.py [--url URL --user U --password P] [--results DIR] [FIXTURE.json ...]
Defaults: CT_URL, CT_USER, CT_PASSWORD; all of fixtures/replays/*.json; results
(the full exchange of every step) to CT_RESULTS_DIR or results/replay-<ts>/.
Needs only the standard library and `requests`.

Fixture format (JSON):
  {"client": "...", "notes": "...", "steps": [STEP, ...]}
STEP:
  name               text
  method, path       path is a template: {base} {user} {uid} {uid2} and any captured
                     variable; an absolute http(s) URL is used as is, a path is
                     joined to the base URL.
  headers            {name: template}; Basic auth is added unless "auth": false
  body               template (XML or iCalendar; iCalendar bodies may use \\n, sent as CRLF)
  follow_redirects   follow 3xx keeping method, headers and body (like Apple's and
                     DAVx5's HTTP stacks do for PROPFIND on /.well-known/caldav)
  expect:
    status           int or list of ints
    headers          {name: regex}                   header present and matching
    body_regex       [regex, ...]                    (templates)
    min_responses    n                               DAV:response elements in a 207
    hrefs_include    [template, ...]                 207 has a response for each href
    hrefs_exclude    [template, ...]
    responses        [{"href": template | "self",    (default "self" = the request URL)
                       "props_200": [clark, ...],    each must be in a propstat with status 200
                       "prop_regex": {clark: regex}, on the text (hrefs joined by space)
                       "prop_has_child": {clark: [clark, ...]},  any of these child elements
                       "prop_not": {clark: template},  the text must differ (e.g. a changed getctag)
                       "status": int}]               a response-level DAV:status (e.g. 404)
  capture            {var: SPEC}; SPEC "from":
                       "prop_href"  {"prop": clark, "href": template|"self"}  first DAV:href in the prop
                       "prop_text"  {"prop": clark, "href": ...}
                       "href_where" {"resourcetype": clark, "href_regex": regex, "supports": "VEVENT"}
                       "sync_token" the multistatus-level DAV:sync-token
                       "header"     {"name": "ETag"}
                       "final_url"  path of the URL after redirects
Clark notation: {namespace}localname, e.g. {DAV:}getetag.
"""

import argparse
import datetime as dt
import glob
import json
import os
import re
import sys
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urljoin, urlparse

import requests

DAV = "{DAV:}"
CAL = "{urn:ietf:params:xml:ns:caldav}"
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE_DIR = os.path.join(os.path.dirname(HERE), "fixtures", "replays")
VAR_RE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class StepFailed(Exception):
    pass


def norm_path(u):
    p = unquote(urlparse(u).path)
    return p.rstrip("/") or "/"


class Replay:
    def __init__(self, base, user, password, log):
        self.base = base if base.endswith("/") else base + "/"
        self.user = user
        self.password = password
        self.log = log
        self.vars = {
            "base": urlparse(self.base).path,
            "user": user,
            "uid": str(uuid.uuid4()).upper(),
            "uid2": str(uuid.uuid4()),
            "calname": str(uuid.uuid4()).upper(),
        }

    def t(self, s):
        def sub(m):
            k = m.group(1)
            if k not in self.vars:
                raise StepFailed(f"template variable {{{k}}} is not set (an earlier capture failed?)")
            return self.vars[k]

        return VAR_RE.sub(sub, s)

    def url(self, path):
        p = self.t(path)
        return p if p.startswith(("http://", "https://")) else urljoin(self.base, p)

    def run_step(self, step):
        method = step["method"]
        url = self.url(step["path"])
        headers = {k: self.t(v) for k, v in step.get("headers", {}).items()}
        body = step.get("body")
        if isinstance(body, list):
            body = "\n".join(body)
        data = None
        if body is not None:
            body = self.t(body)
            if "text/calendar" in headers.get("Content-Type", "") or "text/vcard" in headers.get("Content-Type", ""):
                body = body.replace("\r\n", "\n").replace("\n", "\r\n")
            data = body.encode("utf-8")
        auth = (self.user, self.password) if step.get("auth", True) else None
        chain = []
        for _ in range(6):
            r = requests.request(method, url, headers=headers, data=data, auth=auth, allow_redirects=False, timeout=60)
            chain.append({"url": url, "status": r.status_code})
            if step.get("follow_redirects") and r.status_code in (301, 302, 303, 307, 308) and "Location" in r.headers:
                url = urljoin(url, r.headers["Location"])
                continue
            break
        entry = {
            "step": step["name"], "method": method, "url": url, "request_headers": headers,
            "request_body": body, "chain": chain, "status": r.status_code,
            "response_headers": dict(r.headers), "response_body": r.text[:20000],
        }
        self.log.append(entry)
        ms = None
        if r.status_code == 207 or r.headers.get("Content-Type", "").split(";")[0].strip() in (
            "application/xml", "text/xml"
        ):
            try:
                ms = ET.fromstring(r.content) if r.content else None
            except ET.ParseError as e:
                if r.status_code == 207:
                    raise StepFailed(f"207 body is not XML: {e}")
        problems = self.check(step.get("expect", {}), r, ms, url)
        if not problems:
            self.capture(step.get("capture", {}), r, ms, url)
        return r, problems

    # ----- multistatus helpers -----
    def responses(self, ms):
        return [] if ms is None else ms.findall(f"{DAV}response")

    def find_response(self, ms, href, request_url):
        want = norm_path(request_url if href == "self" else self.url(href))
        for resp in self.responses(ms):
            for h in resp.findall(f"{DAV}href"):
                if norm_path(urljoin(request_url, h.text or "")) == want:
                    return resp
        return None

    @staticmethod
    def props(resp, status_code="200"):
        out = {}
        for ps in resp.findall(f"{DAV}propstat"):
            st = ps.findtext(f"{DAV}status") or ""
            if f" {status_code} " in st + " ":
                for prop in ps.findall(f"{DAV}prop"):
                    for el in prop:
                        out[el.tag] = el
        return out

    @staticmethod
    def text_of(el):
        hrefs = [h.text.strip() for h in el.iter(f"{DAV}href") if h.text]
        if hrefs:
            return " ".join(hrefs)
        return "".join(el.itertext()).strip()

    def check(self, exp, r, ms, url):
        problems = []
        want = exp.get("status")
        if want is not None:
            wants = want if isinstance(want, list) else [want]
            if r.status_code not in wants:
                problems.append(f"status {r.status_code}, want {wants}")
                return problems  # the rest would only add noise
        for name, rx in exp.get("headers", {}).items():
            v = r.headers.get(name)
            if v is None or not re.search(self.t(rx), v, re.I):
                problems.append(f"header {name}={v!r} does not match /{rx}/")
        for rx in exp.get("body_regex", []):
            if not re.search(self.t(rx), r.text, re.S):
                problems.append(f"body does not match /{rx}/")
        if "min_responses" in exp and len(self.responses(ms)) < exp["min_responses"]:
            problems.append(f"{len(self.responses(ms))} DAV:response elements, want >= {exp['min_responses']}")
        for h in exp.get("hrefs_include", []):
            if self.find_response(ms, h, url) is None:
                problems.append(f"no response for href {self.t(h)}")
        for h in exp.get("hrefs_exclude", []):
            if self.find_response(ms, h, url) is not None:
                problems.append(f"unexpected response for href {self.t(h)}")
        for rexp in exp.get("responses", []):
            href = rexp.get("href", "self")
            resp = self.find_response(ms, href, url)
            label = "request URL" if href == "self" else self.t(href)
            if resp is None:
                problems.append(f"no DAV:response for {label}")
                continue
            if "status" in rexp:
                st = resp.findtext(f"{DAV}status") or ""
                if f" {rexp['status']} " not in st + " ":
                    problems.append(f"{label}: response status {st!r}, want {rexp['status']}")
            ok = self.props(resp)
            for p in rexp.get("props_200", []):
                if p not in ok:
                    problems.append(f"{label}: {p} not returned with 200")
            for p, rx in rexp.get("prop_regex", {}).items():
                if p in ok and not re.search(self.t(rx), self.text_of(ok[p]), re.S):
                    problems.append(f"{label}: {p}={self.text_of(ok[p])[:200]!r} does not match /{rx}/")
                elif p not in ok:
                    problems.append(f"{label}: {p} not returned with 200")
            for p, tmpl in rexp.get("prop_not", {}).items():
                if p in ok and self.text_of(ok[p]) == self.t(tmpl):
                    problems.append(f"{label}: {p} is still {self.t(tmpl)!r}")
            for p, children in rexp.get("prop_has_child", {}).items():
                if p not in ok:
                    problems.append(f"{label}: {p} not returned with 200")
                    continue
                tags = {el.tag for el in ok[p].iter()}
                if not any(c in tags for c in children):
                    problems.append(f"{label}: {p} has none of {children}")
        return problems

    def capture(self, caps, r, ms, url):
        for var, spec in caps.items():
            kind = spec["from"]
            val = None
            if kind in ("prop_href", "prop_text"):
                resp = self.find_response(ms, spec.get("href", "self"), url)
                if resp is None and len(self.responses(ms)) == 1:
                    resp = self.responses(ms)[0]
                if resp is not None:
                    el = self.props(resp).get(spec["prop"])
                    if el is not None:
                        if kind == "prop_href":
                            h = el.find(f".//{DAV}href")
                            val = norm_path(urljoin(url, h.text.strip())) + "/" if h is not None and h.text else None
                            if val == "//":
                                val = "/"
                        else:
                            val = "".join(el.itertext()).strip()
            elif kind == "href_where":
                for resp in self.responses(ms):
                    ok = self.props(resp)
                    rt = ok.get(f"{DAV}resourcetype")
                    if rt is None or rt.find(spec["resourcetype"]) is None:
                        continue
                    href = resp.findtext(f"{DAV}href").strip()
                    if "href_regex" in spec and not re.search(spec["href_regex"], href):
                        continue
                    if "supports" in spec:
                        comps = ok.get(f"{CAL}supported-calendar-component-set")
                        names = [c.get("name") for c in comps.iter(f"{CAL}comp")] if comps is not None else []
                        if comps is not None and spec["supports"] not in names:
                            continue
                    val = urlparse(urljoin(url, href)).path
                    break
            elif kind == "sync_token":
                if ms is not None:
                    val = ms.findtext(f"{DAV}sync-token")
            elif kind == "header":
                val = r.headers.get(spec["name"])
            elif kind == "final_url":
                val = urlparse(url).path
            if val is None:
                raise StepFailed(f"capture {var!r} ({kind}) found nothing")
            self.vars[var] = val.strip() if isinstance(val, str) else val


def run_fixture(path, args, results_dir):
    with open(path) as f:
        fx = json.load(f)
    name = os.path.splitext(os.path.basename(path))[0]
    log = []
    rp = Replay(args.url, args.user, args.password, log)
    passed = failed = skipped = 0
    print(f"== {name}: {fx.get('client', '')}")
    stop = False
    for i, step in enumerate(fx["steps"], 1):
        label = f"{name} #{i:02d} {step['method']} {step['name']}"
        if stop and not step.get("always"):
            print(f"SKIP {label} (an earlier step failed)")
            skipped += 1
            continue
        try:
            r, problems = rp.run_step(step)
        except (StepFailed, requests.RequestException) as e:
            problems, r = [str(e)], None
        if problems:
            failed += 1
            print(f"FAIL {label} -> {r.status_code if r is not None else '-'}")
            for p in problems:
                print(f"       {p}")
            if not step.get("optional"):
                stop = not step.get("continue_on_failure", False)
        else:
            passed += 1
            print(f"ok   {label} -> {r.status_code}")
    with open(os.path.join(results_dir, f"{name}.json"), "w") as f:
        json.dump({"fixture": path, "vars": rp.vars, "exchanges": log}, f, indent=1)
    return passed, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=os.environ.get("CT_URL"))
    ap.add_argument("--user", default=os.environ.get("CT_USER", "alice"))
    ap.add_argument("--password", default=os.environ.get("CT_PASSWORD"))
    ap.add_argument("--results", default=os.environ.get("CT_RESULTS_DIR"))
    ap.add_argument("fixtures", nargs="*")
    args = ap.parse_args()
    if not args.url or not args.password:
        ap.error("--url/--password (or CT_URL/CT_PASSWORD) are required")
    results = args.results or os.path.join(HERE, "results", "replay-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(results, exist_ok=True)
    fixtures = args.fixtures or sorted(glob.glob(os.path.join(FIXTURE_DIR, "*.json")))
    if not fixtures:
        print(f"no fixtures in {FIXTURE_DIR}")
        return 1
    tp = tf = ts = 0
    for fx in fixtures:
        p, f, s = run_fixture(fx, args, results)
        tp += p
        tf += f
        ts += s
    print(f"exchanges written to {results}")
    print(f"{tp} passed, {tf} failed, {ts} skipped")
    return 1 if tf or ts else 0


if __name__ == "__main__":
    sys.exit(main())
