#!/usr/bin/env python3
"""Helper for vdirsyncer_contacts.sh and khard.sh: generate a vdir of contacts,
edit either side, and compare a local vdir with a server address book.

  vcard_tool.py generate DIR [N]              write N (>=200) vCards (3.0 and 4.0 mixed) into DIR
  vcard_tool.py edit-local DIR UID NOTE       rewrite the card with UID in DIR with a new NOTE
  vcard_tool.py new-local DIR UID NAME        add a card
  vcard_tool.py rm-local DIR UID              delete the card with UID from DIR
  vcard_tool.py remote BOOK_URL edit UID NOTE | delete UID | new UID NAME
  vcard_tool.py compare DIR BOOK_URL OUT_JSON both sides hold the same UIDs with the same content
  vcard_tool.py note DIR BOOK_URL UID         prints "local|server" NOTE ('-' when absent)
  vcard_tool.py bookurl BASE NAME             discover an address book's URL (well-known, principal, home)
  vcard_tool.py mkbook BASE NAME              create an address book in the home (extended MKCOL)
  vcard_tool.py uids DIR                      the UIDs of the cards in DIR, one a line
  vcard_tool.py expect DIR QUERY              what `khard email --parsable QUERY` should print, sorted

Server access uses CT_USER/CT_PASSWORD. Content is compared per UID over the
properties that mean the same in vCard 3.0 and 4.0 (FN, N, EMAIL, TEL, ORG,
NOTE, NICKNAME, CATEGORIES, with lower-cased TYPE values), so the server may
convert between versions (Madang hands 3.0 to clients that do not ask for
4.0, RFC 6352 §10.4) and re-fold lines, but must not change data.
"""

import hashlib
import json
import os
import random
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urljoin

import requests

DAV = "{DAV:}"
CARD = "{urn:ietf:params:xml:ns:carddav}"
CRLF = "\r\n"
NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"'
COMPARED = ("FN", "N", "EMAIL", "TEL", "ORG", "NOTE", "NICKNAME", "CATEGORIES")

FIRST = ["Ada", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim", "Hedy",
         "Jürgen", "Zoë", "Åsa", "Björn", "Chloé", "Søren", "Ilse", "Mónica", "Noël", "Ōta"]
LAST = ["Lovelace", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Berners-Lee",
        "Lamarr", "Müller", "Østergaard", "Nakamura", "Fernández", "Dubois", "O'Neil", "Kowalski", "Smith"]
ORGS = ["Analytical Engines Ltd", "Navy", "Eindhoven University", "MIT", "Stanford", "IBM", "Bell Labs", "CERN"]


def session():
    s = requests.Session()
    s.auth = (os.environ.get("CT_USER", "alice"), os.environ["CT_PASSWORD"])
    return s


def card_text(version, uid, first, last, email, tel, org, note, extra=()):
    lines = ["BEGIN:VCARD", f"VERSION:{version}", "PRODID:-//Madang conformance//vcard_tool//EN", f"UID:{uid}",
             f"FN:{first} {last}", f"N:{last};{first};;;"]
    if version == "3.0":
        lines += [f"EMAIL;TYPE=INTERNET,WORK:{email}", f"TEL;TYPE=CELL:{tel}"]
    else:
        lines += [f"EMAIL;TYPE=work:{email}", f"TEL;TYPE=cell;VALUE=text:{tel}"]
    if org:
        lines.append(f"ORG:{org}")
    if note:
        lines.append(f"NOTE:{escape(note)}")
    lines += list(extra)
    lines += ["END:VCARD", ""]
    return CRLF.join(lines)


def escape(text):
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def gen_card(i, rnd):
    """Deterministic: even i are vCard 3.0 (Apple, Thunderbird), odd i 4.0 (DAVx5)."""
    version = "3.0" if i % 2 == 0 else "4.0"
    uid = f"ct-card-{i:04d}"
    first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
    email = f"{first.lower()}.{last.lower()}.{i:04d}@example.com".replace("'", "")
    tel = f"+49 30 {rnd.randrange(1000000, 9999999)}"
    org = ORGS[i % len(ORGS)] if i % 3 else ""
    note = f"card {i}, generated" if i % 4 == 0 else ""
    extra = []
    if i % 10 == 0:
        extra.append(f"NICKNAME:nick{i}")
    if i % 25 == 0:
        extra.append("CATEGORIES:friends,work")
    return uid, card_text(version, uid, first, last, email, tel, org, note, extra)


def cmd_generate(d, n=200):
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(6352)
    for i in range(1, int(n) + 1):
        uid, text = gen_card(i, rnd)
        (d / f"{uid}.vcf").write_text(text, encoding="utf-8", newline="")


def unfold(text):
    return text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "")


