"""An adversarial review of the page cache after issue 12: each test is one
way an attacker, or an administrator with an unusual but real
configuration, could turn the cache against its users, run against a real
Apache, memcached and backend.  Tests that fail name a hole in the safety
model written at the top of mod_reqperf_cache_key.c; the ones that pass
are the attacks that held and stay as regression tests.

Failing at 3c211d3 (the holes): port_reached, denied_request (quick),
included_fragment_* (mod_include), browsermatch, rewrite_substitution,
header_added_from_another_header, nph_script, websocket_upgrade,
vary_configured_in_a_proxy_section (quick), purge_reaches_pages_whose_
ignored_query (quick), control_headers_..._without_cache_servers,
client_certificate (optional_no_ca), age_from_an_upstream_cache,
streamed_response, first_visit_cookie.  Every other test here passes.
"""
import json
import socket
import socketserver
import threading

import pytest
import requests

from conftest import MPMS, free_port, raw, raw_get, raw_to
from test_safety import body_of, header_of, hit, site, stats, xc

MODES = ["handler", "quick"]
both = pytest.mark.parametrize("mode", MODES)
mpms = pytest.mark.parametrize("mpm", MPMS)


def get_to(port, target, host, headers=""):
    return raw_to(port, ("GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close"
                         "\r\n\r\n" % (target, host, headers)).encode())


class RawBackend:
    """A backend that answers each path with bytes written exactly as
    given (so a test can send what backend.py cannot: a body cut short, a
    header folded or doubled), or by a function(hit_number, send,
    request_head) that writes its answer in its own time; it counts hits
    per path."""

    def __init__(self):
        self.answers = {}
        self.hits = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                path = data.split(b" ", 2)[1].decode("latin-1")
                path = path.split("?", 1)[0]
                with owner.lock:
                    owner.hits[path] = owner.hits.get(path, 0) + 1
                    n = owner.hits[path]
                answer = owner.answers.get(path, b"HTTP/1.1 404 Not Found\r\n"
                                           b"Content-Length: 0\r\n\r\n")
                if callable(answer):
                    answer(n, self.request.sendall, data)   # it writes itself
                else:
                    self.request.sendall(answer)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rawbackend():
    b = RawBackend()
    yield b
    b.stop()


# ------------------------------------------------- the port a client reached

@mpms
@both
def test_port_reached_is_part_of_the_answer(apache_factory, memcached,
                                            backend, mpm, mode):
    # one site on two ports (Listen 80 and 8080, no vhost, ServerName
    # without a port) with UseCanonicalPhysicalPort On: a Host without a
    # port keys as the scheme's default port on both connections, but
    # Apache builds its own URLs (ProxyPassReverse, mod_dir's redirects,
    # %{SERVER_PORT}) with the port the connection reached
    second = free_port()
    a = site(apache_factory, memcached, mpm, mode,
             extra_global="Listen 127.0.0.1:%d\n" % second,
             server_extra="UseCanonicalPhysicalPort On\n",
             extra="ProxyPassReverse /app/ ${BACKEND}/\n")
    target = ("/app/moved?status=301&header=Location:http://127.0.0.1:%d/new"
              % backend.port)
    first = get_to(second, target, "127.0.0.1")
    assert first.startswith("HTTP/1.1 301"), first[:300]
    assert header_of(first, "Location") == \
        "http://127.0.0.1:%d/app/new" % second
    assert header_of(first, "X-Cache") == "MISS"
    # a visitor of the other port, same Host, same path
    other = get_to(a.port, target, "127.0.0.1")
    assert other.startswith("HTTP/1.1 301"), other[:300]
    assert header_of(other, "Location") == \
        "http://127.0.0.1:%d/app/new" % a.port, \
        (header_of(other, "X-Cache"), header_of(other, "Location"))


# ------------------------------------------------- error documents

@mpms
def test_denied_request_never_stores_its_error_page_quick(apache_factory,
                                                          memcached,
                                                          backend, mpm):
    # ReqPerfCacheQuick looks up before access control: the request that
    # is then denied must not store what its ErrorDocument (proxied, so
    # answered with the backend's 200) said under the page's key
    a = site(apache_factory, memcached, mpm, "quick", extra="""
SetEnvIf X-Allow "^yes$" allowed
ErrorDocument 403 /app/denied
<Location /app/guarded/>
    Require env allowed
</Location>
""")
    denied = requests.get(a.url("/app/guarded/report"))
    assert denied.json()["path"] == "/denied", denied.text
    ok = requests.get(a.url("/app/guarded/report"), headers={"X-Allow": "yes"})
    assert ok.json()["path"] == "/guarded/report", \
        (denied.status_code, xc(denied), ok.status_code, xc(ok), ok.text[:40])
    assert backend.hits("/guarded/report") == 1


@mpms
@both
def test_error_override_page_not_stored_as_the_url(apache_factory, memcached,
                                                    backend, mpm, mode):
    # ProxyErrorOverride: a 503 from the backend is answered with the
    # site's (proxied) error page; that page must not become the URL's
    # page for everyone for a whole TTL
    a = site(apache_factory, memcached, mpm, mode, extra="""
ProxyErrorOverride On
ErrorDocument 503 /app/oops
""")
    first = requests.get(a.url("/app/flaky?status=503"))
    assert first.json()["path"] == "/oops", first.text
    second = requests.get(a.url("/app/flaky?status=503"))
    assert not hit(second), (xc(second), second.status_code)
    assert backend.hits("/flaky") == 2


