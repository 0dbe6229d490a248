"""A third adversarial review of the cache's safety model (2026-12-03),
each finding fixed; each test failed on the code the review ran against.

- a client that went away mid-stream left the page cut short stored;
- Vary: X-Forwarded-For keyed the header as the client sent it, not as
  mod_proxy sends it (with the client's address appended);
- a ReqPerfCacheIgnoreQuery parameter the backend wrote into the page
  was stored for every visitor of the URL without it;
- one variant's miss took the page's fill lock, and one variant's
  unstorable answer left its pass marker over the vary index.
"""
import concurrent.futures
import socket
import struct
import time

import pytest
import requests

from conftest import MPMS, raw_to
from test_safety import site, xc, hit, header_of, body_of

MODES = ["handler", "quick"]
both = pytest.mark.parametrize("mode", MODES)
mpms = pytest.mark.parametrize("mpm", MPMS)


def get_from(a, target, source, headers=""):
    """GET target from the loopback address source: the whole answer."""
    text = raw_to(a.port, ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s"
                           "Connection: close\r\n\r\n"
                           % (target, a.port, headers)).encode(),
                  source=source)
    return text


# ------------------------------------------------- Vary on what mod_proxy adds

@mpms
@both
def test_vary_x_forwarded_for_keys_what_the_backend_saw(apache_factory,
                                                        memcached, backend,
                                                        mpm, mode):
    """The backend answers per client address and says so properly:
    ``Vary: X-Forwarded-For`` (a geo-IP or rate-limit page behind a
    proxy).  mod_proxy appends the client's address to X-Forwarded-For
    before the backend sees it, but the key holds X-Forwarded-For as the
    client sent it (usually absent), so every client without the header
    shares one key: the page made for 127.0.0.2 is served to 127.0.0.3.
    The README promises the key holds the Vary headers' values "as the
    backend is sent them"."""
    a = site(apache_factory, memcached, mpm, mode)
    page = "/app/geo?header=Vary:X-Forwarded-For"
    first = get_from(a, page, "127.0.0.2")
    assert body_of(first)["headers"].get("X-Forwarded-For") == "127.0.0.2"
    for _ in range(2):
        other = get_from(a, page, "127.0.0.3")
        seen = body_of(other)["headers"].get("X-Forwarded-For")
        assert seen == "127.0.0.3", (header_of(other, "X-Cache"), seen)


# ------------------------------------------------- the fill lock's scope

