//! Configuration: one TOML file, overridden by `MADANG_…` environment
//! variables, overridden by command-line flags, validated into [`Config`].
//!
//! Every key lives in one table ([`KEYS`]) with its environment names, its
//! default and its documentation, so the file, the environment, the error
//! messages, `madang config check` and `docs/configuration.md` cannot drift
//! apart. The environment name of `section.key` is `MADANG_SECTION_KEY`; a few
//! keys a newcomer touches first also have a short form (`MADANG_LISTEN`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration problem. The CLI prints it on one line and exits with 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where a value came from, shown by `madang config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// One configuration key.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    /// Environment variables that set this key, the first one winning.
    pub env: &'static [&'static str],
    /// The default as it would be written in the file; empty means unset.
    pub default: &'static str,
    pub doc: &'static str,
    pub secret: bool,
}

/// Every key Madang understands.
pub const KEYS: &[Key] = &[
    Key {
        name: "data_dir",
        env: &["MADANG_DATA_DIR"],
        default: "./madang-data",
        doc: "Directory for the embedded SQLite database and other local state; created if missing.",
        secret: false,
    },
    Key {
        name: "server.listen",
        env: &["MADANG_SERVER_LISTEN", "MADANG_LISTEN"],
        default: "127.0.0.1:8080",
        doc: "Address and port to listen on, e.g. `0.0.0.0:8443` or `[::]:8080`.",
        secret: false,
    },
    Key {
        name: "server.tls_cert",
        env: &["MADANG_SERVER_TLS_CERT"],
        default: "",
        doc: "PEM certificate chain; with `server.tls_key`, Madang serves HTTPS (HTTP/1.1 and HTTP/2).",
        secret: false,
    },
    Key {
        name: "server.tls_key",
        env: &["MADANG_SERVER_TLS_KEY"],
        default: "",
        doc: "PEM private key (PKCS#8, PKCS#1 or SEC1) for `server.tls_cert`.",
        secret: false,
    },
    Key {
        name: "server.max_body_size",
        env: &["MADANG_SERVER_MAX_BODY_SIZE"],
        default: "16MiB",
        doc: "Largest request body accepted; larger requests get 413. Bytes, or with a KiB/MiB/GiB suffix.",
        secret: false,
    },
    Key {
        name: "server.request_timeout",
        env: &["MADANG_SERVER_REQUEST_TIMEOUT"],
        default: "60s",
        doc: "Time a request may take before it is answered with 408.",
        secret: false,
    },
    Key {
        name: "server.shutdown_timeout",
        env: &["MADANG_SERVER_SHUTDOWN_TIMEOUT"],
        default: "30s",
        doc: "On SIGTERM/SIGINT, how long in-flight requests may take to finish.",
        secret: false,
    },
    Key {
        name: "server.trust_forwarded_for",
        env: &["MADANG_SERVER_TRUST_FORWARDED_FOR"],
        default: "false",
        doc: "Treat every peer as one reverse proxy: the client address is the last `X-Forwarded-For` entry and \
              `X-Forwarded-Proto`/`-Host` are believed. Only when nothing but your proxy can reach Madang; prefer \
              `server.trusted_proxies`.",
        secret: false,
    },
    Key {
        name: "server.trusted_proxies",
        env: &["MADANG_SERVER_TRUSTED_PROXIES"],
        default: "",
        doc: "The reverse proxies and load balancers in front of Madang: addresses or CIDR networks, separated by \
              commas (`10.0.0.0/8, 127.0.0.1, fd00::/8`). Only requests from them have their `X-Forwarded-For`, \
              `X-Forwarded-Proto` and `X-Forwarded-Host` believed, and the `X-Forwarded-For` chain is walked from \
              the right past every trusted proxy, so the client is the first address none of them is (nginx's \
              `real_ip_recursive`). Empty: no proxy. Cannot be combined with `server.trust_forwarded_for`.",
        secret: false,
    },
    Key {
        name: "server.metrics",
        env: &["MADANG_SERVER_METRICS"],
        default: "local",
        doc: "Who may read `/metrics`: `local` (only requests from a loopback address that came through no \
              proxy — no `Forwarded`/`X-Forwarded-For`/`X-Real-IP` header — so a reverse proxy on the same host \
              does not publish it), `token` (`Authorization: Bearer` with `server.metrics_token`), `public` \
              (anyone), or `off`. Refused requests get 404 (401 for a wrong token).",
        secret: false,
    },
    Key {
        name: "server.metrics_token",
        env: &["MADANG_SERVER_METRICS_TOKEN"],
        default: "",
        doc: "The bearer token Prometheus sends when `server.metrics = \"token\"` (at least 32 characters).",
        secret: true,
    },
    Key {
        name: "server.public_url",
        env: &["MADANG_SERVER_PUBLIC_URL", "MADANG_PUBLIC_URL"],
        default: "",
        doc: "The URL people and apps reach Madang at, e.g. `https://madang.example.org/`: used in e-mailed links \
              and as the OpenID Connect issuer. Default: `http://` plus `server.listen`.",
        secret: false,
    },
    Key {
        name: "database.url",
        env: &["MADANG_DATABASE_URL"],
        default: "",
        doc: "`sqlite://path` or `postgres://user:password@host/db`. Default: `madang.db` inside `data_dir`.",
        secret: true,
    },
    Key {
        name: "database.max_connections",
        env: &["MADANG_DATABASE_MAX_CONNECTIONS"],
        default: "10",
        doc: "Size of the PostgreSQL connection pool, per process.",
        secret: false,
    },
    Key {
        name: "database.sqlite_readers",
        env: &["MADANG_DATABASE_SQLITE_READERS"],
        default: "4",
        doc: "SQLite only: connections that read in parallel (writes share one more). Reads are CPU-bound and \
              each connection keeps its own page cache (1 MiB), so more than about two per core costs \
              memory without adding speed.",
        secret: false,
    },
    Key {
        name: "database.connect_timeout",
        env: &["MADANG_DATABASE_CONNECT_TIMEOUT"],
        default: "5s",
        doc: "How long to wait for a database connection before giving up.",
        secret: false,
    },
    Key {
        name: "database.busy_timeout",
        env: &["MADANG_DATABASE_BUSY_TIMEOUT"],
        default: "5s",
        doc: "SQLite only: how long a write waits for another process's write to finish.",
        secret: false,
    },
    Key {
        name: "blob.backend",
        env: &["MADANG_BLOB_BACKEND"],
        default: "local",
        doc: "Where file contents (chat attachments, thumbnails) are kept: `local` (a directory, `blob.dir`) or \
              `s3` (an S3-compatible bucket, `blob.s3_*`). Several server processes need `s3` or a shared directory.",
        secret: false,
    },
    Key {
        name: "blob.dir",
        env: &["MADANG_BLOB_DIR"],
        default: "",
        doc: "The `local` backend's directory; created if missing. Default: `blobs` inside `data_dir`.",
        secret: false,
    },
    Key {
        name: "blob.s3_bucket",
        env: &["MADANG_BLOB_S3_BUCKET"],
        default: "",
        doc: "The bucket, for `blob.backend = \"s3\"` (it must exist).",
        secret: false,
    },
    Key {
        name: "blob.s3_endpoint",
        env: &["MADANG_BLOB_S3_ENDPOINT"],
        default: "",
        doc: "The S3-compatible server's URL, e.g. `https://s3.example.org`; empty for Amazon S3 itself. Requests \
              use path-style URLs (`endpoint/bucket/key`).",
        secret: false,
    },
    Key {
        name: "blob.s3_region",
        env: &["MADANG_BLOB_S3_REGION"],
        default: "us-east-1",
        doc: "The region requests are signed for (AWS Signature Version 4).",
        secret: false,
    },
    Key {
        name: "blob.s3_access_key_id",
        env: &["MADANG_BLOB_S3_ACCESS_KEY_ID"],
        default: "",
        doc: "The access key's id; empty to take credentials from the environment as AWS tools do \
              (`AWS_ACCESS_KEY_ID`, instance metadata).",
        secret: false,
    },
    Key {
        name: "blob.s3_secret_access_key",
        env: &["MADANG_BLOB_S3_SECRET_ACCESS_KEY"],
        default: "",
        doc: "The access key's secret, with `blob.s3_access_key_id`.",
        secret: true,
    },
    Key {
        name: "blob.s3_allow_http",
        env: &["MADANG_BLOB_S3_ALLOW_HTTP"],
        default: "false",
        doc: "Allow an `http://` `blob.s3_endpoint` (a store on the same host or a private network).",
        secret: false,
    },
    Key {
        name: "chat.max_file_size",
        env: &["MADANG_CHAT_MAX_FILE_SIZE"],
        default: "25MiB",
        doc: "Largest file that can be uploaded to a chat channel; larger uploads get 413 and nothing is stored. \
              Independent of `server.max_body_size`.",
        secret: false,
    },
    Key {
        name: "chat.max_image_pixels",
        env: &["MADANG_CHAT_MAX_IMAGE_PIXELS"],
        default: "50000000",
        doc: "Largest image (width × height) a thumbnail is made from: decoding needs about 4 bytes per pixel. \
              Larger images are stored without a thumbnail.",
        secret: false,
    },
    Key {
        name: "chat.unattached_file_lifetime",
        env: &["MADANG_CHAT_UNATTACHED_FILE_LIFETIME"],
        default: "24h",
        doc: "An uploaded file that no message has used for this long is deleted (checked hourly).",
        secret: false,
    },
    Key {
        name: "log.level",
        env: &["MADANG_LOG_LEVEL"],
        default: "info",
        doc: "`error`, `warn`, `info`, `debug`, `trace`, or a filter such as `info,madang=debug`.",
        secret: false,
    },
    Key {
        name: "log.format",
        env: &["MADANG_LOG_FORMAT"],
        default: "human",
        doc: "`human` for people, `json` for log collectors (one object per line).",
        secret: false,
    },
    Key {
        name: "auth.cache_ttl",
        env: &["MADANG_AUTH_CACHE_TTL"],
        default: "5m",
        doc: "How long a verified password is remembered in memory (`0s` disables the cache).",
        secret: false,
    },
    Key {
        name: "auth.account_failures_before_backoff",
        env: &["MADANG_AUTH_ACCOUNT_FAILURES_BEFORE_BACKOFF"],
        default: "5",
        doc: "Failed sign-ins to one account before it is throttled (429 with Retry-After).",
        secret: false,
    },
    Key {
        name: "auth.address_failures_before_backoff",
        env: &["MADANG_AUTH_ADDRESS_FAILURES_BEFORE_BACKOFF"],
        default: "20",
        doc: "Failed sign-ins from one client address before it is throttled.",
        secret: false,
    },
    Key {
        name: "auth.max_backoff",
        env: &["MADANG_AUTH_MAX_BACKOFF"],
        default: "15m",
        doc: "Longest wait imposed after repeated failures; the wait doubles up to this.",
        secret: false,
    },
    Key {
        name: "auth.min_password_length",
        env: &["MADANG_AUTH_MIN_PASSWORD_LENGTH"],
        default: "8",
        doc: "Shortest account password accepted when one is set.",
        secret: false,
    },
    Key {
        name: "auth.argon2_memory_kib",
        env: &["MADANG_AUTH_ARGON2_MEMORY_KIB"],
        default: "19456",
        doc: "argon2id memory cost for new password hashes (OWASP: 19 MiB).",
        secret: false,
    },
    Key {
        name: "auth.argon2_iterations",
        env: &["MADANG_AUTH_ARGON2_ITERATIONS"],
        default: "2",
        doc: "argon2id time cost for new password hashes.",
        secret: false,
    },
    Key {
        name: "auth.encryption_key",
        env: &["MADANG_AUTH_ENCRYPTION_KEY"],
        default: "",
        doc: "32 random bytes in base64 (`openssl rand -base64 32`) that seal TOTP seeds and signing keys in the \
              database. Unset: a key kept in the database itself is used, and a warning is logged at start. \
              Changing it makes sealed secrets unreadable.",
        secret: true,
    },
    Key {
        name: "web.session_idle_timeout",
        env: &["MADANG_WEB_SESSION_IDLE_TIMEOUT"],
        default: "7d",
        doc: "A web session unused for this long is signed out.",
        secret: false,
    },
    Key {
        name: "web.session_lifetime",
        env: &["MADANG_WEB_SESSION_LIFETIME"],
        default: "30d",
        doc: "A web session ends this long after sign-in, however active.",
        secret: false,
    },
    Key {
        name: "web.reset_link_lifetime",
        env: &["MADANG_WEB_RESET_LINK_LIFETIME"],
        default: "1h",
        doc: "How long a password-reset link works (it works once).",
        secret: false,
    },
    Key {
        name: "web.signup",
        env: &["MADANG_WEB_SIGNUP"],
        default: "true",
        doc: "Offer the sign-up form; new accounts wait as `pending` until an admin approves them.",
        secret: false,
    },
    Key {
        name: "web.signup_notify_interval",
        env: &["MADANG_WEB_SIGNUP_NOTIFY_INTERVAL"],
        default: "15m",
        doc: "With `[smtp]` set, active admins are mailed when someone asks for an account: at once for the \
              first request, then at most one mail per this interval, which counts the requests still waiting.",
        secret: false,
    },
    Key {
        name: "brand.name",
        env: &["MADANG_BRAND_NAME"],
        default: "Madang",
        doc: "The product name shown in page titles and headers, the web client, and the subject and text of \
              mail Madang sends. At most 64 characters.",
        secret: false,
    },
    Key {
        name: "brand.logo",
        env: &["MADANG_BRAND_LOGO"],
        default: "",
        doc: "An SVG or PNG file (at most 1 MiB) shown beside the name in the header, served at `/brand/logo`; \
              read once at start, so replacing it takes a restart. Unset: the name alone.",
        secret: false,
    },
    Key {
        name: "brand.primary_color",
        env: &["MADANG_BRAND_PRIMARY_COLOR"],
        default: "#0b5cad",
        doc: "The primary colour as `#rrggbb`: buttons and the header rule, through `--brand-primary` in \
              `/brand.css`; text on it is black or white, whichever contrasts more (WCAG 2).",
        secret: false,
    },
    Key {
        name: "smtp.host",
        env: &["MADANG_SMTP_HOST"],
        default: "",
        doc: "Mail server for password-reset links and the admins' sign-up notices. Unset: no mail is sent; \
              admins hand out links (`madang user reset-link`).",
        secret: false,
    },
    Key {
        name: "smtp.port",
        env: &["MADANG_SMTP_PORT"],
        default: "",
        doc: "Mail server port. Default: 587 with `starttls`, 465 with `tls`, 25 with `none`.",
        secret: false,
    },
    Key {
        name: "smtp.security",
        env: &["MADANG_SMTP_SECURITY"],
        default: "starttls",
        doc: "`starttls` (required, not opportunistic), `tls` (implicit TLS) or `none` (only for a relay on \
              localhost).",
        secret: false,
    },
    Key {
        name: "smtp.username",
        env: &["MADANG_SMTP_USERNAME"],
        default: "",
        doc: "Mail server login; unset for none.",
        secret: false,
    },
    Key {
        name: "smtp.password",
        env: &["MADANG_SMTP_PASSWORD"],
        default: "",
        doc: "Mail server password.",
        secret: true,
    },
    Key {
        name: "smtp.from",
        env: &["MADANG_SMTP_FROM"],
        default: "",
        doc: "Sender address, e.g. `Madang <madang@example.org>`; required with `smtp.host`.",
        secret: false,
    },
    Key {
        name: "mail.allowed_networks",
        env: &["MADANG_MAIL_ALLOWED_NETWORKS"],
        default: "",
        doc: "Internal networks linked mail servers may be on (`10.0.0.0/8, 192.168.1.20`). By default a mail server a \
              user names may not be on loopback, private or link-local addresses (server-side request forgery).",
        secret: false,
    },
    Key {
        name: "mail.ca_file",
        env: &["MADANG_MAIL_CA_FILE"],
        default: "",
        doc: "A PEM file of certificate authorities trusted for linked mail servers, besides the public ones \
              (a company CA).",
        secret: false,
    },
    Key {
        name: "mail.connect_timeout",
        env: &["MADANG_MAIL_CONNECT_TIMEOUT"],
        default: "15s",
        doc: "How long each step of reaching a linked mail server (connect, TLS, greeting, login) may take.",
        secret: false,
    },
    Key {
        name: "mail.max_accounts_per_user",
        env: &["MADANG_MAIL_MAX_ACCOUNTS_PER_USER"],
        default: "10",
        doc: "How many mail accounts one user may link.",
        secret: false,
    },
    Key {
        name: "mail.max_message_size",
        env: &["MADANG_MAIL_MAX_MESSAGE_SIZE"],
        default: "50MiB",
        doc: "Largest message fetched whole from the linked server (to forward it, or to read one whose \
              structure the server cannot describe), and the most text and pictures opening a message may \
              fetch; past it, 413 (read it in a mail app). Attachments stream in pieces and have no such limit.",
        secret: false,
    },
    Key {
        name: "mail.whole_message_below",
        env: &["MADANG_MAIL_WHOLE_MESSAGE_BELOW"],
        default: "64KiB",
        doc: "Messages up to this size are fetched whole when opened (one round trip); larger ones by their \
              parts: the structure, then the text and small embedded pictures, each attachment only when it \
              is downloaded.",
        secret: false,
    },
    Key {
        name: "mail.body_cache_size",
        env: &["MADANG_MAIL_BODY_CACHE_SIZE"],
        default: "64MiB",
        doc: "Memory for messages recently opened in the web client (per process), so reopening one or \
              downloading its attachments does not fetch it again.",
        secret: false,
    },
    Key {
        name: "mail.max_connections",
        env: &["MADANG_MAIL_MAX_CONNECTIONS"],
        default: "500",
        doc: "Connections this process keeps open to linked mail servers at most, all users together (each \
              linked account's watcher holds one); past it, a request waits up to `mail.connect_timeout` for a \
              place, then answers 503.",
        secret: false,
    },
    Key {
        name: "mail.max_connections_per_account",
        env: &["MADANG_MAIL_MAX_CONNECTIONS_PER_ACCOUNT"],
        default: "4",
        doc: "IMAP connections one linked account may have open from this process (2 to 100; its watcher \
              holds one). Providers cap them (Gmail: 15 per account; Dovecot: 10 per user and address), so a \
              burst of reads queues here instead of being refused there.",
        secret: false,
    },
    Key {
        name: "mail.dns_server",
        env: &["MADANG_MAIL_DNS_SERVER"],
        default: "",
        doc: "The nameserver (`ip` or `ip:port`) asked for a domain's mail servers when a user links an account \
              (RFC 6186 SRV and MX records, docs/mail.md). Empty: the nameservers of `/etc/resolv.conf`.",
        secret: false,
    },
    Key {
        name: "mail.image_proxy_max_size",
        env: &["MADANG_MAIL_IMAGE_PROXY_MAX_SIZE"],
        default: "5MiB",
        doc: "Largest remote image in a message that Madang's image proxy fetches and passes on when the user \
              shows a message's images; larger ones are refused.",
        secret: false,
    },
    Key {
        name: "mail.image_proxy_timeout",
        env: &["MADANG_MAIL_IMAGE_PROXY_TIMEOUT"],
        default: "15s",
        doc: "How long the image proxy may take to fetch one remote image, redirects included.",
        secret: false,
    },
    Key {
        name: "mail.oauth_google_client_id",
        env: &["MADANG_MAIL_OAUTH_GOOGLE_CLIENT_ID"],
        default: "",
        doc: "The OAuth client (a \"Web application\" in Google Cloud's console) that lets users link Gmail and \
              Google Workspace mailboxes without a password (docs/mail.md). Unset: Google only by app password.",
        secret: false,
    },
    Key {
        name: "mail.oauth_google_client_secret",
        env: &["MADANG_MAIL_OAUTH_GOOGLE_CLIENT_SECRET"],
        default: "",
        doc: "That client's secret.",
        secret: true,
    },
    Key {
        name: "mail.oauth_microsoft_client_id",
        env: &["MADANG_MAIL_OAUTH_MICROSOFT_CLIENT_ID"],
        default: "",
        doc: "The Microsoft Entra application that lets users link Outlook.com and Microsoft 365 mailboxes \
              (docs/mail.md); Microsoft has switched off passwords for IMAP, so without it they cannot be linked.",
        secret: false,
    },
    Key {
        name: "mail.oauth_microsoft_client_secret",
        env: &["MADANG_MAIL_OAUTH_MICROSOFT_CLIENT_SECRET"],
        default: "",
        doc: "That application's client secret.",
        secret: true,
    },
    Key {
        name: "mail.oauth_microsoft_tenant",
        env: &["MADANG_MAIL_OAUTH_MICROSOFT_TENANT"],
        default: "common",
        doc: "`common` (any work, school or personal account), `organizations`, `consumers`, or your tenant's id \
              to allow only your organisation's mailboxes.",
        secret: false,
    },
    Key {
        name: "mail.oauth_custom_name",
        env: &["MADANG_MAIL_OAUTH_CUSTOM_NAME"],
        default: "",
        doc: "A third OAuth provider for mail, e.g. the company's own identity provider in front of its Dovecot: \
              the name users see (\"Sign in with …\"). Set it and the four keys below to turn it on.",
        secret: false,
    },
    Key {
        name: "mail.oauth_custom_authorize_url",
        env: &["MADANG_MAIL_OAUTH_CUSTOM_AUTHORIZE_URL"],
        default: "",
        doc: "Its authorization endpoint (RFC 6749 §3.1).",
        secret: false,
    },
    Key {
        name: "mail.oauth_custom_token_url",
        env: &["MADANG_MAIL_OAUTH_CUSTOM_TOKEN_URL"],
        default: "",
        doc: "Its token endpoint (RFC 6749 §3.2).",
        secret: false,
    },
    Key {
        name: "mail.oauth_custom_scope",
        env: &["MADANG_MAIL_OAUTH_CUSTOM_SCOPE"],
        default: "",
        doc: "The scopes to ask for, space-separated (whatever its mail servers require, plus the one that \
              grants a refresh token, often `offline_access`).",
        secret: false,
    },
    Key {
        name: "mail.oauth_custom_client_id",
        env: &["MADANG_MAIL_OAUTH_CUSTOM_CLIENT_ID"],
        default: "",
        doc: "Madang's client id there.",
        secret: false,
    },
    Key {
        name: "mail.oauth_custom_client_secret",
        env: &["MADANG_MAIL_OAUTH_CUSTOM_CLIENT_SECRET"],
        default: "",
        doc: "Madang's client secret there.",
        secret: true,
    },
    Key {
        name: "mailproxy.imap_listen",
        env: &["MADANG_MAILPROXY_IMAP_LISTEN"],
        default: "",
        doc: "Address for IMAP with STARTTLS (the 143-style port), e.g. `0.0.0.0:143`; empty: off. Native mail apps log in here with their Madang user name and app password and reach their linked mailbox (docs/clients.md). Before STARTTLS, logins are refused (`LOGINDISABLED`) except from this machine.",
        secret: false,
    },
    Key {
        name: "mailproxy.imaps_listen",
        env: &["MADANG_MAILPROXY_IMAPS_LISTEN"],
        default: "",
        doc: "Address for IMAP over implicit TLS (the 993-style port), e.g. `0.0.0.0:993`; empty: off.",
        secret: false,
    },
    Key {
        name: "mailproxy.submission_listen",
        env: &["MADANG_MAILPROXY_SUBMISSION_LISTEN"],
        default: "",
        doc: "Address for SMTP submission with STARTTLS required (the 587-style port), e.g. `0.0.0.0:587`; empty: off.",
        secret: false,
    },
    Key {
        name: "mailproxy.submissions_listen",
        env: &["MADANG_MAILPROXY_SUBMISSIONS_LISTEN"],
        default: "",
        doc: "Address for SMTP submission over implicit TLS (the 465-style port), e.g. `0.0.0.0:465`; empty: off.",
        secret: false,
    },
    Key {
        name: "mailproxy.tls_cert",
        env: &["MADANG_MAILPROXY_TLS_CERT"],
        default: "",
        doc: "PEM certificate chain for the mail listeners. Default: `server.tls_cert`. Without any certificate, mail listeners may only listen on a loopback address (plain text, for tests and a TLS-terminating proxy).",
        secret: false,
    },
    Key {
        name: "mailproxy.tls_key",
        env: &["MADANG_MAILPROXY_TLS_KEY"],
        default: "",
        doc: "PEM private key for `mailproxy.tls_cert`. Default: `server.tls_key`.",
        secret: false,
    },
    Key {
        name: "mailproxy.hostname",
        env: &["MADANG_MAILPROXY_HOSTNAME"],
        default: "",
        doc: "The host name mail apps connect to, as autoconfig, Autodiscover and the Apple profile give it. Default: the host of `server.public_url`.",
        secret: false,
    },
    Key {
        name: "mailproxy.max_connections",
        env: &["MADANG_MAILPROXY_MAX_CONNECTIONS"],
        default: "1000",
        doc: "Open mail connections (IMAP and SMTP, all users together); a connection beyond it is answered `BYE` / 421 and closed.",
        secret: false,
    },
    Key {
        name: "mailproxy.max_connections_per_user",
        env: &["MADANG_MAILPROXY_MAX_CONNECTIONS_PER_USER"],
        default: "20",
        doc: "Open IMAP sessions per Madang user (all devices together); Thunderbird keeps up to 5 per account. Beyond it, a login gets `NO [LIMIT]`.",
        secret: false,
    },
    Key {
        name: "mailproxy.max_connections_per_address",
        env: &["MADANG_MAILPROXY_MAX_CONNECTIONS_PER_ADDRESS"],
        default: "50",
        doc: "Open mail connections from one client address (IPv6 per /64), before and after login.",
        secret: false,
    },
    Key {
        name: "mailproxy.login_timeout",
        env: &["MADANG_MAILPROXY_LOGIN_TIMEOUT"],
        default: "60s",
        doc: "How long a connection may take to log in (TLS, greeting, authentication) before it is closed.",
        secret: false,
    },
    Key {
        name: "mailproxy.idle_timeout",
        env: &["MADANG_MAILPROXY_IDLE_TIMEOUT"],
        default: "31m",
        doc: "An authenticated session with no traffic in either direction for this long is logged out (RFC 9051 §5.4 asks at least 30 minutes).",
        secret: false,
    },
    Key {
        name: "mailproxy.max_command_size",
        env: &["MADANG_MAILPROXY_MAX_COMMAND_SIZE"],
        default: "8KiB",
        doc: "The longest command line or literal accepted before login (IMAP `LOGIN`, `AUTHENTICATE`; SMTP `AUTH`).",
        secret: false,
    },
    Key {
        name: "mailproxy.max_message_size",
        env: &["MADANG_MAILPROXY_MAX_MESSAGE_SIZE"],
        default: "50MiB",
        doc: "The largest message accepted over SMTP submission, announced as `SIZE` (RFC 1870).",
        secret: false,
    },
    Key {
        name: "mailproxy.allowed_senders",
        env: &["MADANG_MAILPROXY_ALLOWED_SENDERS"],
        default: "account",
        doc: "Which envelope senders (`MAIL FROM`) SMTP submission accepts: `account` (only the linked account's address) or `domain` (any address at the linked account's domain, for aliases).",
        secret: false,
    },
    Key {
        name: "oidc.issuer",
        env: &["MADANG_OIDC_ISSUER"],
        default: "",
        doc: "OpenID Connect issuer, compared character for character with what relying parties configure \
              (a trailing slash counts). Default: `server.public_url`.",
        secret: false,
    },
    Key {
        name: "oidc.access_token_lifetime",
        env: &["MADANG_OIDC_ACCESS_TOKEN_LIFETIME"],
        default: "10m",
        doc: "How long an OAuth access token (and an id_token) is valid; from `10s` to `1d`.",
        secret: false,
    },
    Key {
        name: "oidc.refresh_token_lifetime",
        env: &["MADANG_OIDC_REFRESH_TOKEN_LIFETIME"],
        default: "30d",
        doc: "How long an unused refresh token stays valid; each use replaces it with a new one. \
              From `1m` to `365d`.",
        secret: false,
    },
    Key {
        name: "dav.default_calendar",
        env: &["MADANG_DAV_DEFAULT_CALENDAR"],
        default: "Calendar",
        doc: "Name of the calendar created for each new user on first DAV use; empty for none.",
        secret: false,
    },
    Key {
        name: "dav.default_task_list",
        env: &["MADANG_DAV_DEFAULT_TASK_LIST"],
        default: "Tasks",
        doc: "Name of the task list (VTODO only) created for each new user on first DAV use; empty for none.",
        secret: false,
    },
    Key {
        name: "dav.default_addressbook",
        env: &["MADANG_DAV_DEFAULT_ADDRESSBOOK"],
        default: "Contacts",
        doc: "Name of the address book created for each new user on first DAV use; empty for none.",
        secret: false,
    },
    Key {
        name: "dav.directory",
        env: &["MADANG_DAV_DIRECTORY"],
        default: "Directory",
        doc: "Name of the company directory: a read-only address book of every active user (name, e-mail), shown in \
              every user's address-book home as `directory` and announced as CARDDAV:directory-gateway; empty to \
              turn it off.",
        secret: false,
    },
    Key {
        name: "dav.birthday_calendar",
        env: &["MADANG_DAV_BIRTHDAY_CALENDAR"],
        default: "Birthdays",
        doc: "Name of each user's birthday calendar: read-only yearly events made from the BDAY and ANNIVERSARY of \
              their own contacts, shown in their calendar home as `birthdays`; empty to turn it off.",
        secret: false,
    },
    Key {
        name: "dav.max_resource_size",
        env: &["MADANG_DAV_MAX_RESOURCE_SIZE"],
        default: "1MiB",
        doc: "Largest calendar object or contact accepted (CALDAV:max-resource-size).",
        secret: false,
    },
    Key {
        name: "dav.max_property_size",
        env: &["MADANG_DAV_MAX_PROPERTY_SIZE"],
        default: "64KiB",
        doc: "Largest property a client may set (PROPPATCH, MKCALENDAR, extended MKCOL), counted as stored: \
              names and XML. Larger is refused per property (403 in the 207), before anything is stored.",
        secret: false,
    },
    Key {
        name: "dav.max_properties_size",
        env: &["MADANG_DAV_MAX_PROPERTIES_SIZE"],
        default: "256KiB",
        doc: "Most bytes of dead properties one calendar, address book or member may hold together; \
              a PROPPATCH that would go beyond is refused (507). Dead properties also count toward `dav.quota`.",
        secret: false,
    },
    Key {
        name: "dav.max_instances",
        env: &["MADANG_DAV_MAX_INSTANCES"],
        default: "5000",
        doc: "Most recurrence instances one object may produce inside one requested window (expand, free-busy); \
              more is refused with an error, never a timeout.",
        secret: false,
    },
    Key {
        name: "dav.max_instances_per_period",
        env: &["MADANG_DAV_MAX_INSTANCES_PER_PERIOD"],
        default: "10000",
        doc: "Most instances one RRULE may produce in one period of its FREQ (a year for FREQ=YEARLY), counted from \
              its BYxxx parts before expanding; a rule over it is refused at PUT (valid-calendar-object-resource), \
              and one stored earlier is not expanded beyond DTSTART and RDATE. At most 100000.",
        secret: false,
    },
    Key {
        name: "dav.max_results",
        env: &["MADANG_DAV_MAX_RESULTS"],
        default: "50000",
        doc: "Most members one REPORT or PROPFIND answers, and most recurrence instances one REPORT expands or one \
              free-busy query returns in total; beyond it the answer is 507 (number-of-matches-within-limits).",
        secret: false,
    },
    Key {
        name: "dav.max_response_size",
        env: &["MADANG_DAV_MAX_RESPONSE_SIZE"],
        default: "256MiB",
        doc: "Largest multistatus body one PROPFIND builds in memory; beyond it the answer is 507 \
              (number-of-matches-within-limits). A depth-1 PROPFIND naming a thousand properties over a large \
              calendar would otherwise build gigabytes.",
        secret: false,
    },
    Key {
        name: "dav.max_export_size",
        env: &["MADANG_DAV_MAX_EXPORT_SIZE"],
        default: "64MiB",
        doc: "Largest calendar or address book (bytes of its stored items) served as one document: a GET of the \
              whole collection over DAV, a published feed, the JSON API's export. Beyond it the answer is 507 \
              and the client should sync item by item instead.",
        secret: false,
    },
    Key {
        name: "dav.max_export_items",
        env: &["MADANG_DAV_MAX_EXPORT_ITEMS"],
        default: "20000",
        doc: "Most items (calendar objects or cards) a collection may hold to be served as one document \
              (see `dav.max_export_size`); beyond it the answer is 507.",
        secret: false,
    },
    Key {
        name: "dav.feed_refresh_interval",
        env: &["MADANG_DAV_FEED_REFRESH_INTERVAL"],
        default: "1h",
        doc: "How often a published calendar's subscribers are asked to fetch it again (`REFRESH-INTERVAL` and \
              `X-PUBLISHED-TTL` in the feed). Google Calendar and Outlook decide for themselves, at best \
              honouring it. From `5m` to `7d`.",
        secret: false,
    },
    Key {
        name: "dav.subscription_refresh",
        env: &["MADANG_DAV_SUBSCRIPTION_REFRESH"],
        default: "6h",
        doc: "How often a subscribed external calendar is fetched when the feed names no interval of its own \
              (`REFRESH-INTERVAL` or `X-PUBLISHED-TTL`); every interval is then bounded by \
              `dav.subscription_min_refresh` and `dav.subscription_max_refresh`.",
        secret: false,
    },
    Key {
        name: "dav.subscription_min_refresh",
        env: &["MADANG_DAV_SUBSCRIPTION_MIN_REFRESH"],
        default: "15m",
        doc: "Shortest interval between two scheduled fetches of one subscribed calendar, whatever the feed asks \
              for; also the wait after a failed fetch. At least `1m`.",
        secret: false,
    },
    Key {
        name: "dav.subscription_max_refresh",
        env: &["MADANG_DAV_SUBSCRIPTION_MAX_REFRESH"],
        default: "7d",
        doc: "Longest interval between two fetches of one subscribed calendar, whatever the feed asks for.",
        secret: false,
    },
    Key {
        name: "dav.subscription_max_size",
        env: &["MADANG_DAV_SUBSCRIPTION_MAX_SIZE"],
        default: "10MiB",
        doc: "Largest feed body read for a subscribed calendar; a larger one is an error shown to the user and \
              nothing stored is replaced.",
        secret: false,
    },
    Key {
        name: "dav.subscription_timeout",
        env: &["MADANG_DAV_SUBSCRIPTION_TIMEOUT"],
        default: "30s",
        doc: "Longest one fetch of a subscribed calendar may take, redirects and body included.",
        secret: false,
    },
    Key {
        name: "dav.subscription_max_redirects",
        env: &["MADANG_DAV_SUBSCRIPTION_MAX_REDIRECTS"],
        default: "5",
        doc: "Most redirects followed for one fetch of a subscribed calendar; each target is checked like the \
              first URL (scheme, and the address against `dav.subscription_allowed_networks`). From 0 to 20.",
        secret: false,
    },
    Key {
        name: "dav.subscription_allowed_networks",
        env: &["MADANG_DAV_SUBSCRIPTION_ALLOWED_NETWORKS"],
        default: "",
        doc: "Internal networks subscribed calendars may be fetched from (comma-separated, e.g. \
              `10.1.0.0/16, 127.0.0.1`). By default a feed URL reaching loopback, private or link-local \
              addresses is refused (server-side request forgery).",
        secret: false,
    },
    Key {
        name: "dav.subscription_max_per_user",
        env: &["MADANG_DAV_SUBSCRIPTION_MAX_PER_USER"],
        default: "50",
        doc: "Most external calendars one user may subscribe to; 0 turns subscriptions off.",
        secret: false,
    },
    Key {
        name: "dav.tombstone_retention",
        env: &["MADANG_DAV_TOMBSTONE_RETENTION"],
        default: "90d",
        doc: "How long deletions are remembered for sync-collection; older sync tokens make clients resync fully.",
        secret: false,
    },
    Key {
        name: "push.heartbeat",
        env: &["MADANG_PUSH_HEARTBEAT"],
        default: "25s",
        doc: "How often an idle push stream (`/api/v1/push`) sends a comment line, so proxies and load \
              balancers do not close it; also the longest a change made on another process can wait for its \
              wake-up when a notification was lost. From `1s` to `5m`.",
        secret: false,
    },
    Key {
        name: "push.max_connections_per_user",
        env: &["MADANG_PUSH_MAX_CONNECTIONS_PER_USER"],
        default: "10",
        doc: "Most push streams one account may hold open on one process (one per browser tab or device); \
              beyond it the answer is 429.",
        secret: false,
    },
    Key {
        name: "push.retention_events",
        env: &["MADANG_PUSH_RETENTION_EVENTS"],
        default: "10000",
        doc: "Most events kept per account for clients that reconnect; a client further behind gets a `resync` \
              event and refetches. Pruned hourly.",
        secret: false,
    },
    Key {
        name: "push.retention",
        env: &["MADANG_PUSH_RETENTION"],
        default: "7d",
        doc: "How long events are kept for clients that reconnect; older ones are pruned hourly, and a client \
              that missed them gets a `resync` event.",
        secret: false,
    },
    Key {
        name: "chat.max_message_bytes",
        env: &["MADANG_CHAT_MAX_MESSAGE_BYTES"],
        default: "16384",
        doc: "Longest chat message text, in bytes of UTF-8; a longer one is refused with 413.",
        secret: false,
    },
    Key {
        name: "chat.messages_per_minute",
        env: &["MADANG_CHAT_MESSAGES_PER_MINUTE"],
        default: "120",
        doc: "Chat messages one account may send per minute (a token bucket: that many in a burst, refilled \
              evenly); beyond it the answer is 429 with `Retry-After`. Counted per process.",
        secret: false,
    },
    Key {
        name: "chat.max_dm_members",
        env: &["MADANG_CHAT_MAX_DM_MEMBERS"],
        default: "8",
        doc: "Most people in one direct message, the sender included (2 to 50); more is refused with 422.",
        secret: false,
    },
    Key {
        name: "push.presence_grace",
        env: &["MADANG_PUSH_PRESENCE_GRACE"],
        default: "10s",
        doc: "How long a user stays `online` after their last push stream closed, so a reconnect (a page \
              reload, a network change) does not flap their presence. From `0s` to `5m`.",
        secret: false,
    },
    Key {
        name: "push.presence_announce",
        env: &["MADANG_PUSH_PRESENCE_ANNOUNCE"],
        default: "30s",
        doc: "On PostgreSQL, how often each process tells the others which users have a stream open on it; \
              a process that stops announcing is forgotten after two intervals. From `100ms` to `10m`.",
        secret: false,
    },
    Key {
        name: "push.typing_interval",
        env: &["MADANG_PUSH_TYPING_INTERVAL"],
        default: "3s",
        doc: "Typing indicators (`POST /api/v1/chat/channels/{id}/typing`) are passed on at most once per \
              this interval per user and channel; calls in between are answered but not sent. From `0s` to `1m`.",
        secret: false,
    },
    Key {
        name: "chat.webhook_posts_per_minute",
        env: &["MADANG_CHAT_WEBHOOK_POSTS_PER_MINUTE"],
        default: "60",
        doc: "Messages one incoming webhook may post per minute (a token bucket, per webhook and per process); \
              beyond it `POST /hooks/…` answers 429 with `Retry-After`.",
        secret: false,
    },
    Key {
        name: "dav.quota",
        env: &["MADANG_DAV_QUOTA"],
        default: "1GiB",
        doc: "Bytes of calendar and contact data each user may store (RFC 4331); `0` for no limit.",
        secret: false,
    },
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    /// The URL with any password replaced, for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => redact_url(url),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub max_body_size: usize,
    pub request_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// Which peers' forwarding headers are believed (`server.trusted_proxies`, `server.trust_forwarded_for`).
    pub proxies: crate::proxies::TrustedProxies,
    pub metrics: MetricsAccess,
    /// `server.public_url` with its trailing slash, if configured.
    pub public_url: Option<String>,
}