# ------------------------------------------------- what a page is made of

def ssi_site(apache_factory, memcached, mpm, mode, files):
    a = site(apache_factory, memcached, mpm, mode, extra="""
<Location /shtml/>
    ReqPerfCache On
</Location>
<Directory %(root)s/htdocs/shtml>
    AddOutputFilter INCLUDES .shtml
</Directory>
""", start=False)
    a.conf_body = a.conf_body.replace("%(root)s", a.root)
    for name, text in files.items():
        a.write_file("htdocs/shtml/" + name, text)
    return a.start()


@mpms
@both
def test_included_fragment_vary_reaches_the_page(apache_factory, memcached,
                                                 backend, mpm, mode):
    # mod_include builds the page from subrequests; a fragment the backend
    # marks "Vary: X-Lang" makes the whole page vary, or the first
    # visitor's language is everyone's
    a = ssi_site(apache_factory, memcached, mpm, mode, {
        "lang.shtml": '<!--#include virtual="/app/frag?header=Vary:X-Lang" -->\n'})
    fr = requests.get(a.url("/shtml/lang.shtml"), headers={"X-Lang": "fr"})
    assert json.loads(fr.text)["headers"].get("X-Lang") == "fr", fr.text
    en = requests.get(a.url("/shtml/lang.shtml"))
    assert "X-Lang" not in json.loads(en.text)["headers"], (xc(en), en.text[:60])


@mpms
@both
def test_included_private_fragment_keeps_the_page_private(apache_factory,
                                                          memcached, backend,
                                                          mpm, mode):
    # a fragment the backend answers with "Cache-Control: private" (or a
    # Set-Cookie) is one visitor's: the page that includes it is too
    a = ssi_site(apache_factory, memcached, mpm, mode, {
        "me.shtml": '<!--#include virtual="/app/me?cc=private" -->\n',
        "ck.shtml": '<!--#include virtual="/app/ck?cookie=sid=s3cr3t" -->\n'})
    for page in ("/shtml/me.shtml", "/shtml/ck.shtml"):
        first = requests.get(a.url(page))
        second = requests.get(a.url(page))
        assert json.loads(second.text)["nonce"] != \
            json.loads(first.text)["nonce"], (page, xc(second))


@mpms
def test_included_fragment_tags_reach_the_page(apache_factory, memcached,
                                               backend, mpm):
    # the fragment is tagged by its application; purging the tag must
    # reach the page that was built from it
    a = ssi_site(apache_factory, memcached, mpm, "handler", {
        "tagged.shtml": '<!--#include virtual='
                        '"/app/frag?header=X-ReqPerf-Tags:invoice-9" -->\n'})
    first = requests.get(a.url("/shtml/tagged.shtml"))
    assert hit(requests.get(a.url("/shtml/tagged.shtml")))
    r = requests.post(a.url("/reqperf-purge"), data="tag=invoice-9")
    assert r.status_code == 200 and r.json()["purged"]["tag"] == ["invoice-9"]
    after = requests.get(a.url("/shtml/tagged.shtml"))
    assert json.loads(after.text)["nonce"] != json.loads(first.text)["nonce"], \
        xc(after)


@mpms
@both
def test_browsermatch_picks_the_backend_page(apache_factory, memcached,
                                             backend, mpm, mode):
    # the classic mobile site: BrowserMatch sets an environment variable
    # from User-Agent and mod_rewrite proxies to the mobile pages.  No
    # module names User-Agent in Vary, but the answer depends on it.
    a = site(apache_factory, memcached, mpm, mode, extra="""
BrowserMatch "Mobile" mobile
RewriteEngine On
RewriteCond %{ENV:mobile} =1
RewriteRule ^/app/site/(.*)$ ${BACKEND}/m/$1 [P]
RewriteRule ^/app/site/(.*)$ ${BACKEND}/www/$1 [P]
""")
    phone = requests.get(a.url("/app/site/home"),
                         headers={"User-Agent": "Phone Mobile Safari"})
    assert phone.json()["path"] == "/m/home"
    desk = requests.get(a.url("/app/site/home"),
                        headers={"User-Agent": "Desktop Firefox"})
    assert desk.json()["path"] == "/www/home", (xc(desk), desk.text[:60])


@mpms
@both
def test_header_added_from_another_header_and_varied(apache_factory,
                                                     memcached, backend,
                                                     mpm, mode):
    # the same through mod_headers: SetEnvIf reads a request header the
    # key does not hold, RequestHeader passes the verdict on, and the
    # backend does what it should: it names the header it got in Vary.
    # The German request is not stored (the server changed a keyed
    # header), but the English page stored under "X-Site-Lang absent" is
    # then what the next German visitor's own (absent) value looks up
    a = site(apache_factory, memcached, mpm, mode, extra="""
SetEnvIfNoCase Accept-Language "^de" lang_de
RequestHeader set X-Site-Lang "de" env=lang_de
""")
    page = "/app/lang-home?header=Vary:X-Site-Lang"
    for _ in range(2):
        de = requests.get(a.url(page), headers={"Accept-Language": "de"})
        assert de.json()["headers"].get("X-Site-Lang") == "de", \
            (xc(de), de.text[:60])
        en = requests.get(a.url(page), headers={"Accept-Language": "en"})
        assert "X-Site-Lang" not in en.json()["headers"], (xc(en), en.text[:60])


