#!/usr/bin/env python3
"""A local OAuth 2.0 authorization server for the mail tests: what Google or Microsoft are to a
linked account, on 127.0.0.1, with state the tests can steer.

    oauth_provider.py PORT

Endpoints (RFC 6749, PKCE RFC 7636, introspection RFC 7662):
  GET  /authorize   approves at once (no login page): the user is `login_hint`; redirects to
                    `redirect_uri` with `code` and `state`, or `error=access_denied` when the
                    hint starts with `deny`. Only S256 PKCE is accepted.
  POST /token       `authorization_code` (client secret and PKCE verifier checked) and
                    `refresh_token` (rotated on every use, as Microsoft does); `invalid_grant`
                    for a revoked or unknown one.
  POST /introspect  for Dovecot's oauth2 passdb: `{"active": true, "username": …}`.
Test controls (not OAuth):
  POST /control?user=U&ttl=S   access tokens of U live S seconds from now on
  POST /control?user=U&revoke=1  every token of U stops working (the user withdrew consent)
  GET  /stats?user=U           {"codes": n, "refreshes": n}

The client is `madang-test` with secret `madang-test-secret`. Tokens live in memory only.
"""

import base64
import hashlib
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID = "madang-test"
CLIENT_SECRET = "madang-test-secret"

lock = threading.Lock()
codes = {}  # code -> (user, redirect_uri, challenge, expires)
access = {}  # token -> (user, expires)
refresh = {}  # token -> user
ttl = {}  # user -> seconds
stats = {}  # user -> {"codes": n, "refreshes": n}


def count(user, what):
    stats.setdefault(user, {"codes": 0, "refreshes": 0})[what] += 1


def issue(user):
    token = "at-" + secrets.token_urlsafe(24)
    lifetime = ttl.get(user, 3600)
    access[token] = (user, time.time() + lifetime)
    rt = "rt-" + secrets.token_urlsafe(24)
    refresh[rt] = user
    return {"access_token": token, "refresh_token": rt, "expires_in": lifetime, "token_type": "Bearer"}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet: the tests print what matters
        pass

    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def form(self):
        n = int(self.headers.get("Content-Length") or 0)
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(n).decode()).items()}

    def client_ok(self, form):
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            cid, secret = urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret)
        else:
            cid, secret = form.get("client_id"), form.get("client_secret")
        return cid == CLIENT_ID and secret == CLIENT_SECRET

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if url.path == "/authorize":
            redirect = q.get("redirect_uri", "")
            if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code" or not redirect:
                return self.reply(400, {"error": "invalid_request"})
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return self.reply(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
            user = q.get("login_hint", "")
            sep = "&" if "?" in redirect else "?"
            if not user or user.startswith("deny"):
                params = {"error": "access_denied", "state": q.get("state", "")}
            else:
                code = "c-" + secrets.token_urlsafe(16)
                with lock:
                    codes[code] = (user, redirect, q["code_challenge"], time.time() + 120)
                params = {"code": code, "state": q.get("state", "")}
            self.send_response(302)
            self.send_header("Location", redirect + sep + urllib.parse.urlencode(params))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if url.path == "/stats":
            with lock:
                return self.reply(200, stats.get(q.get("user", ""), {"codes": 0, "refreshes": 0}))
        return self.reply(404, {"error": "not_found"})

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        form = self.form()
        if url.path == "/token":
            if not self.client_ok(form):
                return self.reply(401, {"error": "invalid_client"})
            grant = form.get("grant_type")
            with lock:
                if grant == "authorization_code":
                    found = codes.pop(form.get("code", ""), None)
                    if not found or found[3] < time.time() or found[1] != form.get("redirect_uri"):
                        return self.reply(400, {"error": "invalid_grant"})
                    verifier = form.get("code_verifier", "").encode()
                    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
                    if challenge != found[2]:
                        return self.reply(400, {"error": "invalid_grant", "error_description": "PKCE"})
                    count(found[0], "codes")
                    return self.reply(200, issue(found[0]), [("Cache-Control", "no-store")])
                if grant == "refresh_token":
                    user = refresh.pop(form.get("refresh_token", ""), None)
                    if user is None:
                        return self.reply(400, {"error": "invalid_grant", "error_description": "revoked"})
                    count(user, "refreshes")
                    return self.reply(200, issue(user), [("Cache-Control", "no-store")])
            return self.reply(400, {"error": "unsupported_grant_type"})
        if url.path == "/introspect":
            with lock:
                found = access.get(form.get("token", ""))
            if found and found[1] > time.time():
                return self.reply(200, {"active": True, "username": found[0]})
            return self.reply(200, {"active": False})
        if url.path == "/control":
            user = q.get("user", "")
            with lock:
                if "ttl" in q:
                    ttl[user] = int(q["ttl"])
                if q.get("revoke"):
                    for token in [t for t, (u, _) in access.items() if u == user]:
                        del access[token]
                    for token in [t for t, u in refresh.items() if u == user]:
                        del refresh[token]
            return self.reply(200, {"ok": True})
        return self.reply(404, {"error": "not_found"})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.serve_forever()
