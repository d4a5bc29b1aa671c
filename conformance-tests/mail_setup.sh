#!/usr/bin/env bash
# One-step device set-up against a real `madang serve` (issue 15; docs/clients.md "Mail apps"):
# fetches Mozilla autoconfig the way Thunderbird (both URLs, with ?emailaddress=) and Thunderbird
# for Android (no address: the domain comes from the Host) do, posts Thunderbird's Autodiscover
# request, and downloads the Apple profile through the signed-in account page; every document
# is checked with Python's own parsers (xml.etree, plistlib), and the profile's app password is
# used over CalDAV.
#
# Run by run.sh (suite mail_setup), which starts the server with IMAPS, IMAP, submissions and
# submission listeners on loopback ports (CT_MAIL_*_PORT) and hostname mail.example.test.
# Env: CT_URL, CT_USER, CT_PASSWORD, CT_MADANG_CLI, CT_MAIL_IMAPS_PORT, CT_MAIL_IMAP_PORT,
#      CT_MAIL_SUBMISSIONS_PORT, CT_MAIL_SUBMISSION_PORT.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${CT_URL:?}" "${CT_USER:?}" "${CT_PASSWORD:?}" "${CT_MADANG_CLI:?}"
: "${CT_MAIL_IMAPS_PORT:?}" "${CT_MAIL_IMAP_PORT:?}" "${CT_MAIL_SUBMISSIONS_PORT:?}" "${CT_MAIL_SUBMISSION_PORT:?}"
py=python3
[[ -x "$here/.venv/bin/python" ]] && py="$here/.venv/bin/python"
work="$(mktemp -d /tmp/mail-setup.XXXXXX)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# fetch NAME URL HOST [curl args...]: the body to $work/NAME, prints the status.
fetch() {
    local name="$1" url="$2" host="$3"
    shift 3
    curl -sS --max-time 5 -o "$work/$name" -w '%{http_code} %{content_type}' -H "Host: $host" "$@" "$url"
}

# Before mail is on, mail apps are told nothing (404), so they go on to their next method.
got="$(fetch off.xml "${CT_URL}.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.org" example.org)"
[[ "$got" == 404* ]] && ok "autoconfig answers 404 while the mail module is off" || bad "autoconfig while off: $got"

"$CT_MADANG_CLI" user set-role "$CT_USER" admin >/dev/null
got="$(curl -sS -o /dev/null -w '%{http_code}' -u "$CT_USER:$CT_PASSWORD" -X PUT -H 'Content-Type: application/json' \
    --data '{"mail": true}' "${CT_URL}api/v1/admin/modules")"
[[ "$got" == 200 ]] && ok "mail module turned on through the admin API" || bad "PUT /api/v1/admin/modules: $got"

# Thunderbird: https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=… and
# https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=…
check_autoconfig() { # FILE DOMAIN
    "$py" - "$1" "$2" "$CT_MAIL_IMAPS_PORT" "$CT_MAIL_IMAP_PORT" "$CT_MAIL_SUBMISSIONS_PORT" "$CT_MAIL_SUBMISSION_PORT" <<'EOF'
import re, sys
import xml.etree.ElementTree as ET
path, domain, imaps, imap, subs, sub = sys.argv[1:]
text = open(path, encoding="utf-8").read()
root = ET.fromstring(text)
assert root.tag == "clientConfig" and root.get("version") == "1.1", root.tag
providers = root.findall("emailProvider")
assert len(providers) == 1
p = providers[0]
hostname = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$")
assert p.get("id") == domain and hostname.match(p.get("id")), p.get("id")
assert [d.text for d in p.findall("domain")] == [domain]
def servers(tag):
    return [(s.get("type"), s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"),
             s.findtext("username"), s.findtext("authentication")) for s in p.findall(tag)]
row = lambda kind, port, sock: (kind, "mail.example.test", port, sock, "%EMAILADDRESS%", "password-cleartext")
assert servers("incomingServer") == [row("imap", imaps, "SSL"), row("imap", imap, "STARTTLS")], servers("incomingServer")
assert servers("outgoingServer") == [row("smtp", subs, "SSL"), row("smtp", sub, "STARTTLS")], servers("outgoingServer")
assert root.find(".//password") is None and "plain" not in text
EOF
}

