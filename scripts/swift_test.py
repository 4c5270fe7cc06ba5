#!/usr/bin/env python3
"""Runs `swift test --skip-build ARGS...` with a wall-clock limit (make test's last step).

Every wait in the suite is bounded, so a run that goes past the limit has a bug: rather than let CI
run out of time with nothing said, this prints the tests that started and never finished, stops the
run (and the daemons, browsers and Redis servers it started) and exits 124.

SWIFT_TEST_LIMIT_SECONDS sets the limit (default 900; the whole suite takes under a minute).
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

EVENT = re.compile(r'^\S+ Test "(?P<name>.+?)"(?: with \d+ test cases?)? (?P<what>started|passed|failed|skipped)')


def descendants(root):
    """The pids below `root` in the process tree, from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, pending = [], [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def main():
    limit = float(os.environ.get("SWIFT_TEST_LIMIT_SECONDS", "900"))
    swift = os.environ.get("SWIFT", "swift")
    run = subprocess.Popen([swift, "test", "--skip-build", *sys.argv[1:]], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    running = {}
    lock = threading.Lock()

    def relay():
        for raw in run.stdout:
            sys.stdout.buffer.write(raw)
            sys.stdout.buffer.flush()
            match = EVENT.match(raw.decode("utf-8", "replace"))
            if match:
                with lock:
                    if match["what"] == "started":
                        running[match["name"]] = time.monotonic()
                    else:
                        running.pop(match["name"], None)

    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    try:
        status = run.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        now = time.monotonic()
        with lock:
            unfinished = sorted(running.items(), key=lambda item: item[1])
        print(f"\nswift test: still running after {limit:.0f} s (SWIFT_TEST_LIMIT_SECONDS); "
              f"{len(unfinished)} test(s) started and never finished:", flush=True)
        for name, started in unfinished:
            print(f"  {name}  (running for {now - started:.0f} s)", flush=True)
        # The test process and everything it started (daemons, Chromium, Redis: Foundation's
        # Process puts each in a session of its own, so the process group is not enough).
        for pid in [run.pid, *descendants(run.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run.wait()
        return 124
    reader.join(timeout=5)
    return status


if __name__ == "__main__":
    sys.exit(main())
