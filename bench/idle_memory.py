#!/usr/bin/env python3
"""Memory per idle connection: opens N WebSocket clients (python websockets) to a running
hybridsyncd, each authenticated and subscribed to app:idle, and reports the daemon's RSS growth
per connection (VmRSS before and 2 s after; kernel socket buffers are not included).

usage: bench/idle_memory.py WS_URL TOKEN DAEMON_PID N      (`make bench` runs it on a release build)
Loopback only; bounded by N and by the open timeout."""
import asyncio, json, sys, os
from websockets.asyncio.client import connect

url, token, pid, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def rss_kb():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

async def one(i, sem, conns):
    async with sem:
        ws = await connect(url, subprotocols=["hybridsync.v1"], open_timeout=30, ping_interval=None)
        await ws.send(json.dumps({"id": 1, "op": "connect", "token": token}) + "\n" +
                      json.dumps({"id": 2, "op": "subscribe", "channel": "app:idle"}))
        got = 0
        while got < 2:
            got += sum(1 for l in (await ws.recv()).split("\n") if '"id"' in l)
        conns.append(ws)

async def main():
    before = rss_kb()
    conns, sem = [], asyncio.Semaphore(200)
    await asyncio.gather(*(one(i, sem, conns) for i in range(n)))
    await asyncio.sleep(2)
    after = rss_kb()
    print(f"connections={len(conns)} rss_before_kb={before} rss_after_kb={after} bytes_per_conn={(after-before)*1024//len(conns)}")
    for ws in conns:
        await ws.close()

asyncio.run(main())
