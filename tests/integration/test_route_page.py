"""A page per route and honest cache labels, against a real apache2, a
real memcached and the counting backend.

The stampede tests hold the filling request at the backend (?hold=) until
every other request is known to be queued on the fill lock: memcached's
cmd_set counts each storage command, a failed `add` of the lock included,
and nothing else stores while the filler is held, so N more of them mean
N requests that found the lock taken and are waiting. Only then is the
filler let go, so the figures can be asserted exactly, with no sleep to
guess and no wall time asserted.
"""
import concurrent.futures
import time
import uuid

import pytest
import requests

from conftest import MPMS, parse_access_line
from test_cache import site as cache_site

def site(apache_factory, memcached, mpm, workers=0, slow="5ms"):
    """test_cache's site (the cache On under /app/), every request that
    waited a poll or more in the slow log."""
    return cache_site(apache_factory, memcached, mpm, workers=workers,
                      server_extra="ReqPerfSlowThreshold " + slow)


def until(what, cond, seconds=30):
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.02)


def route_json(a, route, method="GET"):
    r = requests.get(a.url("/reqperf-status"),
                     params={"format": "json", "route": route,
                             "method": method})
    assert r.status_code == 200, r.text
    return r.json()


def stampede(a, memcached, backend, path, n):
    """One request fills path (held at the backend) while n more queue on
    its lock; then the fill is let go.  The X-Cache of each, filler
    first."""
    hold = uuid.uuid4().hex
    url = a.url("%s%shold=%s" % (path, "&" if "?" in path else "?", hold))
    with concurrent.futures.ThreadPoolExecutor(n + 1) as ex:
        filler = ex.submit(requests.get, url, timeout=60)
        until("the filler at the backend", lambda: backend.held(hold) == 1)
        base = int(memcached.stats()["cmd_set"])
        waiters = [ex.submit(requests.get, url, timeout=60)
                   for _ in range(n)]
        until("%d requests queued on the lock" % n,
              lambda: int(memcached.stats()["cmd_set"]) - base >= n)
        # no more than n tried the lock: each waiter tried it once
        assert int(memcached.stats()["cmd_set"]) - base == n
        assert backend.held(hold) == 1
        backend.release(hold)
        out = [filler.result()] + [w.result() for w in waiters]
    assert all(r.status_code == 200 for r in out)
    return [r.headers.get("X-Cache") for r in out]


@pytest.mark.parametrize("mpm", MPMS)
def test_stampede_lock_waits_are_exact(apache_factory, memcached, backend,
                                       mpm):
    n = 12
    a = site(apache_factory, memcached, mpm, workers=n + 6)
    labels = stampede(a, memcached, backend, "/app/stampede", n)
    assert labels == ["MISS"] + ["HIT wait"] * n
    assert backend.hits("/stampede") == 1
    time.sleep(0.3)                    # the log hooks of the last ones
    full = requests.get(a.url("/reqperf-status?format=json")).json()
    assert full["cache"]["lock_waits"] == n
    v = route_json(a, "/app/stampede")
    c = v["cache"]
    assert (c["hit"], c["miss"], c["lock_waits"]) == (n, 1, n)
    assert c["x_cache"] == {"MISS": 1, "HIT wait": n}
    assert c["lock_wait_us"] > 0
    assert c["lock_wait_avg_us"] == c["lock_wait_us"] // n
    # the overview's route entry says the same
    [o] = [r for r in full["routes"] if r["route"] == "/app/stampede"]
    assert o["cache"] == c
    # each waiter's slow-log entry says it waited, and for how long; the
    # filler's says it did not
    slow = v["slow_requests"]
    assert v["slow"] == len(slow) == n + 1
    waited = [e for e in slow if e["x_cache"] == "HIT wait"]
    assert len(waited) == n and all(e["lock_wait_us"] > 0 for e in waited)
    assert sum(e["lock_wait_us"] for e in waited) == c["lock_wait_us"]
    assert all(e["cache"] == "hit" for e in waited)
    [f] = [e for e in slow if e["x_cache"] == "MISS"]
    assert f["lock_wait_us"] == 0
    # and so does the reqperf-cache note in the access log
    notes = [parse_access_line(l)["cache"] for l in a.access_lines()
             if "/app/stampede" in l]
    assert sorted(notes) == sorted(["MISS"] + ["HIT wait"] * n)


