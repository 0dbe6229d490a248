"""Seventh review: today's commits (the per-run memcached budget, a
waiter's stale-if-error copy, pages named by a queued purge).  Each test
fails on the code it was written against (c5976e1).  Counts and states
only; the sleeps order events, nothing is timed."""
import json
import threading
import time

import requests

from test_safety import xc, hit, STATUS
from test_faults import SlowProxy


def _status(a):
    return requests.get(a.url("/reqperf-status?format=json"), timeout=10).json()


def _nonce(r):
    try:
        return json.loads(r.text)["nonce"]
    except ValueError:
        return r.text


def _wait_held(backend, name, n=1):
    for _ in range(200):
        if backend.held(name) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the backend never held %s" % name)


def _get_into(results, key, a, path):
    def run():
        r = requests.get(a.url(path), timeout=40)
        results[key] = (r.status_code, xc(r), _nonce(r))
    t = threading.Thread(target=run)
    t.start()
    return t


# ------------------------------------------- 1. a queued purge made while a request waits

def test_waiter_never_serves_a_page_whose_queued_purge_is_made_meanwhile(
        apache_factory, memcached, backend):
    # A purge of /app/x waits in the queue (memcached was away).  Two
    # requests for /app/x find it queued: the page is not served (5), one
    # fills, the other waits on its lock.  While it waits, another request
    # makes the queued purge: the filler's store is refused (the URL's
    # generation moved during its fetch), its lock goes, and the waiter
    # finds the old entry under the generation it read before the purge
    # was made; rp_pending_find no longer names it (freed: "made, so it
    # matches nothing"), so the purged page is served as HIT wait.
    a = apache_factory(mpm="event", conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 200ms
ReqPerfCacheLocal 0
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
{status}
""".format(mc=memcached.address, status=STATUS))
    page = "/app/x?hold=hx"
    backend.release("hx")
    first = requests.get(a.url(page))
    assert xc(first) == "MISS"
    again = requests.get(a.url(page))
    assert hit(again) and _nonce(again) == _nonce(first)
    requests.post(backend.url("/__reset"), timeout=5)   # hx holds again
    memcached.pause()
    try:
        # 16 other purges first: each lookup makes 8 queued purges before
        # its own, so the page's stays queued through two lookups
        for i in range(16):
            requests.post(a.url("/reqperf-purge"), data={"url": "/app/d/%d" % i})
        p = requests.post(a.url("/reqperf-purge"), data={"url": page})
        assert p.status_code == 503, p.text
    finally:
        memcached.resume()
    time.sleep(2.5)                     # the breaker probes again
    results = {}
    filler = _get_into(results, "filler", a, page)
    _wait_held(backend, "hx")
    waiter = _get_into(results, "waiter", a, page)
    time.sleep(0.6)                     # the waiter polls the filler's lock
    # any purge request makes what is left of the queue: the page's purge
    made = requests.post(a.url("/reqperf-purge"), data={"tag": "unrelated"})
    assert made.status_code == 200, made.text
    assert _status(a)["cache"]["purges"]["late"] == 17
    backend.release("hx")
    filler.join(40)
    waiter.join(40)
    assert results["filler"][2] != _nonce(first), results
    # the waiter must not get the page whose purge was asked for first
    assert results["waiter"][2] != _nonce(first), results


# ------------------------------------------- 2. a waiter's stale copy, after a purge

SIE = """
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
ReqPerfCacheLocal 0
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
    ReqPerfCacheStaleIfError 300
</Location>
{status}
"""


def test_waiter_never_stands_in_a_purged_copy_for_a_healthy_fill(
        apache_factory, memcached, backend):
    # An expired page kept for stale-if-error.  A fills it (the backend is
    # slow, not failing), B waits on A's lock holding the old copy as its
    # fallback.  The URL is purged meanwhile (answered 200: purged).  A's
    # answer comes (200, a new page), its store is refused ("url purged
    # during fetch") and its lock goes: B, seeing the lock gone without a
    # page, serves the purged copy as "STALE timeout" (rp_cache.c
    # wait_for_fill: has_fallback -> break), though nothing failed.
    a = apache_factory(mpm="event", conf=SIE.format(mc=memcached.address,
                                                     status=STATUS))
    page = "/app/y?hold=hy&cc=max-age%3D1"
    backend.release("hy")
    first = requests.get(a.url(page))
    assert xc(first) == "MISS"
    time.sleep(2.2)                     # expired; stale-if-error keeps it
    requests.post(backend.url("/__reset"), timeout=5)
    results = {}
    filler = _get_into(results, "filler", a, page)
    _wait_held(backend, "hy")
    waiter = _get_into(results, "waiter", a, page)
    time.sleep(0.6)                     # the waiter polls the filler's lock
    p = requests.post(a.url("/reqperf-purge"),
                      data={"url": "/app/y?hold=hy&cc=max-age%3D1"})
    assert p.status_code == 200 and json.loads(p.text)["purged"]["url"], p.text
    backend.release("hy")
    filler.join(40)
    waiter.join(40)
    assert results["filler"][1] == "MISS", results
    assert results["waiter"][0] == 200, results
    # purged before the waiter was answered, and the backend answers well
    assert results["waiter"][2] != _nonce(first), results
    assert not results["waiter"][1].startswith("STALE"), results


def test_stale_if_error_copy_purged_during_the_fetch_is_not_served(
        apache_factory, memcached, backend):
    # (pre-existing, the same gap on the filler's side) the fetch fails
    # after the URL was purged: the copy the lookup kept stands in
    # (mod_reqperf_cache_store.c serve_fallback) without the generation
    # being read again, so the purged page is served as "STALE error"
    a = apache_factory(mpm="event", conf=SIE.format(mc=memcached.address,
                                                     status=STATUS))
    page = "/app/z?hold=hz&cc=max-age%3D1"
    backend.release("hz")
    first = requests.get(a.url(page))
    assert xc(first) == "MISS"
    time.sleep(2.2)
    requests.post(backend.url("/__reset"), timeout=5)
    results = {}
    filler = _get_into(results, "filler", a, page)
    _wait_held(backend, "hz")
    p = requests.post(a.url("/reqperf-purge"),
                      data={"url": "/app/z?hold=hz&cc=max-age%3D1"})
    assert p.status_code == 200, p.text
    backend.fail("/z", 503)
    try:
        backend.release("hz")
        filler.join(40)
    finally:
        backend.fail("/z", 0)
    assert results["filler"][2] != _nonce(first), results


# ------------------------------------------- 3. the budget and a memcached well within its timeout

BUDGET = """
ReqPerfCacheServers 127.0.0.1:{port}
ReqPerfCacheTimeout 100ms
ReqPerfCacheLocal 0
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
{status}
"""


def test_memcached_at_a_third_of_the_timeout_still_stores_varied_pages(
        apache_factory, memcached, backend):
    # every memcached answer 30 ms late, ReqPerfCacheTimeout 100ms: no call
    # comes near the timeout.  Storing a varied page takes five calls in a
    # row (the URL's generation, the index lock, the index read, the index
    # written, the page); the fifth starts 120 ms into the store's run and
    # is refused: the index is written, the page never is, and every
    # request goes to the backend for good
    proxy = SlowProxy(memcached.port, 0.03)
    try:
        a = apache_factory(mpm="event", conf=BUDGET.format(port=proxy.port,
                                                           status=STATUS))
        page = "/app/vary/p?header=Vary:Accept-Language"
        seen = [xc(requests.get(a.url(page), timeout=30)) for _ in range(5)]
        assert backend.hits("/vary/p") <= 2, (seen, backend.hits("/vary/p"))
        assert any(s.startswith("HIT") for s in seen), seen
    finally:
        proxy.stop()


def test_queued_tag_purge_is_made_by_lookups_within_the_timeout(
        apache_factory, memcached, backend):
    # A tag purge queued while memcached did not answer.  memcached then
    # answers every call in 35 ms, ReqPerfCacheTimeout 100ms.  A tag purge
    # is five calls (epoch, its record, the tag, epoch, record): a
    # lookup's flush runs under the lookup's budget and is cut at its
    # fourth call, every time (and the request behind it is BYPASS down):
    # the purge stays queued, its tag's pages uncached, the tag epoch and
    # the tag's generation moved again on every retry
    proxy = SlowProxy(memcached.port, 0.0)
    try:
        a = apache_factory(mpm="event", conf=BUDGET.format(port=proxy.port,
                                                           status=STATUS))
        tagged = "/app/tp/p?header=X-ReqPerf-Tags:tg"
        assert xc(requests.get(a.url(tagged))) == "MISS"
        assert hit(requests.get(a.url(tagged)))
        proxy.delay = 0.5               # past the timeout: the purge fails
        p = requests.post(a.url("/reqperf-purge"), data={"tag": "tg"})
        assert p.status_code == 503, p.text
        proxy.delay = 0.035
        time.sleep(2.5)                 # breaker, and the queue's backoff
        for i in range(8):
            requests.get(a.url("/app/other/%d" % i), timeout=30)
            time.sleep(0.4)             # spans the 1 s backoff of a retry
        d = _status(a)
        assert d["cache"]["purges"]["late"] == 1, d["cache"]["purges"]
    finally:
        proxy.stop()
