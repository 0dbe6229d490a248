"""Eighth review: the commits since b5d9062 (the fail mark, a lock's
birth time, stand-ins checked against purges).  Each test fails on the
code it was written against (4850f35).  Counts and states only; the
sleeps order events, nothing is timed."""
import time

import requests

from test_safety import xc, STATUS
from test_adversary7 import _nonce, _wait_held, _get_into


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


def test_stand_in_checks_a_purge_queued_after_its_lookup(
        apache_factory, memcached, backend):
    # An expired page kept for stale-if-error.  Its refresh goes to the
    # backend while no purge waits (so mod_reqperf_cache.c leaves
    # lk.pending NULL).  Meanwhile the URL is purged while memcached is
    # away: the purge is queued (503).  The backend then fails: the stand-in
    # (stands_in -> rp_cache_fallback_holds) re-reads the URL generation
    # (not moved: the purge waits) and never looks at the queue, so the
    # page the waiting purge names is served as "STALE error"
    a = apache_factory(mpm="event", conf=SIE.replace("2s", "300ms").format(
        mc=memcached.address, status=STATUS))
    page = "/app/q8?hold=hq8&cc=max-age%3D1"
    backend.release("hq8")
    first = requests.get(a.url(page))
    assert xc(first) == "MISS"
    time.sleep(2.2)                     # expired; stale-if-error keeps it
    requests.post(backend.url("/__reset"), timeout=5)
    results = {}
    filler = _get_into(results, "filler", a, page)
    _wait_held(backend, "hq8")
    memcached.pause()
    try:
        # three purges of other pages open the breaker (their requests
        # reach memcached when it resumes); the page's own is then queued
        # without a word to memcached
        for i in range(3):
            requests.post(a.url("/reqperf-purge"), data={"url": "/app/d8/%d" % i})
        p = requests.post(a.url("/reqperf-purge"), data={"url": page})
        assert p.status_code == 503, p.text
    finally:
        memcached.resume()
    time.sleep(2.5)                     # the breaker probes again
    backend.fail("/q8", 503)
    try:
        backend.release("hq8")
        filler.join(40)
    finally:
        backend.fail("/q8", 0)
    # a purge of it waits: the copy memcached holds is not served
    assert results["filler"][2] != _nonce(first), results