def split_line(line):
    """(NAME without group, {param: [values]}, value) of one content line."""
    head, _, value = line.partition(":")
    # A colon inside a quoted parameter value is rare in generated data; good enough here.
    parts = head.split(";")
    name = parts[0].split(".")[-1].upper()
    params = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params.setdefault(k.upper(), []).extend(x.strip('"').lower() for x in v.split(","))
        else:  # vCard 2.1 bare TYPE value
            params.setdefault("TYPE", []).append(p.lower())
    return name, params, value


def properties(text):
    out = []
    for line in unfold(text.replace("\r\n", "\n")).split("\n"):
        if not line.strip() or ":" not in line:
            continue
        name, params, value = split_line(line)
        out.append((name, params, value))
    return out


def uid_of(text):
    for name, _, value in properties(text):
        if name == "UID":
            return value.strip()
    return None


def prop_value(text, wanted):
    for name, _, value in properties(text):
        if name == wanted:
            return value.replace("\\,", ",").replace("\\;", ";").replace("\\n", "\n").replace("\\\\", "\\")
    return None


def content_hash(text):
    items = []
    for name, params, value in properties(text):
        if name not in COMPARED:
            continue
        types = sorted(t for t in params.get("TYPE", []) if t not in ("internet", "voice", "pref"))
        items.append(f"{name};{','.join(types)}:{value.strip()}")
    return hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()[:16]


def find_local(d, uid):
    for f in Path(d).glob("*.vcf"):
        if uid_of(f.read_text(encoding="utf-8")) == uid:
            return f
    raise SystemExit(f"no local card with UID {uid} in {d}")


def with_note(text, note):
    out, done = [], False
    for line in unfold(text.replace("\r\n", "\n")).split("\n"):
        if split_line(line)[0] == "NOTE":
            continue
        if line.upper() == "END:VCARD" and not done:
            out.append(f"NOTE:{escape(note)}")
            done = True
        out.append(line)
    return CRLF.join(out).rstrip("\r\n") + CRLF


def cmd_edit_local(d, uid, note):
    f = find_local(d, uid)
    f.write_text(with_note(f.read_text(encoding="utf-8"), note), encoding="utf-8", newline="")


def cmd_new_local(d, uid, name):
    first, _, last = name.partition(" ")
    text = card_text("3.0", uid, first, last or "Local", f"{uid}@example.org", "+1 555 0100", "", "")
    (Path(d) / f"{uid}.vcf").write_text(text, encoding="utf-8", newline="")


def cmd_rm_local(d, uid):
    find_local(d, uid).unlink()


def propfind_members(s, book_url):
    body = f'<?xml version="1.0" encoding="utf-8"?><D:propfind {NS}><D:prop><D:getetag/></D:prop></D:propfind>'
    r = s.request("PROPFIND", book_url, data=body.encode(), headers={"Depth": "1", "Content-Type": "application/xml"})
    r.raise_for_status()
    members = {}
    for resp in ET.fromstring(r.content).iter(f"{DAV}response"):
        href = resp.findtext(f"{DAV}href").strip()
        etag = resp.findtext(f".//{DAV}getetag")
        if etag and not urljoin(book_url, href).rstrip("/") == book_url.rstrip("/"):
            members[urljoin(book_url, href)] = etag.strip()
    return members


def server_items(book_url):
    """{uid: (url, etag, text)}, read with one addressbook-multiget of every member a PROPFIND lists."""
    s = session()
    members = propfind_members(s, book_url)
    if not members:
        return {}
    hrefs = "".join(f"<D:href>{requests.utils.urlparse(u).path}</D:href>" for u in members)
    body = (f'<?xml version="1.0" encoding="utf-8"?><C:addressbook-multiget {NS}><D:prop><D:getetag/>'
            f"<C:address-data/></D:prop>{hrefs}</C:addressbook-multiget>")
    r = s.request("REPORT", book_url, data=body.encode(), headers={"Depth": "1", "Content-Type": "application/xml"})
    r.raise_for_status()
    items = {}
    for resp in ET.fromstring(r.content).iter(f"{DAV}response"):
        href = urljoin(book_url, resp.findtext(f"{DAV}href").strip())
        data = resp.findtext(f".//{CARD}address-data")
        if data is None:
            raise SystemExit(f"no address-data for {href}: {ET.tostring(resp).decode()}")
        uid = uid_of(data)
        if uid in items:
            raise SystemExit(f"UID {uid} twice on the server")
        items[uid] = (href, resp.findtext(f".//{DAV}getetag"), data)
    if set(u for u, _, _ in items.values()) != set(members):
        raise SystemExit(f"multiget and PROPFIND disagree: {len(items)} vs {len(members)} members")
    return items