# ------------------------------------------------- HTTP/2

def h2_heads(a, target):
    """Every head an h2c client reads (interim ones too), as text."""
    import subprocess
    r = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-D", "-",
                        "-o", "/dev/null", a.url(target)],
                       capture_output=True, text=True, timeout=20)
    return r.stdout


@mpms
def test_control_headers_never_leave_in_h2_early_hints(apache_factory,
                                                       memcached, backend,
                                                       mpm):
    a = site(apache_factory, memcached, mpm, "handler", modules=["http2"],
             server_extra="Protocols h2c http/1.1\nH2EarlyHints on\n")
    target = ("/app/hints?cc=no-store&early=Link:</a.css>; rel=preload"
              "&early=X-ReqPerf-Tags:secret-tag&early=X-ReqPerf-Purge:tag=x"
              "&header=X-ReqPerf-Tags:final-tag").replace(" ", "%20")
    for _ in range(2):
        heads = h2_heads(a, target)
        assert "HTTP/2 103" in heads and "HTTP/2 200" in heads, heads
        assert "rel=preload" in heads, heads
        assert "reqperf" not in heads.lower(), heads


# ------------------------------------------------- what a backend sends

def raw_site(apache_factory, memcached, rawbackend, mpm, mode, extra="",
             proxy_opts=""):
    # (disablereuse: RawBackend answers one request per connection, and a
    # reused one it has closed makes mod_proxy answer 502 now and then)
    return site(apache_factory, memcached, mpm, mode, extra="""
ProxyPass /raw/ http://127.0.0.1:%d/ disablereuse=On %s
<Location /raw/>
    ReqPerfCache On
</Location>
%s
""" % (rawbackend.port, proxy_opts, extra))


def answer(head, body=b""):
    return head.replace(b"\n", b"\r\n") + b"\r\n" + body


@mpms
def test_truncated_backend_bodies_are_never_stored(apache_factory, memcached,
                                                  rawbackend, mpm):
    a = raw_site(apache_factory, memcached, rawbackend, mpm, "handler")
    rawbackend.answers["/cl"] = answer(
        b"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 100\n"
        b"Connection: close\n", b"half a page")
    rawbackend.answers["/chunked"] = answer(
        b"HTTP/1.1 200 OK\nContent-Type: text/plain\n"
        b"Transfer-Encoding: chunked\nConnection: close\n",
        b"b\r\nhalf a page\r\n40\r\nnot all of it")
    for path in ("/raw/cl", "/raw/chunked"):
        for _ in range(2):
            try:
                r = raw_get(a, path)
            except OSError:
                r = ""
            assert header_of(r, "X-Cache") != "HIT local", (path, r[:300])
            assert not (header_of(r, "X-Cache") or "").startswith("HIT"), r
    assert rawbackend.hits["/cl"] == 2 and rawbackend.hits["/chunked"] == 2


@mpms
def test_odd_spellings_of_response_headers(apache_factory, memcached,
                                           rawbackend, mpm):
    a = raw_site(apache_factory, memcached, rawbackend, mpm, "handler")
    body = b"secret of one user\n"
    cl = b"Content-Length: %d\n" % len(body)
    heads = {
        # obs-fold: the second line continues the first
        "/fold": b"Cache-Control: public,\n private\n",
        # whitespace before the colon (RFC 9112: a proxy removes it)
        "/space-cc": b"Cache-Control : private\n",
        "/space-cookie": b"Set-Cookie : sid=s3cr3t\n",
        "/lower": b"cache-control: PRIVATE\n",
        "/two-vary": b"Vary: Accept-Encoding\nVary: *\n",
        "/empty-cc-then-private": b"Cache-Control:\nCache-Control: private\n",
    }
    for path, h in heads.items():
        rawbackend.answers[path] = answer(
            b"HTTP/1.1 200 OK\nContent-Type: text/plain\n" + h + cl, body)
    never_stored(a, rawbackend, heads)


def never_stored(a, rawbackend, paths):
    """Each of the raw backend's paths, asked twice, reached the backend
    twice and was never a hit."""
    for path in paths:
        for _ in range(2):
            r = raw_get(a, "/raw" + path)
            assert not (header_of(r, "X-Cache") or "").startswith("HIT"), \
                (path, r[:400])
        assert rawbackend.hits[path] == 2, path


