#!/usr/bin/env python3
"""A 10,000-contact address book against one running CardDAV server: PUT rate, addressbook-query
by e-mail, initial sync-collection, multiget of 100 in vCard 3.0.

Usage: carddav_10k.py URL USER PASSWORD [N]   (URL = the address book collection, ending in /)
"""
import concurrent.futures
import random
import sys
import time
import uuid

import requests

url, user, password = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 10_000
random.seed(7)
session = requests.Session()
session.auth = (user, password)
session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=16))
FIRST = ["Anna", "Jürgen", "Zoë", "Min-jun", "Olivia", "Mateo", "Aiko", "Lars", "Fatima", "Noah"]
LAST = ["Müller", "Kim", "Smith", "Østergaard", "Rossi", "Nguyen", "García", "Ivanova", "Park", "Cohen"]


def card(i):
    uid = f"bench-{i}-{uuid.uuid4()}"
    first, last = random.choice(FIRST), random.choice(LAST)
    version = "4.0" if i % 3 == 0 else "3.0"
    lines = [
        "BEGIN:VCARD", f"VERSION:{version}", f"UID:{uid}", f"FN:{first} {last} {i}", f"N:{last};{first};;;",
        f"EMAIL;TYPE=WORK:person{i}@example{i % 50}.com", f"TEL;TYPE=CELL:+49 170 {i:07d}",
        f"ORG:Company {i % 200}", "END:VCARD",
    ]
    return uid, "\r\n".join(lines) + "\r\n"


def put(item):
    uid, vcf = item
    r = session.put(f"{url}{uid}.vcf", data=vcf.encode(), headers={"Content-Type": "text/vcard"})
    assert r.status_code in (201, 204), (r.status_code, r.text)
    return uid


def timed(label, fn, repeat=3):
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best = dt if best is None or dt < best else best
    print(f"{label:<44} {best * 1000:10.1f} ms")
    return out


items = [card(i) for i in range(n)]
t = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    uids = list(pool.map(put, items))
dt = time.perf_counter() - t
print(f"{'PUT ' + str(n) + ' vCards, concurrency 8':<44} {n / dt:10.1f} cards/s")

target = n // 2
query = f"""<?xml version="1.0"?><C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
<D:prop><D:getetag/><C:address-data/></D:prop><C:filter><C:prop-filter name="EMAIL">
<C:text-match collation="i;unicode-casemap" match-type="equals">person{target}@example{target % 50}.com</C:text-match>
</C:prop-filter></C:filter></C:addressbook-query>"""
r = timed("addressbook-query, EMAIL equals (1 match)", lambda: session.request("REPORT", url, data=query.encode()))
assert r.text.count("<D:response>") == 1, r.text[:400]
query2 = query.replace('match-type="equals"', 'match-type="contains"').replace(
    f"person{target}@example{target % 50}.com", "@example7.com")
r = timed("addressbook-query, EMAIL contains (~2%)", lambda: session.request("REPORT", url, data=query2.encode()))
print(f"{'  matched':<44} {r.text.count('<D:response>'):10d} hrefs")

sync = """<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token></D:sync-token>
<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"""
timed("sync-collection, initial", lambda: session.request("REPORT", url, data=sync))
hrefs = "".join(f"<D:href>{url}{u}.vcf</D:href>" for u in random.sample(uids, 100))
multiget = f"""<?xml version="1.0"?><C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
<D:prop><D:getetag/><C:address-data/></D:prop>{hrefs}</C:addressbook-multiget>"""
timed("addressbook-multiget, 100 (as 3.0)", lambda: session.request("REPORT", url, data=multiget.encode()))