for case in "host autoconfig.example.org /mail/config-v1.1.xml?emailaddress=alice%40example.org example.org" \
    "wellknown example.org /.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.org example.org" \
    "android autoconfig.example.net /mail/config-v1.1.xml example.net" \
    "unknown example.org /.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=nobody%40example.org example.org"; do
    read -r name host path domain <<<"$case"
    got="$(fetch "$name.xml" "${CT_URL}${path#/}" "$host")"
    if [[ "$got" == "200 application/xml"* ]] && check_autoconfig "$work/$name.xml" "$domain"; then
        ok "autoconfig ($name: Host $host, $path) parsed and checked"
    else
        bad "autoconfig ($name): $got $(head -c 300 "$work/$name.xml")"
    fi
done
cmp -s "$work/wellknown.xml" "$work/unknown.xml" && ok "an address without an account gets the same document" ||
    bad "autoconfig differs for an unknown address"

# Thunderbird's Autodiscover request (ExchangeAutoDiscover.sys.mjs), with the password as Basic.
cat >"$work/ad-request.xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
    <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
      <Request>
        <EMailAddress>alice@example.org</EMailAddress>
        <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
      </Request>
    </Autodiscover>
EOF
got="$(fetch ad.xml "${CT_URL}autodiscover/autodiscover.xml" autodiscover.example.org -u 'alice@example.org:secret' \
    -H 'Content-Type: text/xml; charset=utf-8' --data-binary "@$work/ad-request.xml")"
if [[ "$got" == "200 application/xml"* ]] && "$py" - "$work/ad.xml" "$CT_MAIL_IMAPS_PORT" "$CT_MAIL_SUBMISSIONS_PORT" <<'EOF'; then
import sys
import xml.etree.ElementTree as ET
path, imaps, subs = sys.argv[1:]
R = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
A = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
root = ET.parse(path).getroot()
assert root.tag == R + "Autodiscover", root.tag
account = root.find(f"{A}Response/{A}Account")
assert account.findtext(A + "AccountType") == "email" and account.findtext(A + "Action") == "settings"
protocols = [{c.tag[len(A):]: c.text for c in p} for p in account.findall(A + "Protocol")]
first = {p["Type"]: p for p in reversed(protocols)}
assert first["IMAP"]["Port"] == imaps and first["SMTP"]["Port"] == subs, protocols
for p in protocols:
    assert p["Server"] == "mail.example.test" and p["LoginName"] == "alice@example.org", p
    assert (p["SSL"], p["SPA"], p["AuthRequired"]) == ("on", "off", "on"), p
EOF
    ok "Autodiscover answer parsed and checked"
else
    bad "Autodiscover: $got $(head -c 300 "$work/ad.xml")"
fi
got="$(fetch ad-bad.xml "${CT_URL}autodiscover/autodiscover.xml" example.org --data-binary '<Autodiscover><Request>')"
[[ "$got" == 400* ]] && ok "Autodiscover refuses broken XML with 400" || bad "Autodiscover with broken XML: $got"

# The Apple profile, downloaded as a person would: sign in, open Devices, name the device.
if "$py" - <<'EOF'; then
import base64, http.cookiejar, os, plistlib, re, sys, urllib.error, urllib.parse, urllib.request
base, user, password = os.environ["CT_URL"], os.environ["CT_USER"], os.environ["CT_PASSWORD"]
jar = http.cookiejar.CookieJar()
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
def call(method, path, fields=None, headers=None):
    data = urllib.parse.urlencode(fields).encode() if fields is not None else None
    req = urllib.request.Request(base + path.lstrip("/"), data=data, method=method, headers=headers or {})
    try:
        with web.open(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
def csrf(page):
    return re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
_, _, page = call("GET", "/signin")
status, _, _ = call("POST", "/signin", {"csrf": csrf(page), "username": user, "password": password})
assert status == 303, status
status, _, page = call("GET", "/account/devices")
assert status == 200 and b"mail.example.test" in page, status
# No CSRF token: refused, nothing made.
status, _, _ = call("POST", "/account/devices", {"device": "Forged"})
assert status == 403, status
status, headers, body = call("POST", "/account/devices", {"csrf": csrf(page), "device": "Conformance iPhone"})
assert status == 200, (status, body[:300])
assert headers["Content-Type"] == "application/x-apple-aspen-config", headers["Content-Type"]
assert headers["Content-Disposition"] == 'attachment; filename="madang-conformance-iphone.mobileconfig"'
assert headers["Cache-Control"] == "no-store"
profile = plistlib.loads(body)
assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
assert profile["PayloadIdentifier"].endswith(".madang.device." + profile["PayloadIdentifier"].rsplit(".", 1)[1])
uuids = {profile["PayloadUUID"]}
kinds = {}
for p in profile["PayloadContent"]:
    assert p["PayloadVersion"] == 1 and p["PayloadIdentifier"].startswith(profile["PayloadIdentifier"] + ".")
    uuids.add(p["PayloadUUID"])
    kinds[p["PayloadType"]] = p
assert len(uuids) == 1 + len(profile["PayloadContent"]), "every payload has its own UUID"
# Alice linked no mail account here: calendar and contacts only.
assert set(kinds) == {"com.apple.caldav.account", "com.apple.carddav.account"}, set(kinds)
cal, card = kinds["com.apple.caldav.account"], kinds["com.apple.carddav.account"]
url = urllib.parse.urlparse(base)
assert cal["CalDAVHostName"] == url.hostname and cal["CalDAVPort"] == url.port and cal["CalDAVUseSSL"] is False
assert cal["CalDAVPrincipalURL"] == f"{base}dav/principals/{user}/" == card["CardDAVPrincipalURL"]
assert cal["CalDAVUsername"] == user and cal["CalDAVPassword"] == card["CardDAVPassword"] != password
# The device password works over CalDAV, as the phone will use it.
auth = base64.b64encode(f"{user}:{cal['CalDAVPassword']}".encode()).decode()
req = urllib.request.Request(f"{base}dav/principals/{user}/", method="PROPFIND",
                             headers={"Authorization": "Basic " + auth, "Depth": "0"})
with urllib.request.urlopen(req, timeout=10) as r:
    assert r.status == 207, r.status
# Listed under the device's name with the other app passwords.
status, _, page = call("GET", "/account/app-passwords")
assert b"Conformance iPhone" in page and b"Forged" not in page
EOF
    ok "Apple profile downloaded, parsed with plistlib, its password works over CalDAV"
else
    bad "Apple profile"
fi

echo "mail_setup: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