/// Who may read `/metrics` (`server.metrics`).
#[derive(Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Loopback peers that did not come through a proxy.
    Local,
    /// `Authorization: Bearer <token>`.
    Token(String),
    Public,
    Off,
}

impl std::fmt::Debug for MetricsAccess {
    // The token never reaches a log or a `config check` dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MetricsAccess::Local => "Local",
            MetricsAccess::Token(_) => "Token(<redacted>)",
            MetricsAccess::Public => "Public",
            MetricsAccess::Off => "Off",
        })
    }
}

impl ServerConfig {
    /// The configured public URL, else one made from the listen address;
    /// always ends with `/`.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}/", self.listen)
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    pub max_connections: u32,
    pub sqlite_readers: u32,
    pub connect_timeout: Duration,
    pub busy_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub cache_ttl: Duration,
    pub account_failures_before_backoff: u32,
    pub address_failures_before_backoff: u32,
    pub max_backoff: Duration,
    pub min_password_length: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// Seals secrets at rest (`auth.encryption_key`); `None` = instance key.
    pub encryption_key: Option<crate::auth::secretbox::EncryptionKey>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(300),
            account_failures_before_backoff: 5,
            address_failures_before_backoff: 20,
            max_backoff: Duration::from_secs(900),
            min_password_length: 8,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            encryption_key: None,
        }
    }
}

