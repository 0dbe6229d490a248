"""The shared-memory tier in front of memcached, against real apache2s
(prefork and event) and a real memcached: hits that reach neither
memcached nor the backend, purges seen at once here and within
ReqPerfCacheLocalTTL on another server, eviction in a tier far smaller
than the working set, and no torn or wrong entry under load."""
import concurrent.futures
import os
import subprocess
import threading
import time

import pytest
import requests

from conftest import MPMS
from harness import CountingMemcached

PURGE_STATUS = """
<Location /reqperf-purge>
    SetHandler reqperf-purge
</Location>
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
"""


def site(apache_factory, memcached, mpm, local="8M", ttl="1s", extra="",
         server_name=None):
    return apache_factory(mpm=mpm, server_name=server_name, conf="""
ReqPerfCacheServers {mc}
# (not the 50 ms default: on a loaded machine a reply can take longer, and
# these tests mean "memcached is up"; the timeout tests set their own)
ReqPerfCacheTimeout 2s
ReqPerfCacheLocal {local}
ReqPerfCacheLocalTTL {ttl}
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
{ps}
{extra}
""".format(mc=memcached.address, local=local, ttl=ttl, ps=PURGE_STATUS,
           extra=extra))


def xc(r):
    return r.headers.get("X-Cache", "")


def stats(a):
    return requests.get(a.url("/reqperf-status?format=json")).json()


