#!/usr/bin/env bash
# A throw-away Dovecot (Debian dovecot-imapd + dovecot-submissiond) for the mail tests, on
# 127.0.0.1 only, run as this script's own process (never the system service).
#
#   dovecot.sh start DIR [--no-condstore|--mdbox] prints shell lines: MADANG_TEST_DOVECOT_DIR=…, _IMAP=port,
#                                          _IMAPS=port, _SUBMISSION=port, _CA=DIR/ca.pem
#   dovecot.sh stop DIR
#   dovecot.sh deliver DIR USER FILE       puts a message into USER's INBOX (as an MTA's LDA would)
#   dovecot.sh adduser DIR USER PASSWORD   a user of its own for one test (passwd-file is re-read)
#
# With --no-condstore the lines start MADANG_TEST_DOVECOT_BASIC_ instead, so both can run at once.
#
# What the submission service accepts is relayed to conformance-tests/smtp_sink.py, which files
# it under DIR/sink (a Maildir, and envelopes.jsonl). XOAUTH2/OAUTHBEARER logins are checked
# against conformance-tests/oauth_provider.py (…_OAUTH=its URL), started alongside.
#
# Users: alice@example.test / alice-imap-pw, bob@example.test / bob-imap-pw (passwd-file,
# plaintext: test only), Maildir under DIR/mail. TLS with a throw-away CA (DIR/ca.pem) and a
# leaf for localhost/127.0.0.1 signed by it: rustls refuses a self-signed CA used as the leaf.
# `--no-condstore` hides CONDSTORE/QRESYNC (imap_capability) for the sync's fallback path, and
# offers only XOAUTH2 of the bearer mechanisms (OAUTHBEARER is the other one's).
# Runs as root or not; as root every Dovecot process runs as `nobody`.
set -euo pipefail
cmd=${1:?start|stop|deliver}
dir=$(realpath -m "${2:?directory}")

if [[ $cmd == stop ]]; then
    for helper in sink oauth; do
        if [[ -f $dir/$helper.pid ]]; then
            kill "$(cat "$dir/$helper.pid")" 2>/dev/null || true
            rm -f "$dir/$helper.pid"
        fi
    done
    [[ -f $dir/run/master.pid ]] || exit 0
    pid=$(cat "$dir/run/master.pid")
    kill "$pid" 2>/dev/null || exit 0
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    echo "dovecot.sh: Dovecot $pid still running after 10 s" >&2
    exit 1
fi

