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

  probes.py badserver KIND
      A hand-written WebSocket server on 127.0.0.1 (prints "port <n>") for one client: it accepts
      the upgrade with hybridsync.v1, then sends KIND: "utf8" (a text frame that is not UTF-8) or
      "binary" (a binary frame) right behind the 101, and prints "client closed <code>" from the
      client's close frame.

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


async def badserver(kind):
    import base64
    import hashlib
    import struct
    done = asyncio.Event()

    async def serve(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: hybridsync.v1\r\n\r\n")
        # In the same segment as the 101: a client must not lose it.
        writer.write({"utf8": b"\x81\x02\xc3\x28", "binary": b"\x82\x01\x00"}[kind])
        await writer.drain()
        first = await asyncio.wait_for(reader.readexactly(2), timeout=10)
        length = first[1] & 0x7F
        mask = await reader.readexactly(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        code = struct.unpack("!H", payload[:2])[0] if first[0] & 0x0F == 8 and length >= 2 else None
        print("client closed", code, flush=True)
        writer.close()
        done.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.wait_for(done.wait(), timeout=30)
    server.close()


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    asyncio.run({"origin": origin, "slow": slow, "paused": paused, "badserver": badserver}[command](*args))
