#!/usr/bin/env python3
"""The seed roadmap's chat design, as the reference of bench/chat_fanout.py: a Python WebSocket
server that fans messages out through Redis pub/sub.

    python bench/reference/chat_ws_redis.py --listen 127.0.0.1:8765 --redis redis://127.0.0.1:6379/0

Kept simple and faithful rather than tuned: one asyncio process (`websockets` + `redis.asyncio`,
pinned in bench/requirements.txt), no authentication, no resume after a disconnect.

The protocol, JSON text frames:

    client → {"op": "subscribe", "channel": "c7"}                 ← {"op": "subscribed", "channel": "c7"}
    client → {"op": "send", "channel": "c7", "text": "…", "client_id": "…"}
                                                                  ← {"op": "ack", "client_id": "…", "seq": 12}
    every subscriber of c7 ← {"op": "new", "channel": "c7", "message": {"seq", "text", "author", "client_id", "created_at"}}

A send runs one Lua script in Redis that numbers the message in its channel (INCR), stores it
(RPUSH onto the channel's history) and PUBLISHes it, atomically: so every subscriber sees a
channel's messages in seq order, as Madang guarantees, and history exists as it did in the seed.
The server holds one pattern subscription (`<prefix>chat:*`) and hands each published message to
the local sockets of its channel with `websockets.broadcast`, which never waits for a slow socket.
The sender is a subscriber of its channel and gets its own message too, as in Madang.

What it does not do that Madang does (read the comparison with this in mind): per-user push logs
that a client resumes from without loss, authentication per request, idempotent sends, durable
storage (Redis persists when its own configuration says so, not per message), channel
membership beyond "who subscribed".

Every key starts with `--prefix`, and the server deletes its keys when it stops (SIGTERM or
SIGINT), so runs do not collide on a shared Redis and leave nothing behind.
"""
import argparse
import asyncio
import json
import signal
import sys
import time
from collections import defaultdict

import redis.asyncio as aioredis
from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

# KEYS: the channel's seq counter, its history list, its pub/sub channel.
# ARGV: channel, text, author, client_id, created_at. Returns the published event.
SEND = """
local seq = redis.call('INCR', KEYS[1])
local event = cjson.encode({op = 'new', channel = ARGV[1], message = {
    seq = seq, text = ARGV[2], author = ARGV[3], client_id = ARGV[4], created_at = ARGV[5]}})
redis.call('RPUSH', KEYS[2], event)
redis.call('PUBLISH', KEYS[3], event)
return event
"""


class Chat:
    def __init__(self, redis, prefix):
        self.redis = redis
        self.prefix = prefix
        self.rooms = defaultdict(set)  # channel → this process's sockets subscribed to it
        self.send = redis.register_script(SEND)

    def keys(self, channel):
        p = f"{self.prefix}chat:{channel}"
        return [f"{p}:seq", f"{p}:messages", p]

    async def handle(self, ws):
        """One client: subscribe and send until it goes away."""
        user = ws.request.path.partition("user=")[2].split("&")[0] or "anonymous"
        joined = set()
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                    op = msg["op"]
                    channel = str(msg["channel"])
                except (ValueError, KeyError, TypeError):
                    await ws.close(1003, "expected JSON with op and channel")
                    return
                if op == "subscribe":
                    self.rooms[channel].add(ws)
                    joined.add(channel)
                    await ws.send(json.dumps({"op": "subscribed", "channel": channel}))
                elif op == "send" and channel in joined:
                    client_id = str(msg.get("client_id", ""))
                    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    event = await self.send(keys=self.keys(channel),
                                            args=[channel, str(msg.get("text", "")), user, client_id, created])
                    seq = json.loads(event)["message"]["seq"]
                    await ws.send(json.dumps({"op": "ack", "client_id": client_id, "seq": seq}))
                else:
                    await ws.send(json.dumps({"op": "error", "message": f"{op} on {channel} refused"}))
        except ConnectionClosed:
            pass  # a client that goes away without a close frame is no error worth a traceback
        finally:
            for channel in joined:
                self.rooms[channel].discard(ws)

    async def fan_out(self):
        """Reads the pattern subscription and hands each message to its channel's local sockets.
        One pattern rather than a SUBSCRIBE per channel: a redis.asyncio PubSub must not be
        read and written from two tasks at once, and every process serves every channel here."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.psubscribe(f"{self.prefix}chat:*")
        skip = len(f"{self.prefix}chat:")
        async for m in pubsub.listen():
            if m["type"] != "pmessage":
                continue
            channel = m["channel"][skip:]
            broadcast(self.rooms.get(channel, ()), m["data"])

    async def forget(self):
        """Deletes every key of this run."""
        async for key in self.redis.scan_iter(match=f"{self.prefix}*", count=1000):
            await self.redis.delete(key)


async def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1:8765")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--prefix", default="madang-bench-ref:", help="prefix of every Redis key and channel")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    # A blocking pool: with a plain pool, sends that find every connection busy fail with
    # MaxConnectionsError (the first full run lost 157 sockets that way); here they wait their turn.
    pool = aioredis.BlockingConnectionPool.from_url(args.redis, decode_responses=True, max_connections=64, timeout=None)
    redis = aioredis.Redis(connection_pool=pool)
    chat = Chat(redis, args.prefix)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    fan_out = asyncio.create_task(chat.fan_out())
    # No compression (the driver offers none either) and no pings: the run is shorter than a
    # ping timeout would matter and Madang's SSE stream has only a 25 s comment heartbeat.
    async with serve(chat.handle, host, int(port), compression=None, ping_interval=None, max_queue=None):
        print(f"listening on {args.listen}", flush=True)
        await stop.wait()
    fan_out.cancel()
    await chat.forget()
    await redis.aclose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
