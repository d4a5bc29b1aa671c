#!/usr/bin/env python3
"""Authlib as an OpenID Connect relying party against Madang (issue 5).

Usage: oidc_authlib.py            (env: CT_URL, CT_USER, CT_PASSWORD, CT_USER2, CT_PASSWORD2,
                                   CT_MADANG_CLI; optional CT_OIDC_ISSUER, default CT_URL)

Registers three clients with `madang oidc client add` (CT_MADANG_CLI runs the CLI on the
server's storage): a confidential one, a public one (PKCE required) and a second confidential
one; then, with Authlib's OAuth2Session and joserfc/Authlib's id_token validation:

  discovery (issuer character for character, honest *_supported lists, Authlib's metadata
  validators), JWKS (RS256 + ES256 with kid, no private parts), code flow with PKCE S256,
  state, nonce and RFC 9207 `iss`, id_token signature against the JWKS and iss/aud/exp/iat/
  nonce/at_hash/auth_time/amr, profile claims, userinfo (GET and POST, 401 + Bearer challenge),
  introspection, refresh rotation, revocation, client_secret_post, prompt=none/login/consent,
  remembered consent, public client (PKCE required, plain refused, loopback port may vary),
  end-session with and without id_token_hint;
  negative: code replay (and what was issued from it revoked), wrong/missing PKCE verifier,
  unregistered or mismatched redirect_uri (an error page, never a redirect), token-endpoint
  redirect_uri mismatch, a code used by another client, wrong secret (401 + WWW-Authenticate,
  and the code still usable: client authenticated before the code is consumed), unknown client,
  refresh-token reuse (the whole family revoked), response_type=token refused.

The browser part (sign-in form with its CSRF field, consent form) is scripted with
requests + html.parser (ct_web.py). Prints ok/FAIL per check, then "N passed, N failed";
exits non-zero on any failure.
"""

import base64
import json
import os
import secrets
import socket
import sys
import time
from urllib.parse import quote, urlencode, urlparse

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # the test server speaks plain HTTP on loopback

import requests  # noqa: E402
from authlib.integrations.requests_client import OAuth2Session  # noqa: E402
from authlib.oidc.core import CodeIDToken  # noqa: E402
from authlib.oidc.discovery import OpenIDProviderMetadata  # noqa: E402
from joserfc import jwt  # noqa: E402
from joserfc.errors import JoseError  # noqa: E402
from joserfc.jwk import KeySet  # noqa: E402
from joserfc.jws import JWSRegistry  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct_web as W  # noqa: E402

BASE = os.environ["CT_URL"]
ISSUER = os.environ.get("CT_OIDC_ISSUER", BASE)
USER = os.environ.get("CT_USER", "alice")
PASSWORD = os.environ["CT_PASSWORD"]
USER2 = os.environ.get("CT_USER2", "bob")
PASSWORD2 = os.environ.get("CT_PASSWORD2", "")
CLI = os.environ.get("CT_MADANG_CLI", "")
SCOPE = "openid profile email groups"
T = W.TIMEOUT

C = W.Checks()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The relying party's URLs: nothing listens there; the browser stops before fetching them.
RP_PORT = free_port()
RP = f"http://127.0.0.1:{RP_PORT}"
REDIRECT = f"{RP}/cb"
REDIRECT2 = f"{RP}/cb2"
POST_LOGOUT = f"{RP}/bye"
NATIVE_REDIRECT = f"{RP}/native"
OTHER_REDIRECT = f"{RP}/other"

CONF_ID, PUB_ID, OTHER_ID, API_ID = "authlib-rp", "authlib-native", "authlib-other", "authlib-api"
API_REDIRECT = f"{RP}/api"
md = {}
jwks = {}
secrets_ = {}


def b64url_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def basic(client_id, secret):
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    return requests.auth.HTTPBasicAuth(quote(client_id, safe=""), quote(secret, safe=""))


def token_post(data, client=None, style="basic", secret=None):
    """Raw POST to the token endpoint. client=(id, secret) with style basic|post|none."""
    data = dict(data)
    auth = None
    if client is not None:
        cid, sec = client
        if style == "basic":
            auth = basic(cid, sec)
        elif style == "post":
            data["client_id"] = cid
            data["client_secret"] = sec
        else:
            data["client_id"] = cid
    return requests.post(md["token_endpoint"], data=data, auth=auth, timeout=T, allow_redirects=False)


def json_of(r):
    try:
        return r.json()
    except ValueError:
        return {}


def new_browser():
    return W.Browser(BASE, user_agent="madang-conformance-authlib")


def rp_session(client_id, secret, method="client_secret_basic", redirect_uri=REDIRECT):
    return OAuth2Session(
        client_id,
        secret,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
        default_timeout=T,
    )


def authorize_url(sess, nonce=True, pkce=True, **extra):
    verifier = secrets.token_urlsafe(48) if pkce else None
    n = secrets.token_urlsafe(16) if nonce else None
    kw = dict(extra)
    if n:
        kw["nonce"] = n
    url, state = sess.create_authorization_url(md["authorization_endpoint"], code_verifier=verifier, **kw)
    return url, state, verifier, n


def login(browser, client_id=CONF_ID, method="client_secret_basic", user=USER, password=PASSWORD, redirect_uri=REDIRECT,
          nonce=True, pkce=True, exchange=True, **extra):
    """One authorization-code round: authorize (sign-in/consent as needed), then (optionally) exchange."""
    sess = rp_session(client_id, secrets_.get(client_id), method, redirect_uri)
    url, state, verifier, n = authorize_url(sess, nonce=nonce, pkce=pkce, **extra)
    u = urlparse(redirect_uri)
    cb, resp, info = W.authorize(browser, url, f"{u.scheme}://{u.netloc}/", user, password)
    if cb is None:
        raise RuntimeError(
            f"authorization did not come back to the client: status {resp.status_code} at {resp.url}: "
            f"{W.page_text(resp.text)[:300]}"
        )
    q = W.query_of(cb)
    out = {"sess": sess, "callback": cb, "query": q, "state": state, "verifier": verifier, "nonce": n, "info": info}
    if exchange and "code" in q:
        out["token"] = sess.fetch_token(
            md["token_endpoint"], authorization_response=cb, code_verifier=verifier, state=state, timeout=T
        )
    return out


