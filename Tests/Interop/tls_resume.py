#!/usr/bin/env python3
"""TLS session resumption against a wss:// listener, from Python's ssl (OpenSSL), loopback only.

  tls_resume.py HOST PORT ROUNDS TLSVERSION
Makes one full handshake (an HTTP upgrade request and its answer, so a TLS 1.3 ticket arrives),
then ROUNDS reconnects offering the newest session; prints one JSON line:
  {"version": "TLSv1.3", "first_resumed": false, "resumed": R, "rounds": ROUNDS}
  tls_resume.py serve TLSVERSION
Reads "round HOST PORT" lines and answers each with {"resumed": bool, "version": ...}, keeping the
newest session between them (so a session from before a daemon restart is offered after it).
"""
import json
import socket
import ssl
import sys

REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: hybridsync.v1\r\n\r\n")


def context(version):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version
    return ctx


def connect(ctx, host, port, session):
    raw = socket.create_connection((host, port), timeout=10)
    tls = ctx.wrap_socket(raw, server_hostname=host, session=session)
    tls.sendall(REQUEST)
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = tls.recv(4096)
        if not chunk:
            break
        answer += chunk
    resumed, newest, version = tls.session_reused, tls.session, tls.version()
    tls.close()
    if not answer.startswith(b"HTTP/1.1 101"):
        raise SystemExit(json.dumps({"error": answer[:100].decode(errors="replace")}))
    return resumed, newest, version


def main():
    """Runs rounds now; or, with `serve`, keeps a session across commands read from stdin
    ("round HOST PORT" lines), so a session from before a restart can be offered after it."""
    if sys.argv[1] == "serve":
        ctx = context(sys.argv[2])
        session = None
        for line in sys.stdin:
            _, host, port = line.split()
            try:
                resumed, newest, version = connect(ctx, host, int(port), session)
                session = newest or session
                print(json.dumps({"resumed": resumed, "version": version}), flush=True)
            except (OSError, ssl.SSLError) as error:
                print(json.dumps({"error": str(error)}), flush=True)
        return
    host, port, rounds, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    ctx = context(version)
    first, session, negotiated = connect(ctx, host, port, None)
    resumed = 0
    for _ in range(rounds):
        again, newest, negotiated = connect(ctx, host, port, session)
        resumed += 1 if again else 0
        session = newest or session
    print(json.dumps({"version": negotiated, "first_resumed": first, "resumed": resumed, "rounds": rounds}))


if __name__ == "__main__":
    main()
