#!/usr/bin/env python3
"""An independent HybridSync client written only from docs/PROTOCOL.md, using the third-party
`websockets` package. It connects, subscribes, has the backend publish, and checks the push.

usage: independent_client.py WS_URL API_URL API_KEY TOKEN
Exit status 0 when every step behaved as documented; prints what went wrong otherwise.
"""
import asyncio
import json
import sys
import urllib.request

from websockets.asyncio.client import connect


def lines(frame):
    # One frame may carry several newline-separated messages.
    return [json.loads(line) for line in frame.split("\n") if line.strip()]


async def next_message(ws, pending):
    while not pending:
        frame = await asyncio.wait_for(ws.recv(), timeout=10)
        pending.extend(lines(frame))
    return pending.pop(0)


def publish(api_url, api_key, channel, data):
    body = json.dumps({"channel": channel, "data": data}).encode()
    request = urllib.request.Request(api_url + "/api/publish", data=body, method="POST",
                                     headers={"Authorization": "Bearer " + api_key,
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def main(ws_url, api_url, api_key, token):
    async with connect(ws_url, subprotocols=["hybridsync.v1"]) as ws:
        assert ws.subprotocol == "hybridsync.v1", ws.subprotocol
        pending = []
        await ws.send(json.dumps({"id": 1, "op": "connect", "token": token, "name": "python-interop"}))
        reply = await next_message(ws, pending)
        assert reply.get("id") == 1 and "client" in reply.get("result", {}), reply

        await ws.send(json.dumps({"id": 2, "op": "subscribe", "channel": "moderation:bans"}))
        reply = await next_message(ws, pending)
        assert reply.get("id") == 2, reply
        start = reply["result"]["offset"]

        # An unknown command gets a documented error and the connection stays usable.
        await ws.send(json.dumps({"id": 3, "op": "teleport"}))
        reply = await next_message(ws, pending)
        assert reply.get("id") == 3 and reply["error"]["code"] == 104, reply

        result = await asyncio.to_thread(publish, api_url, api_key, "moderation:bans",
                                         {"user": "42", "banned": True})
        assert result["subscribers"] == 1, result
        push = await next_message(ws, pending)
        assert push == {"push": "publication", "channel": "moderation:bans", "offset": start + 1,
                        "data": {"user": "42", "banned": True}}, push
    print("independent client: connect, subscribe, error reply and publication all as documented")


if __name__ == "__main__":
    try:
        asyncio.run(main(*sys.argv[1:5]))
    except AssertionError as failure:
        print("protocol mismatch:", failure, file=sys.stderr)
        sys.exit(1)