/// The web sign-in and account pages, from `[web]`.
#[derive(Debug, Clone)]
pub struct WebConfig {
    pub session_idle_timeout: Duration,
    pub session_lifetime: Duration,
    pub reset_link_lifetime: Duration,
    pub signup: bool,
    /// At most one mail to the administrators about sign-up requests per
    /// this interval (`web.signup_notify_interval`).
    pub signup_notify_interval: Duration,
    /// Where links in mail point; ends with `/`.
    pub public_url: String,
    /// Mark cookies `Secure` (the server or its public URL is HTTPS).
    pub secure_cookies: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            session_idle_timeout: Duration::from_secs(7 * 86_400),
            session_lifetime: Duration::from_secs(30 * 86_400),
            reset_link_lifetime: Duration::from_secs(3600),
            signup: true,
            signup_notify_interval: Duration::from_secs(15 * 60),
            public_url: "http://127.0.0.1:8080/".into(),
            secure_cookies: false,
        }
    }
}

/// The white-label settings, from `[brand]`; the logo file is read by
/// `brand::Brand::load` when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandConfig {
    pub name: String,
    pub logo: Option<PathBuf>,
    /// `#rrggbb`, lower case.
    pub primary_color: String,
}

impl Default for BrandConfig {
    fn default() -> Self {
        Self { name: "Madang".into(), logo: None, primary_color: "#0b5cad".into() }
    }
}

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    Tls,
    None,
}

