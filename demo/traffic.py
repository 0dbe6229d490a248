#!/usr/bin/python3
"""A short, bounded burst of traffic against the demo's Apache.

    /usr/bin/python3 demo/traffic.py http://127.0.0.1:PORT [--requests N]
                                     [--seconds S] [--threads T]

Users browse the billing application concurrently (keep-alive
connections, one per thread): the dashboard, invoice lists with filters
(some with utm_* campaign parameters, some with an analytics cookie),
invoice and customer pages, the slow monthly report, a few 404s; three
users sign in and look at their private account page.  Half-way, two
invoices are paid (POST), which purges every cached page that showed them.

At most N requests (default 400) and S seconds (default 20) in all; then a
summary by cache result.  Standard library only.  Exits 1 only if the
application could not be reached or answered with a server error.
"""
import argparse
import collections
import http.client
import queue
import random
import re
import sys
import threading
import time
from urllib.parse import urlsplit, urlencode

FILTERS = [
    {"status": "unpaid"},
    {"status": "unpaid", "q": "Falcon"},
    {"status": "paid", "q": "audit"},
    {"q": "urgent"},
    {"status": "unpaid", "q": "Hopper"},
    {},
]
INVOICE_IDS = list(range(1, 26)) + [101, 202, 303, 404, 505]
CUSTOMER_IDS = [1, 2, 3, 7, 42, 99, 123, 250, 404, 500]
USERS = ["alice", "bob", "carol"]
GA = "_ga=GA1.1.1234567890.1764000000; _ga_Q1W2E3=GS1.1.1764000000.1.0"


class Client:
    """One keep-alive connection; reconnects when the server closed it."""

    def __init__(self, base, timeout):
        u = urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, headers=None, body=None):
        headers = dict(headers or {})
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, r.headers, data
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def x_cache(headers):
    return (headers.get("X-Cache") or "-").split(" ")[0]


def list_url(f, rng):
    params = dict(f)
    if rng.random() < 0.25:
        # campaign parameters: ReqPerfCacheIgnoreQuery utm_* keeps one entry
        params["utm_source"] = rng.choice(["newsletter", "partner", "ads"])
        params["utm_campaign"] = "spring"
    return "/invoices" + ("?" + urlencode(params) if params else "")


def make_jobs(n, rng, sessions):
    """(method, path, headers, body) tuples, in a mix like real browsing."""
    jobs = []
    for _ in range(n):
        x = rng.random()
        headers = {}
        if rng.random() < 0.3:
            headers["Cookie"] = GA     # analytics only: still cacheable
        if x < 0.14:
            path = "/"
        elif x < 0.40:
            path = list_url(rng.choice(FILTERS), rng)
        elif x < 0.66:
            path = "/invoices/%d" % rng.choice(INVOICE_IDS)
        elif x < 0.78:
            path = "/customers/%d" % rng.choice(CUSTOMER_IDS)
        elif x < 0.83:
            path = "/reports/monthly"
        elif x < 0.95 and sessions:
            # a signed-in user's own page, with the session cookie (and
            # sometimes the analytics cookie too): never from the cache
            user = rng.choice(sorted(sessions))
            cookie = "sessionid=" + sessions[user]
            headers["Cookie"] = (cookie + "; " + GA) if rng.random() < 0.5 \
                else cookie
            path = "/account"
        elif x < 0.985:
            path = "/invoices/%d" % rng.choice([999999, 888888])   # 404
        else:
            # a reload with Cache-Control: no-cache refreshes the entry
            headers["Cache-Control"] = "no-cache"
            path = "/"
        jobs.append(("HEAD" if rng.random() < 0.02 else "GET", path,
                     headers, None))
    return jobs


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_cache = collections.Counter()
        self.by_status = collections.Counter()
        self.by_route = collections.defaultdict(collections.Counter)
        self.errors = []
        self.n = 0

    def add(self, method, path, status, headers):
        word = x_cache(headers)
        route = re.sub(r"/[0-9]+", "/{id}", path.split("?")[0])
        with self.lock:
            self.n += 1
            self.by_cache[word] += 1
            self.by_status[status] += 1
            self.by_route[route][word] += 1
            if status >= 500:
                self.errors.append("%s %s -> %d" % (method, path, status))

    def fail(self, method, path, err):
        with self.lock:
            self.errors.append("%s %s -> %s" % (method, path, err))