@mpms
def test_odd_spellings_of_control_headers_never_reach_clients(
        apache_factory, memcached, rawbackend, mpm):
    a = raw_site(apache_factory, memcached, rawbackend, mpm, "handler")
    body = b"page\n"
    heads = {
        "/t1": b"x-reqperf-tags: secret-a\n",
        "/t2": b"X-ReqPerf-Tags : secret-b\n",
        "/t3": b"X-ReqPerf-Tags: ok\n secret-c\n",
        "/t4": b"X-ReqPerf-Purge: tag=secret-d\nX-ReqPerf-Purge: tag=secret-e\n",
    }
    for path, h in heads.items():
        rawbackend.answers[path] = answer(
            b"HTTP/1.1 200 OK\nContent-Type: text/plain\n" + h
            + b"Content-Length: %d\n" % len(body), body)
    for path in heads:
        for _ in range(2):
            r = raw_get(a, "/raw" + path)
            assert "secret" not in r and "reqperf" not in r.lower(), (path, r)


# ------------------------------------------------- the fill lock

NPH = """#!/bin/sh
printf 'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 4\\r\\n\\r\\nnph\\n'
"""


@mpms
@both
def test_nph_script_leaves_no_lock_behind(apache_factory, memcached, backend,
                                          mpm, mode):
    # an NPH script's output skips every filter below the connection's
    # (mod_cgi removes them), the cache's too: the lock its miss took must
    # still go when the request ends, or every later visitor waits
    a = site(apache_factory, memcached, mpm, mode, extra="""
<Location /cgi-bin/>
    ReqPerfCache On
</Location>
""", start=False)
    a.write_file("cgi-bin/nph-page", NPH, mode=0o755)
    a.start()
    for _ in range(3):
        r = raw_get(a, "/cgi-bin/nph-page")
        assert r.startswith("HTTP/1.1 200") and r.endswith("nph\n"), r
    assert stats(a)["cache"]["lock_waits"] == 0