def verify_id_token(id_token, client_id, nonce=None, access_token=None, what="id_token"):
    """Signature against the JWKS + the claim rules, as Authlib's OpenIDMixin.parse_id_token does,
    with aud and the required claims made essential. Returns the claims (raises on failure)."""
    header = b64url_json(id_token.split(".")[0])
    C.ok(header.get("alg") in ("RS256", "ES256"), f"{what}: alg {header.get('alg')} is RS256 or ES256")
    kids = [k.get("kid") for k in jwks.get("keys", [])]
    C.ok(header.get("kid") in kids, f"{what}: header kid {header.get('kid')!r} is published in the JWKS")
    algs = md.get("id_token_signing_alg_values_supported") or ["RS256"]
    tok = jwt.decode(id_token, KeySet.import_key_set(jwks), registry=JWSRegistry(algorithms=algs))
    options = {
        "iss": {"essential": True, "value": ISSUER},
        "aud": {"essential": True, "value": client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
    }
    params = {"client_id": client_id}
    if nonce:
        params["nonce"] = nonce
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(tok.claims, tok.header, options, params)
    claims.validate(leeway=5)
    C.ok(True, f"{what}: signature verified against the JWKS; iss/aud/exp/iat/nonce/at_hash valid (Authlib CodeIDToken)")
    raw = tok.claims
    C.eq(raw.get("iss"), ISSUER, f"{what}: iss equals the discovery issuer character for character")
    C.ok(type(raw.get("exp")) is int and type(raw.get("iat")) is int, f"{what}: exp and iat are JSON integers",
         f"exp={raw.get('exp')!r} iat={raw.get('iat')!r}")
    C.ok(raw["exp"] > time.time() and raw["iat"] <= time.time() + 5, f"{what}: iat <= now < exp")
    C.ok(isinstance(raw.get("auth_time"), int), f"{what}: auth_time is a JSON integer", repr(raw.get("auth_time")))
    if access_token:
        C.ok("at_hash" in raw, f"{what}: at_hash present")
    if nonce:
        C.eq(raw.get("nonce"), nonce, f"{what}: nonce echoed")
    else:
        C.ok("nonce" not in raw, f"{what}: no nonce claim when none was sent", repr(raw.get("nonce")))
    aud = raw.get("aud")
    if isinstance(aud, list) and len(aud) > 1:
        C.eq(raw.get("azp"), client_id, f"{what}: azp with several audiences")
    return raw


def jwt_claims(token):
    return b64url_json(token.split(".")[1])


def userinfo(access_token, method="GET"):
    h = {"Authorization": f"Bearer {access_token}"}
    if method == "GET":
        return requests.get(md["userinfo_endpoint"], headers=h, timeout=T)
    return requests.post(md["userinfo_endpoint"], headers=h, timeout=T)


def introspect(token, client=None, hint=None):
    client = client or (CONF_ID, secrets_[CONF_ID])
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    return requests.post(md["introspection_endpoint"], data=data, auth=basic(*client), timeout=T)


def is_active(token, hint=None):
    r = introspect(token, hint=hint)
    if r.status_code != 200:
        raise RuntimeError(f"introspection answered {r.status_code}: {r.text[:200]}")
    return json_of(r).get("active")


def refresh(rt, client=None, style="basic"):
    client = client or (CONF_ID, secrets_[CONF_ID])
    return token_post({"grant_type": "refresh_token", "refresh_token": rt}, client, style)


def expect_oauth_error(r, status, errors, what):
    body = json_of(r)
    okstat = r.status_code in status if isinstance(status, tuple) else r.status_code == status
    C.ok(okstat and body.get("error") in errors, what, f"status {r.status_code}, body {r.text[:200]}")


# --- steps -----------------------------------------------------------------------------------------


def setup_clients():
    secrets_[CONF_ID] = W.add_oidc_client(CLI, CONF_ID, [REDIRECT, REDIRECT2], post_logout=[POST_LOGOUT])
    C.ok(bool(secrets_[CONF_ID]), "madang oidc client add (confidential) printed client_secret")
    W.add_oidc_client(CLI, PUB_ID, [NATIVE_REDIRECT], public=True)
    secrets_[PUB_ID] = None
    secrets_[OTHER_ID] = W.add_oidc_client(CLI, OTHER_ID, [OTHER_REDIRECT], extra=["--id-token-alg", "ES256"])
    secrets_[API_ID] = W.add_oidc_client(CLI, API_ID, [API_REDIRECT],
                                         extra=["--scope", "openid profile api dav"])


def discovery():
    url = BASE.rstrip("/") + "/.well-known/openid-configuration"
    r = requests.get(url, timeout=T)
    C.eq(r.status_code, 200, "GET /.well-known/openid-configuration")
    C.ok(r.headers.get("Content-Type", "").startswith("application/json"), "discovery is application/json",
         r.headers.get("Content-Type"))
    md.update(r.json())
    C.eq(md.get("issuer"), ISSUER, "issuer is exactly the configured issuer (trailing slash included)")
    # Discovery §4: the document lives at issuer (minus a trailing slash) + /.well-known/openid-configuration.
    C.eq(md.get("issuer", "").rstrip("/") + "/.well-known/openid-configuration", url,
         "discovery URL derives from the issuer (OIDC Discovery §4)")
    for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
              "introspection_endpoint", "end_session_endpoint"):
        v = md.get(k, "")
        C.ok(v.startswith(BASE), f"{k} is an absolute URL on the server", repr(v))
    C.eq(md.get("response_types_supported"), ["code"], "response_types_supported is only ['code']")
    gts = md.get("grant_types_supported", [])
    C.ok("authorization_code" in gts and "refresh_token" in gts and "implicit" not in gts and "password" not in gts,
         "grant_types_supported: authorization_code + refresh_token, no implicit/password", repr(gts))
    C.eq(md.get("code_challenge_methods_supported"), ["S256"], "code_challenge_methods_supported is ['S256']")
    algs = md.get("id_token_signing_alg_values_supported", [])
    C.ok("RS256" in algs and "ES256" in algs and "none" not in algs, "id_token algs include RS256 and ES256, not none",
         repr(algs))
    am = md.get("token_endpoint_auth_methods_supported", [])
    C.ok("client_secret_basic" in am and "client_secret_post" in am,
         "token_endpoint_auth_methods_supported has client_secret_basic and client_secret_post", repr(am))
    C.eq(md.get("authorization_response_iss_parameter_supported"), True,
         "authorization_response_iss_parameter_supported is true (RFC 9207)")
    C.ok("openid" in md.get("scopes_supported", []) and "groups" in md.get("scopes_supported", []),
         "scopes_supported lists openid and groups", repr(md.get("scopes_supported")))
    C.ok("public" in md.get("subject_types_supported", []), "subject_types_supported has public")
    # Authlib's RFC 8414 / OIDC Discovery validators insist on https: check everything else by
    # validating a copy with the scheme of our loopback URLs switched.
    https_copy = json.loads(json.dumps(md).replace("http://127.0.0.1", "https://127.0.0.1"))
    try:
        OpenIDProviderMetadata(https_copy).validate()
        C.ok(True, "Authlib OpenIDProviderMetadata.validate() accepts the document (scheme aside)")
    except Exception as e:  # noqa: BLE001
        C.ok(False, "Authlib OpenIDProviderMetadata.validate() accepts the document (scheme aside)", str(e))