def burst(base, jobs, threads, deadline, stats, timeout):
    q = queue.Queue()
    for j in jobs:
        q.put(j)

    def worker():
        c = Client(base, timeout)
        while time.monotonic() < deadline:
            try:
                method, path, headers, body = q.get_nowait()
            except queue.Empty:
                break
            try:
                status, h, _ = c.request(method, path, headers, body)
                stats.add(method, path, status, h)
            except Exception as e:  # noqa: BLE001 -- report and go on
                stats.fail(method, path, e)
        c.close()

    ts = [threading.Thread(target=worker, daemon=True)
          for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(max(0.1, deadline - time.monotonic() + timeout))


def login(c, user, stats):
    status, h, _ = c.request("POST", "/login", body=urlencode({"user": user}))
    stats.add("POST", "/login", status, h)
    m = re.match(r"sessionid=([^;]+)", h.get("Set-Cookie", ""))
    if status != 303 or not m:
        raise RuntimeError("login as %s: %d, no session cookie" % (user,
                                                                   status))
    return m.group(1)


def invoice_state(body):
    m = re.search(rb'<h1>Invoice #\d+ <span class="(paid|unpaid)">', body)
    return m.group(1).decode() if m else "?"


def pay_story(c, invoice_id, stats, say):
    """View, pay, view again: the purge makes the next view fresh."""
    path = "/invoices/%d" % invoice_id
    seen = []
    for _ in range(2):
        s, h, b = c.request("GET", path)
        stats.add("GET", path, s, h)
        seen.append("%s (%s)" % (invoice_state(b), x_cache(h)))
    s, h, _ = c.request("POST", path + "/pay")
    stats.add("POST", path + "/pay", s, h)
    after = []
    for _ in range(2):
        s2, h2, b2 = c.request("GET", path)
        stats.add("GET", path, s2, h2)
        after.append("%s (%s)" % (invoice_state(b2), x_cache(h2)))
    say("  pay %s: before %s; POST %s/pay -> %d %s; after %s"
        % (path, ", ".join(seen), path, s, h.get("Location", ""),
           ", ".join(after)))


def story(c, sessions, stats, say):
    s, h, body = c.request("GET", "/invoices?status=unpaid")
    stats.add("GET", "/invoices?status=unpaid", s, h)
    unpaid = [int(i) for i in re.findall(rb'href="/invoices/(\d+)"',
                                         body)][:2]
    for invoice_id in unpaid:
        pay_story(c, invoice_id, stats, say)
    # a private page stays private: each user sees their own name, and
    # never through the cache
    for user in USERS[:2]:
        s, h, body = c.request("GET", "/account",
                               {"Cookie": "sessionid=%s; %s"
                                % (sessions[user], GA)})
        stats.add("GET", "/account", s, h)
        who = re.search(rb"<h1>Hello, ([^<]*)</h1>", body)
        who = who.group(1).decode() if who else "?"
        say("  /account as %s: shows %s, X-Cache %s, Cache-Control %s"
            % (user, who, h.get("X-Cache", "-"), h.get("Cache-Control", "-")))
        if who != user or x_cache(h) in ("HIT", "STALE"):
            stats.fail("GET", "/account", "PRIVACY: %s saw %r (X-Cache %s)"
                       % (user, who, h.get("X-Cache")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base", help="http://127.0.0.1:PORT")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    def say(msg):
        print(msg, flush=True)

    started = time.monotonic()
    deadline = started + args.seconds
    timeout = 15.0
    rng = random.Random(args.seed)
    stats = Stats()
    c = Client(args.base, timeout)
    base = args.base.rstrip("/")

    try:
        sessions = {u: login(c, u, stats) for u in USERS}
    except Exception as e:  # noqa: BLE001
        say("traffic.py: cannot use the application at %s: %s" % (base, e))
        return 1
    half = max(0, args.requests - 2 * len(USERS) - 12) // 2
    say("traffic: %d users browsing with %d threads (at most %d requests, "
        "%.0fs)" % (len(USERS), args.threads, args.requests, args.seconds))
    burst(base, make_jobs(half, rng, sessions), args.threads, deadline,
          stats, timeout)

    # half-way: two invoices are paid; the application's X-ReqPerf-Purge
    # drops every page that showed them (and the lists and the report).
    # A dozen requests: done even when the burst ran out of time.
    try:
        story(c, sessions, stats, say)
    except Exception as e:  # noqa: BLE001
        stats.fail("-", "(pay and account story)", e)
    burst(base, make_jobs(args.requests - stats.n, rng, sessions),
          args.threads, deadline, stats, timeout)
    c.close()

    took = time.monotonic() - started
    say("traffic: %d requests in %.1fs; X-Cache: %s; status: %s"
        % (stats.n, took, ", ".join("%s %d" % kv for kv in
                                    sorted(stats.by_cache.items())),
           ", ".join("%d: %d" % kv for kv in sorted(stats.by_status.items()))))
    for route in sorted(stats.by_route):
        say("  %-22s %s" % (route, ", ".join(
            "%s %d" % kv for kv in sorted(stats.by_route[route].items()))))
    if stats.errors:
        say("traffic: %d failed requests, e.g. %s"
            % (len(stats.errors), "; ".join(stats.errors[:3])))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
