#!/usr/bin/env python3
"""Hostile-client probes for the edge-hardening tests: raw sockets on loopback, bounded in count
and time, each printing one JSON line of what it observed.

  attacks.py raw HOST PORT REQUEST           send REQUEST (\\r\\n escapes), read until close or 3 s of
                                             silence: {"statuses": [...], "bytes": N, "closed": bool}
  attacks.py drip HOST PORT HEAD SECONDS     send HEAD, then one byte every SECONDS until the server
                                             closes: {"closed_after": s} (gives up after 60 s)
  attacks.py frame HOST PORT HEX             WebSocket upgrade (hybridsync.v1), send the raw frame
                                             bytes HEX, read until close: {"close_code": N}
  attacks.py upgrade HOST PORT PROTOCOL      upgrade offering PROTOCOL: {"status": N, "body": "..."}
  attacks.py alpn HOST PORT                  TLS offering h2 and http/1.1: {"alpn": "..."}
  attacks.py halfopen HOST PORT N            N sockets send half an upgrade request while one healthy
                                             WebSocket pings every 10 ms until they are all closed:
                                             {"closed": N, "max_rtt_ms": x, "pings": n, "seconds": s}
  attacks.py flood HOST PORT N API_PORT PID  open up to N sockets and hold them; measure the daemon's
                                             CPU for 2 s, then GET /health on the API port:
                                             {"opened": n, "cpu": fraction, "health": status}
  attacks.py stubborn HOST PORT TOKEN        upgrade and connect, print "connected", then never read
                                             nor answer; exits when the server closes the socket
  attacks.py idle HOST PORT N PID            N upgraded unauthenticated sockets; RSS of PID before,
                                             with them open, and after closing (waiting up to 15 s
                                             for the daemon to process the closes), twice:
                                             {"rss_kib": [before, open1, closed1, open2, closed2]}
  attacks.py deadline HOST PORT N            N upgraded sockets that never send `connect`; waits (up to
                                             60 s) for each close frame, answers it as a client does,
                                             and reports the seconds from each upgrade request to its
                                             close frame and to the end of its TCP connection, each as
                                             [min, median, max]: {"upgraded": n, "opened_s": s,
                                             "codes": {code: n}, "open": n, "close_frame_s": [...],
                                             "eof_s": [...]}
  attacks.py keepalive HOST API_PORT N KEY   N API connections, one after the other, that each
                                             send one keep-alive GET /health, read the answer and
                                             stay open; then one POST
                                             /api/publish (key KEY) on a new connection, waiting up
                                             to 8 s: {"held": n, "publish": status or null,
                                             "publish_ms": x, "evicted": n of the N the daemon
                                             closed (counted until 1 s passes without one)}
"""
import base64
import codecs
import json
import os
import re
import resource
import select
import socket
import ssl
import struct
import sys
import time

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def upgrade_request(host, port, protocol="hybridsync.v1"):
    extra = f"Sec-WebSocket-Protocol: {protocol}\r\n" if protocol else ""
    return (f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def read_until_close(sock, silence=3.0, limit=1 << 20):
    data = b""
    sock.settimeout(silence)
    closed = False
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    return data, closed


def handshake(host, port, protocol="hybridsync.v1"):
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(upgrade_request(host, port, protocol))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit(json.dumps({"error": "closed during the handshake", "got": head.decode(errors="replace")}))
        head += chunk
    status = int(head.split(b" ", 2)[1])
    return sock, status, head


def masked(opcode, payload, fin=True):
    header = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        header += bytes([0x80 | n])
    elif n < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(sock):
    """One server frame: (opcode, payload), or None at EOF."""
    def exact(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data
    head = exact(2)
    if head is None:
        return None
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", exact(8))[0]
    return head[0] & 0x0F, exact(n)


def close_code(sock, timeout=10):
    sock.settimeout(timeout)
    try:
        while True:
            frame = read_frame(sock)
            if frame is None:
                return None
            if frame[0] == 8:
                return struct.unpack("!H", frame[1][:2])[0] if len(frame[1]) >= 2 else None
    except (socket.timeout, ConnectionResetError):
        return None


def cmd_raw(host, port, request):
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(codecs.decode(request, "unicode_escape").encode("latin-1"))
    data, closed = read_until_close(sock)
    statuses = [int(m) for m in re.findall(rb"(?:^|\r\n)HTTP/1\.[01] (\d{3})", data)]
    body = data.split(b"\r\n\r\n", 1)[1][:300].decode(errors="replace") if b"\r\n\r\n" in data else ""
    print(json.dumps({"statuses": statuses, "bytes": len(data), "closed": closed, "body": body}), flush=True)


def cmd_drip(host, port, head, seconds):
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(codecs.decode(head, "unicode_escape").encode("latin-1"))
    start = time.monotonic()
    interval = float(seconds)
    while time.monotonic() - start < 60:
        readable, _, _ = select.select([sock], [], [], interval)
        if readable:
            try:
                if not sock.recv(65536):
                    break
            except ConnectionResetError:
                break
            continue
        try:
            sock.send(b"a")
        except (BrokenPipeError, ConnectionResetError):
            break
    print(json.dumps({"closed_after": round(time.monotonic() - start, 2)}), flush=True)


def cmd_frame(host, port, hexbytes):
    sock, status, _ = handshake(host, int(port))
    sock.sendall(bytes.fromhex(hexbytes))
    print(json.dumps({"status": status, "close_code": close_code(sock)}), flush=True)


def cmd_upgrade(host, port, protocol):
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(upgrade_request(host, int(port), protocol or None))
    data, _ = read_until_close(sock)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None
    body = data.split(b"\r\n\r\n", 1)[1].decode(errors="replace") if b"\r\n\r\n" in data else ""
    print(json.dumps({"status": status, "body": body[:300]}), flush=True)


def cmd_alpn(host, port):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            print(json.dumps({"alpn": tls.selected_alpn_protocol()}), flush=True)


def cmd_halfopen(host, port, count):
    raise_fd_limit()
    port = int(port)
    healthy, status, _ = handshake(host, port)
    assert status == 101, status
    sockets = []
    for _ in range(int(count)):
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        sockets.append(s)
    open_set = {s.fileno(): s for s in sockets}
    poller = select.poll()
    for s in sockets:
        poller.register(s, select.POLLIN)
    # Let the daemon take in the accept backlog first: what is measured is the expiry.
    healthy.settimeout(30)
    settle = time.monotonic()
    healthy.sendall(masked(9, b"s"))
    read_frame(healthy)
    settle = time.monotonic() - settle
    max_rtt, pings, start = 0.0, 0, time.monotonic()
    while open_set and time.monotonic() - start < 60:
        sent = time.monotonic()
        healthy.sendall(masked(9, b"p"))
        frame = read_frame(healthy)
        if frame is None or frame[0] != 10:
            print(json.dumps({"error": "healthy socket lost", "frame": str(frame)}), flush=True)
            return
        max_rtt = max(max_rtt, time.monotonic() - sent)
        pings += 1
        for fd, _ in poller.poll(10):
            s = open_set.get(fd)
            if s is None:
                continue
            try:
                if s.recv(4096):
                    continue
            except BlockingIOError:
                continue
            except ConnectionResetError:
                pass
            poller.unregister(fd)
            del open_set[fd]
    print(json.dumps({"closed": len(sockets) - len(open_set), "max_rtt_ms": round(max_rtt * 1000, 1),
                      "settle_ms": round(settle * 1000, 1),
                      "pings": pings, "seconds": round(time.monotonic() - start, 2)}), flush=True)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cmd_flood(host, port, count, api_port, pid):
    raise_fd_limit()
    held = []
    for _ in range(int(count)):
        try:
            s = socket.create_connection((host, int(port)), timeout=2)
            held.append(s)
        except OSError:
            break
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(2)  # the measurement window: a spinning accept loop shows as ~100 % here
    cpu = (cpu_seconds(pid) - before) / (time.monotonic() - t0)
    api = socket.create_connection((host, int(api_port)), timeout=5)
    api.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data, _ = read_until_close(api, silence=5)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None
    print(json.dumps({"opened": len(held), "cpu": round(cpu, 3), "health": status}), flush=True)


def cmd_stubborn(host, port, token):
    sock, status, _ = handshake(host, int(port))
    sock.sendall(masked(1, json.dumps({"id": 1, "op": "connect", "token": token}).encode()))
    print("connected" if status == 101 else f"status {status}", flush=True)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sys.stdin.readline()  # hold the socket without reading until told (or stdin closes)


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def poll(condition, timeout):
    """Re-checks `condition` every 0.1 s until it holds or `timeout` seconds pass (like `eventually`)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def settled_rss_kib(pid, timeout=5):
    """RSS once two samples 0.1 s apart agree: the daemon has finished taking in what it was sent."""
    last = [rss_kib(pid)]

    def steady():
        now = rss_kib(pid)
        same, last[0] = now == last[0], now
        return same

    poll(steady, timeout)
    return last[0]


def cmd_idle(host, port, count, pid):
    raise_fd_limit()
    samples = [rss_kib(pid)]
    for _ in range(2):
        held = []
        for _ in range(int(count)):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(upgrade_request(host, int(port)))
            held.append(s)
        for s in held:  # every 101 received: the daemon has taken in every upgrade
            s.settimeout(10)
            s.recv(4096)
        samples.append(settled_rss_kib(pid))  # sampling at once measured less growth
        for s in held:
            s.close()
        # The daemon returns memory after it has processed the closes: wait for that (bounded).
        target = samples[0] + (samples[-1] - samples[0]) // 2
        poll(lambda: rss_kib(pid) < target, 15)
        samples.append(rss_kib(pid))
    print(json.dumps({"rss_kib": samples}), flush=True)


def cmd_deadline(host, port, count):
    raise_fd_limit()
    port, count = int(port), int(count)
    sent, pending, start = {}, {}, time.monotonic()
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(upgrade_request(host, port))
        s.setblocking(False)
        sent[s.fileno()] = time.monotonic()
        pending[s.fileno()] = [s, b"", False]  # socket, unread bytes, upgraded
    opened = time.monotonic() - start
    poller = select.poll()
    for fd in pending:
        poller.register(fd, select.POLLIN)
    codes, elapsed, eof, upgraded = {}, [], [], 0
    while pending and time.monotonic() - start < 60:
        for fd, _ in poller.poll(100):
            entry = pending.get(fd)
            if entry is None:
                continue
            try:
                chunk = entry[0].recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                chunk = b""
            now = time.monotonic()
            entry[1] += chunk
            code = "eof" if not chunk else None
            if not entry[2] and b"\r\n\r\n" in entry[1]:
                head, entry[1] = entry[1].split(b"\r\n\r\n", 1)
                entry[2] = head.startswith(b"HTTP/1.1 101")
                upgraded += entry[2]
                if not entry[2]:
                    code = "http " + head.split(b" ", 2)[1].decode()
            while entry[2] and code is None and len(entry) == 3 and len(entry[1]) >= 2:  # server frames: unmasked
                n, at = entry[1][1] & 0x7F, 2
                if n == 126:
                    if len(entry[1]) < 4:
                        break
                    n, at = struct.unpack("!H", entry[1][2:4])[0], 4
                if len(entry[1]) < at + n:
                    break
                opcode, payload, entry[1] = entry[1][0] & 0x0F, entry[1][at:at + n], entry[1][at + n:]
                if opcode == 8:
                    code = struct.unpack("!H", payload[:2])[0] if n >= 2 else "none"
            if code is not None and len(entry) == 3:
                codes[str(code)] = codes.get(str(code), 0) + 1
                elapsed.append(now - sent[fd])
                entry.append(now)
                if code != "eof" and not str(code).startswith("http"):
                    try:  # answer the close as a client would; the server then ends the TCP connection
                        entry[0].send(masked(8, struct.pack("!H", code)))
                    except OSError:
                        pass
            if not chunk:
                eof.append(now - sent[fd])
                poller.unregister(fd)
                entry[0].close()
                del pending[fd]
    for entry in pending.values():
        entry[0].close()
    def spread(values):
        values.sort()
        return [round(values[0], 2), round(values[len(values) // 2], 2), round(values[-1], 2)] if values else None
    print(json.dumps({"upgraded": upgraded, "opened_s": round(opened, 2), "codes": codes, "open": len(pending),
                      "close_frame_s": spread(elapsed), "eof_s": spread(eof)}), flush=True)


def cmd_keepalive(host, port, count, key):
    raise_fd_limit()
    port, held, answered = int(port), [], []
    for _ in range(int(count)):  # one after the other: each answered, then left open
        try:
            s = socket.create_connection((host, port), timeout=5)
            held.append(s)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            if s.recv(4096).startswith(b"HTTP/1.1 200"):
                answered.append(s)
        except OSError:
            pass
    body = json.dumps({"channel": "chat:keepalive", "data": 1}).encode()
    start, status = time.monotonic(), None
    try:
        api = socket.create_connection((host, port), timeout=8)
        api.sendall(f"POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        data = api.recv(4096)
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None
    except OSError:
        pass
    elapsed = time.monotonic() - start
    # The daemon closes evicted connections asynchronously: count EOFs until none arrives for 1 s
    # (at most 10 s), not only the ones already there.
    poller, waiting, evicted = select.poll(), {}, 0
    for s in answered:
        poller.register(s, select.POLLIN)
        waiting[s.fileno()] = s
    quiet_since, deadline = time.monotonic(), time.monotonic() + 10
    while waiting and time.monotonic() - quiet_since < 1 and time.monotonic() < deadline:
        for fd, _ in poller.poll(100):
            s = waiting.pop(fd, None)
            if s is None:
                continue
            poller.unregister(fd)
            try:
                closed = s.recv(4096) == b""
            except ConnectionResetError:
                closed = True
            if closed:
                evicted += 1
                quiet_since = time.monotonic()
    print(json.dumps({"held": len(answered), "publish": status, "publish_ms": round(elapsed * 1000, 1),
                      "evicted": evicted}), flush=True)
    for s in held:
        s.close()


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    globals()["cmd_" + command](*args)