@mpms
def test_websocket_upgrade_takes_no_fill_lock(apache_factory, memcached,
                                              rawbackend, mpm):
    # a WebSocket under a cached location: the 101 answer is a tunnel that
    # lives for minutes; a second client of the same URL must not wait on
    # a fill lock the first one took
    rawbackend.answers["/ws"] = answer(
        b"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n"
        b"Connection: Upgrade\n")
    a = raw_site(apache_factory, memcached, rawbackend, mpm, "handler",
                 proxy_opts="upgrade=websocket")
    upgrade = ("GET /raw/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % a.port).encode()
    first = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    try:
        first.sendall(upgrade)
        head = first.recv(4096).decode("latin-1")
        assert head.startswith("HTTP/1.1 101"), head
        second = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        try:
            second.sendall(upgrade)
            head2 = second.recv(4096).decode("latin-1")
            assert head2.startswith("HTTP/1.1 101"), head2
        finally:
            second.close()
    finally:
        first.close()
    assert stats(a)["cache"]["lock_waits"] == 0


# ------------------------------------------------- configuration outside <Location>

@mpms
@both
def test_vary_configured_in_a_proxy_section(apache_factory, memcached,
                                            backend, mpm, mode):
    # ReqPerfCacheVary is valid in any directory context; set in <Proxy>
    # (or <Directory>) it must key the page in both lookup modes
    a = site(apache_factory, memcached, mpm, mode, extra="""
<Proxy "${BACKEND}/">
    ReqPerfCacheVary X-Lang
</Proxy>
""")
    fr = requests.get(a.url("/app/pv"), headers={"X-Lang": "fr"})
    assert fr.json()["headers"].get("X-Lang") == "fr"
    en = requests.get(a.url("/app/pv"), headers={"X-Lang": "en"})
    assert en.json()["headers"].get("X-Lang") == "en", (xc(en), en.text[:60])


@mpms
def test_purge_reaches_pages_whose_ignored_query_is_set_in_directory(
        apache_factory, memcached, backend, mpm):
    # ReqPerfCacheIgnoreQuery in <Directory>: the purge reads it from the
    # page's configuration; the quick lookup must have used the same, or
    # the entries it stored are out of every purge's reach
    a = site(apache_factory, memcached, mpm, "quick", extra="""
<Location /pub/>
    ReqPerfCache On
</Location>
<Directory %(root)s/htdocs/pub>
    ReqPerfCacheIgnoreQuery utm_*
</Directory>
""", start=False)
    a.conf_body = a.conf_body.replace("%(root)s", a.root)
    a.write_file("htdocs/pub/page.html", "version 1\n")
    a.start()
    page = "/pub/page.html?utm_source=mail"
    assert requests.get(a.url(page)).text == "version 1\n"
    # the quick handler sees only <Location>: what <Directory> says of the
    # key differs, so the page is not stored under a key no purge reaches
    # (the lead's fix: refused at store time)
    assert not hit(requests.get(a.url(page)))
    a.write_file("htdocs/pub/page.html", "version 2\n")
    for url in ("/pub/page.html", page):
        r = requests.post(a.url("/reqperf-purge"), data={"url": url})
        assert r.status_code == 200, r.text
        after = requests.get(a.url(page))
        assert after.text == "version 2\n", (url, r.text, xc(after))


# ------------------------------------------------- control headers

@mpms
def test_control_headers_never_reach_clients_without_cache_servers(
        apache_factory, backend, mpm):
    # the module loaded for timing only (no ReqPerfCacheServers), in front
    # of an application that tags its pages: the tags still never leave
    a = apache_factory(mpm=mpm, conf="""
ProxyPass /app/ ${BACKEND}/
""")
    r = requests.get(a.url("/app/t?header=X-ReqPerf-Tags:customer-7"
                           "&header=X-ReqPerf-Purge:tag=invoice-9"))
    assert r.status_code == 200
    assert "X-ReqPerf-Tags" not in r.headers, r.headers
    assert "X-ReqPerf-Purge" not in r.headers, r.headers


# ------------------------------------------------- Apache's own negotiation

@mpms
@both
def test_deflate_variants_never_cross(apache_factory, memcached, backend,
                                      mpm, mode):
    # mod_deflate compresses after the backend and adds Vary:
    # Accept-Encoding; a client that cannot read gzip never gets it
    a = site(apache_factory, memcached, mpm, mode, location_extra="""
    SetOutputFilter DEFLATE
""")
    page = "/app/z?size=4000"
    plain_hdr = {"Accept-Encoding": "identity"}
    gz = requests.get(a.url(page), headers={"Accept-Encoding": "gzip"})
    assert gz.headers.get("Content-Encoding") == "gzip"
    for _ in range(2):
        plain = requests.get(a.url(page), headers=plain_hdr)
        assert "Content-Encoding" not in plain.headers, (xc(plain),
                                                         plain.headers)
        assert plain.content == b"x" * 4000
        head = requests.head(a.url(page), headers=plain_hdr)
        assert "Content-Encoding" not in head.headers, head.headers
    gz2 = requests.get(a.url(page), headers={"Accept-Encoding": "gzip"})
    assert hit(gz2) and gz2.headers.get("Content-Encoding") == "gzip"
    assert gz2.content == b"x" * 4000


@mpms
@both
def test_multiviews_language_variants(apache_factory, memcached, backend,
                                      mpm, mode):
    a = site(apache_factory, memcached, mpm, mode, modules=["negotiation"],
             extra="""
<Location /mv/>
    ReqPerfCache On
</Location>
<Directory %(root)s/htdocs/mv>
    Options +MultiViews
</Directory>
AddLanguage fr .fr
AddLanguage en .en
""", start=False)
    a.conf_body = a.conf_body.replace("%(root)s", a.root)
    a.write_file("htdocs/mv/doc.html.en", "english\n")
    a.write_file("htdocs/mv/doc.html.fr", "francais\n")
    a.start()
    for _ in range(2):
        for lang, text in (("fr", "francais\n"), ("en", "english\n")):
            r = requests.get(a.url("/mv/doc.html"),
                             headers={"Accept-Language": lang})
            assert r.text == text, (lang, xc(r), r.text)


@mpms
@both
def test_if_section_on_a_header(apache_factory, memcached, backend, mpm,
                                mode):
    # <If> on a request header changes the response (here a header
    # mod_headers sets); httpd names what <If> read in Vary
    a = site(apache_factory, memcached, mpm, mode, location_extra="""
    <If "%{HTTP:X-Beta} == 'on'">
        Header set X-Variant beta
    </If>
""")
    for _ in range(2):
        beta = requests.get(a.url("/app/if"), headers={"X-Beta": "on"})
        assert beta.headers.get("X-Variant") == "beta", (xc(beta),
                                                         beta.headers)
        plain = requests.get(a.url("/app/if"))
        assert "X-Variant" not in plain.headers, (xc(plain), plain.headers)


# ------------------------------------------------- malformed input

def odd_requests(port):
    big_query = "&".join("p%d=%d" % (i, i) for i in range(1500))
    many_cookies = "; ".join("_ga%d=1" % i for i in range(300))
    host = "127.0.0.1:%d" % port
    reqs = [
        "GET http://[::1]:%d/app/v6 HTTP/1.1\r\nHost: [::1]:%d\r\n" % (port, port),
        "GET /app/v6 HTTP/1.1\r\nHost: [::1]\r\n",
        "GET /app/v6 HTTP/1.1\r\nHost: [fe80::1%%25lo]:%d\r\n" % port,
        "GET /app/q?%s HTTP/1.1\r\nHost: %s\r\n" % (big_query, host),
        "GET /app/q?%s HTTP/1.1\r\nHost: %s\r\n" % ("a" * 7000, host),
        "GET /app/%s HTTP/1.1\r\nHost: %s\r\n" % ("b/" * 3000, host),
        "GET /app/c HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n" % (host, many_cookies),
        "GET /app/c HTTP/1.1\r\nHost: %s\r\nCookie: =\r\n" % host,
        "GET /app/c HTTP/1.1\r\nHost: %s\r\nCookie: ;;;; ; ;\r\n" % host,
        "GET /app/c HTTP/1.1\r\nHost: %s\r\nCookie: _ga=\"\r\n" % host,
        "GET /app/cc HTTP/1.1\r\nHost: %s\r\nCache-Control: max-age=\"\r\n" % host,
        "GET /app/cc HTTP/1.1\r\nHost: %s\r\nCache-Control: %s\r\n"
        % (host, ",".join(["x"] * 3000)),
        "GET /app/cn HTTP/1.1\r\nHost: %s\r\nConnection: %s\r\n"
        % (host, ", ".join(["keep-alive"] * 1500)),
        "GET /app/v?header=Vary:%s HTTP/1.1\r\nHost: %s\r\n"
        % (",".join("h%d" % i for i in range(40)), host),
        "GET /app/v?header=Vary:,,,%%20,,X-A,,,, HTTP/1.1\r\nHost: %s\r\n" % host,
        "GET /app/t?header=X-ReqPerf-Tags:%s HTTP/1.1\r\nHost: %s\r\n"
        % ("%20".join("t%d" % i for i in range(600)), host),
        "GET /app/t?header=X-ReqPerf-Tags:%s HTTP/1.1\r\nHost: %s\r\n"
        % ("T" * 300, host),
        "GET /app/p?header=X-ReqPerf-Purge:%s HTTP/1.1\r\nHost: %s\r\n"
        % ("%20".join("url=/x%d" % i for i in range(150)), host),
        "GET /app/p?header=X-ReqPerf-Purge:url=/%%2500/../../x%%20tag= HTTP/1.1\r\n"
        "Host: %s\r\n" % host,
        "GET /app/p?header=X-ReqPerf-Purge:url=http://[::1 HTTP/1.1\r\nHost: %s\r\n"
        % host,
        "GET /app/e?header=Expires:%s HTTP/1.1\r\nHost: %s\r\n"
        % ("9" * 60, host),
        "GET /app/e?cc=max-age=99999999999999999999999 HTTP/1.1\r\nHost: %s\r\n"
        % host,
        "GET /app/s?status=203 HTTP/1.1\r\nHost: %s\r\n" % host,
        "GET /app/s?status=300 HTTP/1.1\r\nHost: %s\r\n" % host,
        "GET /app/h?%s HTTP/1.1\r\nHost: %s\r\n"
        % ("&".join("header=H%d:v" % i for i in range(120)), host),
        "GET /app/x HTTP/1.1\r\nHost: %s\r\nX-A: %s\r\n" % (host, "v" * 8000),
        "GET /app/x HTTP/1.1\r\nHost: %s\r\nX-A: a\r\nX-A: b\r\nX-A: \r\n" % host,
        "GET /app/x HTTP/1.1\r\nHost: %s\r\nX-A: a\r\n b\r\n" % host,
        "GET /app/x HTTP/1.1\r\nHost: %s\r\nIf-None-Match: %s\r\n"
        % (host, ",".join(['"x"'] * 1500)),
        "GET /app/x HTTP/1.1\r\nHost: %s\r\nIf-Modified-Since: %s\r\n"
        % (host, "Sun, 06 Nov 1994 08:49:37 GMT" * 20),
        "HEAD /app/x HTTP/1.1\r\nHost: %s\r\nRange: bytes=0-0,-1\r\n" % host,
        "GET /app/x HTTP/1.0\r\n",
        "GET /app/x?a=%%zz&%%=%%&&&= HTTP/1.1\r\nHost: %s\r\n" % host,
        "GET /app/%%2e%%2e/%%2e%%2e/x HTTP/1.1\r\nHost: %s\r\n" % host,
        "GET * HTTP/1.1\r\nHost: %s\r\n" % host,
        "GET http://%s HTTP/1.1\r\nHost: %s\r\n" % (host, host),
        "GET http://%s?x=/app/y HTTP/1.1\r\nHost: %s\r\n" % (host, host),
    ]
    return [(r + "Connection: close\r\n\r\n").encode("latin-1") for r in reqs]


@mpms
@both
def test_malformed_requests_and_answers_crash_nothing(apache_factory,
                                                      memcached, backend,
                                                      mpm, mode):
    a = site(apache_factory, memcached, mpm, mode,
             location_extra="ReqPerfCacheVary X-A\n"
                            "    ReqPerfCacheIgnoreCookie _ga*\n",
             extra="LimitRequestFieldSize 16000\nLimitRequestLine 16000\n")
    for _ in range(2):
        for data in odd_requests(a.port):
            try:
                out = raw(a, data)
            except OSError:
                out = ""
            assert out == "" or out.startswith("HTTP/1."), (data[:80], out[:200])
    # the purge handler, with bodies a form parser could trip on
    for body in ("url=", "url=%", "url=%zz", "tag=" + "t" * 200, "url=/%00",
                 "url=http://[::1]:99999/x", "url=http://a@b/x",
                 "&" * 5000, "url=/a&" * 200, "url=%2F%2Fevil%2Fx",
                 "url=http%3A%2F%2F%5B%3A%3A1%5D%2Fx", "tag=a%2Cb"):
        r = requests.post(a.url("/reqperf-purge"), data=body)
        assert r.status_code in (200, 400, 413), (body[:40], r.status_code)
    r = requests.get(a.url("/app/after"))
    assert r.status_code == 200 and xc(r) == "MISS"
    assert hit(requests.get(a.url("/app/after")))


@mpms
@both
def test_rewrite_substitution_reads_a_header(apache_factory, memcached,
                                             backend, mpm, mode):
    # a header read in the substitution rather than in a RewriteCond
    a = site(apache_factory, memcached, mpm, mode, extra="""
RewriteEngine On
RewriteRule ^/app/rs/(.*)$ ${BACKEND}/rs/$1?lang=%{HTTP:X-Lang} [P]
""")
    fr = requests.get(a.url("/app/rs/home"), headers={"X-Lang": "fr"})
    assert fr.json()["query"] == "lang=fr"
    en = requests.get(a.url("/app/rs/home"), headers={"X-Lang": "en"})
    assert en.json()["query"] == "lang=en", (xc(en), en.text[:80])


# ------------------------------------------------- TLS client certificates

@pytest.fixture(scope="module")
def certs():
    """A server certificate and two self-signed client certificates (and
    a CA file trusting both), made once for the module."""
    import shutil
    import subprocess
    import tempfile
    d = tempfile.mkdtemp(prefix="reqperf-certs-", dir="/tmp")
    for name, cn in (("server", "127.0.0.1"), ("alice", "alice"),
                     ("bob", "bob")):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "2", "-subj", "/CN=" + cn,
                        "-keyout", "%s/%s.key" % (d, name),
                        "-out", "%s/%s.crt" % (d, name)],
                       check=True, capture_output=True)
    with open(d + "/clients.pem", "w") as out:
        for user in ("alice", "bob"):
            out.write(open("%s/%s.crt" % (d, user)).read())
    yield d
    shutil.rmtree(d, ignore_errors=True)


