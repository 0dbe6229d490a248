#!/usr/bin/python3
"""A counting HTTP backend for the integration tests.

It stands in for the slow application behind Apache (reached through
mod_proxy_http): it counts how often each path is hit, so a test can tell
whether a response came from the cache or from here, and it can be made
slow, streamed, or told which status, headers and cookies to answer with.

Query parameters (any method):
  sleep_ms=N            wait N ms before answering
  chunk_at=100,400      stream the body in chunks (chunked encoding), the
                        k-th sent at that many ms after the request began
  status=N              answer with this status
  header=Name:Value     add a response header (repeatable)
  cookie=name=value     add a Set-Cookie header
  size=N                body of N bytes ('x'), else a small JSON body
  cc=...                Cache-Control value
  early=Name:Value      send a 103 Early Hints with this header first
                        (repeatable)
  static=1              the same bytes for the same request every time: no
                        X-Backend-Count, a body naming the path and query
                        (for comparing two servers' answers byte by byte)
  hold=NAME             do not answer until POST /__release?name=NAME (at
                        most 30 s): a response held for as long as a test
                        needs, with no sleep to guess
Every response carries X-Backend-Count (hits of this path so far) and a
body with a fresh nonce, so two identical bodies mean one backend answer.
The JSON body also says what the backend saw, the way applications read
it: every request header, the raw request path, the cookies as Python's
SimpleCookie (Django's parser) reads them, the user a front end passed
in X-Remote-User, and a link built from X-Forwarded-Host or Host.

Control endpoints: GET /__hits?path=/p (JSON {"hits": n}; without path:
all counts), GET /__held?name=N (requests held under that name now),
POST /__release?name=N (answer them, and any later one), POST /__reset
(counts, failures and holds), POST
/__fail?prefix=/p&status=503 (every path under /p answers that status,
an application that fails; status=0 ends it).
"""
import argparse
import json
import os
import sys
import threading
import time
import uuid
from http.cookies import SimpleCookie, CookieError
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

LOCK = threading.Lock()
HITS = {}
FAILING = {}        # path prefix -> status
HOLDS = {}          # hold name -> threading.Event (set: released)
HELD = {}           # hold name -> requests waiting on it now


def hold_event(name):
    with LOCK:
        return HOLDS.setdefault(name, threading.Event())


def cookie_names(header):
    """The cookie names an application built on SimpleCookie sees."""
    if not header:
        return []
    c = SimpleCookie()
    try:
        c.load(header)
    except CookieError:
        return ["<unparsable>"]
    return sorted(c.keys())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CountingBackend/1"

    def log_message(self, fmt, *args):  # keep test output clean
        pass

    def _body_in(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _control(self, url, qs):
        if url.path == "/__hits":
            with LOCK:
                if "path" in qs:
                    data = {"hits": HITS.get(qs["path"][0], 0)}
                else:
                    data = dict(HITS)
        elif url.path == "/__reset":
            with LOCK:
                HITS.clear()
                FAILING.clear()
                for ev in HOLDS.values():
                    ev.set()
                HOLDS.clear()
            data = {"reset": True}
        elif url.path == "/__held":
            with LOCK:
                data = {"held": HELD.get(qs["name"][0], 0)}
        elif url.path == "/__release":
            hold_event(qs["name"][0]).set()
            data = {"released": qs["name"][0]}
        elif url.path == "/__fail":
            prefix = qs["prefix"][0]
            status = int(qs.get("status", ["503"])[0])
            with LOCK:
                if status:
                    FAILING[prefix] = status
                else:
                    FAILING.pop(prefix, None)
            data = {"failing": dict(FAILING)}
        else:
            return False
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return True

    def _handle(self):
        start = time.monotonic()
        url = urlsplit(self.path)
        qs = parse_qs(url.query, keep_blank_values=True)
        req_body = self._body_in()
        if url.path.startswith("/__") and self._control(url, qs):
            return
        with LOCK:
            HITS[url.path] = HITS.get(url.path, 0) + 1
            count = HITS[url.path]

        if "early" in qs:
            lines = ["HTTP/1.1 103 Early Hints"]
            for h in qs["early"]:
                name, _, value = h.partition(":")
                lines.append("%s: %s" % (name.strip(), value.strip()))
            self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            self.wfile.flush()

        if "hold" in qs:
            name = qs["hold"][0]
            ev = hold_event(name)
            with LOCK:
                HELD[name] = HELD.get(name, 0) + 1
            ev.wait(30)
            with LOCK:
                HELD[name] -= 1

        sleep_ms = int(qs.get("sleep_ms", ["0"])[0])
        if sleep_ms > 0:
            time.sleep(sleep_ms / 1000.0)

        status = int(qs.get("status", ["200"])[0])
        with LOCK:
            for prefix, failing in FAILING.items():
                if url.path.startswith(prefix):
                    status = failing
        headers = []
        for h in qs.get("header", []):
            name, _, value = h.partition(":")
            headers.append((name.strip(), value.strip()))
        for c in qs.get("cookie", []):
            headers.append(("Set-Cookie", c + "; Path=/"))
        if "cc" in qs:
            headers.append(("Cache-Control", qs["cc"][0]))

        if "size" in qs:
            body = b"x" * int(qs["size"][0])
            ctype = "text/plain"
        elif "static" in qs:
            body = ("page %s?%s\n" % (url.path, url.query)).encode()
            ctype = "text/plain"
        else:
            body = json.dumps({
                "path": url.path,
                "query": url.query,
                "method": self.command,
                "count": count,
                "nonce": uuid.uuid4().hex,
                "host": self.headers.get("Host"),
                "x_forwarded_host": self.headers.get("X-Forwarded-Host"),
                "cookie": self.headers.get("Cookie"),
                "accept_encoding": self.headers.get("Accept-Encoding"),
                "authorization": self.headers.get("Authorization"),
                "body": req_body.decode("latin-1"),
                "raw_path": self.path,
                "headers": {k: v for k, v in self.headers.items()},
                "cookies": cookie_names(self.headers.get("Cookie")),
                "user": self.headers.get("X-Remote-User"),
                "link": "http://%s/next" % (
                    (self.headers.get("X-Forwarded-Host") or "").split(",")[0].strip()
                    or self.headers.get("Host")),
            }).encode() + b"\n"
            ctype = "application/json"

        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if "static" not in qs:
            self.send_header("X-Backend-Count", str(count))
        for name, value in headers:
            self.send_header(name, value)

        if "chunk_at" in qs:
            times = [int(t) for t in qs["chunk_at"][0].split(",") if t]
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            n = len(times)
            for i, at in enumerate(times):
                delay = start + at / 1000.0 - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                part = body[i * len(body) // n:(i + 1) * len(body) // n] or b" "
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return

        self.send_header("Content-Length", str(len(body)))
        if self.command == "HEAD":
            self.end_headers()
            return
        # headers and body in one write, so that a proxy reads them together
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(body)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle
    do_OPTIONS = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()
    srv = Server((args.host, args.port), Handler)
    sys.stdout.write("ready %d\n" % os.getpid())
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