def settled_local(a, timeout=10.0):
    """The tier's counters once no request is in flight any more: wrk
    leaves the requests it had out when its time ends, and Apache finishes
    them after it exits.  A revalidation counted at the lookup whose
    memcached hit is counted when it is served would otherwise fall on
    either side of a reading."""
    last = stats(a)["cache"]["local"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        cur = stats(a)["cache"]["local"]
        if cur == last:
            return cur
        last = cur
    raise AssertionError("the tier's counters never settled: %r" % last)


@pytest.mark.parametrize("mpm", MPMS)
def test_local_hits_reach_neither_memcached_nor_backend(apache_factory,
                                                        memcached, backend,
                                                        mpm):
    a = site(apache_factory, memcached, mpm, ttl="60s")
    first = requests.get(a.url("/app/hot"))
    assert xc(first) == "MISS"
    # the store filled this server's tier: the next ones stay here
    before = memcached.stats()
    for _ in range(20):
        r = requests.get(a.url("/app/hot"))
        assert xc(r) == "HIT local", xc(r)
        assert r.json()["nonce"] == first.json()["nonce"]
    after = memcached.stats()
    assert after["get_hits"] == before["get_hits"]
    assert after["cmd_get"] == before["cmd_get"]
    assert backend.hits("/hot") == 1
    d = stats(a)["cache"]["local"]
    assert d["enabled"] is True and d["hit"] >= 20
    assert d["entries"] >= 1 and 0 < d["bytes_used"] <= d["bytes_total"]


@pytest.mark.parametrize("mpm", MPMS)
def test_purge_here_is_seen_at_once(apache_factory, memcached, backend, mpm):
    a = site(apache_factory, memcached, mpm, ttl="60s")
    tagged = "/app/inv?header=X-ReqPerf-Tags:invoice-1"
    for p in ("/app/page", tagged):
        requests.get(a.url(p))
        assert xc(requests.get(a.url(p))) == "HIT local"
    assert requests.post(a.url("/reqperf-purge"),
                         data={"url": "/app/page"}).status_code == 200
    assert xc(requests.get(a.url("/app/page"))) == "MISS"
    assert xc(requests.get(a.url(tagged))) == "HIT local"
    assert requests.post(a.url("/reqperf-purge"),
                         data={"tag": "invoice-1"}).status_code == 200
    assert xc(requests.get(a.url(tagged))) == "MISS"
    # the purge header and an unsafe method too
    requests.get(a.url("/app/other"))
    assert xc(requests.get(a.url("/app/other"))) == "HIT local"
    requests.post(a.url("/app/save?header=X-ReqPerf-Purge:url=/app/other"))
    assert xc(requests.get(a.url("/app/other"))) == "MISS"
    assert xc(requests.get(a.url("/app/other"))) == "HIT local"
    requests.post(a.url("/app/other"))
    assert xc(requests.get(a.url("/app/other"))) == "MISS"


@pytest.mark.parametrize("mpm", MPMS)
def test_purge_elsewhere_seen_within_local_ttl(apache_factory, memcached,
                                               backend, mpm):
    # a revalidation takes at most ReqPerfCacheTimeout: a short one here
    extra = "UseCanonicalName On\nReqPerfCacheTimeout 300ms\n"
    one = site(apache_factory, memcached, mpm, ttl="1s", extra=extra,
               server_name="shop.example:80")
    two = site(apache_factory, memcached, mpm, ttl="1s", extra=extra,
               server_name="shop.example:80")
    # as behind a load balancer: clients name the farm, not the server
    shop = {"Host": "shop.example"}
    old = requests.get(two.url("/app/shared"), headers=shop).json()["nonce"]
    assert xc(requests.get(two.url("/app/shared"), headers=shop)) == "HIT local"
    assert requests.get(one.url("/app/shared"), headers=shop).json()["nonce"] == old
    assert requests.post(one.url("/reqperf-purge"),
                         data={"url": "/app/shared"}).status_code == 200
    purged_at = time.monotonic()
    served_old_at = []
    while time.monotonic() - purged_at < 2.5:
        r = requests.get(two.url("/app/shared"), headers=shop)
        if r.json()["nonce"] == old:
            served_old_at.append(time.monotonic() - purged_at)
        time.sleep(0.05)
    # the old page may be served only while its local copy is younger than
    # ReqPerfCacheLocalTTL (1 s), plus the moment a revalidation takes (at
    # most the 300 ms timeout) and a loaded machine's scheduling
    assert not served_old_at or max(served_old_at) < 1.6, served_old_at
    assert stats(two)["cache"]["local"]["revalidations"] >= 1


@pytest.mark.parametrize("mpm", MPMS)
def test_small_tier_evicts_and_stays_correct(apache_factory, memcached,
                                             backend, mpm):
    a = site(apache_factory, memcached, mpm, local="1M", ttl="60s")
    paths = ["/app/w/%d?size=20000" % i for i in range(150)]   # 3 MB
    for rounds in range(3):
        for p in paths:
            r = requests.get(a.url(p))
            assert r.status_code == 200 and len(r.content) == 20000
            assert r.headers["X-Backend-Count"] == "1", (p, xc(r))
    # a key read often stays local while the rest churns through (a
    # re-read copy about to be overwritten is moved to the head)
    requests.get(a.url("/app/hot-in-small"))
    hot = []
    for i in range(60):
        requests.get(a.url(paths[i % 150]))
        hot.append(xc(requests.get(a.url("/app/hot-in-small"))))
    assert hot.count("HIT local") >= 55, hot
    d = stats(a)["cache"]
    assert d["local"]["evictions"] > 0
    assert d["local"]["bytes_used"] <= d["local"]["bytes_total"] < 1024 * 1024
    assert d["local"]["memcached_hit"] > 0 and d["local"]["hit"] > 0
    assert backend.hits("/w/0") == 1


@pytest.mark.parametrize("mpm", MPMS)
def test_no_torn_or_wrong_entry_under_load(apache_factory, memcached, backend,
                                           mpm):
    """wrk drives many processes and threads over 40 URLs on a 1 MB tier
    (so entries are evicted and rewritten all the time) while checking
    clients verify that every body is the page they asked for."""
    a = site(apache_factory, memcached, mpm, local="1M", ttl="1s")
    paths = ["/app/load/%d?size=%d" % (i, 10000 + 997 * i) for i in range(40)]
    for p in paths:
        requests.get(a.url(p))
    script = os.path.join(a.root, "paths.lua")
    with open(script, "w") as f:
        f.write("local paths = {%s}\n" % ",".join('"%s"' % p for p in paths))
        f.write("math.randomseed(os.time())\n"
                "request = function()\n"
                "  return wrk.format(nil, paths[math.random(#paths)])\n"
                "end\n")
    wrk = subprocess.Popen(["wrk", "-t2", "-c16", "-d6s", "-s", script,
                            a.url("/")], stdout=subprocess.PIPE, text=True)
    bad = []
    stop = time.monotonic() + 5

    def checker(k):
        s = requests.Session()
        n = 0
        while time.monotonic() < stop:
            i = (k * 7 + n) % 40
            r = s.get(a.url(paths[i]))
            n += 1
            want = 10000 + 997 * i
            if r.status_code != 200 or len(r.content) != want \
                    or r.content != b"x" * want:
                bad.append((paths[i], r.status_code, len(r.content), xc(r)))
        return n
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        checked = sum(ex.map(checker, range(4)))
    out, _ = wrk.communicate(timeout=30)
    assert not bad, bad[:5]
    assert checked > 100
    assert "Requests/sec" in out
    assert "Non-2xx" not in out, out
    d = stats(a)["cache"]["local"]
    assert d["hit"] > 0 and d["evictions"] > 0


@pytest.mark.parametrize("mpm,quick", [("prefork", "Off"), ("event", "On")])
def test_revalidated_once_per_ttl_whatever_the_concurrency(apache_factory,
                                                            memcached,
                                                            backend, mpm,
                                                            quick):
    """A hot page in the tier is checked against memcached about once per
    ReqPerfCacheLocalTTL, under 32 connections as under one: memcached's
    load does not grow with the concurrency.  Counted by a proxy in front
    of memcached: the keys Apache asks for while wrk runs, per second, at
    1 and at 32 connections (a reader that met the copy being refreshed
    used to miss and ask memcached itself: 3 to 10 times the keys)."""
    proxy = CountingMemcached(memcached)
    try:
        a = apache_factory(mpm=mpm, conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
ReqPerfCacheLocal 8M
ReqPerfCacheLocalTTL 200ms
ReqPerfCacheQuick {quick}
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
{ps}
""".format(mc=proxy.address, quick=quick, ps=PURGE_STATUS))
        url = a.url("/app/hot-reval-%s?size=14000" % mpm)
        requests.get(url)
        assert xc(requests.get(url)) == "HIT local"
        rate, revalidations = {}, {}
        for conns in (1, 32):
            before = settled_local(a)
            proxy.reset()
            t0 = time.monotonic()
            out = subprocess.run(["wrk", "-t%d" % min(conns, 2),
                                  "-c%d" % conns, "-d2s", url],
                                 capture_output=True, text=True,
                                 timeout=60).stdout
            rate[conns] = proxy.keys_asked() / (time.monotonic() - t0)
            after = settled_local(a)
            assert "Non-2xx" not in out, out
            revalidations[conns] = (after["revalidations"]
                                    - before["revalidations"])
            # every answer memcached gave was a revalidation: no reader
            # went past the copy to memcached on its own
            assert (after["memcached_hit"] - before["memcached_hit"]
                    <= revalidations[conns]), (before, after)
        assert rate[1] > 0 and revalidations[1] >= 2, (rate, revalidations)
        assert rate[32] <= 1.5 * rate[1], (rate, revalidations)
        print("keys asked per second:", rate, "revalidations:", revalidations)
        assert backend.hits("/hot-reval-%s" % mpm) == 1
    finally:
        proxy.stop()