/// The mail server, from `[smtp]`; absent when `smtp.host` is unset.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .field("from", &self.from)
            .finish()
    }
}

/// CalDAV/CardDAV settings.
#[derive(Debug, Clone)]
pub struct DavConfig {
    pub default_calendar: Option<String>,
    pub default_task_list: Option<String>,
    pub default_addressbook: Option<String>,
    /// The company directory's display name; `None` turns it off (`dav.directory`).
    pub directory: Option<String>,
    /// The birthday calendars' display name; `None` turns them off (`dav.birthday_calendar`).
    pub birthday_calendar: Option<String>,
    pub max_resource_size: usize,
    /// Largest single property value, as stored (RFC 4918 §9.2.1: 403 for it).
    pub max_property_size: usize,
    /// Most bytes of dead properties on one resource (RFC 4918 §9.2.1: 507).
    pub max_properties_size: usize,
    pub max_instances: usize,
    /// See `madang_ical::Limits::max_period_instances`.
    pub max_instances_per_period: usize,
    pub max_results: usize,
    /// Largest multistatus body one PROPFIND builds (`dav.max_response_size`).
    pub max_response_size: usize,
    /// Largest collection, in stored bytes, served as one document (`dav.max_export_size`).
    pub max_export_size: usize,
    /// Most items of a collection served as one document (`dav.max_export_items`).
    pub max_export_items: usize,
    /// `REFRESH-INTERVAL` of published feeds (`dav.feed_refresh_interval`).
    pub feed_refresh_interval: Duration,
    /// External calendar subscriptions (`dav.subscription_*`).
    pub subscriptions: SubscriptionConfig,
    pub tombstone_retention: Duration,
    /// `None` = no limit.
    pub quota: Option<u64>,
}

impl Default for DavConfig {
    fn default() -> Self {
        Self {
            default_calendar: Some("Calendar".into()),
            default_task_list: Some("Tasks".into()),
            default_addressbook: Some("Contacts".into()),
            directory: Some("Directory".into()),
            birthday_calendar: Some("Birthdays".into()),
            max_resource_size: 1 << 20,
            max_property_size: 64 << 10,
            max_properties_size: 256 << 10,
            max_instances: 5000,
            max_instances_per_period: 10_000,
            max_results: 50_000,
            max_response_size: 256 << 20,
            max_export_size: 64 << 20,
            max_export_items: 20_000,
            feed_refresh_interval: Duration::from_secs(3600),
            subscriptions: SubscriptionConfig::default(),
            tombstone_retention: Duration::from_secs(90 * 86_400),
            quota: Some(1 << 30),
        }
    }
}

/// External calendar subscriptions: how often, how much, where (`dav.subscription_*`).
#[derive(Debug, Clone)]
pub struct SubscriptionConfig {
    /// When the feed names no interval.
    pub refresh: Duration,
    pub min_refresh: Duration,
    pub max_refresh: Duration,
    pub max_size: usize,
    pub timeout: Duration,
    pub max_redirects: usize,
    /// Internal networks a feed may be on.
    pub outbound: crate::outbound::OutboundPolicy,
    /// 0: subscriptions are off.
    pub max_per_user: usize,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        SubscriptionConfig {
            refresh: Duration::from_secs(6 * 3600),
            min_refresh: Duration::from_secs(15 * 60),
            max_refresh: Duration::from_secs(7 * 86_400),
            max_size: 10 << 20,
            timeout: Duration::from_secs(30),
            max_redirects: 5,
            outbound: Default::default(),
            max_per_user: 50,
        }
    }
}

impl DavConfig {
    /// The recurrence bounds every expansion of a request runs under, for DAV and the JSON API alike.
    pub fn limits(&self) -> madang_ical::Limits {
        madang_ical::Limits {
            max_instances: self.max_instances,
            max_period_instances: self.max_instances_per_period,
            ..madang_ical::Limits::default()
        }
    }
}

/// The push channel, from `[push]`.
#[derive(Debug, Clone)]
pub struct PushConfig {
    pub heartbeat: Duration,
    pub max_connections_per_user: usize,
    pub retention_events: u64,
    pub retention: Duration,
    /// How long a user stays online after their last stream closed.
    pub presence_grace: Duration,
    /// How often processes sharing PostgreSQL announce their online users to each other.
    pub presence_announce: Duration,
    /// The least time between two typing indicators of one user in one channel.
    pub typing_interval: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(25),
            max_connections_per_user: 10,
            retention_events: 10_000,
            retention: Duration::from_secs(7 * 86_400),
            presence_grace: Duration::from_secs(10),
            presence_announce: Duration::from_secs(30),
            typing_interval: Duration::from_secs(3),
        }
    }
}

/// Team chat, from `[chat]`.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub max_message_bytes: usize,
    pub messages_per_minute: u32,
    pub max_dm_members: usize,
    pub webhook_posts_per_minute: u32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self { max_message_bytes: 16_384, messages_per_minute: 120, max_dm_members: 8, webhook_posts_per_minute: 60 }
    }
}

/// The OpenID Connect provider, from `[oidc]`.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Exactly as relying parties see it (OIDC Discovery §3, §4.3).
    pub issuer: String,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080/".into(),
            access_token_lifetime: Duration::from_secs(600),
            refresh_token_lifetime: Duration::from_secs(30 * 86_400),
        }
    }
}

/// The chat's file limits, from `[chat]`.
#[derive(Debug, Clone)]
pub struct ChatFilesConfig {
    pub max_file_size: u64,
    pub max_image_pixels: u64,
    pub unattached_file_lifetime: Duration,
}

impl Default for ChatFilesConfig {
    fn default() -> Self {
        Self {
            max_file_size: 25 << 20,
            max_image_pixels: 50_000_000,
            unattached_file_lifetime: Duration::from_secs(86_400),
        }
    }
}

/// Linked mail accounts (`[mail]`).
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// Internal networks a linked server may be on (`mail.allowed_networks`).
    pub outbound: crate::outbound::OutboundPolicy,
    /// Extra trusted certificate authorities, PEM (`mail.ca_file`, read at start).
    pub extra_roots: Vec<u8>,
    pub connect_timeout: Duration,
    pub max_accounts_per_user: u64,
    pub max_message_size: u64,
    /// Opened whole up to this size, by parts above (`mail.whole_message_below`).
    pub whole_message_below: u64,
    pub body_cache_size: usize,
    /// Open connections to mail servers, all accounts together.
    pub max_connections: usize,
    /// Open IMAP connections per linked account (the watcher's IDLE holds one).
    pub max_connections_per_account: usize,
    /// The largest remote image the image proxy passes on (`mail.image_proxy_max_size`).
    pub image_proxy_max_size: u64,
    /// One remote image's whole fetch, redirects included (`mail.image_proxy_timeout`).
    pub image_proxy_timeout: Duration,
    /// The OAuth providers an administrator configured (`mail.oauth_*`).
    pub oauth: Vec<MailOAuthProvider>,
    /// Where providers send the browser back: `server.public_url` + `mail/oauth/callback`.
    pub oauth_redirect_uri: String,
    /// The nameserver for set-up discovery (`mail.dns_server`); `None`: `/etc/resolv.conf`'s.
    pub dns_server: Option<std::net::SocketAddr>,
    /// How long discovering one domain's servers may take (not a key: 2 s; tests shorten it).
    pub dns_timeout: Duration,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            outbound: Default::default(),
            extra_roots: Vec::new(),
            connect_timeout: Duration::from_secs(15),
            max_accounts_per_user: 10,
            max_message_size: 50 << 20,
            whole_message_below: 64 << 10,
            body_cache_size: 64 << 20,
            max_connections: 500,
            max_connections_per_account: 4,
            image_proxy_max_size: 5 << 20,
            image_proxy_timeout: Duration::from_secs(15),
            oauth: Vec::new(),
            oauth_redirect_uri: "http://127.0.0.1:8080/mail/oauth/callback".into(),
            dns_server: None,
            dns_timeout: Duration::from_secs(2),
        }
    }
}

