"""Headless Chromium (Debian's) driven over the DevTools protocol on a pipe.

`--remote-debugging-pipe` makes Chromium read protocol commands from its
fd 3 and write answers and events to its fd 4, NUL-separated JSON: no
port, no websocket library, nothing beyond the standard library. Enough
of the protocol for the status page's tests and the README's screenshots:
open a page at a given viewport, evaluate an expression in it (DevTools
evaluation is not subject to the page's Content-Security-Policy, so the
page itself stays script-free), take a full-page screenshot, print it to
PDF.
"""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
# the flags that work on these machines: no sandbox as root, and nothing
# that reaches for the network (it is closed; see TRAPS.md)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--disable-extensions",
         "--remote-debugging-pipe"]


class BrowserError(Exception):
    pass


def high_fd(fd):
    """The same file on a descriptor >= 10 (the old one closed)."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class Chromium:
    def __init__(self, width=1366, height=768, timeout=60):
        self.width, self.height, self.timeout = width, height, timeout
        self.profile = tempfile.mkdtemp(prefix="reqperf-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium's ends above 9, so that moving them to 3 and 4 below
        # never closes one of them
        to_chrome_r = high_fd(to_chrome_r)
        from_chrome_w = high_fd(from_chrome_w)
        # fds 3 and 4 in Chromium, whatever numbers the pipes got here (bash:
        # dash takes one-digit fds only)
        cmd = ('exec "$0" "$@" 3<&%d 4>&%d %d<&- %d>&-'
               % (to_chrome_r, from_chrome_w, to_chrome_r, from_chrome_w))
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", cmd, CHROMIUM] + FLAGS
            + ["--user-data-dir=" + self.profile,
               "--window-size=%d,%d" % (width, height), "about:blank"],
            pass_fds=(to_chrome_r, from_chrome_w),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next_id = 0
        self._events = []
        self.session = None
        try:
            target = self.call("Target.createTarget",
                               {"url": "about:blank"})["targetId"]
            self.session = self.call("Target.attachToTarget",
                                     {"targetId": target,
                                      "flatten": True})["sessionId"]
            self.call("Page.enable")
            self.viewport(width, height)
        except Exception:
            self.close()
            raise

    # ---- the protocol
    def _send(self, msg):
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self._to_chrome, data)
            data = data[n:]

    def _read(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no answer from Chromium in %d s"
                                   % self.timeout)
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium closed the pipe (exit %s)"
                                       % self.proc.poll())
                self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method, params=None):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method,
               "params": params or {}}
        if self.session is not None:
            msg["sessionId"] = self.session
        self._send(msg)
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self._next_id:
                if "error" in m:
                    raise BrowserError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self._events.append(m)

    def wait_event(self, name):
        deadline = time.monotonic() + self.timeout
        while True:
            for i, m in enumerate(self._events):
                if m.get("method") == name:
                    return self._events.pop(i)
            self._events.append(self._read(deadline))

    # ---- what the tests use
    def viewport(self, width, height):
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": False})

    def open(self, url):
        """Load url and wait for its load event; the HTTP status."""
        self._events = []
        self.call("Network.enable")
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")
        status = None
        for m in self._events:
            if m.get("method") == "Network.responseReceived" \
                    and m["params"].get("type") == "Document":
                status = m["params"]["response"]["status"]
        self.call("Network.disable")
        return status

    def eval(self, expression):
        r = self.call("Runtime.evaluate", {"expression": expression,
                                           "returnByValue": True})
        if "exceptionDetails" in r:
            raise BrowserError("%s: %s" % (expression, r["exceptionDetails"]))
        return r["result"].get("value")

    def screenshot(self, path, max_height=None):
        """The whole page (or its top max_height pixels) at the viewport's
        width, as PNG."""
        h = self.eval("document.documentElement.scrollHeight")
        if max_height:
            h = min(h, max_height)
        w = self.eval("document.documentElement.scrollWidth")
        r = self.call("Page.captureScreenshot",
                      {"format": "png", "captureBeyondViewport": True,
                       "clip": {"x": 0, "y": 0, "width": w, "height": h,
                                "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def pdf(self):
        """The page printed (its print stylesheet), as PDF bytes."""
        r = self.call("Page.printToPDF", {"printBackground": True})
        return base64.b64decode(r["data"])

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self.session = None
                    self._send({"id": 0, "method": "Browser.close"})
                    self.proc.wait(10)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
        finally:
            for fd in (self._to_chrome, self._from_chrome):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