def cmd_remote(book_url, action, uid, arg=None):
    s = session()
    if action == "new":
        first, _, last = arg.partition(" ")
        text = card_text("4.0", uid, first, last or "Server", f"{uid}@example.net", "+1 555 0199", "", "")
        r = s.put(urljoin(book_url, f"{uid}.vcf"), data=text.encode(),
                  headers={"Content-Type": "text/vcard; charset=utf-8", "If-None-Match": "*"})
        r.raise_for_status()
        return
    items = server_items(book_url)
    if uid not in items:
        raise SystemExit(f"no card {uid} on the server")
    url, etag, text = items[uid]
    if action == "delete":
        r = s.delete(url, headers={"If-Match": etag})
    else:
        # The stored version, not the converted one a multiget returns.
        text = s.get(url).text
        r = s.put(url, data=with_note(text, arg).encode(),
                  headers={"Content-Type": "text/vcard; charset=utf-8", "If-Match": etag})
    r.raise_for_status()


def local_items(d):
    items = {}
    for f in sorted(Path(d).glob("*.vcf")):
        text = f.read_text(encoding="utf-8")
        uid = uid_of(text)
        if uid in items:
            raise SystemExit(f"UID {uid} twice in {d}")
        items[uid] = text
    return items


def cmd_compare(d, book_url, out_json):
    local, server = local_items(d), server_items(book_url)
    only_local = sorted(set(local) - set(server))
    only_server = sorted(set(server) - set(local))
    differ = sorted(u for u in set(local) & set(server) if content_hash(local[u]) != content_hash(server[u][2]))
    report = {"summary": {"local": len(local), "server": len(server), "only_local": len(only_local),
                          "only_server": len(only_server), "differ": len(differ)},
              "only_local": only_local, "only_server": only_server,
              "differ": {u: {"local": local[u], "server": server[u][2]} for u in differ[:10]}}
    Path(out_json).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(report["summary"]))
    return 0 if not (only_local or only_server or differ) else 1


def cmd_note(d, book_url, uid):
    local = local_items(d).get(uid)
    server = server_items(book_url).get(uid)
    lv = prop_value(local, "NOTE") if local else None
    sv = prop_value(server[2], "NOTE") if server else None
    print(f"{lv if local else '-'}|{sv if server else '-'}")


def _principal(s, base):
    r = s.get(urljoin(base, ".well-known/carddav"), allow_redirects=False)
    root = urljoin(base, r.headers["Location"]) if r.status_code in (301, 302, 303, 307, 308) else base
    body = f'<?xml version="1.0"?><D:propfind {NS}><D:prop><D:current-user-principal/></D:prop></D:propfind>'
    r = s.request("PROPFIND", root, data=body.encode(), headers={"Depth": "0", "Content-Type": "application/xml"})
    r.raise_for_status()
    return urljoin(root, ET.fromstring(r.content).find(f".//{DAV}current-user-principal/{DAV}href").text.strip())


def home(base):
    s = session()
    principal = _principal(s, base)
    body = f'<?xml version="1.0"?><D:propfind {NS}><D:prop><C:addressbook-home-set/></D:prop></D:propfind>'
    r = s.request("PROPFIND", principal, data=body.encode(), headers={"Depth": "0", "Content-Type": "application/xml"})
    r.raise_for_status()
    return urljoin(principal, ET.fromstring(r.content).find(f".//{CARD}addressbook-home-set/{DAV}href").text.strip())


def cmd_bookurl(base, name):
    print(urljoin(home(base), f"{name}/"))


def cmd_mkbook(base, name):
    url = urljoin(home(base), f"{name}/")
    body = (f'<?xml version="1.0" encoding="utf-8"?><D:mkcol {NS}><D:set><D:prop><D:resourcetype><D:collection/>'
            f"<C:addressbook/></D:resourcetype><D:displayname>Contacts</D:displayname></D:prop></D:set></D:mkcol>")
    r = session().request("MKCOL", url, data=body.encode(), headers={"Content-Type": "application/xml"})
    if r.status_code not in (201, 405):
        raise SystemExit(f"MKCOL {url}: {r.status_code} {r.text}")
    print(url)


def cmd_expect(d, query):
    """`khard email --parsable QUERY`: one line per e-mail, "address<TAB>name<TAB>type", for the
    cards whose name, e-mail or other fields contain QUERY (case-insensitive)."""
    q = query.lower()
    rows = set()
    for text in local_items(d).values():
        emails = [(v, p.get("TYPE", [])) for n, p, v in properties(text) if n == "EMAIL"]
        if q not in unfold(text).lower():
            continue
        fn = prop_value(text, "FN")
        for address, _ in emails:
            rows.add(f"{address}\t{fn}")
    for row in sorted(rows):
        print(row)


def cmd_uids(d):
    for uid in local_items(d):
        print(uid)


def main(argv):
    cmd, args = argv[1], argv[2:]
    commands = {"generate": cmd_generate, "edit-local": cmd_edit_local, "new-local": cmd_new_local,
                "remote": cmd_remote, "compare": cmd_compare, "note": cmd_note, "bookurl": cmd_bookurl,
                "mkbook": cmd_mkbook, "expect": cmd_expect, "uids": cmd_uids, "rm-local": cmd_rm_local}
    if cmd not in commands:
        raise SystemExit(__doc__)
    return commands[cmd](*args) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