/// The IMAP and SMTP submission listeners in front of linked accounts (`[mailproxy]`).
#[derive(Debug, Clone)]
pub struct MailProxyConfig {
    /// IMAP with STARTTLS (143-style).
    pub imap_listen: Option<SocketAddr>,
    /// IMAP over implicit TLS (993-style).
    pub imaps_listen: Option<SocketAddr>,
    /// SMTP submission with STARTTLS required (587-style).
    pub submission_listen: Option<SocketAddr>,
    /// SMTP submission over implicit TLS (465-style).
    pub submissions_listen: Option<SocketAddr>,
    /// The certificate the listeners present (`mailproxy.tls_*`, else `server.tls_*`).
    pub tls: Option<TlsFiles>,
    /// The name mail apps are told to connect to.
    pub hostname: String,
    pub max_connections: usize,
    pub max_connections_per_user: usize,
    pub max_connections_per_address: usize,
    pub login_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_command_size: usize,
    pub max_message_size: u64,
    /// `mailproxy.allowed_senders = domain`: any address at the linked account's domain.
    pub senders_in_domain: bool,
    /// How often an open session checks that its credentials still stand (not a key: 30 s;
    /// tests shorten it).
    pub revalidate_every: Duration,
}

impl Default for MailProxyConfig {
    fn default() -> Self {
        Self {
            imap_listen: None,
            imaps_listen: None,
            submission_listen: None,
            submissions_listen: None,
            tls: None,
            hostname: "localhost".into(),
            max_connections: 1000,
            max_connections_per_user: 20,
            max_connections_per_address: 50,
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(31 * 60),
            max_command_size: 8 << 10,
            max_message_size: 50 << 20,
            senders_in_domain: false,
            revalidate_every: Duration::from_secs(30),
        }
    }
}

impl MailProxyConfig {
    /// Whether any mail listener is configured.
    pub fn enabled(&self) -> bool {
        self.imap_listen.is_some()
            || self.imaps_listen.is_some()
            || self.submission_listen.is_some()
            || self.submissions_listen.is_some()
    }
}

/// An OAuth provider an administrator configured for mail (`mail.oauth_*`); `mail::oauth`
/// runs the flows with it.
#[derive(Clone, PartialEq, Eq)]
pub struct MailOAuthProvider {
    /// `google`, `microsoft` or `custom`: what accounts store.
    pub id: &'static str,
    /// What users see: "Sign in with {name}".
    pub name: String,
    pub authorize_url: String,
    pub token_url: String,
    pub scope: String,
    pub client_id: String,
    pub(crate) client_secret: String,
    /// Extra authorization parameters (Google's `access_type=offline`).
    pub(crate) extra: &'static [(&'static str, &'static str)],
    /// The IMAP hosts it signs in to, for suggestions (empty: any the user names).
    pub imap_hosts: &'static [&'static str],
}

impl std::fmt::Debug for MailOAuthProvider {
    // The client secret never reaches a log or a `config check` dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.id)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl MailOAuthProvider {
    /// Google's endpoints and the one scope that grants IMAP and SMTP (`https://mail.google.com/`);
    /// `access_type=offline` and `prompt=consent` so every consent returns a refresh token.
    pub fn google(client_id: &str, client_secret: &str) -> MailOAuthProvider {
        MailOAuthProvider {
            id: "google",
            name: "Google".into(),
            authorize_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            scope: "https://mail.google.com/".into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            extra: &[("access_type", "offline"), ("prompt", "consent")],
            imap_hosts: &["imap.gmail.com"],
        }
    }

    /// Microsoft identity platform v2 with the Exchange Online IMAP and SMTP scopes;
    /// `offline_access` is what grants the refresh token.
    pub fn microsoft(client_id: &str, client_secret: &str, tenant: &str) -> MailOAuthProvider {
        MailOAuthProvider {
            id: "microsoft",
            name: "Microsoft".into(),
            authorize_url: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize"),
            token_url: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
            scope: "https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send \
                    offline_access"
                .into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            extra: &[],
            imap_hosts: &["outlook.office365.com"],
        }
    }

    pub fn custom(
        name: &str,
        authorize_url: String,
        token_url: String,
        scope: String,
        client_id: String,
        client_secret: String,
    ) -> MailOAuthProvider {
        MailOAuthProvider {
            id: "custom",
            name: name.into(),
            authorize_url,
            token_url,
            scope,
            client_id,
            client_secret,
            extra: &[],
            imap_hosts: &[],
        }
    }
}

/// The mail OAuth providers whose client is configured: Google and Microsoft by their client
/// alone, the custom one when every one of its keys is set.
fn mail_oauth_providers(p: &Parser<'_>) -> Result<Vec<MailOAuthProvider>, ConfigError> {
    use MailOAuthProvider as Provider;
    let mut found = Vec::new();
    let pair = |id: &str| {
        (p.text(&format!("mail.oauth_{id}_client_id")).0, p.text(&format!("mail.oauth_{id}_client_secret")).0)
    };
    match pair("google") {
        ("", "") => {}
        ("", _) | (_, "") => {
            return Err(p.fail("mail.oauth_google_client_id", "set with `mail.oauth_google_client_secret`"));
        }
        (id, secret) => found.push(Provider::google(id, secret)),
    }
    match pair("microsoft") {
        ("", "") => {}
        ("", _) | (_, "") => {
            return Err(p.fail("mail.oauth_microsoft_client_id", "set with `mail.oauth_microsoft_client_secret`"));
        }
        (id, secret) => {
            let tenant = p.text("mail.oauth_microsoft_tenant").0;
            if tenant.is_empty() || !tenant.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) {
                return Err(
                    p.fail("mail.oauth_microsoft_tenant", "`common`, `organizations`, `consumers` or a tenant id")
                );
            }
            found.push(Provider::microsoft(id, secret, tenant));
        }
    }
    let name = p.text("mail.oauth_custom_name").0;
    if !name.is_empty() {
        let url = |key: &str| -> Result<String, ConfigError> {
            match p.text(key).0 {
                u if (u.starts_with("https://") || u.starts_with("http://")) && !u.contains([' ', '#']) => Ok(u.into()),
                _ => Err(p.fail(key, "an `https://` URL")),
            }
        };
        let required = |key: &str| -> Result<String, ConfigError> {
            match p.text(key).0 {
                "" => Err(p.fail(key, "required with `mail.oauth_custom_name`")),
                v => Ok(v.into()),
            }
        };
        found.push(Provider::custom(
            name,
            url("mail.oauth_custom_authorize_url")?,
            url("mail.oauth_custom_token_url")?,
            required("mail.oauth_custom_scope")?,
            required("mail.oauth_custom_client_id")?,
            required("mail.oauth_custom_client_secret")?,
        ));
    }
    Ok(found)
}

/// The validated, effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub auth: AuthConfig,
    pub dav: DavConfig,
    pub web: WebConfig,
    pub brand: BrandConfig,
    pub smtp: Option<SmtpConfig>,
    pub oidc: OidcConfig,
    pub push: PushConfig,
    pub chat: ChatConfig,
    /// Where file contents are kept (`[blob]`).
    pub blob: crate::blob::BlobConfig,
    /// Chat files' limits (`chat.max_file_size`, …).
    pub chat_files: ChatFilesConfig,
    /// Linked mail accounts (`[mail]`).
    pub mail: MailConfig,
    /// The IMAP and SMTP listeners native mail apps use (`[mailproxy]`).
    pub mailproxy: MailProxyConfig,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Each key's effective value (as text) and where it came from.
    pub effective: Vec<(&'static Key, String, Source)>,
}

/// Overrides given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
}

impl Config {
    /// Loads from the process environment, the file and the flags.
    pub fn load(overrides: &Overrides) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::load_from(overrides, &env)
    }

    /// Loads with an explicit environment, so tests do not touch the process's.
    pub fn load_from(overrides: &Overrides, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let (file, file_values) = read_file(overrides, env)?;
        let mut raw: BTreeMap<&'static str, (String, Source)> = BTreeMap::new();
        for key in KEYS {
            let mut value = (key.default.to_string(), Source::Default);
            if let Some(v) = file_values.get(key.name) {
                value = (v.clone(), Source::File(file.clone().unwrap_or_default()));
            }
            if let Some(name) = key.env.iter().find(|name| env.contains_key(**name)) {
                value = (env[*name].clone(), Source::Env(name));
            }
            let flag = match key.name {
                "server.listen" => overrides.listen.as_ref().map(|v| (v, "--listen")),
                "data_dir" => overrides.data_dir.as_ref().map(|v| (v, "--data-dir")),
                "database.url" => overrides.database_url.as_ref().map(|v| (v, "--database-url")),
                _ => None,
            };
            if let Some((v, flag)) = flag {
                value = (v.clone(), Source::Flag(flag));
            }
            raw.insert(key.name, value);
        }
        build(raw, file)
    }

    /// `madang config check`: every key, its value (secrets masked) and source.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        match &self.file {
            Some(path) => out.push_str(&format!("# configuration file: {}\n", path.display())),
            None => out.push_str("# no configuration file; defaults and environment only\n"),
        }
        let width = KEYS.iter().map(|k| k.name.len()).max().unwrap_or(0);
        for (key, value, source) in &self.effective {
            let shown = if key.name == "database.url" {
                self.database.url.redacted()
            } else if key.secret && !value.is_empty() {
                "********".to_string()
            } else if value.is_empty() {
                "(unset)".to_string()
            } else {
                value.clone()
            };
            out.push_str(&format!("{:width$} = {shown}   # {source}\n", key.name));
        }
        out
    }
}

fn read_file(
    overrides: &Overrides,
    env: &BTreeMap<String, String>,
) -> Result<(Option<PathBuf>, BTreeMap<String, String>), ConfigError> {
    let (path, required) = match (&overrides.config_file, env.get("MADANG_CONFIG")) {
        (Some(path), _) => (path.clone(), true),
        (None, Some(path)) if !path.is_empty() => (PathBuf::from(path), true),
        _ => (PathBuf::from("madang.toml"), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok((None, BTreeMap::new()));
        }
        Err(e) => {
            return Err(ConfigError(format!("cannot read configuration file {}: {e}", path.display())));
        }
    };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let msg = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        ConfigError(format!("{} is not valid TOML{line}: {msg}", path.display()))
    })?;
    let mut values = BTreeMap::new();
    flatten(&path, "", &table, &mut values)?;
    Ok((Some(path), values))
}

fn flatten(
    path: &Path,
    prefix: &str,
    table: &toml::Table,
    out: &mut BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let full = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        if let toml::Value::Table(inner) = value
            && KEYS.iter().any(|k| k.name.starts_with(&format!("{full}.")))
        {
            flatten(path, &full, inner, out)?;
            continue;
        }
        if !KEYS.iter().any(|k| k.name == full) {
            return Err(ConfigError(format!(
                "unknown configuration key `{full}` in {}; see docs/configuration.md for the keys",
                path.display()
            )));
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ConfigError(format!(
                    "invalid value for `{full}` in {}: expected a string, number or boolean, found {}",
                    path.display(),
                    other.type_str()
                )));
            }
        };
        out.insert(full, text);
    }
    Ok(())
}

/// Parses one key's text, naming the key, the value and what is allowed.
struct Parser<'a> {
    raw: &'a BTreeMap<&'static str, (String, Source)>,
}

impl Parser<'_> {
    fn text(&self, key: &str) -> (&str, &Source) {
        let (v, s) = &self.raw[key];
        (v.trim(), s)
    }

    fn fail(&self, key: &str, allowed: &str) -> ConfigError {
        let (value, source) = self.text(key);
        let origin = match source {
            Source::Env(name) => format!(" (from {name})"),
            Source::Flag(name) => format!(" (from {name})"),
            Source::File(path) => format!(" (in {})", path.display()),
            Source::Default => String::new(),
        };
        ConfigError(format!("invalid value `{value}` for `{key}`{origin}: expected {allowed}"))
    }

    /// Like [`Parser::fail`], without echoing the value: it is a secret.
    fn fail_secret(&self, key: &str, allowed: &str) -> ConfigError {
        let origin = match self.text(key).1 {
            Source::Env(name) => format!(" (from {name})"),
            Source::Flag(name) => format!(" (from {name})"),
            Source::File(path) => format!(" (in {})", path.display()),
            Source::Default => String::new(),
        };
        ConfigError(format!("invalid value for `{key}`{origin}: expected {allowed}"))
    }

    fn duration(&self, key: &str) -> Result<Duration, ConfigError> {
        parse_duration(self.text(key).0)
            .ok_or_else(|| self.fail(key, "a duration such as `30s`, `5m`, `1h` or `500ms`"))
    }

    fn size(&self, key: &str) -> Result<usize, ConfigError> {
        parse_size(self.text(key).0)
            .filter(|n| *n > 0)
            .ok_or_else(|| self.fail(key, "a size such as `16MiB`, `512KiB` or a number of bytes"))
    }

    fn int(&self, key: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
        self.text(key)
            .0
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| self.fail(key, &format!("a whole number from {min} to {max}")))
    }

    fn boolean(&self, key: &str) -> Result<bool, ConfigError> {
        match self.text(key).0.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(self.fail(key, "`true` or `false`")),
        }
    }

    fn optional_path(&self, key: &str) -> Option<PathBuf> {
        let (v, _) = self.text(key);
        (!v.is_empty()).then(|| PathBuf::from(v))
    }
}