def wait_held(backend, name, n, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if backend.held(name) >= n:
            return True
        time.sleep(0.05)
    return False


@mpms
@both
def test_one_variant_fill_never_queues_another_variant(apache_factory,
                                                       memcached, backend,
                                                       mpm, mode):
    """The stampede lock is taken on the URL (cache/rp_cache.c lock_key()
    hashes base_full), not on the variant a request asks for, even once
    the vary index says which variant that is.  On a page with
    ``Vary: X-V`` (User-Agent, Accept-Language ... on real sites) the fill
    of one variant makes every request whose own variant expired queue
    for up to 5 s, although nobody is filling what it wants: an attacker
    who sends a stream of requests with a fresh value of the varied
    header each time (a new User-Agent) holds the URL's lock all the time,
    and every visitor whose copy expired waits out the lock wait before
    it is let through ("MISS wait"); honest traffic, too, refreshes the
    variants of a page one at a time."""
    a = site(apache_factory, memcached, mpm, mode)
    name = "var-%s-%s" % (mpm, mode)
    page = "/app/variants?header=Vary:X-V&cc=max-age=1&hold=" + name
    pool = concurrent.futures.ThreadPoolExecutor(2)
    try:
        # the visitor's copy, stored; then it expires
        prime = pool.submit(requests.get, a.url(page),
                            headers={"X-V": "visitor"}, timeout=40)
        assert wait_held(backend, name, 1, 10)
        backend.release(name)
        assert prime.result().status_code == 200
        requests.post(backend.url("/__reset"), timeout=5)
        again = requests.get(a.url(page), headers={"X-V": "visitor"})
        assert hit(again), xc(again)
        time.sleep(2.2)
        # a request for a variant nobody has asked for yet holds the lock
        first = pool.submit(requests.get, a.url(page),
                            headers={"X-V": "attacker-1"}, timeout=40)
        assert wait_held(backend, name, 1, 10)
        other = pool.submit(requests.get, a.url(page),
                            headers={"X-V": "visitor"}, timeout=40)
        # the visitor's variant is nobody's fill: it should reach the
        # backend at once (where it is held too, by the same query)
        reached = wait_held(backend, name, 2, 2.5)
        backend.release(name)
        r = other.result()
        first.result()
        assert reached, ("the visitor queued on another variant's fill",
                         xc(r))
        assert "wait" not in xc(r), xc(r)
    finally:
        backend.release(name)
        pool.shutdown(wait=True)


# ------------------------------------------------- one variant's pass marker

@mpms
@both
def test_one_variant_that_cannot_be_stored_keeps_the_others(apache_factory,
                                                            memcached,
                                                            backend, mpm,
                                                            mode):
    """A pass marker is written under the URL's base key
    (cache/rp_cache_store.c rp_cache_mark_pass() sets lk->base_key), which
    is where the vary index of a varying page lives.  So one request for
    a fresh variant whose answer cannot be stored for a reason "of the
    page" (too large, Set-Cookie, private, a 5xx: here the backend echoes
    the request, and one long X-V value makes its page larger than
    ReqPerfCacheMaxSize) replaces the index: every other visitor's
    cached, fresh variant becomes unreachable ("MISS uncacheable", to the
    backend, without the stampede lock) until some visitor's answer is
    stored again.  Any client can evict a hot page for everyone with one
    request, and repeat it: a purge without purge rights, and a stampede
    on the backend each time."""
    a = site(apache_factory, memcached, mpm, mode,
             location_extra="ReqPerfCacheMaxSize 3000")
    page = "/app/pass-variant?header=Vary:X-V&cc=max-age=300"
    for _ in range(2):
        v = requests.get(a.url(page), headers={"X-V": "visitor"})
    assert hit(v), xc(v)
    big = requests.get(a.url(page), headers={"X-V": "a" * 3000})
    assert big.status_code == 200 and not hit(big), xc(big)
    after = requests.get(a.url(page), headers={"X-V": "visitor"})
    assert hit(after), ("the visitor's fresh copy is gone", xc(after))


# ------------------------------------------------- ignored parameters reach the backend

@mpms
@both
def test_ignored_query_parameter_never_reaches_another_visitor(apache_factory,
                                                               memcached,
                                                               backend, mpm,
                                                               mode):
    """``ReqPerfCacheIgnoreQuery utm_*`` (what the advisor itself
    recommends) leaves the parameters out of the key, but the request
    still carries them to the backend.  Applications commonly write the
    URL they were asked for into the page (canonical and og:url links,
    share buttons, "login?next=", analytics snippets that echo
    utm_source); here the backend echoes its query.  So one request with
    ``?utm_source=<payload>`` stores a page holding the payload under the
    plain URL's key, and every visitor of the plain URL gets it: the
    classic unkeyed-parameter cache poisoning (a stored XSS for
    everyone).  A parameter left out of the key must not reach the
    backend (strip it from r->args before the handler, as Varnish setups
    do), or its answer must not be stored."""
    a = site(apache_factory, memcached, mpm, mode,
             location_extra="ReqPerfCacheIgnoreQuery utm_*")
    payload = "%22%3E%3Cscript%3Ealert(1)%3C/script%3E"
    poisoned = requests.get(a.url("/app/landing?utm_source=" + payload))
    assert "script" in poisoned.json()["query"]
    for _ in range(2):
        r = requests.get(a.url("/app/landing"))
        assert "script" not in r.text, (xc(r), r.json()["query"])
    # what the parameter is for still works: the page a clean request
    # stored answers the campaign's visitors, whatever their parameters
    assert hit(requests.get(a.url("/app/landing")))
    r = requests.get(a.url("/app/landing?utm_source=newsletter"))
    assert hit(r) and "newsletter" not in r.text
    assert backend.hits("/landing") == 2


# ------------------------------------------------- a client that goes away mid-stream

def read_then_reset(a, target, min_bytes):
    """GET target, read at least min_bytes of the answer, then drop the
    connection with a reset (a client that navigates away, a mobile
    network that drops, or an attacker)."""
    s = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
               % (target, a.port)).encode())
    got = b""
    while len(got) < min_bytes:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return got