@mpms
@both
@pytest.mark.parametrize("verify", [
    "optional_no_ca",
    "optional\n    SSLCACertificateFile %(root)s/clients.pem"])
def test_client_certificate_user_is_personal(apache_factory, memcached,
                                             backend, certs, mpm, mode,
                                             verify):
    # a user known by a TLS client certificate; with SSLVerifyClient
    # optional_no_ca the application checks the certificate itself
    # (SSL_CLIENT_VERIFY is GENEROUS, not SUCCESS): one user's page must
    # not reach another either way
    import urllib3
    urllib3.disable_warnings()
    tls = free_port()
    a = site(apache_factory, memcached, mpm, mode, modules=["ssl"],
             start=False, extra_global="Listen 127.0.0.1:%d\n" % tls,
             extra="""
<VirtualHost 127.0.0.1:%d>
    ServerName 127.0.0.1
    SSLEngine on
    SSLCertificateFile %%(root)s/server.crt
    SSLCertificateKeyFile %%(root)s/server.key
    SSLVerifyClient %s
    RequestHeader set X-Remote-User "%%{SSL_CLIENT_S_DN_CN}s"
</VirtualHost>
""" % (tls, verify))
    a.conf_body = a.conf_body.replace("%(root)s", certs)
    a.start()
    url = "https://127.0.0.1:%d/app/account" % tls
    for _ in range(2):
        for user in ("alice", "bob"):
            r = requests.get(url, verify=False,
                             cert=("%s/%s.crt" % (certs, user),
                                   "%s/%s.key" % (certs, user)))
            assert r.json()["user"] == user, (user, xc(r), r.text[:80])


