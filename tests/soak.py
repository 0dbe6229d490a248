#!/usr/bin/python3
"""make soak: the module under AddressSanitizer, a real apache2 (event MPM
by default), two memcached and the counting backend, under a mixed load
for N minutes: hits, misses, HEAD and conditional requests, purges by URL
and tag, the status page in every format, requests meant to break things
(bad Host, fat GET, broken cookies and Cache-Control, odd paths, garbage
on the wire), the application failing now and then, and one memcached
restarted every minute.  Fails on any crash (AH00052), sanitizer report
or answer that is not HTTP; prints what it did.

    make soak SOAK_MINUTES=10 [SOAK_MPM=prefork]
"""
import argparse
import os
import random
import socket
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "integration"))
import harness  # noqa: E402

BAD_REQUESTS = [
    b"GET /app/x HTTP/1.1\r\nHost: EVIL.example.\r\n\r\n",
    b"GET /app/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde",
    b"GET /app/x HTTP/1.1\r\nHost: a\r\nCookie: _ga=1 s=\"x\r\n\r\n",
    b"GET /app/x HTTP/1.1\r\nHost: a\r\nCache-Control: \"no-cache\r\n\r\n",
    b"GET /app/%2e%2e/%2e%2e/x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /app/x?" + b"a=1&" * 2000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /app/x HTTP/1.1\r\nHost: a\r\nX_Forwarded_Host: e\r\n"
    b"Connection: X-A, close\r\nX-A: 1\r\n\r\n",
    b"GET /app/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\n",
    b"\x00\x01\x02 garbage \xff\r\n\r\n",
    b"GET http://a:99999/x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /reqperf-purge HTTP/1.1\r\nHost: a\r\nContent-Length: 20\r\n\r\n"
    b"url=%ZZ&tag=\x01\x02&x",
    b"GET /app/x HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1,1-2,2-3\r\n"
    b"Cache-Control: no-cache\r\n\r\n",
]


def raw(port, data):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            out = b""
            while len(out) < 1 << 20:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            return out
    except OSError:
        return b""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--mpm", default=os.environ.get("SOAK_MPM", "event"))
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()

    backend = harness.Backend()
    mcs = [harness.Memcached(), harness.Memcached()]
    a = harness.Apache(mpm=args.mpm, backend=backend, name="soak", conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 500ms
ReqPerfCacheLocal 4M
ReqPerfSlowThreshold 20ms
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
    ReqPerfCacheGrace 5
    ReqPerfCacheStaleIfError 600
    ReqPerfCacheIgnoreCookie _ga*
    ReqPerfCacheIgnoreQuery utm_*
</Location>
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
<Location /reqperf-purge>
    SetHandler reqperf-purge
</Location>
""".format(mc=" ".join(m.address for m in mcs)))
    a.start()
    deadline = time.monotonic() + args.minutes * 60
    counts = {}
    lock = threading.Lock()
    problems = []

    def note(what):
        with lock:
            counts[what] = counts.get(what, 0) + 1

    def worker(seed):
        rnd = random.Random(seed)
        s = requests.Session()
        while time.monotonic() < deadline:
            k = rnd.random()
            i = rnd.randrange(200)
            try:
                if k < 0.55:
                    cc = rnd.choice(["max-age=30", "max-age=1", "no-store",
                                     "max-age=0", "private"])
                    tags = "X-ReqPerf-Tags:t%d%%20g%d" % (i, i % 7)
                    r = s.get(a.url("/app/p/%d?cc=%s&header=%s&utm_x=%d"
                                    % (i, cc, tags, rnd.randrange(3))),
                              headers=rnd.choice([{}, {"Cookie": "_ga=1"},
                                                  {"Accept-Encoding": "gzip"},
                                                  {"If-None-Match": '"x"'}]),
                              timeout=30)
                    note("get %s" % r.headers.get("X-Cache", "-").split()[0])
                elif k < 0.62:
                    s.head(a.url("/app/p/%d?cc=max-age=30" % i), timeout=30)
                    note("head")
                elif k < 0.70:
                    r = s.post(a.url("/reqperf-purge"), timeout=30,
                               data=rnd.choice([{"tag": "g%d" % (i % 7)},
                                                {"url": "/app/p/%d" % i},
                                                "url=/../x", "tag="]))
                    note("purge %d" % r.status_code)
                elif k < 0.76:
                    s.post(a.url("/app/p/%d" % i), data="x=1", timeout=30)
                    note("post")
                elif k < 0.82:
                    fmt = rnd.choice(["", "?format=json", "?auto",
                                      "?format=prometheus"])
                    s.get(a.url("/reqperf-status" + fmt), timeout=30)
                    note("status")
                elif k < 0.97:
                    out = raw(a.port, rnd.choice(BAD_REQUESTS))
                    if out and not out.startswith(b"HTTP/1."):
                        with lock:
                            problems.append(out[:200])
                    note("bad")
                else:
                    s.get(a.url("/app/slow/%d?sleep_ms=300" % i), timeout=30)
                    note("slow")
            except requests.RequestException as e:
                note("error %s" % type(e).__name__)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True)
               for n in range(args.clients)]
    for t in threads:
        t.start()
    next_fault = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            time.sleep(1)
            if time.monotonic() >= next_fault:
                # the application fails for a while, one memcached restarts
                backend.fail("/p/", 503)
                mcs[1].stop()
                time.sleep(3)
                backend.fail("/p/", 0)
                mcs[1].start_again()
                note("faults")
                next_fault = time.monotonic() + 60
        for t in threads:
            t.join(60)
    finally:
        a.stop()
        for m in mcs:
            m.stop()
        backend.stop()
    for what in sorted(counts):
        print("%8d  %s" % (counts[what], what))
    try:
        a.check_clean()
    except AssertionError as e:
        print("SOAK FAILED:", e)
        return 1
    if problems:
        print("SOAK FAILED: answers that are not HTTP:", problems[:3])
        return 1
    a.cleanup()
    print("soak: %.1f min under %s, no crash, no sanitizer report"
          % (args.minutes, args.mpm))
    return 0


if __name__ == "__main__":
    sys.exit(main())