def jwks_step():
    r = requests.get(md["jwks_uri"], timeout=T)
    C.eq(r.status_code, 200, "GET jwks_uri")
    jwks.update(r.json())
    keys = jwks.get("keys", [])
    C.ok(all(k.get("kid") for k in keys), "every JWK has a kid")
    C.ok(len({k.get("kid") for k in keys}) == len(keys), "kids are unique")
    C.ok(any(k.get("kty") == "RSA" and k.get("alg", "RS256") == "RS256" for k in keys), "an RSA (RS256) key is published")
    C.ok(any(k.get("kty") == "EC" and k.get("crv") == "P-256" for k in keys), "an EC P-256 (ES256) key is published")
    private = [k.get("kid") for k in keys if any(p in k for p in ("d", "p", "q", "dp", "dq", "qi"))]
    C.ok(not private, "no private key material in the JWKS", repr(private))
    KeySet.import_key_set(jwks)
    C.ok(True, "joserfc imports the JWKS")


state_ = {}


def code_flow():
    b = new_browser()
    res = login(b)
    q = res["query"]
    C.ok(res["info"]["signin"], "the authorization request showed Madang's sign-in form")
    C.eq(q.get("state"), res["state"], "state echoed in the authorization response")
    C.eq(q.get("iss"), ISSUER, "iss in the authorization response (RFC 9207)")
    C.ok(urlparse(res["callback"]).path == "/cb", "redirected to the registered redirect_uri", res["callback"])
    tok = res["token"]
    C.ok(str(tok.get("token_type", "")).lower() == "bearer", "token_type Bearer", repr(tok.get("token_type")))
    for k in ("access_token", "id_token", "refresh_token"):
        C.ok(bool(tok.get(k)), f"token response has {k}")
    ei = tok.get("expires_in")
    C.ok(isinstance(ei, int) and 0 < ei <= 3600, "access token is short-lived (0 < expires_in <= 3600)", repr(ei))
    claims = verify_id_token(tok["id_token"], CONF_ID, res["nonce"], tok["access_token"])
    C.eq(claims.get("preferred_username"), USER, "id_token preferred_username (scope profile)")
    C.ok(claims.get("nickname") in (None, USER), "nickname, when present, is the user name", repr(claims.get("nickname")))
    C.eq(claims.get("email"), f"{USER}@example.com", "id_token email (scope email)")
    C.ok(isinstance(claims.get("email_verified"), bool), "email_verified is a JSON boolean",
         repr(claims.get("email_verified")))
    C.ok(isinstance(claims.get("groups"), list), "groups is a JSON array (scope groups)", repr(claims.get("groups")))
    amr = claims.get("amr")
    C.ok(isinstance(amr, list) and "pwd" in amr and "otp" not in amr, "amr is ['pwd'] for a password sign-in", repr(amr))
    state_["first"] = {"token": tok, "claims": claims, "browser": b, "consent": res["info"]["consent"]}
    # A tampered id_token must not verify (proves the verifier above can fail).
    h, p, s = tok["id_token"].split(".")
    pl = b64url_json(p)
    pl["sub"] = "someone-else"
    forged = h + "." + base64.urlsafe_b64encode(json.dumps(pl).encode()).decode().rstrip("=") + "." + s
    try:
        jwt.decode(forged, KeySet.import_key_set(jwks), registry=JWSRegistry(algorithms=["RS256", "ES256"]))
        C.ok(False, "a forged id_token is rejected by the JWKS check")
    except JoseError:
        C.ok(True, "a forged id_token is rejected by the JWKS check")


def token_response_headers():
    b = state_["first"]["browser"]
    res = login(b, exchange=False)
    r = token_post({"grant_type": "authorization_code", "code": res["query"]["code"], "redirect_uri": REDIRECT,
                    "code_verifier": res["verifier"]}, (CONF_ID, secrets_[CONF_ID]))
    C.eq(r.status_code, 200, "raw token request (client_secret_basic) succeeds")
    C.ok("no-store" in r.headers.get("Cache-Control", ""), "token response has Cache-Control: no-store (RFC 6749 §5.1)",
         r.headers.get("Cache-Control"))
    C.ok(r.headers.get("Content-Type", "").startswith("application/json"), "token response is JSON")
    C.ok(not res["info"]["signin"], "a second authorization reuses the web session (no sign-in form)")
    if state_["first"]["consent"]:
        C.ok(not res["info"]["consent"], "consent is remembered for the same client and scopes")


def userinfo_step():
    tok = state_["first"]["token"]
    sub = state_["first"]["claims"]["sub"]
    for method in ("GET", "POST"):
        r = userinfo(tok["access_token"], method)
        C.eq(r.status_code, 200, f"userinfo {method} with Bearer")
        u = json_of(r)
        C.eq(u.get("sub"), sub, f"userinfo {method}: sub equals the id_token's")
        C.eq(u.get("preferred_username"), USER, f"userinfo {method}: preferred_username")
        C.eq(u.get("email"), f"{USER}@example.com", f"userinfo {method}: email")
    r = requests.get(md["userinfo_endpoint"], timeout=T)
    C.ok(r.status_code == 401 and r.headers.get("WWW-Authenticate", "").startswith("Bearer"),
         "userinfo without a token: 401 with a Bearer challenge", f"{r.status_code} {r.headers.get('WWW-Authenticate')}")
    r = userinfo("not-a-token")
    C.ok(r.status_code == 401 and "invalid_token" in r.headers.get("WWW-Authenticate", ""),
         "userinfo with a bogus token: 401, error=\"invalid_token\" (RFC 6750 §3.1)",
         f"{r.status_code} {r.headers.get('WWW-Authenticate')}")
    # Authlib's own userinfo call, through the session's token auth.
    sess = rp_session(CONF_ID, secrets_[CONF_ID])
    sess.token = tok
    r = sess.get(md["userinfo_endpoint"])
    C.eq(json_of(r).get("sub"), sub, "userinfo through Authlib's OAuth2Session")


