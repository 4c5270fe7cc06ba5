#!/usr/bin/env python3
"""Third-party-client probes for the integration tests (websockets from PyPI).

  probes.py origin WS_URL ORIGIN
      Sends a WebSocket upgrade with that Origin header; prints "status <code>" (101 when accepted).
  probes.py slow WS_URL TOKEN CHANNEL
      Connects, subscribes, prints "subscribed", then stops reading (tiny receive buffer, tiny
      library queue). When a line arrives on stdin it reads again until the server closes, and
      prints "closed <code>".
  probes.py paused WS_URL TOKEN CHANNEL COUNT
      As slow, but when a line arrives on stdin it reads COUNT publications and prints
      "received <k> in order, <bytes> bytes" (k: how many came in order with an intact "pad"), or
      "wrong <what>" at the first that is not what was published.

slow and paused take wss:// URLs too (the tests' self-signed certificate is not verified).
"""
import asyncio
import json
import socket
import ssl
import sys
from urllib.parse import urlparse

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


async def origin(url, origin_header):
    # A hand-written upgrade request: the answer to a refused one need not be a valid WS response.
    parsed = urlparse(url)
    reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
    writer.write((
        f"GET / HTTP/1.1\r\nHost: {parsed.hostname}:{parsed.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: hybridsync.v1\r\nOrigin: {origin_header}\r\n\r\n").encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    print("status", status_line.split()[1].decode(), flush=True)
    writer.close()


async def subscribe_small_window(url, token, channel):
    parsed = urlparse(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
    sock.connect((parsed.hostname, parsed.port))
    tls = None
    if parsed.scheme == "wss":  # the tests' throwaway self-signed certificate
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    ws = await connect(url, sock=sock, ssl=tls, subprotocols=["hybridsync.v1"], max_queue=1, open_timeout=10,
                       max_size=None)
    await ws.send(json.dumps({"id": 1, "op": "connect", "token": token}))
    await ws.send(json.dumps({"id": 2, "op": "subscribe", "channel": channel}))
    replies = 0
    while replies < 2:
        frame = await asyncio.wait_for(ws.recv(), timeout=10)
        replies += sum(1 for line in frame.split("\n") if '"id"' in line)
    print("subscribed", flush=True)
    return ws, sock


async def slow(url, token, channel):
    ws, sock = await subscribe_small_window(url, token, channel)
    async with ws:
        await asyncio.to_thread(sys.stdin.readline)  # stop reading until told
        # Drain fast: the close frame sits behind everything the kernel buffered.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), timeout=60)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            print("closed", code, flush=True)


async def paused(url, token, channel, count):
    ws, sock = await subscribe_small_window(url, token, channel)
    async with ws:
        await asyncio.to_thread(sys.stdin.readline)  # stop reading until told
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        expected, size = 1, 0
        while expected <= int(count):
            frame = await asyncio.wait_for(ws.recv(), timeout=60)
            size += len(frame)
            for line in frame.split("\n"):  # several publications may share a frame
                message = json.loads(line)
                if message.get("push") != "publication":
                    continue
                data = message["data"]
                if data.get("n") != expected or data.get("pad") != "x" * int(data.get("size", -1)):
                    print("wrong publication", expected, "got", data.get("n"), flush=True)
                    return
                expected += 1
        print("received", expected - 1, "in order,", size, "bytes", flush=True)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    asyncio.run({"origin": origin, "slow": slow, "paused": paused}[command](*args))