/// `server.trusted_proxies`, or the older all-or-nothing `server.trust_forwarded_for`.
fn trusted_proxies(p: &Parser<'_>) -> Result<crate::proxies::TrustedProxies, ConfigError> {
    use crate::proxies::TrustedProxies;
    let networks = TrustedProxies::parse_networks(p.text("server.trusted_proxies").0).map_err(|why| {
        p.fail("server.trusted_proxies", &format!("addresses or CIDR networks such as `10.0.0.0/8` ({why})"))
    })?;
    match (p.boolean("server.trust_forwarded_for")?, networks) {
        (false, networks) => Ok(networks),
        (true, TrustedProxies::None) => Ok(TrustedProxies::LastHop),
        (true, _) => Err(p.fail(
            "server.trust_forwarded_for",
            "`false` when `server.trusted_proxies` is set (it names the proxies; this one trusts every peer)",
        )),
    }
}

/// `[mailproxy]`: listeners, certificate, limits.
fn mail_proxy(p: &Parser<'_>, server: &ServerConfig) -> Result<MailProxyConfig, ConfigError> {
    let listen = |key: &str| -> Result<Option<SocketAddr>, ConfigError> {
        match p.text(key).0 {
            "" => Ok(None),
            text => text
                .parse::<SocketAddr>()
                .map(Some)
                .map_err(|_| p.fail(key, "an IP address and port such as `0.0.0.0:993`, or empty for off")),
        }
    };
    let tls = match (p.optional_path("mailproxy.tls_cert"), p.optional_path("mailproxy.tls_key")) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => server.tls.clone(),
        (Some(_), None) => return Err(p.fail("mailproxy.tls_key", "a key file, because `mailproxy.tls_cert` is set")),
        (None, Some(_)) => {
            return Err(p.fail("mailproxy.tls_cert", "a certificate file, because `mailproxy.tls_key` is set"));
        }
    };
    let hostname = match p.text("mailproxy.hostname").0 {
        "" => {
            let url = server.public_url();
            let authority = url.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("");
            // `host:port` or `[v6]:port`: the port is the web's, not the mail listeners'.
            match authority.rsplit_once(':') {
                Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.to_string(),
                _ => authority.to_string(),
            }
        }
        name if name.len() <= 253
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')) =>
        {
            name.to_ascii_lowercase()
        }
        _ => return Err(p.fail("mailproxy.hostname", "a host name such as `mail.example.com`")),
    };
    let config = MailProxyConfig {
        imap_listen: listen("mailproxy.imap_listen")?,
        imaps_listen: listen("mailproxy.imaps_listen")?,
        submission_listen: listen("mailproxy.submission_listen")?,
        submissions_listen: listen("mailproxy.submissions_listen")?,
        tls,
        hostname,
        max_connections: p.int("mailproxy.max_connections", 1, 1_000_000)? as usize,
        max_connections_per_user: p.int("mailproxy.max_connections_per_user", 1, 10_000)? as usize,
        max_connections_per_address: p.int("mailproxy.max_connections_per_address", 1, 1_000_000)? as usize,
        login_timeout: p.duration("mailproxy.login_timeout")?,
        idle_timeout: p.duration("mailproxy.idle_timeout")?,
        max_command_size: p.size("mailproxy.max_command_size")?,
        max_message_size: p.size("mailproxy.max_message_size")? as u64,
        senders_in_domain: match p.text("mailproxy.allowed_senders").0 {
            "account" => false,
            "domain" => true,
            _ => return Err(p.fail("mailproxy.allowed_senders", "`account` or `domain`")),
        },
        revalidate_every: MailProxyConfig::default().revalidate_every,
    };
    if config.login_timeout < Duration::from_secs(1) {
        return Err(p.fail("mailproxy.login_timeout", "at least `1s`"));
    }
    // RFC 9051 §5.4: an inactivity autologout timer must be at least 30 minutes.
    if config.idle_timeout < Duration::from_secs(30 * 60) {
        return Err(p.fail("mailproxy.idle_timeout", "at least `30m` (RFC 9051 §5.4)"));
    }
    if !(1024..=1 << 20).contains(&config.max_command_size) {
        return Err(p.fail("mailproxy.max_command_size", "from `1KiB` to `1MiB`"));
    }
    if config.tls.is_none() {
        let everywhere = [
            ("mailproxy.imap_listen", config.imap_listen),
            ("mailproxy.imaps_listen", config.imaps_listen),
            ("mailproxy.submission_listen", config.submission_listen),
            ("mailproxy.submissions_listen", config.submissions_listen),
        ];
        for (key, addr) in everywhere {
            if addr.is_some_and(|a| !a.ip().is_loopback()) {
                return Err(p.fail(
                    key,
                    "a loopback address, because no certificate is set (`mailproxy.tls_cert` or `server.tls_cert`): \
                     passwords must not cross a network in clear",
                ));
            }
        }
        for (key, addr) in [
            ("mailproxy.imaps_listen", config.imaps_listen),
            ("mailproxy.submissions_listen", config.submissions_listen),
        ] {
            if addr.is_some() {
                return Err(p.fail(key, "empty, because implicit TLS needs a certificate (`mailproxy.tls_cert`)"));
            }
        }
    }
    Ok(config)
}