def introspection_step():
    tok = state_["first"]["token"]
    r = introspect(tok["access_token"], hint="access_token")
    body = json_of(r)
    C.eq(r.status_code, 200, "introspection of the access token")
    C.eq(body.get("active"), True, "introspection: active true")
    C.eq(body.get("client_id"), CONF_ID, "introspection: client_id")
    C.eq(body.get("sub"), state_["first"]["claims"]["sub"], "introspection: sub")
    C.ok(isinstance(body.get("exp"), int), "introspection: exp is an integer", repr(body.get("exp")))
    C.ok("openid" in str(body.get("scope", "")).split(), "introspection: scope", repr(body.get("scope")))
    r = introspect(tok["refresh_token"], hint="refresh_token")
    C.eq(json_of(r).get("active"), True, "introspection of the refresh token: active true")
    r = introspect("garbage-" + secrets.token_hex(8))
    C.ok(r.status_code == 200 and json_of(r) == {"active": False}, "introspection of an unknown token: {\"active\": false}",
         f"{r.status_code} {r.text[:200]}")
    r = requests.post(md["introspection_endpoint"], data={"token": tok["access_token"]}, timeout=T)
    C.eq(r.status_code, 401, "introspection without client authentication: 401 (RFC 7662 §2.1)")
    r = requests.post(md["introspection_endpoint"], data={"token": tok["access_token"]},
                      auth=basic(CONF_ID, "wrong-secret"), timeout=T)
    C.eq(r.status_code, 401, "introspection with a wrong secret: 401")


def refresh_step():
    b = state_["first"]["browser"]
    res = login(b)
    tok = res["token"]
    sub = state_["first"]["claims"]["sub"]
    # Authlib's refresh.
    sess = res["sess"]
    new = sess.refresh_token(md["token_endpoint"], refresh_token=tok["refresh_token"], timeout=T)
    C.ok(new.get("access_token") and new["access_token"] != tok["access_token"], "refresh (Authlib): a new access token")
    C.ok(new.get("refresh_token") and new["refresh_token"] != tok["refresh_token"],
         "refresh rotates the refresh token (RFC 9700 §4.14.2)")
    if new.get("id_token"):
        c = verify_id_token(new["id_token"], CONF_ID, None, new["access_token"], what="refreshed id_token")
        C.eq(c.get("sub"), sub, "refreshed id_token: same sub")
        first = jwt_claims(tok["id_token"])
        C.eq(c.get("auth_time"), first.get("auth_time"),
             "refreshed id_token: auth_time of the original sign-in (OIDC Core §12.2)")
    C.eq(userinfo(new["access_token"]).status_code, 200, "the refreshed access token works at userinfo")
    # Reuse of the rotated (old) refresh token: dead, and the whole family with it.
    r = refresh(tok["refresh_token"])
    expect_oauth_error(r, 400, ("invalid_grant",), "reusing a rotated refresh token: 400 invalid_grant")
    r = refresh(new["refresh_token"])
    expect_oauth_error(r, 400, ("invalid_grant",), "after reuse, the newest refresh token of the family is revoked too")
    if is_active(new["access_token"]):
        C.note("after refresh-token reuse the family's latest access token is still active (allowed: it is short-lived)")
    else:
        C.ok(True, "after refresh-token reuse the family's access token is inactive too")
    # A refresh token only works for the client it was issued to.
    res2 = login(b)
    r = refresh(res2["token"]["refresh_token"], client=(OTHER_ID, secrets_[OTHER_ID]))
    expect_oauth_error(r, 400, ("invalid_grant",), "another client cannot use the refresh token: invalid_grant")


def revocation_step():
    b = state_["first"]["browser"]
    res = login(b)
    tok = res["token"]
    sess = res["sess"]
    # Someone else's client must not be able to revoke it.
    r = requests.post(md["revocation_endpoint"], data={"token": tok["access_token"]},
                      auth=basic(OTHER_ID, secrets_[OTHER_ID]), timeout=T)
    C.ok(r.status_code in (200, 400, 401, 403), "revocation by another client answers", f"{r.status_code}")
    C.eq(is_active(tok["access_token"]), True, "another client's revocation request leaves the token active (RFC 7009 §2.1)")
    r = requests.post(md["revocation_endpoint"], data={"token": tok["access_token"]}, timeout=T)
    C.eq(r.status_code, 401, "revocation without client authentication: 401")
    r = sess.revoke_token(md["revocation_endpoint"], token=tok["access_token"], token_type_hint="access_token", timeout=T)
    C.eq(r.status_code, 200, "revoke the access token (Authlib revoke_token)")
    C.eq(is_active(tok["access_token"]), False, "revoked access token: introspection active false")
    C.eq(userinfo(tok["access_token"]).status_code, 401, "revoked access token: userinfo 401")
    r = sess.revoke_token(md["revocation_endpoint"], token=tok["refresh_token"], token_type_hint="refresh_token", timeout=T)
    C.eq(r.status_code, 200, "revoke the refresh token")
    expect_oauth_error(refresh(tok["refresh_token"]), 400, ("invalid_grant",), "revoked refresh token: invalid_grant")
    r = sess.revoke_token(md["revocation_endpoint"], token="unknown-" + secrets.token_hex(8), timeout=T)
    C.eq(r.status_code, 200, "revoking an unknown token: 200 (RFC 7009 §2.2)")
    # Revoking the refresh token should take the grant's access tokens with it (RFC 7009 §2.1 SHOULD).
    res = login(b)
    tok = res["token"]
    res["sess"].revoke_token(md["revocation_endpoint"], token=tok["refresh_token"], token_type_hint="refresh_token",
                             timeout=T)
    if is_active(tok["access_token"]):
        C.note("revoking a refresh token leaves its access token active (RFC 7009 §2.1 says SHOULD invalidate)")
    else:
        C.ok(True, "revoking a refresh token invalidates its access token too")


def es256_client():
    b = state_["first"]["browser"]
    res = login(b, client_id=OTHER_ID, redirect_uri=OTHER_REDIRECT)
    tok = res["token"]
    c = verify_id_token(tok["id_token"], OTHER_ID, res["nonce"], tok["access_token"], what="ES256 client id_token")
    C.eq(b64url_json(tok["id_token"].split(".")[0]).get("alg"), "ES256", "client registered with --id-token-alg "
                                                                         "ES256 gets ES256 id_tokens")
    C.eq(c.get("sub"), state_["first"]["claims"]["sub"], "same user, same sub across clients (public subject type)")