@mpms
@both
def test_client_gone_mid_stream_never_stores_a_cut_page(apache_factory,
                                                        memcached, backend,
                                                        mpm, mode):
    """A response the backend makes as it goes (chunked, no
    Content-Length: a report, an export, a page flushed in parts) is sent
    on to its client once it has been held 0.5 s, and still stored when
    complete.  If that client goes away meanwhile, mod_proxy stops
    reading the backend and Apache ends the response with an EOS anyway
    (ap_finalize_request_protocol); the REQPERF_CACHE filter
    (mod_reqperf_cache_store.c hold_body/cache_out_filter) takes that EOS
    for the end of the page and stores what it had: a page cut short,
    served as a HIT to everyone after.  Any client, by closing its
    connection early, poisons the page for all (the length check only
    guards a Content-Length the backend sent)."""
    a = site(apache_factory, memcached, mpm, mode)
    times = ",".join(str(t) for t in [100, 700] + list(range(900, 3000, 150)))
    page = "/app/stream-cut?size=300000&chunk_at=" + times
    got = read_then_reset(a, page, 2000)
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    time.sleep(3.5)                     # the backend has long finished
    for _ in range(2):
        r = requests.get(a.url(page), timeout=20)
        assert len(r.content) == 300000, (xc(r), len(r.content))


# ------------------------------------------------- ignored cookies reach the backend

@mpms
@both
def test_ignored_cookie_written_into_the_page_is_not_stored(apache_factory,
                                                            memcached,
                                                            backend, mpm,
                                                            mode):
    """The query parameter's twin: ``ReqPerfCacheIgnoreCookie _ga*``
    lets a request with those cookies use the cache, and the backend gets
    them (an application may set such a cookie for whoever lacks it, so
    they cannot be taken away).  A page that writes one into itself (an
    analytics id, an echo) was stored for every visitor, with the value
    one client chose.  An answer that holds the value of a cookie the
    request carried is no longer stored; one that does not is, and serves
    every visitor."""
    a = site(apache_factory, memcached, mpm, mode,
             location_extra="ReqPerfCacheIgnoreCookie _ga*")
    page = a.url("/app/banner")
    payload = "GA1.2.%3Cscript%3E" + mode
    first = requests.get(page, headers={"Cookie": "_ga=" + payload})
    assert xc(first) == "MISS"
    assert payload in first.text              # the backend wrote it in
    r = requests.get(page)
    assert xc(r) == "MISS" and "GA1.2" not in r.text   # nothing was stored
    for _ in range(2):
        r = requests.get(page)
        assert hit(r) and "GA1.2" not in r.text
    # what it is for: visitors with the cookie get the shared page
    r = requests.get(page, headers={"Cookie": "_ga=GA1.2.other; _ga_Q1=x"})
    assert hit(r) and "GA1.2" not in r.text
    # decoded, as an application that unescapes it would write it
    page2 = a.url("/app/banner2?header=X-Seen:%3Cscript%3E")
    r = requests.get(page2, headers={"Cookie": "_ga=%3Cscript%3E"})
    assert xc(r) == "MISS" and r.headers.get("X-Seen") == "<script>"
    r = requests.get(page2)
    assert xc(r) == "MISS", xc(r)
    assert backend.hits("/banner") == 2
