"""Server-side includes that read the request: a stored page never shows
one client's headers or address to another.

mod_include hands a page the whole CGI environment of the request
(<!--#echo var="HTTP_USER_AGENT" -->, #if on v('REMOTE_ADDR'), #printenv)
and names none of it in Vary.  mod_reqperf reads the source mod_include
is given: the headers it reads become the stored page's Vary; what says
who is asking (address, cookies, #printenv, #exec) keeps it from being
stored.  Pages that only compose parts are cached as before.
"""
import pytest
import requests

from harness import raw_to
from test_safety import STATUS

MPMS = ["event", "prefork"]


def site(apache_factory, memcached, mpm, extra="", modules=()):
    a = apache_factory(mpm=mpm, start=False, modules=list(modules), conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
<Directory {root}/htdocs/site>
    ReqPerfCache On
    AddOutputFilter INCLUDES .shtml
</Directory>
{extra}
{status}
""".format(mc=memcached.address, extra=extra, status=STATUS, root="{root}"))
    a.conf_body = a.conf_body.replace("{root}", a.root)
    return a


def get(a, path, **headers):
    r = requests.get(a.url(path), headers=headers, timeout=10)
    return r.status_code, r.headers.get("X-Cache", ""), r.text


def get_from(a, source_ip, path):
    text = raw_to(a.port, ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Connection: close\r\n\r\n"
                           % (path, a.port)).encode(), source=source_ip)
    head, _, body = text.partition("\r\n\r\n")
    xcache = ""
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "x-cache":
            xcache = value.strip()
    return xcache, body


@pytest.mark.parametrize("mpm", MPMS)
def test_echoed_header_is_a_variant(apache_factory, memcached, mpm):
    a = site(apache_factory, memcached, mpm)
    a.write_file("htdocs/site/ua.shtml",
                 'you are <!--#echo var="HTTP_USER_AGENT" -->\n'
                 '<!--#if expr="v(\'HTTP_X_BETA\') == \'yes\'" -->BETA'
                 '<!--#else -->STABLE<!--#endif -->\n')
    a.start()
    seen = []
    for _ in range(3):
        for ua, beta, want in (("alice-browser", "no", "STABLE"),
                               ("bob-browser", "no", "STABLE"),
                               ("alice-browser", "yes", "BETA")):
            st, xc, body = get(a, "/site/ua.shtml",
                               **{"User-Agent": ua, "X-Beta": beta})
            seen.append((xc, body))
            assert st == 200 and ua in body and want in body, seen
    # still cached, one variant per User-Agent and X-Beta
    assert all(xc.startswith("HIT") for xc, _ in seen[-3:]), seen


@pytest.mark.parametrize("mpm", MPMS)
def test_page_that_shows_the_address_is_not_stored(apache_factory, memcached,
                                                   mpm):
    a = site(apache_factory, memcached, mpm)
    a.write_file("htdocs/site/ip.shtml",
                 'your address: <!--#echo var="REMOTE_ADDR" -->\n')
    a.start()
    for _ in range(3):
        for ip in ("127.0.0.2", "127.0.0.1"):
            xc, body = get_from(a, ip, "/site/ip.shtml")
            assert "your address: %s" % ip in body, (xc, body)
            assert not xc.startswith("HIT"), (xc, body)


@pytest.mark.parametrize("page", [
    "<!--#printenv -->",
    '<!--#exec cmd="echo hi" -->',
    '<!--#if expr="%{HTTP_COOKIE} =~ /x/" -->c<!--#endif -->',
    '<!--#set var="n" value="HTTP_USER_AGENT" --><!--#echo var="$n" -->',
])
def test_personal_pages_are_not_stored(apache_factory, memcached, page):
    a = site(apache_factory, memcached, "event")
    a.write_file("htdocs/site/p.shtml", "page\n" + page + "\n")
    a.start()
    for ua in ("one", "two", "three"):
        st, xc, body = get(a, "/site/p.shtml", **{"User-Agent": ua})
        assert st == 200 and not xc.startswith("HIT"), (xc, body)


def test_header_read_by_an_included_part(apache_factory, memcached):
    # the part is itself parsed: what it reads is the page's Vary
    a = site(apache_factory, memcached, "event")
    a.write_file("htdocs/site/page.shtml",
                 'head\n<!--#include virtual="lang.shtml" -->\n')
    a.write_file("htdocs/site/lang.shtml",
                 'lang=<!--#echo var="HTTP_X_LANG" -->\n')
    a.start()
    seen = []
    for _ in range(3):
        for lang in ("en", "de"):
            st, xc, body = get(a, "/site/page.shtml", **{"X-Lang": lang})
            seen.append((xc, body))
            assert st == 200 and "lang=%s" % lang in body, seen
    assert all(xc.startswith("HIT") for xc, _ in seen[-2:]), seen


def test_composed_page_is_still_cached(apache_factory, memcached):
    a = site(apache_factory, memcached, "event")
    a.write_file("htdocs/site/home.shtml",
                 '<!--#include virtual="footer.html" -->\n'
                 '<!--#echo var="DOCUMENT_URI" --> '
                 '<!--#config timefmt="%Y" --><!--#echo var="DATE_LOCAL" -->\n')
    a.write_file("htdocs/site/footer.html", "FOOTER\n")
    a.start()
    st, xc, body = get(a, "/site/home.shtml", **{"User-Agent": "one"})
    assert st == 200 and "FOOTER" in body and xc.startswith("MISS"), (xc, body)
    st, xc, body = get(a, "/site/home.shtml", **{"User-Agent": "two"})
    assert st == 200 and "FOOTER" in body and xc.startswith("HIT"), (xc, body)


def test_filter_before_includes_keeps_the_page_out(apache_factory, memcached):
    # SUBSTITUTE runs first and may write directives nobody read: a page
    # so made is not stored (the same page without it is, see above)
    a = site(apache_factory, memcached, "event", modules=["substitute"],
             extra="""<Directory {root}/htdocs/sub>
    ReqPerfCache On
    SetOutputFilter SUBSTITUTE;INCLUDES
    Substitute "s/ADDR/<!--#echo var=\\"REMOTE_ADDR\\" -->/"
</Directory>""")
    a.conf_body = a.conf_body.replace("{root}", a.root)
    a.write_file("htdocs/sub/x.shtml", "your address: ADDR\n")
    a.start()
    for ip in ("127.0.0.2", "127.0.0.1", "127.0.0.2"):
        xc, body = get_from(a, ip, "/sub/x.shtml")
        assert "your address: %s" % ip in body, (xc, body)
        assert not xc.startswith("HIT"), (xc, body)


def test_includes_run_by_mod_filter_keeps_the_page_out(apache_factory,
                                                       memcached):
    # FilterProvider runs INCLUDES out of sight of the filter chain:
    # mod_include's variables say it ran, and the page is not stored
    a = site(apache_factory, memcached, "event", extra="""
FilterDeclare ssi
FilterProvider ssi INCLUDES "%{REQUEST_URI} =~ m#\\.ssi$#"
<Directory {root}/htdocs/mf>
    ReqPerfCache On
    FilterChain ssi
</Directory>""")
    a.conf_body = a.conf_body.replace("{root}", a.root)
    a.write_file("htdocs/mf/x.ssi", 'ua=<!--#echo var="HTTP_USER_AGENT" -->\n')
    a.start()
    for ua in ("one", "two", "three"):
        st, xc, body = get(a, "/mf/x.ssi", **{"User-Agent": ua})
        assert st == 200 and "ua=" + ua in body, (xc, body)
        assert not xc.startswith("HIT"), (xc, body)