def bearer_resources():
    """Access tokens open /api/v1 only with scope api, DAV only with scope dav (issue 5)."""
    b = state_["first"]["browser"]
    me = BASE + "api/v1/me"
    dav = BASE + "dav/"
    pf = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>'

    def api(t):
        return requests.get(me, headers={"Authorization": f"Bearer {t}"}, timeout=T).status_code

    def propfind(t):
        return requests.request("PROPFIND", dav, data=pf, timeout=T, headers={
            "Authorization": f"Bearer {t}", "Depth": "0", "Content-Type": "application/xml"}).status_code

    ident = state_["first"]["token"]["access_token"]
    C.ok(api(ident) in (401, 403), "identity-only token: JSON API refused", str(api(ident)))
    C.ok(propfind(ident) in (401, 403), "identity-only token: DAV refused", str(propfind(ident)))
    for scope, want_api, want_dav in (("openid api", True, False), ("openid dav", False, True)):
        res = login(b, client_id=API_ID, redirect_uri=API_REDIRECT, scope=scope)
        t = res["token"]["access_token"]
        C.ok((api(t) == 200) == want_api and (api(t) in (401, 403)) != want_api,
             f"scope '{scope}': JSON API {'allowed' if want_api else 'refused'}", str(api(t)))
        C.ok((propfind(t) == 207) == want_dav and (propfind(t) in (401, 403)) != want_dav,
             f"scope '{scope}': DAV {'allowed' if want_dav else 'refused'}", str(propfind(t)))
        if want_api:
            r = requests.get(me, headers={"Authorization": f"Bearer {t}"}, timeout=T)
            C.eq(json_of(r).get("username", json_of(r).get("name")), USER, "  ... /api/v1/me is the signed-in user")
            r = requests.get(BASE + "api/v1/admin/users", headers={"Authorization": f"Bearer {t}"}, timeout=T)
            C.ok(r.status_code in (401, 403), "  ... but never the admin API", str(r.status_code))
    # A scope the client was not granted is not handed out.
    res = login(b, scope="openid api")
    if "token" not in res:
        C.eq(res["query"].get("error"), "invalid_scope", "a client not allowed scope api: invalid_scope")
        return
    granted = str(res["token"].get("scope", "")).split()
    t = res["token"]["access_token"]
    C.ok("api" not in granted and api(t) in (401, 403), "a client not allowed scope api does not get it",
         f"scope={granted} api={api(t)}")


def client_secret_post_step():
    b = state_["first"]["browser"]
    res = login(b, method="client_secret_post")
    tok = res["token"]
    C.ok(bool(tok.get("access_token")), "code exchanged with client_secret_post (Authlib)")
    verify_id_token(tok["id_token"], CONF_ID, res["nonce"], tok["access_token"], what="id_token (client_secret_post)")


def negative_code_replay():
    b = state_["first"]["browser"]
    res = login(b, exchange=False)
    data = {"grant_type": "authorization_code", "code": res["query"]["code"], "redirect_uri": REDIRECT,
            "code_verifier": res["verifier"]}
    client = (CONF_ID, secrets_[CONF_ID])
    r1 = token_post(data, client)
    C.eq(r1.status_code, 200, "first use of the code")
    tok = json_of(r1)
    r2 = token_post(data, client)
    expect_oauth_error(r2, 400, ("invalid_grant",), "replayed code: 400 invalid_grant")
    C.eq(is_active(tok.get("access_token", "")), False, "replayed code revokes the access token issued from it")
    expect_oauth_error(refresh(tok.get("refresh_token", "")), 400, ("invalid_grant",),
                       "replayed code revokes the refresh token issued from it")
    C.eq(userinfo(tok.get("access_token", "")).status_code, 401, "replayed code: its access token no longer works at userinfo")


def negative_pkce():
    b = state_["first"]["browser"]
    client = (CONF_ID, secrets_[CONF_ID])
    res = login(b, exchange=False)
    wrong = secrets.token_urlsafe(48)
    r = token_post({"grant_type": "authorization_code", "code": res["query"]["code"], "redirect_uri": REDIRECT,
                    "code_verifier": wrong}, client)
    expect_oauth_error(r, 400, ("invalid_grant",), "wrong PKCE code_verifier: 400 invalid_grant (RFC 7636 §4.6)")
    res = login(b, exchange=False)
    r = token_post({"grant_type": "authorization_code", "code": res["query"]["code"], "redirect_uri": REDIRECT}, client)
    expect_oauth_error(r, 400, ("invalid_grant", "invalid_request"), "missing code_verifier after a challenge: refused")


def negative_redirect_uri():
    b = state_["first"]["browser"]
    sess = rp_session(CONF_ID, secrets_[CONF_ID])
    bad = [
        "http://evil.example/cb",
        f"{RP}/cb/extra",
        f"{RP}/cb?x=1",
        f"{RP}/CB",
        f"{RP}/cb/",
        f"https://127.0.0.1:{RP_PORT}/cb",
    ]
    for uri in bad:
        url, _ = sess.create_authorization_url(md["authorization_endpoint"], redirect_uri=uri,
                                               code_verifier=secrets.token_urlsafe(48), nonce="n")
        resp, stopped = b.open(url, stop=(uri.split("?")[0], "http://evil.example"))
        C.ok(stopped is None and 400 <= resp.status_code < 500 and "html" in resp.headers.get("Content-Type", ""),
             f"unregistered redirect_uri {uri}: an error page, not a redirect",
             f"status {resp.status_code}, redirected to {stopped}")
    # Unknown client: also a page.
    url = md["authorization_endpoint"] + "?" + urlencode({"client_id": "no-such-client", "response_type": "code",
                                                          "redirect_uri": REDIRECT, "scope": "openid", "state": "s"})
    resp, stopped = b.open(url, stop=(RP,))
    C.ok(stopped is None and 400 <= resp.status_code < 500, "unknown client_id: an error page, not a redirect",
         f"status {resp.status_code}, redirected to {stopped}")
    # Missing redirect_uri with a client that has two registered: cannot pick one -> page.
    url = md["authorization_endpoint"] + "?" + urlencode({"client_id": CONF_ID, "response_type": "code", "scope": "openid",
                                                          "state": "s"})
    resp, stopped = b.open(url, stop=(RP,))
    C.ok(stopped is None and 400 <= resp.status_code < 500, "missing redirect_uri: an error page, not a redirect",
         f"status {resp.status_code}, redirected to {stopped}")
    # Token endpoint: redirect_uri must be the one of the authorization request (RFC 6749 §4.1.3).
    res = login(b, exchange=False)
    r = token_post({"grant_type": "authorization_code", "code": res["query"]["code"], "redirect_uri": REDIRECT2,
                    "code_verifier": res["verifier"]}, (CONF_ID, secrets_[CONF_ID]))
    expect_oauth_error(r, 400, ("invalid_grant",), "token request with another registered redirect_uri: invalid_grant")
    # The second registered redirect_uri works in its own right.
    res = login(b, redirect_uri=REDIRECT2)
    C.ok(bool(res["token"].get("access_token")) and res["callback"].startswith(REDIRECT2),
         "the second registered redirect_uri works")