fn build(raw: BTreeMap<&'static str, (String, Source)>, file: Option<PathBuf>) -> Result<Config, ConfigError> {
    let p = Parser { raw: &raw };

    let data_dir = p.text("data_dir").0;
    if data_dir.is_empty() {
        return Err(p.fail("data_dir", "a directory path"));
    }
    let data_dir = PathBuf::from(data_dir);

    let listen = p
        .text("server.listen")
        .0
        .parse::<SocketAddr>()
        .map_err(|_| p.fail("server.listen", "an IP address and port such as `127.0.0.1:8080` or `[::]:8080`"))?;
    let tls = match (p.optional_path("server.tls_cert"), p.optional_path("server.tls_key")) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => return Err(p.fail("server.tls_key", "a key file, because `server.tls_cert` is set")),
        (None, Some(_)) => {
            return Err(p.fail("server.tls_cert", "a certificate file, because `server.tls_key` is set"));
        }
    };
    let server = ServerConfig {
        listen,
        tls,
        max_body_size: p.size("server.max_body_size")?,
        request_timeout: p.duration("server.request_timeout")?,
        shutdown_timeout: p.duration("server.shutdown_timeout")?,
        proxies: trusted_proxies(&p)?,
        metrics: match p.text("server.metrics").0.to_ascii_lowercase().as_str() {
            "local" => MetricsAccess::Local,
            "public" => MetricsAccess::Public,
            "off" => MetricsAccess::Off,
            "token" => match p.text("server.metrics_token").0 {
                t if t.chars().count() >= 32 && !t.chars().any(char::is_control) => MetricsAccess::Token(t.to_string()),
                _ => {
                    return Err(p.fail_secret(
                        "server.metrics_token",
                        "a token of at least 32 characters, because `server.metrics` is `token`",
                    ));
                }
            },
            _ => return Err(p.fail("server.metrics", "`local`, `token`, `public` or `off`")),
        },
        public_url: match p.text("server.public_url").0 {
            "" => None,
            url if (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() > url.find("://").unwrap_or(0) + 3
                && !url.contains(['?', '#', ' ']) =>
            {
                Some(if url.ends_with('/') { url.to_string() } else { format!("{url}/") })
            }
            _ => return Err(p.fail("server.public_url", "an `https://` or `http://` URL without query or fragment")),
        },
    };
    if server.request_timeout.is_zero() {
        return Err(p.fail("server.request_timeout", "a duration longer than zero"));
    }

    let url_text = p.text("database.url").0;
    let url = if url_text.is_empty() {
        DatabaseUrl::Sqlite(data_dir.join("madang.db"))
    } else if let Some(path) = url_text.strip_prefix("sqlite://").or_else(|| url_text.strip_prefix("sqlite:")) {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(p.fail("database.url", "`sqlite://` followed by a file path"));
        }
        DatabaseUrl::Sqlite(PathBuf::from(path))
    } else if url_text.starts_with("postgres://") || url_text.starts_with("postgresql://") {
        DatabaseUrl::Postgres(url_text.to_string())
    } else {
        // Never echo a URL we could not classify: it may hold a password.
        return Err(ConfigError(format!(
            "invalid value `{}` for `database.url`: expected `sqlite://path` or `postgres://user@host/database`",
            redact_url(url_text)
        )));
    };
    let database = DatabaseConfig {
        url,
        max_connections: p.int("database.max_connections", 1, 1000)? as u32,
        sqlite_readers: p.int("database.sqlite_readers", 1, 64)? as u32,
        connect_timeout: p.duration("database.connect_timeout")?,
        busy_timeout: p.duration("database.busy_timeout")?,
    };
    if database.connect_timeout.is_zero() {
        return Err(p.fail("database.connect_timeout", "a duration longer than zero"));
    }

    let level = p.text("log.level").0.to_string();
    if tracing_subscriber::EnvFilter::builder().parse(&level).is_err() {
        return Err(
            p.fail("log.level", "`error`, `warn`, `info`, `debug`, `trace` or a filter like `info,madang=debug`")
        );
    }
    let format = match p.text("log.format").0.to_ascii_lowercase().as_str() {
        "human" | "text" => LogFormat::Human,
        "json" => LogFormat::Json,
        _ => return Err(p.fail("log.format", "`human` or `json`")),
    };

    let auth = AuthConfig {
        cache_ttl: p.duration("auth.cache_ttl")?,
        account_failures_before_backoff: p.int("auth.account_failures_before_backoff", 1, 1000)? as u32,
        address_failures_before_backoff: p.int("auth.address_failures_before_backoff", 1, 100_000)? as u32,
        max_backoff: p.duration("auth.max_backoff")?,
        min_password_length: p.int("auth.min_password_length", 1, 1024)? as usize,
        argon2_memory_kib: p.int("auth.argon2_memory_kib", 8, 4 * 1024 * 1024)? as u32,
        argon2_iterations: p.int("auth.argon2_iterations", 1, 100)? as u32,
        encryption_key: match p.text("auth.encryption_key").0 {
            "" => None,
            text => Some(
                crate::auth::secretbox::EncryptionKey::from_base64(text)
                    .ok_or_else(|| p.fail_secret("auth.encryption_key", "32 bytes in base64"))?,
            ),
        },
    };

    let web = WebConfig {
        session_idle_timeout: p.duration("web.session_idle_timeout")?,
        session_lifetime: p.duration("web.session_lifetime")?,
        reset_link_lifetime: p.duration("web.reset_link_lifetime")?,
        signup: p.boolean("web.signup")?,
        signup_notify_interval: p.duration("web.signup_notify_interval")?,
        public_url: server.public_url(),
        secure_cookies: server.tls.is_some() || server.public_url().starts_with("https://"),
    };
    for key in
        ["web.session_idle_timeout", "web.session_lifetime", "web.reset_link_lifetime", "web.signup_notify_interval"]
    {
        if p.duration(key)?.is_zero() {
            return Err(p.fail(key, "a duration longer than zero"));
        }
    }

    let brand = BrandConfig {
        name: match p.text("brand.name").0 {
            n if !n.is_empty() && n.chars().count() <= 64 && !n.chars().any(char::is_control) => n.to_string(),
            _ => return Err(p.fail("brand.name", "a name of 1 to 64 characters")),
        },
        logo: match p.optional_path("brand.logo") {
            Some(path)
                if path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("svg") || e.eq_ignore_ascii_case("png")) =>
            {
                Some(path)
            }
            Some(_) => return Err(p.fail("brand.logo", "the path of an `.svg` or `.png` file")),
            None => None,
        },
        primary_color: match p.text("brand.primary_color").0 {
            c if c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|h| h.is_ascii_hexdigit()) => {
                c.to_ascii_lowercase()
            }
            _ => return Err(p.fail("brand.primary_color", "a colour as `#rrggbb`, e.g. `#0b5cad`")),
        },
    };

    let security = match p.text("smtp.security").0.to_ascii_lowercase().as_str() {
        "starttls" => SmtpSecurity::StartTls,
        "tls" => SmtpSecurity::Tls,
        "none" => SmtpSecurity::None,
        _ => return Err(p.fail("smtp.security", "`starttls`, `tls` or `none`")),
    };
    let optional = |key: &str| Some(p.text(key).0.to_string()).filter(|v| !v.is_empty());
    let smtp = match optional("smtp.host") {
        None => None,
        Some(host) => Some(SmtpConfig {
            host,
            port: match p.text("smtp.port").0 {
                "" => match security {
                    SmtpSecurity::StartTls => 587,
                    SmtpSecurity::Tls => 465,
                    SmtpSecurity::None => 25,
                },
                _ => p.int("smtp.port", 1, 65535)? as u16,
            },
            security,
            username: optional("smtp.username"),
            password: optional("smtp.password"),
            from: match p.text("smtp.from").0 {
                from if from.parse::<lettre::message::Mailbox>().is_ok() => from.to_string(),
                _ => return Err(p.fail("smtp.from", "a sender address such as `Madang <madang@example.org>`")),
            },
        }),
    };

    let name = |key: &str| Some(p.text(key).0.trim().to_string()).filter(|n| !n.is_empty());
    // `0` means "no limit" here, where every other size must be positive.
    let quota = parse_size(p.text("dav.quota").0)
        .ok_or_else(|| p.fail("dav.quota", "a size such as `1GiB`, or `0` for no limit"))? as u64;
    let dav = DavConfig {
        default_calendar: name("dav.default_calendar"),
        default_task_list: name("dav.default_task_list"),
        default_addressbook: name("dav.default_addressbook"),
        directory: name("dav.directory"),
        birthday_calendar: name("dav.birthday_calendar"),
        max_resource_size: p.size("dav.max_resource_size")?,
        max_property_size: p.size("dav.max_property_size")?,
        max_properties_size: p.size("dav.max_properties_size")?,
        max_instances: p.int("dav.max_instances", 10, 1_000_000)? as usize,
        max_instances_per_period: p.int("dav.max_instances_per_period", 1, madang_ical::MAX_PERIOD_INSTANCES as u64)?
            as usize,
        max_results: p.int("dav.max_results", 10, 10_000_000)? as usize,
        max_response_size: p.size("dav.max_response_size")?,
        max_export_size: p.size("dav.max_export_size")?,
        max_export_items: p.int("dav.max_export_items", 1, 10_000_000)? as usize,
        feed_refresh_interval: p.duration("dav.feed_refresh_interval")?,
        subscriptions: SubscriptionConfig {
            refresh: p.duration("dav.subscription_refresh")?,
            min_refresh: p.duration("dav.subscription_min_refresh")?,
            max_refresh: p.duration("dav.subscription_max_refresh")?,
            max_size: p.size("dav.subscription_max_size")?,
            timeout: p.duration("dav.subscription_timeout")?,
            max_redirects: p.int("dav.subscription_max_redirects", 0, 20)? as usize,
            outbound: crate::outbound::OutboundPolicy {
                allowed: crate::outbound::parse_list(p.text("dav.subscription_allowed_networks").0).map_err(|e| {
                    p.fail("dav.subscription_allowed_networks", &format!("IP networks, comma-separated ({e})"))
                })?,
            },
            max_per_user: p.int("dav.subscription_max_per_user", 0, 100_000)? as usize,
        },
        tombstone_retention: p.duration("dav.tombstone_retention")?,
        quota: (quota > 0).then_some(quota),
    };
    if dav.max_resource_size < 1024 {
        return Err(p.fail("dav.max_resource_size", "at least 1KiB"));
    }
    // A calendar-timezone or an Apple default alarm is a few KiB; below 1 KiB
    // ordinary clients would start failing.
    if dav.max_property_size < 1024 {
        return Err(p.fail("dav.max_property_size", "at least 1KiB"));
    }
    if dav.max_properties_size < dav.max_property_size {
        return Err(p.fail("dav.max_properties_size", "at least `dav.max_property_size`"));
    }
    let subs = &dav.subscriptions;
    if subs.min_refresh < Duration::from_secs(60) {
        return Err(p.fail("dav.subscription_min_refresh", "at least `1m`"));
    }
    if subs.max_refresh < subs.min_refresh {
        return Err(p.fail("dav.subscription_max_refresh", "at least `dav.subscription_min_refresh`"));
    }
    if subs.timeout.is_zero() {
        return Err(p.fail("dav.subscription_timeout", "more than 0"));
    }
    if !(Duration::from_secs(300)..=Duration::from_secs(7 * 86_400)).contains(&dav.feed_refresh_interval) {
        return Err(p.fail("dav.feed_refresh_interval", "from `5m` to `7d`"));
    }

    let oidc = OidcConfig {
        issuer: match p.text("oidc.issuer").0 {
            "" => server.public_url(),
            url if (url.starts_with("https://") || url.starts_with("http://")) && !url.contains(['?', '#', ' ']) => {
                url.to_string()
            }
            _ => return Err(p.fail("oidc.issuer", "an `https://` URL without query or fragment")),
        },
        access_token_lifetime: p.duration("oidc.access_token_lifetime")?,
        refresh_token_lifetime: p.duration("oidc.refresh_token_lifetime")?,
    };
    // Capped: an access token cannot be revoked at a relying party that
    // caches it, and a refresh token outliving a year is a forgotten one.
    if !(Duration::from_secs(10)..=Duration::from_secs(86_400)).contains(&oidc.access_token_lifetime) {
        return Err(p.fail("oidc.access_token_lifetime", "a duration from `10s` to `1d`"));
    }
    if !(Duration::from_secs(60)..=Duration::from_secs(365 * 86_400)).contains(&oidc.refresh_token_lifetime) {
        return Err(p.fail("oidc.refresh_token_lifetime", "a duration from `1m` to `365d`"));
    }

    let push = PushConfig {
        heartbeat: p.duration("push.heartbeat")?,
        max_connections_per_user: p.int("push.max_connections_per_user", 1, 1000)? as usize,
        retention_events: p.int("push.retention_events", 100, 100_000_000)?,
        retention: p.duration("push.retention")?,
        presence_grace: p.duration("push.presence_grace")?,
        presence_announce: p.duration("push.presence_announce")?,
        typing_interval: p.duration("push.typing_interval")?,
    };
    if push.presence_grace > Duration::from_secs(300) {
        return Err(p.fail("push.presence_grace", "a duration from `0s` to `5m`"));
    }
    if !(Duration::from_millis(100)..=Duration::from_secs(600)).contains(&push.presence_announce) {
        return Err(p.fail("push.presence_announce", "a duration from `100ms` to `10m`"));
    }
    if push.typing_interval > Duration::from_secs(60) {
        return Err(p.fail("push.typing_interval", "a duration from `0s` to `1m`"));
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(300)).contains(&push.heartbeat) {
        return Err(p.fail("push.heartbeat", "a duration from `1s` to `5m`"));
    }
    if push.retention < Duration::from_secs(60) {
        return Err(p.fail("push.retention", "at least `1m`"));
    }

    let chat = ChatConfig {
        max_message_bytes: p.int("chat.max_message_bytes", 1, 1_048_576)? as usize,
        messages_per_minute: p.int("chat.messages_per_minute", 1, 100_000)? as u32,
        max_dm_members: p.int("chat.max_dm_members", 2, 50)? as usize,
        webhook_posts_per_minute: p.int("chat.webhook_posts_per_minute", 1, 100_000)? as u32,
    };

    let blob = match p.text("blob.backend").0.to_ascii_lowercase().as_str() {
        "local" => crate::blob::BlobConfig::Local {
            dir: p.optional_path("blob.dir").unwrap_or_else(|| data_dir.join("blobs")),
        },
        "s3" => {
            let allow_http = p.boolean("blob.s3_allow_http")?;
            let endpoint = match p.text("blob.s3_endpoint").0 {
                "" => None,
                url if url.starts_with("https://") || (allow_http && url.starts_with("http://")) => {
                    Some(url.trim_end_matches('/').to_string())
                }
                _ => {
                    return Err(p.fail(
                        "blob.s3_endpoint",
                        "an `https://` URL (or `http://` with `blob.s3_allow_http = true`)",
                    ));
                }
            };
            let bucket = match p.text("blob.s3_bucket").0 {
                "" => return Err(p.fail("blob.s3_bucket", "a bucket name, because `blob.backend` is `s3`")),
                b => b.to_string(),
            };
            let access_key_id = optional("blob.s3_access_key_id");
            let secret_access_key = optional("blob.s3_secret_access_key");
            if access_key_id.is_some() != secret_access_key.is_some() {
                return Err(
                    p.fail_secret("blob.s3_secret_access_key", "a value exactly when `blob.s3_access_key_id` has one")
                );
            }
            crate::blob::BlobConfig::S3(crate::blob::S3Config {
                bucket,
                endpoint,
                region: match p.text("blob.s3_region").0 {
                    "" => return Err(p.fail("blob.s3_region", "a region such as `us-east-1`")),
                    r => r.to_string(),
                },
                access_key_id,
                secret_access_key,
                allow_http,
            })
        }
        _ => return Err(p.fail("blob.backend", "`local` or `s3`")),
    };

    let chat_files = ChatFilesConfig {
        max_file_size: p.size("chat.max_file_size")? as u64,
        max_image_pixels: p.int("chat.max_image_pixels", 1, 1_000_000_000)?,
        unattached_file_lifetime: p.duration("chat.unattached_file_lifetime")?,
    };
    if chat_files.unattached_file_lifetime < Duration::from_secs(60) {
        return Err(p.fail("chat.unattached_file_lifetime", "at least `1m`"));
    }

    let mail = MailConfig {
        outbound: crate::outbound::OutboundPolicy {
            allowed: crate::outbound::parse_list(p.text("mail.allowed_networks").0)
                .map_err(|e| p.fail("mail.allowed_networks", &format!("IP networks, comma-separated ({e})")))?,
        },
        extra_roots: match p.text("mail.ca_file").0 {
            "" => Vec::new(),
            path => match std::fs::read(path) {
                Ok(pem) if String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") => pem,
                Ok(_) => return Err(p.fail("mail.ca_file", "a PEM file with at least one certificate")),
                Err(e) => return Err(p.fail("mail.ca_file", &format!("a readable PEM file ({e})"))),
            },
        },
        connect_timeout: p.duration("mail.connect_timeout")?,
        max_accounts_per_user: p.int("mail.max_accounts_per_user", 1, 1000)?,
        max_message_size: p.size("mail.max_message_size")? as u64,
        whole_message_below: p.size("mail.whole_message_below")? as u64,
        body_cache_size: p.size("mail.body_cache_size")?,
        max_connections: p.int("mail.max_connections", 2, 100_000)? as usize,
        max_connections_per_account: p.int("mail.max_connections_per_account", 2, 100)? as usize,
        image_proxy_max_size: p.size("mail.image_proxy_max_size")? as u64,
        image_proxy_timeout: p.duration("mail.image_proxy_timeout")?,
        oauth: mail_oauth_providers(&p)?,
        oauth_redirect_uri: format!("{}mail/oauth/callback", server.public_url()),
        dns_server: match p.text("mail.dns_server").0 {
            "" => None,
            text => Some(
                text.parse::<std::net::SocketAddr>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(|ip| std::net::SocketAddr::new(ip, 53)))
                    .map_err(|_| p.fail("mail.dns_server", "an IP address, optionally with `:port`"))?,
            ),
        },
        dns_timeout: MailConfig::default().dns_timeout,
    };
    if mail.connect_timeout < Duration::from_secs(1) {
        return Err(p.fail("mail.connect_timeout", "at least `1s`"));
    }
    if mail.image_proxy_timeout < Duration::from_secs(1) {
        return Err(p.fail("mail.image_proxy_timeout", "at least `1s`"));
    }

    let mailproxy = mail_proxy(&p, &server)?;

    let effective = KEYS
        .iter()
        .map(|k| {
            let (v, s) = &raw[k.name];
            (k, v.clone(), s.clone())
        })
        .collect();
    Ok(Config {
        data_dir,
        server,
        database,
        log: LogConfig { level, format },
        auth,
        dav,
        web,
        brand,
        smtp,
        oidc,
        push,
        chat,
        blob,
        chat_files,
        mail,
        mailproxy,
        file,
        effective,
    })
}

/// `90`, `90s`, `500ms`, `5m`, `2h`, `1d`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => return Some(Duration::from_millis(n)),
        "m" | "min" | "mins" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// `1048576`, `512KiB`, `16MiB`, `1GiB` (also `KB`/`MB`/`GB`, as powers of 1024).
pub fn parse_size(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: usize = number.parse().ok()?;
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Replaces the password of `scheme://user:password@host…` with `****`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') { format!("{user}:****") } else { user.to_string() };
            format!("{}{masked}{}", &url[..scheme_end + 3], &rest[at..])
        }
        None => url.to_string(),
    }
}

