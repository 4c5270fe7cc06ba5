#!/usr/bin/env python3
"""Headless Chromium for the browser tests, driven over the DevTools protocol.

The Swift test (Tests/HybridSyncIntegrationTests/BrowserTests.swift) starts this script and sends
one JSON command per line on stdin; each gets one JSON line on stdout:

  {"op":"open","url":U,"init":S?}                -> {"ok":true,"target":T}   (S runs before every document's own scripts)
  {"op":"eval","target":T,"expression":E}        -> {"ok":true,"value":V}   (promises awaited)
  {"op":"wait","target":T,"expression":E,"timeout":S} -> {"ok":true,"value":V} once E is truthy
  {"op":"screenshot","target":T,"path":P}        -> {"ok":true,"bytes":N}
  {"op":"cdp","target":T,"method":M,"params":P}  -> {"ok":true,"result":R}  (any DevTools call on the tab:
                                                    Page.setWebLifecycleState, Network.emulateNetworkConditions…)
  {"op":"close","target":T}                      -> {"ok":true}
Failures answer {"ok":false,"error":"..."}. The first line is {"ready":true,"browser":"..."}, or
{"skip":"<why Chromium cannot start>"}. EOF on stdin (the test ended or died) closes Chromium.
Loopback only: the browser is started with a fresh profile and no network beyond what pages ask.
"""
import base64
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings

warnings.simplefilter("ignore")  # stdout/stderr carry the protocol: no warning lines

try:
    from websockets.sync.client import connect
except ImportError as error:  # make test installs it; say so rather than fail
    print(json.dumps({"skip": f"python websockets missing: {error}"}), flush=True)
    sys.exit(0)


def answer(message):
    print(json.dumps(message), flush=True)