def negative_client_auth():
    b = state_["first"]["browser"]
    res = login(b, exchange=False)
    data = {"grant_type": "authorization_code", "code": res["query"]["code"], "redirect_uri": REDIRECT,
            "code_verifier": res["verifier"]}
    r = token_post(data, (CONF_ID, "wrong-" + secrets.token_hex(8)), "basic")
    C.ok(r.status_code == 401 and json_of(r).get("error") == "invalid_client", "wrong secret (basic): 401 invalid_client",
         f"{r.status_code} {r.text[:200]}")
    C.ok(r.headers.get("WWW-Authenticate", "").lower().startswith("basic"),
         "wrong secret (basic): WWW-Authenticate: Basic (RFC 6749 §5.2)", repr(r.headers.get("WWW-Authenticate")))
    r = token_post(data, (CONF_ID, "wrong-" + secrets.token_hex(8)), "post")
    C.ok(r.status_code in (400, 401) and json_of(r).get("error") == "invalid_client",
         "wrong secret (post): invalid_client", f"{r.status_code} {r.text[:200]}")
    if r.status_code == 401:
        C.ok(bool(r.headers.get("WWW-Authenticate")), "401 carries WWW-Authenticate")
    # Go's oauth2 (Gitea) retries a failed basic attempt with client_secret_post and the SAME code.
    r = token_post(data, (CONF_ID, secrets_[CONF_ID]), "post")
    C.eq(r.status_code, 200, "after failed client authentication the same code still works (client authenticated "
                             "before the code is consumed)")
    r = token_post({**data, "code": "x"}, ("no-such-client", "x"), "basic")
    C.ok(r.status_code == 401 and json_of(r).get("error") == "invalid_client", "unknown client: 401 invalid_client",
         f"{r.status_code} {r.text[:200]}")
    # A code is bound to its client.
    res = login(b, exchange=False)
    r = token_post({"grant_type": "authorization_code", "code": res["query"]["code"], "redirect_uri": REDIRECT,
                    "code_verifier": res["verifier"]}, (OTHER_ID, secrets_[OTHER_ID]))
    expect_oauth_error(r, 400, ("invalid_grant",), "another client presenting the code: invalid_grant")
    # Unsupported grant types.
    r = token_post({"grant_type": "password", "username": USER, "password": PASSWORD}, (CONF_ID, secrets_[CONF_ID]))
    expect_oauth_error(r, 400, ("unsupported_grant_type",), "password grant: unsupported_grant_type")