if [[ $cmd == adduser ]]; then
    user=${3:?user}; password=${4:?password}
    [[ $user =~ ^[A-Za-z0-9._@+-]+$ && $password =~ ^[A-Za-z0-9._-]+$ ]] || { echo "dovecot.sh: bad user or password" >&2; exit 2; }
    # uid:gid and the mail root as the start wrote them for alice.
    IFS=: read -r _ _ uid gid _ home < <(grep '^alice@' "$dir/users")
    root=${home%/*}
    # One line, appended under a lock: tests add users in parallel.
    # Dovecot re-reads the file when its mtime changes, in whole seconds: a read and an append in
    # the same second would leave the new user unknown, so every append sets an mtime later than
    # any the file had before (kept in users.mtime).
    (
        flock 9
        grep -q "^$user:" "$dir/users" || echo "$user:{PLAIN}$password:$uid:$gid::$root/$user" >>"$dir/users"
        last=$(cat "$dir/users.mtime" 2>/dev/null || echo 0)
        now=$(date +%s)
        next=$(( (last > now ? last : now) + 1 ))
        touch -d "@$next" "$dir/users"
        echo "$next" >"$dir/users.mtime"
    ) 9>>"$dir/users.lock"
    # Only return once the auth service knows the user (it has been seen to answer from the file
    # as it was a moment earlier).
    for _ in $(seq 50); do
        doveadm -c "$dir/dovecot.conf" auth test "$user" "$password" >/dev/null 2>&1 && exit 0
        sleep 0.1
    done
    echo "dovecot.sh: the auth service does not know $user" >&2
    exit 1
fi

if [[ $cmd == deliver ]]; then
    user=${3:?user}; file=${4:?message file}
    # dovecot-lda would need the service's own config; a Maildir delivery is a rename into new/.
    box="$dir/mail/$user/Maildir"
    mkdir -p "$box"/{tmp,new,cur}
    name="$(date +%s).$$_$RANDOM.localhost"
    cp "$file" "$box/tmp/$name"
    chown -R "$(stat -c %u:%g "$dir/mail")" "$box" 2>/dev/null || true
    mv "$box/tmp/$name" "$box/new/$name"
    exit 0
fi

[[ $cmd == start ]] || { echo "dovecot.sh: unknown command $cmd" >&2; exit 2; }
capability=""
prefix=MADANG_TEST_DOVECOT
[[ ${3:-} == --no-condstore ]] && prefix=MADANG_TEST_DOVECOT_BASIC
# --mdbox: Dovecot's own multi-message format instead of Maildir (bench/mail_sync.py: a Maildir
# of 50,000 files makes Dovecot itself spend seconds on every folder open, which would be
# charged to whoever asks; servers with big mailboxes use mdbox).
location='maildir:~/Maildir'
[[ ${3:-} == --mdbox ]] && location='mdbox:~/mdbox'
# The basic one offers XOAUTH2 alone, as Microsoft 365 does: both bearer mechanisms get used.
mechanisms="xoauth2 oauthbearer"
[[ ${3:-} == --no-condstore ]] && mechanisms="xoauth2"
[[ ${3:-} == --no-condstore ]] && capability="imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT LITERAL+ UIDPLUS MOVE SPECIAL-USE NAMESPACE UNSELECT CHILDREN"
exe=/usr/sbin/dovecot
[[ -x $exe ]] || { echo "dovecot.sh: $exe missing (apt-get install dovecot-imapd dovecot-submissiond)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
imap=$(free_port); imaps=$(free_port); submission=$(free_port); relay=$(free_port); oauth=$(free_port)
mkdir -p "$dir"/{run,state,log,mail}
if [[ $(id -u) -eq 0 ]]; then runuser=nobody; else runuser=$(id -un); fi
rungroup=$(id -gn "$runuser"); uid=$(id -u "$runuser"); gid=$(id -g "$runuser")

if [[ ! -f $dir/cert.pem ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 7 -keyout "$dir/ca.key" -out "$dir/ca.pem" \
        -subj "/CN=Madang test CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/leaf.csr" -subj /CN=localhost 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$dir/leaf.ext"
    openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 7 \
        -out "$dir/cert.pem" -extfile "$dir/leaf.ext" 2>/dev/null
fi

cat >"$dir/users" <<USERS
alice@example.test:{PLAIN}alice-imap-pw:$uid:$gid::$dir/mail/alice@example.test
bob@example.test:{PLAIN}bob-imap-pw:$uid:$gid::$dir/mail/bob@example.test
USERS

cat >"$dir/dovecot.conf" <<CONF
# Written by conformance-tests/dovecot.sh for one test run: not a production configuration.
protocols = imap submission
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
instance_name = madang-test-$imap
log_path = $dir/log/dovecot.log
info_log_path = $dir/log/dovecot.log
default_internal_user = $runuser
default_internal_group = $rungroup
default_login_user = $runuser
first_valid_uid = 1
mail_uid = $uid
mail_gid = $gid
ssl = yes
ssl_cert = <$dir/cert.pem
ssl_key = <$dir/key.pem
ssl_min_protocol = TLSv1.2
# Plain LOGIN before STARTTLS is allowed so the tests can show Madang refusing it itself.
disable_plaintext_auth = no
auth_mechanisms = plain login $mechanisms
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = username_format=%u $dir/users
}
# XOAUTH2 / OAUTHBEARER (RFC 7628): the bearer token is checked with the local OAuth server's
# introspection (oauth_provider.py), as a company Dovecot checks it with its identity provider.
passdb {
  driver = oauth2
  mechanisms = $mechanisms
  args = $dir/oauth2.conf.ext
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/users
}
mail_location = $location
# Write the main index file as soon as the transaction log is big enough, not only after five
# minutes: otherwise every new session of a freshly filled 50,000-message mailbox replays the
# whole log (seconds), which no long-lived mailbox does (bench/mail_sync.py).
mail_index_log_rotate_min_age = 0
$capability
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
}
protocol imap {
  imap_idle_notify_interval = 30 secs
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $imap
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps
    ssl = yes
  }
}
service submission-login {
  chroot =
  inet_listener submission {
    address = 127.0.0.1
    port = $submission
  }
}
# Dovecot's submission service relays to an MTA: the sink (smtp_sink.py).
submission_relay_host = 127.0.0.1
submission_relay_port = $relay
submission_relay_trusted = yes
hostname = localhost
service anvil {
  chroot =
}
service pop3-login {
  chroot =
}
service imap-urlauth-login {
  chroot =
}
service auth {
  user = $runuser
}
service auth-worker {
  user = $runuser
}
service stats {
  unix_listener stats-reader {
    user = $runuser
    mode = 0600
  }
  unix_listener stats-writer {
    user = $runuser
    mode = 0600
  }
}
CONF
cat >"$dir/oauth2.conf.ext" <<OAUTH
introspection_mode = post
introspection_url = http://127.0.0.1:$oauth/introspect
username_attribute = username
active_attribute = active
active_value = true
OAUTH
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python3 "$here/smtp_sink.py" "$dir" "$relay" </dev/null >"$dir/log/sink.log" 2>&1 &
echo $! >"$dir/sink.pid"
python3 "$here/oauth_provider.py" "$oauth" </dev/null >"$dir/log/oauth.log" 2>&1 &
echo $! >"$dir/oauth.pid"
chown -R "$runuser:$rungroup" "$dir" 2>/dev/null || true
chown root "$dir/dovecot.conf" 2>/dev/null || true
# Dovecot's master keeps fd 2: a caller reading this script's output through a pipe would
# otherwise never see it end.
"$exe" -c "$dir/dovecot.conf" </dev/null >"$dir/log/startup.log" 2>&1 || { cat "$dir/log/startup.log" >&2; exit 1; }
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$imap") 2>/dev/null; then
        echo "${prefix}_DIR=$dir"
        echo "${prefix}_IMAP=$imap"
        echo "${prefix}_IMAPS=$imaps"
        echo "${prefix}_SUBMISSION=$submission"
        echo "${prefix}_CA=$dir/ca.pem"
        echo "${prefix}_SINK=$dir/sink"
        echo "${prefix}_OAUTH=http://127.0.0.1:$oauth"
        exit 0
    fi
    sleep 0.1
done
echo "dovecot.sh: Dovecot did not come up" >&2
cat "$dir/log/dovecot.log" >&2
exit 1
