"""An app backend for the hook tests: answers the daemon's connect and subscribe proxies.

Prints its port, then serves on 127.0.0.1 until stdin closes (the test ends) or 120 s pass. A request
for user "slow" is answered after 5 s (past the daemon's hook timeout); user "refused" is refused;
everyone else is allowed with {"info": {"via": "hook"}}. Every request body is printed as one line.
"""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import time


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        print(json.dumps({"path": self.path, "authorization": self.headers.get("Authorization"), **body}), flush=True)
        if body.get("user") == "slow":
            time.sleep(5)
        answer = {"allow": False, "reason": "suspended"} if body.get("user") == "refused" else {"allow": True, "info": {"via": "hook"}}
        data = json.dumps(answer).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except BrokenPipeError:
            pass  # the daemon gave up (its timeout) and closed

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
limit = threading.Timer(120, lambda: os._exit(0))
limit.daemon = True
limit.start()
sys.stdin.read()  # returns when the test closes stdin (or ends)
