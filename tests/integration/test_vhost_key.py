"""Two virtual hosts never share cache entries, also when neither has a
mod_reqperf directive of its own.

The key names the virtual host that answered (vhost_id, built once per
server_rec at post_config).  A <VirtualHost> without a directive of the
module could share the main server's config struct (Apache does so for a
module without AP_MODULE_FLAG_ALWAYS_MERGE): one vhost_id written per
server into that one struct would make the last server walked win, and
two vhosts answering the same Host differently would share entries.
"""
import pytest

from conftest import MPMS, free_port, raw_to
from test_safety import body_of, header_of, site

both = pytest.mark.parametrize("mode", ["handler", "quick"])
mpms = pytest.mark.parametrize("mpm", MPMS)


def get_to(port, target, host, headers=""):
    return raw_to(port, ("GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close"
                         "\r\n\r\n" % (target, host, headers)).encode())


@mpms
@both
def test_two_port_vhosts_of_one_name_never_share(apache_factory, memcached,
                                                 backend, mpm, mode):
    # <VirtualHost 127.0.0.1:P2> and <VirtualHost 127.0.0.1:P3>, one
    # ServerName, each telling the backend which site it is; neither has a
    # ReqPerf* directive of its own (the cache is on from the main server)
    p2, p3 = free_port(), free_port()
    a = site(apache_factory, memcached, mpm, mode,
             extra_global="Listen 127.0.0.1:%d\nListen 127.0.0.1:%d\n"
                          % (p2, p3),
             extra="""
<VirtualHost 127.0.0.1:%d>
    ServerName www.example.test
    RequestHeader set X-Site two
</VirtualHost>
<VirtualHost 127.0.0.1:%d>
    ServerName www.example.test
    RequestHeader set X-Site three
</VirtualHost>
""" % (p2, p3))
    target = "/app/which-site"
    first = get_to(p2, target, "www.example.test")
    assert header_of(first, "X-Cache") == "MISS", first[:300]
    assert body_of(first)["headers"].get("X-Site") == "two"
    other = get_to(p3, target, "www.example.test")
    assert body_of(other)["headers"].get("X-Site") == "three", \
        (header_of(other, "X-Cache"), other[:400])


@mpms
@both
def test_main_server_and_a_vhost_never_share(apache_factory, memcached,
                                             backend, mpm, mode):
    # the main server on its port, a <VirtualHost> (no ReqPerf* inside) on
    # a second: the same Host reaches either
    p2 = free_port()
    a = site(apache_factory, memcached, mpm, mode,
             extra_global="Listen 127.0.0.1:%d\n" % p2,
             extra="""
<VirtualHost 127.0.0.1:%d>
    ServerName 127.0.0.1
    RequestHeader set X-Site vhost
</VirtualHost>
""" % p2)
    target = "/app/main-or-vhost"
    host = "127.0.0.1:%d" % a.port   # the same Host to both connections
    first = get_to(p2, target, host)
    assert header_of(first, "X-Cache") == "MISS", first[:300]
    assert body_of(first)["headers"].get("X-Site") == "vhost"
    main = get_to(a.port, target, host)
    assert body_of(main)["headers"].get("X-Site") is None, \
        (header_of(main, "X-Cache"), main[:400])


# ------------------------------------------- every override header, h1 and h2

OVERRIDE = [
    "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Original-URL",
    "X-Rewrite-URL", "X-Forwarded-Scheme", "X-Forwarded-Ssl",
    "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Path",
    "X-Forwarded-Uri", "X-Forwarded-Server", "X-Forwarded-Protocol",
    "X-Host", "X-Original-Host", "X-Original-URI", "X-Original-Path",
    "X-Url-Scheme", "X-Scheme", "Front-End-Https", "X-HTTP-Method-Override",
    "X-HTTP-Method", "X-Method-Override", "X-Envoy-Original-Path",
    "X-ProxyUser-Ip"]


def spellings(name):
    mixed = "".join(c.upper() if i % 2 else c.lower()
                    for i, c in enumerate(name))
    return [name, name.lower(), name.upper(), mixed]


@pytest.mark.parametrize("mode", ["handler", "quick"])
def test_every_override_header_bypasses_h1_and_h2(apache_factory, memcached,
                                                  backend, mode):
    from test_adversary import h2c_request
    a = site(apache_factory, memcached, "event", mode, h2=True,
             location_extra="ReqPerfCacheVary X-Forwarded-Proto")
    page = "/app/override-every"
    first = get_to(a.port, page, "127.0.0.1:%d" % a.port)
    assert header_of(first, "X-Cache") == "MISS"
    again = get_to(a.port, page, "127.0.0.1:%d" % a.port)
    assert header_of(again, "X-Cache").startswith("HIT")
    for name in OVERRIDE:
        for sp in spellings(name):
            want = ("BYPASS unkeyed-header"
                    if name != "X-Forwarded-Proto" else None)
            # HTTP/1.1, among other headers, as the first and last one
            for hdrs in ("%s: evil\r\n" % sp,
                         "Accept: */*\r\nUser-Agent: x\r\n%s: evil\r\n" % sp):
                r = get_to(a.port, page, "127.0.0.1:%d" % a.port, hdrs)
                got = header_of(r, "X-Cache")
                if want:
                    assert got == want, (sp, got)
                else:
                    assert not (got or "").startswith("HIT") or \
                        body_of(r)["headers"].get(name) == "evil", (sp, got)
            # h2c: names go lower case
            st, hd, body = h2c_request(a.port, page,
                                       headers=[(sp.lower(), "evil"),
                                                ("accept", "*/*")])
            assert st == 200
            if want:
                assert hd.get("x-cache") == want, (sp, hd.get("x-cache"))
            else:
                assert "evil" in body.decode(), (sp, hd.get("x-cache"))