/// Markdown table of every key, used to write and check `docs/configuration.md`.
pub fn reference_markdown() -> String {
    let mut out = String::from("| Key | Environment | Default | Meaning |\n|---|---|---|---|\n");
    for key in KEYS {
        let env = key.env.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ");
        let default = if key.default.is_empty() { "—".to_string() } else { format!("`{}`", key.default) };
        out.push_str(&format!("| `{}` | {env} | {default} | {} |\n", key.name, key.doc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // Point at a file that cannot exist so a developer's madang.toml is not read.
        let overrides = Overrides::default();
        let mut env: BTreeMap<String, String> = env;
        env.entry("MADANG_CONFIG".into()).or_default();
        Config::load_from(&overrides, &env)
    }

    #[test]
    fn defaults_need_nothing() {
        let c = load(&[]).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("./madang-data"));
        assert_eq!(c.database.url, DatabaseUrl::Sqlite(PathBuf::from("./madang-data/madang.db")));
        assert_eq!(c.server.max_body_size, 16 << 20);
    }

    #[test]
    fn short_and_long_env_names() {
        let c = load(&[("MADANG_LISTEN", "0.0.0.0:9000")]).unwrap();
        assert_eq!(c.server.listen.port(), 9000);
        let c = load(&[("MADANG_LISTEN", "0.0.0.0:9000"), ("MADANG_SERVER_LISTEN", "0.0.0.0:9001")]).unwrap();
        assert_eq!(c.server.listen.port(), 9001);
        let c = load(&[("MADANG_DATA_DIR", "/tmp/x")]).unwrap();
        assert_eq!(c.database.url, DatabaseUrl::Sqlite(PathBuf::from("/tmp/x/madang.db")));
    }

    #[test]
    fn bad_values_name_key_value_and_allowed() {
        let e = load(&[("MADANG_DATABASE_MAX_CONNECTIONS", "lots")]).unwrap_err().0;
        assert!(e.contains("`database.max_connections`") && e.contains("`lots`") && e.contains("whole number"), "{e}");
        let e = load(&[("MADANG_LISTEN", "localhost")]).unwrap_err().0;
        assert!(e.contains("server.listen") && e.contains("MADANG_LISTEN"), "{e}");
        let e = load(&[("MADANG_DATABASE_URL", "mysql://root:hunter2@db/x")]).unwrap_err().0;
        assert!(!e.contains("hunter2"), "{e}");
        let e = load(&[("MADANG_SERVER_TLS_CERT", "/c.pem")]).unwrap_err().0;
        assert!(e.contains("server.tls_key"), "{e}");
    }

    #[test]
    fn file_values_and_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/m\"\n[server]\nlisten = \"[::]:8443\"\n[database]\nmax_connections = 3\n",
        )
        .unwrap();
        let mut env = BTreeMap::new();
        env.insert("MADANG_CONFIG".to_string(), path.display().to_string());
        let c = Config::load_from(&Overrides::default(), &env).unwrap();
        assert_eq!(c.server.listen.port(), 8443);
        assert_eq!(c.database.max_connections, 3);
        assert!(c.describe().contains(&path.display().to_string()));

        std::fs::write(&path, "[server]\nlisten = [1, 2]\n").unwrap();
        let e = Config::load_from(&Overrides::default(), &env).unwrap_err().0;
        assert!(e.contains("`server.listen`") && e.contains("found array"), "{e}");

        std::fs::write(&path, "[server]\nlisten = [1, 2]\n").unwrap();
        let e = Config::load_from(&Overrides::default(), &env).unwrap_err().0;
        assert!(e.contains("`server.listen`") && e.contains("found array"), "{e}");

        std::fs::write(&path, "[server]\nlisen = \"x\"\n").unwrap();
        let e = Config::load_from(&Overrides::default(), &env).unwrap_err().0;
        assert!(e.contains("unknown configuration key `server.lisen`"), "{e}");
    }

    #[test]
    fn flags_beat_env() {
        let mut env = BTreeMap::new();
        env.insert("MADANG_CONFIG".to_string(), String::new());
        env.insert("MADANG_LISTEN".to_string(), "127.0.0.1:1".to_string());
        let o = Overrides { listen: Some("127.0.0.1:2".into()), ..Default::default() };
        assert_eq!(Config::load_from(&o, &env).unwrap().server.listen.port(), 2);
    }

    #[test]
    fn secrets_are_masked() {
        let c = load(&[("MADANG_DATABASE_URL", "postgres://madang:s3cret@db.example/madang")]).unwrap();
        let text = c.describe();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("postgres://madang:****@db.example/madang"), "{text}");
    }

    #[test]
    fn mail_listeners_need_a_certificate_off_loopback() {
        let c = load(&[("MADANG_MAILPROXY_IMAP_LISTEN", "127.0.0.1:1143")]).unwrap();
        assert_eq!(c.mailproxy.imap_listen, Some("127.0.0.1:1143".parse().unwrap()));
        assert!(c.mailproxy.enabled() && c.mailproxy.tls.is_none());
        let err = load(&[("MADANG_MAILPROXY_IMAP_LISTEN", "0.0.0.0:143")]).unwrap_err().0;
        assert!(err.contains("mailproxy.imap_listen") && err.contains("loopback"), "{err}");
        let err = load(&[("MADANG_MAILPROXY_IMAPS_LISTEN", "127.0.0.1:993")]).unwrap_err().0;
        assert!(err.contains("implicit TLS needs a certificate"), "{err}");
        // RFC 9051 §5.4: the autologout timer is at least 30 minutes.
        let err = load(&[("MADANG_MAILPROXY_IDLE_TIMEOUT", "10m")]).unwrap_err().0;
        assert!(err.contains("mailproxy.idle_timeout"), "{err}");
        let err = load(&[("MADANG_MAILPROXY_ALLOWED_SENDERS", "anyone")]).unwrap_err().0;
        assert!(err.contains("`account` or `domain`"), "{err}");
    }

    #[test]
    fn mail_host_name_defaults_to_the_public_url_host() {
        let c = load(&[("MADANG_SERVER_PUBLIC_URL", "https://mail.example.com:8443/")]).unwrap();
        assert_eq!(c.mailproxy.hostname, "mail.example.com");
        let c = load(&[("MADANG_MAILPROXY_HOSTNAME", "IMAP.Example.com")]).unwrap();
        assert_eq!(c.mailproxy.hostname, "imap.example.com");
        assert!(load(&[("MADANG_MAILPROXY_HOSTNAME", "bad name")]).is_err());
    }

    #[test]
    fn dav_quota_zero_means_no_limit() {
        let with = |v: &str| {
            let mut raw = BTreeMap::new();
            for k in KEYS {
                raw.insert(k.name, (k.default.to_string(), Source::Default));
            }
            raw.insert("dav.quota", (v.to_string(), Source::Env("MADANG_DAV_QUOTA")));
            build(raw, None)
        };
        assert_eq!(with("0").unwrap().dav.quota, None);
        assert_eq!(with("2GiB").unwrap().dav.quota, Some(2 << 30));
        let err = with("lots").unwrap_err().0;
        assert!(err.contains("dav.quota") && err.contains("MADANG_DAV_QUOTA"), "{err}");
    }

    #[test]
    fn dav_property_limits_are_checked() {
        let with = |pairs: &[(&'static str, &str)]| {
            let mut raw = BTreeMap::new();
            for k in KEYS {
                raw.insert(k.name, (k.default.to_string(), Source::Default));
            }
            for (k, v) in pairs {
                raw.insert(*k, (v.to_string(), Source::Default));
            }
            build(raw, None)
        };
        let c = with(&[]).unwrap();
        assert_eq!((c.dav.max_property_size, c.dav.max_properties_size), (64 << 10, 256 << 10));
        // Far below the body limit, so a client gets the property's own answer, never a 413.
        assert!(c.dav.max_properties_size * 16 <= c.server.max_body_size);
        assert!(with(&[("dav.max_property_size", "512")]).unwrap_err().0.contains("dav.max_property_size"));
        let err = with(&[("dav.max_property_size", "8KiB"), ("dav.max_properties_size", "4KiB")]).unwrap_err().0;
        assert!(err.contains("dav.max_properties_size"), "{err}");
    }

    #[test]
    fn brand_values_are_checked() {
        let c = load(&[]).unwrap();
        assert_eq!(c.brand, BrandConfig::default());
        let c = load(&[("MADANG_BRAND_NAME", " Acme Work "), ("MADANG_BRAND_PRIMARY_COLOR", "#FFAA00")]).unwrap();
        assert_eq!((c.brand.name.as_str(), c.brand.primary_color.as_str()), ("Acme Work", "#ffaa00"));
        for colour in ["ffaa00", "#fa0", "#ffaa0g", "red", "#ffaa001"] {
            let e = load(&[("MADANG_BRAND_PRIMARY_COLOR", colour)]).unwrap_err();
            assert!(e.0.contains("`brand.primary_color`") && e.0.contains("#rrggbb"), "{e}");
        }
        assert!(load(&[("MADANG_BRAND_NAME", "")]).unwrap_err().0.contains("`brand.name`"));
        assert!(load(&[("MADANG_BRAND_NAME", &"x".repeat(65))]).is_err());
        assert!(load(&[("MADANG_BRAND_LOGO", "/etc/passwd")]).unwrap_err().0.contains(".svg"));
        assert_eq!(load(&[("MADANG_BRAND_LOGO", "logo.SVG")]).unwrap().brand.logo, Some(PathBuf::from("logo.SVG")));
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_size("2MiB"), Some(2 << 20));
        assert_eq!(parse_size("12 kb"), Some(12 << 10));
        assert_eq!(parse_size("big"), None);
    }

    #[test]
    fn blob_store_settings_are_checked_and_the_s3_secret_never_shown() {
        let c = load(&[("MADANG_DATA_DIR", "/srv/madang")]).unwrap();
        assert_eq!(c.blob, crate::blob::BlobConfig::Local { dir: PathBuf::from("/srv/madang/blobs") });
        assert_eq!(c.chat_files.max_file_size, 25 << 20);

        let s3 = [
            ("MADANG_BLOB_BACKEND", "s3"),
            ("MADANG_BLOB_S3_BUCKET", "files"),
            ("MADANG_BLOB_S3_ENDPOINT", "http://127.0.0.1:9000/"),
            ("MADANG_BLOB_S3_ALLOW_HTTP", "true"),
            ("MADANG_BLOB_S3_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("MADANG_BLOB_S3_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-very-secret"),
        ];
        let c = load(&s3).unwrap();
        let crate::blob::BlobConfig::S3(config) = &c.blob else { panic!("{:?}", c.blob) };
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(config.region, "us-east-1");
        assert!(!c.describe().contains("very-secret"), "{}", c.describe());
        assert!(!format!("{:?}", c.blob).contains("very-secret"));

        // Plain HTTP only when allowed; a bucket is required; key id and secret go together.
        let err = load(&[s3[0], s3[1], s3[2]]).unwrap_err();
        assert!(err.0.contains("blob.s3_endpoint"), "{err}");
        let err = load(&[s3[0]]).unwrap_err();
        assert!(err.0.contains("blob.s3_bucket"), "{err}");
        let err = load(&[s3[0], s3[1], s3[5]]).unwrap_err();
        assert!(err.0.contains("blob.s3_secret_access_key") && !err.0.contains("very-secret"), "{err}");
        let err = load(&[("MADANG_BLOB_BACKEND", "ftp")]).unwrap_err();
        assert!(err.0.contains("blob.backend"), "{err}");
    }

    /// Issue 17: a list of trusted proxies replaces "believe the last hop".
    #[test]
    fn issue17_trusted_proxies_are_networks_and_exclude_trusting_every_peer() {
        use crate::proxies::TrustedProxies;
        assert_eq!(load(&[]).unwrap().server.proxies, TrustedProxies::None);
        let c = load(&[("MADANG_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, ::1")]).unwrap();
        assert!(matches!(&c.server.proxies, TrustedProxies::Networks(n) if n.len() == 2));
        let c = load(&[("MADANG_SERVER_TRUST_FORWARDED_FOR", "true")]).unwrap();
        assert_eq!(c.server.proxies, TrustedProxies::LastHop);
        let e = load(&[("MADANG_SERVER_TRUSTED_PROXIES", "10.0.0.0/8, lb.internal")]).unwrap_err().0;
        assert!(e.contains("`server.trusted_proxies`") && e.contains("`lb.internal` is not an IP address"), "{e}");
        let e = load(&[("MADANG_SERVER_TRUSTED_PROXIES", "10.0.0.0/8"), ("MADANG_SERVER_TRUST_FORWARDED_FOR", "true")])
            .unwrap_err()
            .0;
        assert!(e.contains("`server.trust_forwarded_for`") && e.contains("server.trusted_proxies"), "{e}");
    }

    #[test]
    fn mail_dns_server() {
        assert_eq!(load(&[]).unwrap().mail.dns_server, None);
        for (text, addr) in
            [("192.0.2.53", "192.0.2.53:53"), ("127.0.0.1:5353", "127.0.0.1:5353"), ("[::1]:53", "[::1]:53")]
        {
            let c = load(&[("MADANG_MAIL_DNS_SERVER", text)]).unwrap();
            assert_eq!(c.mail.dns_server, Some(addr.parse().unwrap()), "{text}");
        }
        for bad in ["dns.example.com", "1.2.3.4:x", "::1:53:"] {
            let err = load(&[("MADANG_MAIL_DNS_SERVER", bad)]).unwrap_err();
            assert!(err.0.contains("mail.dns_server"), "{err}");
        }
    }

    #[test]
    fn documentation_lists_every_key() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
        assert!(
            doc.contains(&reference_markdown()),
            "docs/configuration.md is out of date; paste in the output of `madang config reference`"
        );
    }
}
