"""Apache httpd + mod_auth_openidc as a relying party of Madang (shared by oidc_apache and web_browser).

`Apache(root, port, provider=..., client_id=..., secret=...)` writes an httpd config into the temp
ServerRoot `root` (its own PidFile, logs, a free 127.0.0.1 port; never the system service) in which
mod_auth_openidc protects /protected with OIDCProviderMetadataURL pointing at the provider's
discovery document (client_secret_basic, PKCE S256, scopes openid email profile groups), and a CGI
at /protected/claims prints REMOTE_USER and the OIDC_* environment (OIDCPassClaimsAs environment):
as JSON, or with `?view=html` as an HTML page whose <pre id="claims"> holds that JSON. Apache runs
in the foreground as a child of the caller, in its own session, and `stop()` stops it by its PID.

`files` adds files under the ServerRoot ({relative path: (text, mode)}) and `extra_conf` lines to
the config, for a suite's own pages.

Env: CT_APACHE_BIN (default /usr/sbin/apache2), CT_APACHE_MODULES (/usr/lib/apache2/modules).
"""

import os
import secrets
import shutil
import socket
import subprocess
import time

import requests

APACHE = os.environ.get("CT_APACHE_BIN", "/usr/sbin/apache2")
MODULES = os.environ.get("CT_APACHE_MODULES", "/usr/lib/apache2/modules")

CGI = """#!/usr/bin/python3
import html, json, os
env = {k: v for k, v in os.environ.items() if k.startswith("OIDC_") or k in ("REMOTE_USER", "AUTH_TYPE")}
if "view=html" in os.environ.get("QUERY_STRING", ""):
    print("Content-Type: text/html; charset=utf-8")
    print()
    print("<!doctype html><html lang=en><title>claims</title>")
    print("<h1>Signed in as " + html.escape(env.get("REMOTE_USER", "")) + "</h1>")
    print('<pre id="claims">' + html.escape(json.dumps(env, sort_keys=True)) + "</pre>")
else:
    print("Content-Type: application/json")
    print()
    print(json.dumps(env, sort_keys=True))
"""


def available():
    """None when apache2 and mod_auth_openidc are installed, else what is missing."""
    if not os.path.exists(APACHE) or not os.path.exists(f"{MODULES}/mod_auth_openidc.so"):
        return f"apache2 or mod_auth_openidc missing ({APACHE}, {MODULES}/mod_auth_openidc.so): run setup.sh"
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Apache:
    def __init__(self, root, port, *, provider, client_id, secret, out_dir="", files=None, extra_conf="",
                 written_by="conformance-tests/ct_apache.py"):
        self.root = root
        self.port = port
        self.out_dir = out_dir
        self.url = f"http://127.0.0.1:{port}"
        self.redirect_uri = self.url + "/protected/redirect_uri"
        os.makedirs(f"{root}/htdocs", exist_ok=True)
        os.makedirs(f"{root}/logs", exist_ok=True)
        with open(f"{root}/claims.cgi", "w") as f:
            f.write(CGI)
        os.chmod(f"{root}/claims.cgi", 0o755)
        with open(f"{root}/htdocs/index.html", "w") as f:
            f.write("<!doctype html><title>public</title><p>public</p>\n")
        for rel, (text, mode) in (files or {}).items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, mode)
        os.chmod(root, 0o755)
        user = ""
        if os.geteuid() == 0:
            # httpd refuses to serve as root; its children switch to www-data.
            user = "User www-data\nGroup www-data\n"
            for d in (root, f"{root}/htdocs"):
                os.chmod(d, 0o755)
        mods = ["mpm_prefork", "authn_core", "authz_core", "authz_user", "alias", "cgi", "mime", "auth_openidc"]
        load = "\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in mods)
        conf = f"""# Written by {written_by}
ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
Mutex file:{root}
{load}
{user}ErrorLog "{root}/logs/error.log"
LogLevel warn auth_openidc:debug
LogFormat "%h %u \\"%r\\" %>s" short
CustomLog "{root}/logs/access.log" short
StartServers 1
MinSpareServers 1
MaxSpareServers 3
MaxRequestWorkers 8
Timeout 30
TypesConfig /dev/null
AddType text/html .html
DocumentRoot "{root}/htdocs"
<Directory />
    Require all denied
</Directory>
<Directory "{root}/htdocs">
    Require all granted
</Directory>
<Directory "{root}">
    <Files "claims.cgi">
        Require all granted
    </Files>
</Directory>

OIDCProviderMetadataURL {provider.rstrip('/')}/.well-known/openid-configuration
OIDCClientID {client_id}
OIDCClientSecret {secret}
OIDCRedirectURI {self.redirect_uri}
OIDCCryptoPassphrase {secrets.token_hex(24)}
OIDCScope "openid email profile groups"
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCPKCEMethod S256
OIDCRemoteUserClaim preferred_username
OIDCPassClaimsAs environment
OIDCPassIDTokenAs claims payload
OIDCSessionType server-cache
OIDCCacheType shm
OIDCHTTPTimeoutLong 15
OIDCHTTPTimeoutShort 10

ScriptAlias /protected/claims "{root}/claims.cgi"
<Location /protected>
    AuthType openid-connect
    Require valid-user
</Location>
{extra_conf}
"""
        self.conf = f"{root}/httpd.conf"
        with open(self.conf, "w") as f:
            f.write(conf)
        check = subprocess.run([APACHE, "-f", self.conf, "-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"apache2 -t: {check.stderr.strip()} {check.stdout.strip()}")
        # -DFOREGROUND: the parent stays our child, so we can stop it by its PID. Its own session:
        # on shutdown prefork signals its whole process group, which must not include us.
        with open(f"{root}/logs/stderr.log", "w") as err:
            self.p = subprocess.Popen([APACHE, "-f", self.conf, "-DFOREGROUND"], stdout=subprocess.DEVNULL,
                                      stderr=err, start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"apache2 exited with {self.p.returncode}: {self.log_tail()}")
            try:
                requests.get(self.url + "/", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("apache2 did not answer within 20 s")

    def log_tail(self, n=60):
        out = []
        for name in ("stderr.log", "error.log"):
            try:
                with open(f"{self.root}/logs/{name}") as f:
                    out += f.readlines()[-n:]
            except OSError:
                pass
        return "".join(out)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()  # SIGTERM to the parent: it stops its children and exits
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        if self.out_dir:
            for name in ("error.log", "access.log", "stderr.log"):
                try:
                    shutil.copy(f"{self.root}/logs/{name}", os.path.join(self.out_dir, f"apache-{name}"))
                except OSError:
                    pass
            try:
                shutil.copy(self.conf, os.path.join(self.out_dir, "apache-httpd.conf"))
            except OSError:
                pass
