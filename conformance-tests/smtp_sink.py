"""The SMTP server behind the test Dovecot's submission service (conformance-tests/dovecot.sh):
accepts whatever Dovecot relays and files each message into DIR/sink/new (a Maildir) with its
envelope in DIR/sink/envelopes.jsonl, so tests can check what was sent. Standard library only;
127.0.0.1 only; no authentication (Dovecot is its only client and authenticated the user).

    python3 smtp_sink.py DIR PORT
"""
import asyncio
import json
import os
import sys
import time

DIR, PORT = sys.argv[1], int(sys.argv[2])
SINK = os.path.join(DIR, "sink")
for sub in ("tmp", "new", "cur"):
    os.makedirs(os.path.join(SINK, sub), exist_ok=True)
counter = 0


def store(sender, recipients, data):
    global counter
    counter += 1
    name = f"{time.time():.6f}.{os.getpid()}_{counter}.sink"
    tmp = os.path.join(SINK, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(SINK, "new", name))
    with open(os.path.join(SINK, "envelopes.jsonl"), "a") as f:
        f.write(json.dumps({"from": sender, "to": recipients, "file": name}) + "\n")


async def session(reader, writer):
    def say(line):
        writer.write(line.encode() + b"\r\n")

    say("220 localhost test sink")
    sender, recipients = None, []
    while True:
        line = await reader.readline()
        if not line:
            break
        verb = line.decode("utf-8", "replace").strip()
        upper = verb.upper()
        if upper.startswith(("EHLO", "HELO", "LHLO")):
            say("250-localhost")
            say("250-8BITMIME")
            say("250-SMTPUTF8")
            say("250 SIZE 52428800")
        elif upper.startswith("MAIL FROM:"):
            # RFC 5321 §4.1.1.2; parameters (SIZE=, BODY=, AUTH=) are accepted and ignored.
            sender, recipients = verb[10:].split(">")[0].strip().lstrip("<"), []
            say("250 2.1.0 ok")
        elif upper.startswith("RCPT TO:"):
            recipients.append(verb[8:].split(">")[0].strip().lstrip("<"))
            say("250 2.1.5 ok")
        elif upper == "DATA":
            if sender is None or not recipients:
                say("503 5.5.1 MAIL and RCPT first")
                continue
            say("354 go ahead")
            lines = []
            while True:
                chunk = await reader.readline()
                if not chunk or chunk in (b".\r\n", b".\n"):
                    break
                # Dot-stuffing, RFC 5321 §4.5.2.
                lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
            store(sender, recipients, b"".join(lines))
            say("250 2.0.0 stored")
            sender, recipients = None, []
        elif upper == "RSET":
            sender, recipients = None, []
            say("250 2.0.0 ok")
        elif upper == "NOOP":
            say("250 2.0.0 ok")
        elif upper == "QUIT":
            say("221 2.0.0 bye")
            await writer.drain()
            break
        else:
            say("502 5.5.2 not implemented")
        await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(session, "127.0.0.1", PORT)
    async with server:
        await server.serve_forever()


asyncio.run(main())