def test_waiters_whose_fill_is_not_stored_say_miss_wait(
        apache_factory, memcached, backend):
    """The filler's answer cannot be stored (no-store): the queued ones go
    to the backend themselves, and say they waited."""
    n = 3
    a = site(apache_factory, memcached, "event")
    labels = stampede(a, memcached, backend, "/app/nostore?cc=no-store", n)
    assert labels == ["MISS"] + ["MISS wait"] * n
    assert backend.hits("/nostore") == n + 1
    time.sleep(0.3)
    c = route_json(a, "/app/nostore")["cache"]
    assert c["x_cache"] == {"MISS": 1, "MISS wait": n}
    assert (c["miss"], c["lock_waits"]) == (n + 1, n)


def test_route_page_links_errors_and_escaping(apache_factory, memcached,
                                              backend):
    a = site(apache_factory, memcached, "event")
    hostile = "/app/<b>x</b>&y=\"1\""
    for _ in range(2):
        requests.get(a.url("/app/doc/7"))
    requests.get(a.url(hostile))
    requests.post(a.url("/app/doc/7"))
    time.sleep(0.3)
    overview = requests.get(a.url("/reqperf-status")).text
    # every route name links to its page, the route and method encoded
    assert ('href="/reqperf-status?route=/app/doc/%7Bid%7D&amp;method=GET"'
            in overview)
    assert ('href="/reqperf-status?route=/app/doc/%7Bid%7D&amp;method=POST"'
            in overview)

    page = requests.get(a.url("/reqperf-status?route=/app/doc/%7Bid%7D"
                              "&method=GET"))
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in page.headers
    assert "<script" not in page.text and "src=" not in page.text
    assert '<svg' in page.text and 'data-mark="p99"' in page.text
    v = route_json(a, "/app/doc/{id}")
    assert (v["route"], v["method"], v["count"]) == ("/app/doc/{id}", "GET",
                                                     2)
    assert v["cache"]["x_cache"] == {"MISS": 1, "HIT local": 1}
    # without a method: the route's busiest, the first of its methods in
    # the overview's order (by time spent; which one that is depends on
    # how long the POST took against a miss and a hit)
    busiest = [x["method"] for x in requests.get(
        a.url("/reqperf-status?format=json")).json()["routes"]
        if x["route"] == "/app/doc/{id}"]
    assert sorted(busiest) == ["GET", "POST"]
    r = requests.get(a.url("/reqperf-status"),
                     params={"format": "json", "route": "/app/doc/{id}"})
    assert r.json()["method"] == busiest[0]

    # a route never seen: 404, saying which, escaped
    r = requests.get(a.url("/reqperf-status"),
                     params={"route": "/no/<script>x</script>",
                             "method": "GET"})
    assert r.status_code == 404
    # (a break may follow each '/')
    assert "&lt;script&gt;x&lt;/<wbr>script&gt;" in r.text
    assert "<script>" not in r.text
    assert "No such route" in r.text
    r = requests.get(a.url("/reqperf-status"),
                     params={"route": "/app/doc/{id}", "method": "PUT",
                             "format": "json"})
    assert r.status_code == 404
    assert r.json()["route"] == "/app/doc/{id}" and "error" in r.json()
    # a route page without a route, or in a format that has none: 400
    assert requests.get(a.url("/reqperf-status?method=GET")).status_code == 400
    assert requests.get(a.url("/reqperf-status?route=/x&format=prometheus")
                        ).status_code == 400

    # a hostile route name stays text on its page and in its link
    [h] = [x for x in requests.get(a.url("/reqperf-status?format=json")
                                   ).json()["routes"]
           if x["route"].startswith("/app/<b>")]
    page = requests.get(a.url("/reqperf-status"),
                        params={"route": h["route"], "method": "GET"}).text
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/<wbr>b&gt;" in page
    assert "<b>x</b>" not in overview