def h2c_request(port, path, headers=(), body=None, authority=None):
    """One h2c (prior knowledge) request; a body goes as DATA frames with
    no content-length.  Returns (status, headers dict, body bytes)."""
    import h2.config
    import h2.connection
    import h2.events
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                  validate_outbound_headers=False,
                                  normalize_outbound_headers=False))
    conn.initiate_connection()
    hdrs = [(":method", "GET"), (":scheme", "http"),
            (":authority", authority or "127.0.0.1:%d" % port),
            (":path", path)] + list(headers)
    conn.send_headers(1, hdrs, end_stream=body is None)
    if body is not None:
        conn.send_data(1, body, end_stream=True)
    s.sendall(conn.data_to_send())
    status, out, data, done = None, {}, b"", False
    try:
        while not done:
            chunk = s.recv(65536)
            if not chunk:
                break
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.ResponseReceived):
                    for k, v in ev.headers:
                        if k == ":status":
                            status = int(v)
                        else:
                            out[k] = v
                elif isinstance(ev, h2.events.DataReceived):
                    data += ev.data
                    conn.acknowledge_received_data(len(ev.data), 1)
                elif isinstance(ev, (h2.events.StreamEnded,
                                     h2.events.StreamReset)):
                    done = True
            s.sendall(conn.data_to_send())
    finally:
        s.close()
    return status, out, data


@mpms
@both
def test_h2_body_on_get_bypasses(apache_factory, memcached, backend, mpm,
                                 mode):
    # over HTTP/2 a request body needs neither Content-Length nor
    # Transfer-Encoding: DATA frames on a GET are a body all the same
    a = site(apache_factory, memcached, mpm, mode, modules=["http2"],
             server_extra="Protocols h2c http/1.1\n")
    status, h, data = h2c_request(a.port, "/app/h2fat", body=b"id=evil1")
    assert status == 200, (status, h, data[:200])
    seen = json.loads(data)["body"]
    assert h.get("x-cache") == "BYPASS body" or seen == "", (h, seen)
    clean = requests.get(a.url("/app/h2fat"))
    assert clean.json()["body"] == "", (xc(clean), clean.text[:120])