def negative_parameters():
    """Parameters sent twice (RFC 6749 §3.1, §4.1.2.1, §5.2) and refresh scope widening (§6)."""
    b = state_["first"]["browser"]
    sess = rp_session(CONF_ID, secrets_[CONF_ID])
    url, _, _, _ = authorize_url(sess)
    resp, stopped = b.open(url + "&redirect_uri=" + requests.utils.quote(REDIRECT2, safe=""), stop=(RP,))
    C.ok(stopped is None and 400 <= resp.status_code < 500, "authorization request with redirect_uri twice: error page",
         stopped or str(resp.status_code))
    res = login(b, exchange=False)
    body = urlencode([("grant_type", "authorization_code"), ("code", res["query"]["code"]), ("code", "other"),
                      ("redirect_uri", REDIRECT), ("code_verifier", res["verifier"])])
    r = requests.post(md["token_endpoint"], data=body, auth=basic(CONF_ID, secrets_[CONF_ID]), timeout=T,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    expect_oauth_error(r, 400, ("invalid_request",), "token request with code twice: invalid_request")
    # Both client authentication methods at once: a client MUST NOT (RFC 6749 §2.3); report what happens.
    res = login(b, exchange=False)
    r = requests.post(md["token_endpoint"], auth=basic(CONF_ID, secrets_[CONF_ID]), timeout=T,
                      data={"grant_type": "authorization_code", "code": res["query"]["code"], "redirect_uri": REDIRECT,
                            "code_verifier": res["verifier"], "client_id": CONF_ID,
                            "client_secret": secrets_[CONF_ID]})
    C.note(f"basic and client_secret_post in one request: {r.status_code} {json_of(r).get('error', '')}")
    # Refresh cannot widen the scope; it may narrow it.
    res = login(b, scope="openid profile")
    rt = res["token"]["refresh_token"]
    r = token_post({"grant_type": "refresh_token", "refresh_token": rt, "scope": "openid profile email"},
                   (CONF_ID, secrets_[CONF_ID]))
    expect_oauth_error(r, 400, ("invalid_scope",), "refresh asking for a scope not granted: invalid_scope (RFC 6749 §6)")
    r = token_post({"grant_type": "refresh_token", "refresh_token": rt, "scope": "openid"}, (CONF_ID, secrets_[CONF_ID]))
    if r.status_code == 200:
        granted = str(json_of(r).get("scope", "openid")).split()
        C.ok("profile" not in granted, "refresh narrowing the scope: the new token has only what was asked", repr(granted))
    else:
        C.note(f"refresh narrowing the scope answered {r.status_code} {json_of(r).get('error')} (the widening attempt "
               "may have revoked the grant)")


def negative_response_type():
    b = state_["first"]["browser"]
    url = md["authorization_endpoint"] + "?" + urlencode({"client_id": CONF_ID, "response_type": "token", "redirect_uri": REDIRECT,
                                                          "scope": "openid", "state": "st", "nonce": "n"})
    resp, stopped = b.open(url, stop=(RP,))
    issued = stopped and ("access_token" in stopped or "id_token" in stopped)
    if stopped:
        q = W.query_of(stopped)
        C.ok(q.get("error") == "unsupported_response_type" and not issued, "response_type=token: unsupported_response_type",
             stopped)
    else:
        C.ok(400 <= resp.status_code < 500, "response_type=token refused on a page", f"status {resp.status_code}")


def prompts():
    b = state_["first"]["browser"]
    # prompt=none without a session: login_required, with state and iss.
    fresh = new_browser()
    sess = rp_session(CONF_ID, secrets_[CONF_ID])
    url, st, _, _ = authorize_url(sess, prompt="none")
    resp, stopped = fresh.open(url, stop=(RP,))
    q = W.query_of(stopped or "")
    C.eq(q.get("error"), "login_required", "prompt=none without a session: error=login_required")
    C.eq(q.get("state"), st, "prompt=none error: state echoed")
    C.eq(q.get("iss"), ISSUER, "prompt=none error: iss (RFC 9207 applies to errors too)")
    # prompt=none with a session and remembered consent: a code straight away.
    res = login(b, prompt="none")
    C.ok("code" in res["query"], "prompt=none with a session: a code without any page", res["callback"])
    first_auth = verify_id_token(res["token"]["id_token"], CONF_ID, res["nonce"], res["token"]["access_token"],
                                 what="prompt=none id_token")["auth_time"]
    time.sleep(1.1)
    # prompt=login: the sign-in form again, and a fresh auth_time.
    res = login(b, prompt="login")
    C.ok(res["info"]["signin"], "prompt=login shows the sign-in form despite the session")
    c = verify_id_token(res["token"]["id_token"], CONF_ID, res["nonce"], res["token"]["access_token"],
                        what="prompt=login id_token")
    C.ok(c["auth_time"] > first_auth, "prompt=login: auth_time moves forward", f"{first_auth} -> {c['auth_time']}")
    time.sleep(1.1)
    res = login(b, max_age="0")
    C.ok(res["info"]["signin"], "max_age=0 asks for the password again")
    c2 = verify_id_token(res["token"]["id_token"], CONF_ID, res["nonce"], res["token"]["access_token"],
                         what="max_age id_token")
    C.ok(c2["auth_time"] > c["auth_time"], "max_age=0: auth_time moves forward")
    if state_["first"]["consent"]:
        res = login(b, prompt="consent")
        C.ok(res["info"]["consent"], "prompt=consent shows the consent form although consent was remembered")


def public_client():
    b = state_["first"]["browser"]
    sess = rp_session(PUB_ID, None, "none", NATIVE_REDIRECT)
    if state_["first"]["consent"]:
        # Signed in, but this client never got consent: prompt=none cannot ask (OIDC Core §3.1.2.6).
        url, st, _, _ = authorize_url(sess, prompt="none")
        resp, stopped = b.open(url, stop=(RP,))
        q = W.query_of(stopped or "")
        C.ok(q.get("error") in ("consent_required", "interaction_required") and "code" not in q,
             "prompt=none before any consent: consent_required", stopped or f"status {resp.status_code}")
    # PKCE required for public clients.
    for label, extra in (("no PKCE", {}), ("plain PKCE", {"code_challenge": "a" * 43, "code_challenge_method": "plain"})):
        url, _ = sess.create_authorization_url(md["authorization_endpoint"], nonce="n", **extra)
        resp, stopped = b.open(url, stop=(RP,))
        q = W.query_of(stopped or "")
        C.ok("code" not in q and (q.get("error") == "invalid_request" or (stopped is None and resp.status_code == 400)),
             f"public client with {label}: refused (invalid_request)", stopped or f"status {resp.status_code}")
    res = login(b, client_id=PUB_ID, method="none", redirect_uri=NATIVE_REDIRECT)
    tok = res["token"]
    C.ok(bool(tok.get("access_token")), "public client: code + PKCE S256 exchanged without a secret")
    verify_id_token(tok["id_token"], PUB_ID, res["nonce"], tok["access_token"], what="public client id_token")
    # RFC 8252 §7.3: any port on a loopback redirect URI.
    other = f"http://127.0.0.1:{free_port()}/native"
    res = login(b, client_id=PUB_ID, method="none", redirect_uri=other)
    C.ok(res["callback"].startswith(other) and bool(res.get("token", {}).get("access_token")),
         "loopback redirect URI with another port is accepted (RFC 8252 §7.3)", res["callback"])
    # But not another path or host on the same loopback.
    url, _ = sess.create_authorization_url(md["authorization_endpoint"], redirect_uri=f"http://127.0.0.1:{RP_PORT}/native2",
                                           code_verifier=secrets.token_urlsafe(48), nonce="n")
    resp, stopped = b.open(url, stop=("http://127.0.0.1:" + str(RP_PORT),))
    C.ok(stopped is None and 400 <= resp.status_code < 500, "loopback redirect URI with another path: error page",
         f"{resp.status_code} {stopped}")


def consent_denied():
    """Denying consent: access_denied back at the client, with state and iss (RFC 6749 §4.1.2.1)."""
    if not state_["first"]["consent"]:
        C.note("no consent screen for this client: denial not tested")
        return
    b = state_["first"]["browser"]
    sess = rp_session(CONF_ID, secrets_[CONF_ID])
    url, st, _, _ = authorize_url(sess, prompt="consent")
    cb, resp, info = W.authorize(b, url, RP + "/", consent="deny")
    q = W.query_of(cb or "")
    C.ok(info["consent"] and q.get("error") == "access_denied" and "code" not in q,
         "consent denied: error=access_denied, no code", cb or f"{resp.status_code} {resp.url}")
    C.eq(q.get("state"), st, "consent denied: state echoed")
    C.eq(q.get("iss"), ISSUER, "consent denied: iss")


def provider_forms_csrf():
    """The consent and logout confirmation forms carry a CSRF token; without it: 403, nothing done."""
    b = state_["first"]["browser"]
    sess = rp_session(CONF_ID, secrets_[CONF_ID])
    url, _, _, _ = authorize_url(sess, prompt="consent")
    resp, stopped = b.open(url, stop=(RP,))
    cf = W.consent_form(resp) if stopped is None else None
    if cf is None:
        C.note("no consent form with prompt=consent: consent CSRF not tested")
    else:
        names = [n for n in cf.hidden() if "csrf" in n.lower()]
        C.ok(bool(names), "the consent form has a hidden CSRF field", repr(cf.hidden().keys()))
        r = b.submit(cf, button=W.pick_button(cf, W.ALLOW_WORDS), drop=tuple(names))
        loc = r.headers.get("Location", "")
        C.ok(r.status_code == 403 and "code=" not in loc, "consent POST without the CSRF token: 403, no code",
             f"{r.status_code} {loc[:120]}")
    url = md["end_session_endpoint"] + "?" + urlencode({"client_id": CONF_ID, "post_logout_redirect_uri": POST_LOGOUT})
    resp, stopped = b.open(url, stop=(RP,))
    forms = [f for f in W.forms_of(resp) if f.method == "post"] if stopped is None else []
    if not forms:
        C.note("end-session signs out without a confirmation form: logout CSRF not tested")
        return
    names = [n for n in forms[0].hidden() if "csrf" in n.lower()]
    r = b.submit(forms[0], drop=tuple(names))
    C.eq(r.status_code, 403, "logout confirmation POST without the CSRF token: 403")
    res = login(b, prompt="none")
    C.ok("code" in res["query"], "  ... and the web session is still there", res["callback"])


def grant_death():
    """invalid_grant only when the grant is dead (Gitea disables the user on it): a wrong client
    secret is invalid_client and leaves the refresh token alone; a disabled user's grant is dead."""
    b = new_browser()
    res = login(b, user=USER2, password=PASSWORD2)
    rt = res["token"]["refresh_token"]
    r = refresh(rt, client=(CONF_ID, "wrong-" + secrets.token_hex(6)))
    C.ok(r.status_code == 401 and json_of(r).get("error") == "invalid_client",
         "refresh with a wrong client secret: 401 invalid_client, not invalid_grant", f"{r.status_code} {r.text[:150]}")
    r = refresh(rt)
    C.eq(r.status_code, 200, "  ... and the refresh token still works afterwards")
    rt = json_of(r).get("refresh_token", rt)
    at = json_of(r).get("access_token", "")
    W.run_cli(CLI, "user", "disable", USER2)
    try:
        expect_oauth_error(refresh(rt), 400, ("invalid_grant",), "user disabled: refresh is invalid_grant")
        C.eq(userinfo(at).status_code, 401, "user disabled: the access token no longer works at userinfo")
    finally:
        W.run_cli(CLI, "user", "enable", USER2)


def key_rotation():
    """`madang oidc rotate-keys` on a running server: new kid used, old key still published."""
    old_token = state_["first"]["token"]["id_token"]
    old_kid = b64url_json(old_token.split(".")[0])["kid"]
    before = {k["kid"] for k in jwks["keys"]}
    W.run_cli(CLI, "oidc", "rotate-keys")
    r = requests.get(md["jwks_uri"], timeout=T)
    new_set = r.json()
    after = {k["kid"] for k in new_set.get("keys", [])}
    C.ok(before < after, "after rotate-keys the JWKS has new kids and keeps the old ones",
         f"before {sorted(before)}, after {sorted(after)}")
    jwks.clear()
    jwks.update(new_set)
    b = state_["first"]["browser"]
    res = login(new_browser())
    kid = b64url_json(res["token"]["id_token"].split(".")[0])["kid"]
    C.ok(kid != old_kid and kid in after - before, "new id_tokens are signed with the new key", f"{old_kid} -> {kid}")
    verify_id_token(res["token"]["id_token"], CONF_ID, res["nonce"], res["token"]["access_token"],
                    what="id_token after rotation")
    try:
        jwt.decode(old_token, KeySet.import_key_set(jwks), registry=JWSRegistry(algorithms=["RS256", "ES256"]))
        C.ok(True, "an id_token signed before the rotation still verifies against the JWKS")
    except JoseError as e:
        C.ok(False, "an id_token signed before the rotation still verifies against the JWKS", str(e))
    del b


def logout():
    # Gitea 1.26: client_id + post_logout_redirect_uri, no id_token_hint.
    b = new_browser()
    login(b)
    st = secrets.token_urlsafe(8)
    url = md["end_session_endpoint"] + "?" + urlencode({"client_id": CONF_ID, "post_logout_redirect_uri": POST_LOGOUT,
                                                        "state": st})
    resp, stopped = logout_via(b, url)
    C.ok(stopped is not None and stopped.startswith(POST_LOGOUT), "end-session with client_id, no id_token_hint: back to "
         "the registered post_logout_redirect_uri", stopped or f"status {resp.status_code}: {W.page_text(resp.text)[:200]}")
    C.eq(W.query_of(stopped or "").get("state"), st, "end-session: state echoed")
    signed_out(b, "after end-session (no id_token_hint)")
    # With id_token_hint, through Authlib's logout URL builder.
    b = new_browser()
    res = login(b)
    sess = res["sess"]
    from authlib.integrations.base_client.sync_openid import OpenIDMixin  # noqa: PLC0415

    class _Rp(OpenIDMixin):
        def load_server_metadata(self):
            return md

    lo = _Rp().create_logout_url(post_logout_redirect_uri=POST_LOGOUT, id_token_hint=res["token"]["id_token"])
    resp, stopped = logout_via(b, lo["url"])
    C.ok(stopped is not None and stopped.startswith(POST_LOGOUT), "end-session with id_token_hint (Authlib "
         "create_logout_url): redirected", stopped or f"status {resp.status_code}")
    C.eq(W.query_of(stopped or "").get("state"), lo["state"], "end-session with id_token_hint: state echoed")
    signed_out(b, "after end-session (id_token_hint)")
    del sess
    # Unregistered post_logout_redirect_uri: never redirected there.
    b = new_browser()
    login(b)
    url = md["end_session_endpoint"] + "?" + urlencode({"client_id": CONF_ID,
                                                        "post_logout_redirect_uri": "http://evil.example/bye"})
    resp, stopped = logout_via(b, url, stop=("http://evil.example",))
    C.ok(stopped is None, "end-session with an unregistered post_logout_redirect_uri: not redirected there", stopped)


def logout_via(b, url, stop=None):
    """GET the end-session URL; if Madang asks for confirmation (a form), confirm."""
    stop = stop or (RP,)
    resp, stopped = b.open(url, stop=stop)
    if stopped is None and resp.status_code == 200:
        forms = [f for f in W.forms_of(resp) if f.method == "post"]
        if forms:
            f = forms[0]
            button = W.pick_button(f, ("logout", "log out", "sign out", "signout", "yes", "confirm", "continue")) if len(
                f.buttons) > 1 else None
            resp, stopped = b.submit(f, button=button, stop=stop)
    return resp, stopped


def signed_out(b, what):
    sess = rp_session(CONF_ID, secrets_[CONF_ID])
    url, _, _, _ = authorize_url(sess, prompt="none")
    resp, stopped = b.open(url, stop=(RP,))
    C.eq(W.query_of(stopped or "").get("error"), "login_required", f"{what}: the web session is gone (prompt=none -> "
                                                                   "login_required)")


def main():
    for name, fn in [
        ("register clients", setup_clients),
        ("discovery", discovery),
        ("jwks", jwks_step),
    ]:
        C.step(name, fn)
    if not md or not secrets_:
        print("cannot continue without discovery and clients")
        return C.finish() or 1
    C.step("code flow + PKCE + id_token", code_flow)
    if "first" not in state_:
        return C.finish() or 1
    for name, fn in [
        ("token response headers, remembered session/consent", token_response_headers),
        ("userinfo", userinfo_step),
        ("introspection", introspection_step),
        ("refresh rotation and reuse", refresh_step),
        ("revocation", revocation_step),
        ("client_secret_post", client_secret_post_step),
        ("ES256 client", es256_client),
        ("Bearer on the JSON API and DAV (scopes api, dav)", bearer_resources),
        ("negative: code replay", negative_code_replay),
        ("negative: PKCE", negative_pkce),
        ("negative: redirect_uri", negative_redirect_uri),
        ("negative: client authentication", negative_client_auth),
        ("negative: response_type", negative_response_type),
        ("negative: repeated parameters, refresh scope", negative_parameters),
        ("prompt / max_age", prompts),
        ("public client", public_client),
        ("consent denied", consent_denied),
        ("CSRF on the consent and logout forms", provider_forms_csrf),
        ("invalid_grant only for dead grants", grant_death),
        ("end-session (logout)", logout),
        ("signing key rotation", key_rotation),
    ]:
        C.step(name, fn)
    return C.finish()


if __name__ == "__main__":
    sys.exit(main())