class Browser:
    def __init__(self):
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if not binary:
            raise RuntimeError("no chromium on PATH (Debian package 'chromium')")
        self.profile = tempfile.mkdtemp(prefix="hybridsync-chromium-")
        self.process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--metrics-recording-only",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "--window-size=1000,700",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)  # its helpers in a process group of their own, for quit()
        address = self._devtools_address(deadline=time.monotonic() + 30)
        # Chromium keeps logging to stderr: drain it, or a full pipe would block the browser.
        threading.Thread(target=self.process.stderr.read, daemon=True).start()
        self.socket = connect(address, max_size=64 * 1024 * 1024, open_timeout=10)
        self.next_id = 1
        self.sessions = {}
        self.events = []  # load and new-context events that arrived while a reply was awaited
        self.version = self.call("Browser.getVersion")["product"]

    def _devtools_address(self, deadline):
        """The browser's DevTools WebSocket, from the line Chromium prints once it listens."""
        printed = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError("chromium did not open its DevTools port within 30 s")
            readable, _, _ = select.select([self.process.stderr], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(self.process.stderr.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"chromium exited with {self.process.wait()} at start")
            printed += chunk
            found = re.search(rb"DevTools listening on (ws://\S+)", printed)
            if found:
                return found.group(1).decode()

    def _next_message(self, deadline, what):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"{what}: no answer in time")
        return json.loads(self.socket.recv(timeout=remaining))

    def call(self, method, params=None, session=None, timeout=30):
        ident = self.next_id
        self.next_id += 1
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next_message(deadline, method)
            if reply.get("id") != ident:
                if reply.get("method") in ("Page.loadEventFired", "Runtime.executionContextCreated"):  # awaited later
                    self.events.append(reply)
                continue
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error'].get('message')}")
            return reply.get("result", {})

    def _event(self, method, session, timeout):
        """The next event `method` of `session`, also one that came while a reply was awaited."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    del self.events[index]
                    return event
            self.events = [event for event in self.events if event.get("sessionId") != session]
            self.events.append(self._next_message(deadline, method))

    def open(self, url, init=None):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.sessions[target] = session
        self.call("Page.enable", session=session)
        if init:
            self.call("Page.addScriptToEvaluateOnNewDocument", {"source": init}, session=session)
        self.call("Runtime.enable", session=session)
        self.call("Page.navigate", {"url": url}, session=session)
        self._event("Page.loadEventFired", session, timeout=30)
        return target

    def evaluate(self, target, expression, timeout=30):
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True},
                           session=self.sessions[target], timeout=timeout + 5)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def wait(self, target, expression, timeout):
        """The value of `expression` once it is truthy in the page: checked now, after every change
        of the document (a MutationObserver) and every 100 ms (for state outside the document),
        failing after `timeout` seconds."""
        failure = json.dumps(f"not true within {timeout} s: {expression}")
        script = (
            "new Promise((resolve, reject) => {"
            f"  const check = () => {{ try {{ return ({expression}); }} catch (error) {{ return undefined; }} }};"
            "  const now = check();"
            "  if (now) return resolve(now);"
            "  const done = (value) => { observer.disconnect(); clearTimeout(timer); clearInterval(poll); resolve(value); };"
            "  const observer = new MutationObserver(() => { const value = check(); if (value) done(value); });"
            "  const poll = setInterval(() => { const value = check(); if (value) done(value); }, 100);"
            f"  const timer = setTimeout(() => {{ observer.disconnect(); clearInterval(poll); reject(new Error({failure})); }}, {int(timeout * 1000)});"
            "  observer.observe(document.documentElement, { subtree: true, childList: true, attributes: true, characterData: true });"
            "})")
        session = self.sessions[target]
        deadline = time.monotonic() + timeout
        while True:
            # Contexts created before this attempt are not the one a navigation below brings.
            self.events = [event for event in self.events
                           if (event.get("sessionId"), event.get("method")) != (session, "Runtime.executionContextCreated")]
            try:
                return self.evaluate(target, script, timeout=max(1, deadline - time.monotonic()))
            except RuntimeError as error:
                # A navigation (Back, a link) ends the page the check ran in: check the next one
                # once it has its context.
                if "navigated or closed" not in str(error) or time.monotonic() >= deadline:
                    raise
                self._event("Runtime.executionContextCreated", session, timeout=max(0.1, deadline - time.monotonic()))

    def screenshot(self, target, path):
        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"}, session=self.sessions[target])["data"])
        with open(path, "wb") as file:
            file.write(data)
        return len(data)

    def close_target(self, target):
        self.call("Target.closeTarget", {"targetId": target})
        self.sessions.pop(target, None)

    def quit(self):
        try:
            self.socket.close()
        except Exception:
            pass
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        # Its helper processes (zygote, renderers) can outlive it and write into the profile after
        # it is removed: end them all, then remove it until it stays gone (bounded).
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for _ in range(40):
            shutil.rmtree(self.profile, ignore_errors=True)
            if not os.path.exists(self.profile):
                break
            time.sleep(0.05)


def main():
    try:
        browser = Browser()
    except Exception as error:
        answer({"skip": f"Chromium cannot start: {error}"})
        return
    answer({"ready": True, "browser": browser.version})
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            op = command.get("op")
            try:
                if op == "open":
                    answer({"ok": True, "target": browser.open(command["url"], command.get("init"))})
                elif op == "eval":
                    answer({"ok": True, "value": browser.evaluate(command["target"], command["expression"])})
                elif op == "wait":
                    answer({"ok": True, "value": browser.wait(command["target"], command["expression"], command.get("timeout", 15))})
                elif op == "screenshot":
                    answer({"ok": True, "bytes": browser.screenshot(command["target"], command["path"])})
                elif op == "cdp":
                    answer({"ok": True, "result": browser.call(command["method"], command.get("params") or {},
                                                               session=browser.sessions[command["target"]])})
                elif op == "close":
                    browser.close_target(command["target"])
                    answer({"ok": True})
                else:
                    answer({"ok": False, "error": f"unknown op {op!r}"})
            except Exception as error:
                answer({"ok": False, "error": str(error)})
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
