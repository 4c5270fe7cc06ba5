"""A webhook receiver for the tests, written from docs/API.md "Webhooks" alone.

Usage: webhook_receiver.py <secret>. Prints its port, then one JSON line per request:
{"verified": <the signature recipe holds>, "events": [...]}. Reads commands from stdin: "down"
closes the listening socket (the daemon's requests are refused), "up" listens again on the same
port. Exits when stdin closes, or after 300 s.
"""
import hashlib
import hmac
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = sys.argv[1].encode()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        timestamp = self.headers.get("X-HybridSync-Timestamp", "")
        signature = self.headers.get("X-HybridSync-Signature", "")
        expected = "v1=" + hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        verified = hmac.compare_digest(expected, signature)
        print(json.dumps({"verified": verified, "events": json.loads(body)["events"]}), flush=True)
        self.send_response(204 if verified else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(port):
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


server = serve(0)
port = server.server_address[1]
print(port, flush=True)
limit = threading.Timer(300, lambda: os._exit(0))
limit.daemon = True
limit.start()
for line in sys.stdin:
    command = line.strip()
    if command == "down" and server:
        server.shutdown()
        server.server_close()
        server = None
        print("down", flush=True)
    elif command == "up" and not server:
        server = serve(port)
        print("up", flush=True)