@mpms
def test_h2_authority_and_host_disagree(apache_factory, memcached, backend,
                                        mpm):
    # :authority picks the host Apache sees; a "host" field beside it is
    # what a backend may read: when they differ nothing is cached
    a = site(apache_factory, memcached, mpm, "handler", modules=["http2"],
             server_extra="Protocols h2c http/1.1\n"
                          "ProxyPreserveHost On\n")
    own = "127.0.0.1:%d" % a.port
    seen = []
    for authority, host in (("evil.test", own), (own, "evil.test")):
        status, h, data = h2c_request(a.port, "/app/h2host",
                                      headers=[("host", host)],
                                      authority=authority)
        seen.append((authority, host, status, h.get("x-cache"),
                     json.loads(data)["host"] if status == 200 else None))
    for _ in range(2):
        r = requests.get(a.url("/app/h2host"))
        assert r.json()["host"] == own and r.json()["link"] == \
            "http://%s/next" % own, (seen, xc(r), r.text[:200])


# ------------------------------------------------- freshness

@mpms
def test_age_from_an_upstream_cache_counts(apache_factory, memcached, backend,
                                           mpm):
    # the backend is itself a cache (Varnish, a CDN origin shield): its
    # page is already 59 of its 60 seconds old (RFC 9111 4.2.3)
    import time
    a = site(apache_factory, memcached, mpm, "handler")
    page = "/app/aged?cc=max-age=60&header=Age:59"
    first = requests.get(a.url(page))
    assert xc(first) == "MISS"
    time.sleep(2.2)
    later = requests.get(a.url(page))
    assert not hit(later), (xc(later), later.headers.get("Age"))


# ------------------------------------------------- streaming

@mpms
@both
def test_streamed_response_reaches_the_client_as_it_is_made(
        apache_factory, memcached, rawbackend, mpm, mode):
    # a progress page or an event stream without Cache-Control: the first
    # part must reach the client while the backend is still working (the
    # README: "Responses stream to the client as they are captured")
    go_on = threading.Event()

    def stream(n, send, request):
        send(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n7\r\nstep 1\n\r\n")
        go_on.wait(8)
        send(b"7\r\nstep 2\n\r\n0\r\n\r\n")
    rawbackend.answers["/progress"] = stream
    a = raw_site(apache_factory, memcached, rawbackend, mpm, mode)
    s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    try:
        s.sendall(("GET /raw/progress HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "Connection: close\r\n\r\n" % a.port).encode())
        got = b""
        s.settimeout(4)
        try:
            while b"step 1" not in got:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
        early = b"step 1" in got
        go_on.set()
        s.settimeout(10)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    finally:
        go_on.set()
        s.close()
    assert b"step 2" in got, got
    assert early, "the first part only came with the last: %r" % got[:300]



# ------------------------------------------------- pass markers

@mpms
@both
def test_first_visit_cookie_does_not_stop_caching_for_everyone(
        apache_factory, memcached, rawbackend, mpm, mode):
    # the application gives a visitor id to whoever has none (a
    # Set-Cookie on that answer only) and the administrator declared the
    # cookie irrelevant (ReqPerfCacheIgnoreCookie).  A cookie-less request
    # (anyone can send one, once a minute) must not make the page
    # uncacheable for the visitors who have the cookie
    def page(n, send, request):
        fresh = b"cookie: visitor=" not in request.lower()
        body = b"page %d\n" % n
        send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
             + (b"Set-Cookie: visitor=v%d; Path=/\r\n" % n if fresh else b"")
             + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    rawbackend.answers["/home"] = page
    a = raw_site(apache_factory, memcached, rawbackend, mpm, mode,
                 extra="<Location /raw/>\n ReqPerfCacheIgnoreCookie visitor\n"
                       "</Location>\n")
    first = raw_get(a, "/raw/home")
    assert "Set-Cookie: visitor=" in first
    seen = []
    for _ in range(3):
        r = raw_get(a, "/raw/home", "Cookie: visitor=v1\r\n")
        seen.append(header_of(r, "X-Cache"))
    assert seen[-1].startswith("HIT"), seen


# ------------------------------------------------- request lines

@mpms
@both
def test_request_line_and_host_oddities(apache_factory, memcached, backend,
                                        mpm, mode):
    a = site(apache_factory, memcached, mpm, mode,
             server_extra="ProxyPreserveHost On\n")
    own = "127.0.0.1:%d" % a.port
    # HTTP/1.0 without Host: the key would name a host it never had
    r = raw(a, b"GET /app/rl HTTP/1.0\r\n\r\n")
    assert header_of(r, "X-Cache") == "BYPASS host", r[:300]
    # absolute-form naming another host than Host: httpd takes the
    # target's host as the Host (RFC 9112 3.2.2); it is that host's page
    for target, host in (("http://evil.test/app/rl", own),
                         ("http://%s/app/rl" % own, "evil.test")):
        r = raw(a, ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close"
                    "\r\n\r\n" % (target, host)).encode())
        xcache = header_of(r, "X-Cache")
        assert xcache == "BYPASS host" or body_of(r)["host"] == \
            target.split("/")[2], (target, host, r[:400])
    # (the second stored the page of the host it named, which is ours)
    for _ in range(2):
        v = requests.get(a.url("/app/rl"))
        assert hit(v) and v.json()["host"] == own, (xc(v), v.text[:100])
