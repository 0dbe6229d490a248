"""A fifth adversarial review (2026-12-03), each finding fixed; each test
failed on the code the review ran against (2cf9e42):

- an ignored cookie's value written into a compressed page was stored
  (the check searched gzip bytes), and so was a piece of one (the client
  id out of "GA1.2.<id>");
- a purge queued while memcached was away was lost on a graceful restart
  (the queue was made afresh with each configuration).
"""
import time

import pytest
import requests

from test_safety import site, xc, hit


def _gz(a, page, cookie=None):
    h = {"Accept-Encoding": "gzip"}
    if cookie:
        h["Cookie"] = cookie
    return requests.get(a.url(page), headers=h, timeout=20)


def test_cookie_value_in_deflated_page_is_not_stored(apache_factory,
                                                     memcached, backend):
    """mod_deflate (CONTENT_SET+1) runs before REQPERF_CACHE
    (CONTENT_SET+8), so holds_a_cookie() searches gzip bytes: the echoed
    ignored-cookie value is stored and served to every gzip client."""
    a = site(apache_factory, memcached, "event", "handler",
             location_extra="ReqPerfCacheIgnoreCookie _ga*\n"
                            "    SetOutputFilter DEFLATE")
    page = "/app/gzbanner"
    payload = "GA1.2.ATTACKER%3Cscript%3E"
    first = _gz(a, page, "_ga=" + payload)
    assert first.headers.get("Content-Encoding") == "gzip"
    assert payload in first.text          # the backend wrote it in
    assert xc(first) == "MISS"
    other = _gz(a, page)                  # a visitor with no cookie at all
    assert "ATTACKER" not in other.text, (xc(other), other.text[:200])


def test_cookie_value_part_written_into_page_is_not_stored(apache_factory,
                                                           memcached,
                                                           backend):
    """An application that reads the GA client id writes the part of
    _ga after "GA1.2." (gtag's client_id, a server-side measurement call),
    not the whole value: holds_a_cookie() looks for the whole value only,
    so a client that sets _ga=GA1.2.<anything> gets <anything> stored
    under the URL for every visitor."""
    a = site(apache_factory, memcached, "event", "handler",
             location_extra="ReqPerfCacheIgnoreCookie _ga*")
    page = "/app/cid?header=X-Client-Id:ATTACKER.1700000000"
    r = requests.get(a.url(page),
                     headers={"Cookie": "_ga=GA1.2.ATTACKER.1700000000"})
    assert xc(r) == "MISS"
    assert r.headers.get("X-Client-Id") == "ATTACKER.1700000000"
    # nothing was stored by the request that carried the cookie (the
    # header here comes from the URL itself, so only the first request
    # without a cookie may fill the entry)
    r = requests.get(a.url(page))
    assert xc(r) == "MISS", (xc(r), r.headers.get("X-Client-Id"))
    assert hit(requests.get(a.url(page)))



def test_queued_purge_survives_a_graceful_restart(apache_factory, memcached,
                                                  backend):
    """cache_post_config makes the pending queue afresh in a new shm
    segment with each configuration (apachectl graceful, a deploy, a
    logrotate reload): a purge queued while memcached was away is gone,
    and when memcached answers again with its data the purged page is
    served until it expires."""
    from test_purge import PURGE, purge
    a = apache_factory(mpm="event", conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 300ms
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
{purge}
""".format(mc=memcached.address, purge=PURGE))
    page = a.url("/app/gracefulplain")
    assert xc(requests.get(page)) == "MISS"
    assert hit(requests.get(page))
    memcached.pause()
    try:
        # trip the breaker first, so that the purge itself is never sent to
        # the paused memcached (which would run it from its socket buffer
        # on resume, and hide the loss)
        for _ in range(20):
            if xc(requests.get(a.url("/app/gracefulother"))) == "BYPASS down":
                break
        r = purge(a, data={"url": "/app/gracefulplain"})
        assert r.status_code == 503, r.text
        a.graceful()          # a reload while memcached is away
    finally:
        memcached.resume()
    deadline = time.monotonic() + 15
    while xc(r := requests.get(page)) == "BYPASS down":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert xc(r) == "MISS", (xc(r), "the purged page was served")


def test_cookie_header_of_many_values_is_not_searched(apache_factory,
                                                      memcached, backend):
    """Each value of an ignored cookie (and each piece of one) is looked
    for in the whole answer: a Cookie header of a thousand pieces would
    cost a miss a thousand passes over a page of up to a megabyte.  Past
    64 values and pieces the answer is not searched, and not stored."""
    a = site(apache_factory, memcached, "event", "handler",
             location_extra="ReqPerfCacheIgnoreCookie _ga*")
    page = "/app/many-cookies?static=1"     # a body that echoes nothing
    many = "; ".join("_ga%d=v%05dxyz" % (i, i) for i in range(70))
    assert xc(requests.get(a.url(page), headers={"Cookie": many})) == "MISS"
    assert xc(requests.get(a.url(page))) == "MISS"      # nothing stored
    assert hit(requests.get(a.url(page)))
    few = "; ".join("_ga%d=v%05dxyz" % (i, i) for i in range(5))
    assert hit(requests.get(a.url(page), headers={"Cookie": few}))


@pytest.mark.parametrize("mode", ["handler", "quick"])
def test_cookie_the_configuration_sets_keeps_the_answer_out(apache_factory,
                                                            memcached,
                                                            backend, mode):
    """A cookie the key cannot leave out, set by the configuration after a
    quick-mode lookup (RequestHeader in a section, run at fixups), reaches
    the backend: the cookies are judged again as the backend got them, and
    its answer is not stored."""
    a = site(apache_factory, memcached, "event", mode,
             location_extra='RequestHeader set Cookie "sessionid=%{REMOTE_PORT}e"')
    page = "/app/config-cookie"
    for _ in range(3):
        r = requests.get(a.url(page))
        assert not hit(r), xc(r)
        assert "sessionid" in r.text
