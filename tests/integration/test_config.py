"""Directives: bad values fail `apache2 -t` with a message that names the
directive and the value; contexts and merging behave as documented; the
shipped conf/ files pass configtest with a2enmod."""
import os
import re
import shutil
import subprocess

import pytest
import requests

from conftest import ROOT, MODULE, Apache, apache_env


@pytest.mark.parametrize("line,words", [
    ("ReqPerfSlowThreshold banana", ["ReqPerfSlowThreshold", "banana"]),
    ("ReqPerfSlowThreshold -2s", ["ReqPerfSlowThreshold", "-2s"]),
    ("ReqPerfSlowThreshold 5parsecs", ["ReqPerfSlowThreshold", "5parsecs"]),
    ("ReqPerfMaxRoutes -5", ["ReqPerfMaxRoutes", "-5"]),
    ("ReqPerfMaxRoutes 0", ["ReqPerfMaxRoutes", "0"]),
    ("ReqPerfMaxRoutes many", ["ReqPerfMaxRoutes", "many"]),
    ("ReqPerfSlowLogSize -1", ["ReqPerfSlowLogSize", "-1"]),
    ("ReqPerfSlowLogSize 10x", ["ReqPerfSlowLogSize", "10x"]),
    ('ReqPerfRoute "^/a/([0-9+" "/a/$1"', ["ReqPerfRoute", "^/a/([0-9+"]),
    ('ReqPerfRoute "^/a/([0-9]+)$" "/a/$2"', ["ReqPerfRoute", "/a/$2", "$2"]),
    ('ReqPerfRoute "^/a/[0-9]+$" "/a/$1"', ["ReqPerfRoute", "/a/$1"]),
    ('ReqPerfRoute "^/a/[0-9]+$" "/a/$x"', ["ReqPerfRoute", "/a/$x"]),
    ("ReqPerf maybe", ["ReqPerf", "maybe"]),
    ("ReqPerfCacheServers localhost", ["ReqPerfCacheServers", "localhost"]),
    ("ReqPerfCacheServers 127.0.0.1:99999", ["ReqPerfCacheServers", "99999"]),
    ("ReqPerfCacheServers 127.0.0.1:", ["ReqPerfCacheServers"]),
    ("ReqPerfCache sometimes", ["ReqPerfCache", "sometimes"]),
    ("ReqPerfCache Observing", ["ReqPerfCache", "Observing", "Observe"]),
    ("ReqPerfCacheTTL banana", ["ReqPerfCacheTTL", "banana"]),
    ("ReqPerfCacheTTL -5", ["ReqPerfCacheTTL", "-5"]),
    ("ReqPerfCacheGrace forever", ["ReqPerfCacheGrace", "forever"]),
    ("ReqPerfCacheStaleIfError always", ["ReqPerfCacheStaleIfError", "always"]),
    ("ReqPerfCacheStaleIfError -1", ["ReqPerfCacheStaleIfError", "-1"]),
    ("ReqPerfCacheStaleIfError 20y", ["ReqPerfCacheStaleIfError", "20y"]),
    ("ReqPerfCacheLock perhaps", ["ReqPerfCacheLock", "perhaps"]),
    ("ReqPerfCacheMaxSize -1", ["ReqPerfCacheMaxSize", "-1"]),
    ("ReqPerfCacheMaxSize 1T", ["ReqPerfCacheMaxSize", "1T"]),
    ("ReqPerfCacheVary Bad:Header", ["ReqPerfCacheVary", "Bad:Header"]),
    ("ReqPerfCacheIgnoreQuery a=b", ["ReqPerfCacheIgnoreQuery", "a=b"]),
    ("ReqPerfCacheIgnoreCookie x;y", ["ReqPerfCacheIgnoreCookie", "x;y"]),
    ("ReqPerfCacheTimeout 0", ["ReqPerfCacheTimeout", "0"]),
    ("ReqPerfCacheTimeout 20s", ["ReqPerfCacheTimeout", "20s"]),
    ("ReqPerfCacheTimeout soon", ["ReqPerfCacheTimeout", "soon"]),
    ("ReqPerfCacheQuick yes", ["ReqPerfCacheQuick", "yes"]),
    ("ReqPerfCacheLocal 100K", ["ReqPerfCacheLocal", "100K"]),
    ("ReqPerfCacheLocal lots", ["ReqPerfCacheLocal", "lots"]),
    ("ReqPerfCacheLocalTTL 2h", ["ReqPerfCacheLocalTTL", "2h"]),
    ("ReqPerfServerTiming yes-please", ["ReqPerfServerTiming"]),
    ("ReqPerfAppTiming maybe", ["ReqPerfAppTiming", "maybe"]),
    ("ReqPerfAppTimingHide yes", ["ReqPerfAppTimingHide", "yes"]),
    ("ReqPerfAppTimingMaxNames 0", ["ReqPerfAppTimingMaxNames", "'0'"]),
    ("ReqPerfAppTimingMaxNames -3", ["ReqPerfAppTimingMaxNames", "-3"]),
    ("ReqPerfAppTimingMaxNames 65", ["ReqPerfAppTimingMaxNames", "65"]),
    ("ReqPerfAppTimingMaxNames eight", ["ReqPerfAppTimingMaxNames",
                                        "eight"]),
    ("ReqPerfAppTimingMaxNames 8K", ["ReqPerfAppTimingMaxNames", "8K"]),
    # times are strict: digits, then nothing or exactly ms, s, min or h
    ("ReqPerfSlowThreshold 2sbanana", ["ReqPerfSlowThreshold", "2sbanana"]),
    ("ReqPerfSlowThreshold 2seconds", ["ReqPerfSlowThreshold", "2seconds"]),
    ("ReqPerfSlowThreshold 100msec", ["ReqPerfSlowThreshold", "100msec"]),
    ("ReqPerfSlowThreshold hello", ["ReqPerfSlowThreshold", "hello"]),
    ("ReqPerfSlowThreshold ms", ["ReqPerfSlowThreshold", "'ms'"]),
    ("ReqPerfSlowThreshold 1.5s", ["ReqPerfSlowThreshold", "1.5s"]),
    ("ReqPerfSlowThreshold +2s", ["ReqPerfSlowThreshold", "+2s"]),
    ("ReqPerfSlowThreshold 2S", ["ReqPerfSlowThreshold", "2S"]),
    ("ReqPerfSlowThreshold 99999999999999999999",
     ["ReqPerfSlowThreshold", "99999999999999999999"]),
    ("ReqPerfCacheTTL 2sbanana", ["ReqPerfCacheTTL", "2sbanana"]),
    ("ReqPerfCacheTTL soon", ["ReqPerfCacheTTL", "soon"]),
    ("ReqPerfCacheGrace 5minutes", ["ReqPerfCacheGrace", "5minutes"]),
    ("ReqPerfCacheLocalTTL 2seconds", ["ReqPerfCacheLocalTTL", "2seconds"]),
    ("ReqPerfCacheLocalTTL ms", ["ReqPerfCacheLocalTTL", "'ms'"]),
    ("ReqPerfCacheTimeout 100msec", ["ReqPerfCacheTimeout", "100msec"]),
    ("ReqPerfCacheTimeout hello", ["ReqPerfCacheTimeout", "hello"]),
    # a route is a path: no query string, no fragment
    ('ReqPerfRoute "^/a$" "/a?x=1"', ["ReqPerfRoute", "/a?x=1", "'?'"]),
    ('ReqPerfRoute "^/a$" "/a#top"', ["ReqPerfRoute", "/a#top", "'#'"]),
    # list directives: header and cookie names are RFC 9110 tokens, query
    # names hold no separator; a leading '#' is a would-be comment; None
    # stands alone
    ("ReqPerfCacheVary #", ["ReqPerfCacheVary", "'#'", "comment"]),
    ("ReqPerfCacheVary X-A # note", ["ReqPerfCacheVary", "'#'"]),
    ('ReqPerfCacheVary "a b"', ["ReqPerfCacheVary", "'a b'"]),
    ("ReqPerfCacheVary Accept None", ["ReqPerfCacheVary", "Accept None",
                                      "None must stand alone"]),
    ("ReqPerfCacheVary none Accept", ["ReqPerfCacheVary", "none Accept",
                                      "None must stand alone"]),
    ('ReqPerfCacheIgnoreCookie "a b"', ["ReqPerfCacheIgnoreCookie", "'a b'"]),
    ("ReqPerfCacheIgnoreCookie a,b", ["ReqPerfCacheIgnoreCookie", "a,b"]),
    ("ReqPerfCacheIgnoreCookie #ga", ["ReqPerfCacheIgnoreCookie", "#ga"]),
    ("ReqPerfCacheIgnoreCookie _ga None", ["ReqPerfCacheIgnoreCookie",
                                           "_ga None", "stand alone"]),
    ('ReqPerfCacheIgnoreQuery "a b"', ["ReqPerfCacheIgnoreQuery", "'a b'"]),
    ("ReqPerfCacheIgnoreQuery #", ["ReqPerfCacheIgnoreQuery", "'#'"]),
    ("ReqPerfCacheIgnoreQuery a#b", ["ReqPerfCacheIgnoreQuery", "a#b"]),
    ("ReqPerfCacheIgnoreQuery a&b", ["ReqPerfCacheIgnoreQuery", "a&b"]),
    ("ReqPerfCacheIgnoreQuery utm_* NONE", ["ReqPerfCacheIgnoreQuery",
                                            "utm_* NONE", "stand alone"]),
    # memcached servers: no spaces in the host, a port in digits, no twins
    ('ReqPerfCacheServers "bad host:11211"', ["ReqPerfCacheServers",
                                               "bad host:11211"]),
    ('ReqPerfCacheServers "a\tb:11211"', ["ReqPerfCacheServers"]),
    ("ReqPerfCacheServers 127.0.0.1:+11211", ["ReqPerfCacheServers",
                                              "127.0.0.1:+11211"]),
    ("ReqPerfCacheServers 127.0.0.1:-1", ["ReqPerfCacheServers",
                                          "127.0.0.1:-1"]),
    ("ReqPerfCacheServers 127.0.0.1:11211x", ["ReqPerfCacheServers",
                                              "127.0.0.1:11211x"]),
    ("ReqPerfCacheServers 127.0.0.1:11211 127.0.0.1:11211",
     ["ReqPerfCacheServers", "127.0.0.1:11211", "twice"]),
    ("ReqPerfCacheServers Localhost:11211\nReqPerfCacheServers localhost:011211",
     ["ReqPerfCacheServers", "localhost:011211", "twice"]),
    ("ReqPerfCacheServers [::1]:11211 [::1]:11211",
     ["ReqPerfCacheServers", "[::1]:11211", "twice"]),
    # TTL and grace are whole seconds: 500ms used to become 0
    ("ReqPerfCacheTTL 500ms", ["ReqPerfCacheTTL", "500ms", "whole"]),
    ("ReqPerfCacheGrace 1500ms", ["ReqPerfCacheGrace", "1500ms", "whole"]),
    ("ReqPerfCacheStaleIfError 250ms",
     ["ReqPerfCacheStaleIfError", "250ms", "whole"]),
])
def test_bad_value_fails_configtest(line, words):
    a = Apache(conf=line + "\n")
    try:
        r = a.configtest()
        assert r.returncode != 0, r
        out = r.stdout + r.stderr
        for w in words:
            assert w in out, (w, out)
    finally:
        a.cleanup()


@pytest.mark.parametrize("directive", ["ReqPerfMaxRoutes 10",
                                       "ReqPerfSlowLogSize 10",
                                       "ReqPerfCacheServers 127.0.0.1:11211",
                                       "ReqPerfCacheTimeout 10ms",
                                       "ReqPerfCacheLocal 8M",
                                       "ReqPerfCacheLocalTTL 2s",
                                       "ReqPerfAppTimingMaxNames 4"])
def test_server_only_directives_refused_in_vhost(directive):
    a = Apache(conf="<VirtualHost 127.0.0.1:*>\n  %s\n</VirtualHost>\n"
               % directive)
    try:
        r = a.configtest()
        assert r.returncode != 0
        assert directive.split()[0] in r.stdout + r.stderr
    finally:
        a.cleanup()


@pytest.mark.parametrize("directive", ["ReqPerfCacheQuick On",
                                       "ReqPerfCacheServers 127.0.0.1:1",
                                       "ReqPerfCacheLocal 8M",
                                       "ReqPerfAppTimingMaxNames 4"])
def test_server_directives_refused_in_location(directive):
    a = Apache(conf="<Location /x>\n  %s\n</Location>\n" % directive)
    try:
        r = a.configtest()
        assert r.returncode != 0
        assert directive.split()[0] in r.stdout + r.stderr
    finally:
        a.cleanup()


def test_route_not_allowed_in_location():
    a = Apache(conf='<Location /x>\n  ReqPerfRoute "^/x" "/x"\n</Location>\n')
    try:
        r = a.configtest()
        assert r.returncode != 0
        assert "ReqPerfRoute" in r.stdout + r.stderr
    finally:
        a.cleanup()


@pytest.mark.parametrize("good", [
    "ReqPerfSlowThreshold 500ms", "ReqPerfSlowThreshold 2s",
    "ReqPerfSlowThreshold 2", "ReqPerfMaxRoutes 5", "ReqPerfSlowLogSize 0",
    'ReqPerfRoute "^/a/([0-9]+)/(x|y)$" "/a/{id}/$2"',
    'ReqPerfRoute "^/price$" "/price-in-$$"',
    "ReqPerfCacheServers 127.0.0.1:11211 [::1]:11212",
    "ReqPerfCacheTTL 5min", "ReqPerfCacheMaxSize 512K",
    "ReqPerfCacheVary Accept-Language X-Forwarded-Proto",
    "ReqPerfCacheIgnoreCookie _ga* consent", "ReqPerfCacheIgnoreQuery utm_*",
    "ReqPerfCacheTimeout 250ms", "ReqPerfCacheLocal 0",
    "ReqPerfCacheLocal 1G", "ReqPerfCacheLocalTTL 500ms",
    "ReqPerfCacheQuick On",
    "ReqPerfSlowThreshold 0", "ReqPerfSlowThreshold 1min",
    "ReqPerfCacheTTL 2000ms", "ReqPerfCacheTTL 0", "ReqPerfCacheGrace 1h",
    "ReqPerfCacheStaleIfError 86400", "ReqPerfCacheStaleIfError 0",
    "ReqPerfCacheStaleIfError 1h",
    "ReqPerfCacheLocalTTL 0", "ReqPerfCacheLocalTTL 1h",
    "ReqPerfCacheTimeout 1ms", "ReqPerfCacheTimeout 10",
    "ReqPerfCacheVary None", "ReqPerfCacheIgnoreCookie none",
    "ReqPerfCacheIgnoreQuery None", "ReqPerfCacheIgnoreQuery a.b[] x-y",
    "ReqPerfCacheVary X-A\nReqPerfCacheVary None",
    "ReqPerfCacheServers 127.0.0.1:11211 127.0.0.1:11212 localhost:11211",
    "ReqPerfAppTiming Off", "ReqPerfAppTimingHide On",
    "ReqPerfAppTimingMaxNames 1", "ReqPerfAppTimingMaxNames 64",
    "<Location /x>\n ReqPerfAppTiming Off\n ReqPerfAppTimingHide On\n"
    "</Location>",
    "<VirtualHost 127.0.0.1:*>\n ReqPerfAppTimingHide On\n</VirtualHost>",
])
def test_good_values_pass(good):
    a = Apache(conf=good + "\n")
    try:
        r = a.configtest()
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        a.cleanup()


def test_merging_server_vhost_location(apache_factory):
    """Server sets On, a vhost turns it Off, a Location inside turns it On
    again; a Location of the main server inherits the server's value."""
    a = apache_factory(conf="""
ReqPerfServerTiming On
<Location /quiet>
    ReqPerfServerTiming Off
</Location>
Alias /quiet {root}/htdocs
<VirtualHost 127.0.0.1:*>
    ServerName other.test
    DocumentRoot {root}/htdocs
    ReqPerfServerTiming Off
    <Location /loud>
        ReqPerfServerTiming On
    </Location>
    Alias /loud {root}/htdocs
</VirtualHost>
<VirtualHost 127.0.0.1:*>
    ServerName default.test
    ServerAlias 127.0.0.1
    DocumentRoot {root}/htdocs
</VirtualHost>
""".replace("{root}", "@@ROOT@@"), start=False)
    a.conf_body = a.conf_body.replace("@@ROOT@@", a.root)
    a.start()

    def st(path, host):
        r = requests.get(a.url(path), headers={"Host": host})
        assert r.status_code == 200, (path, host, r.status_code)
        return "Server-Timing" in r.headers

    assert st("/index.html", "default.test") is True     # inherits server
    assert st("/quiet/index.html", "default.test") is False
    assert st("/index.html", "other.test") is False      # vhost Off
    assert st("/loud/index.html", "other.test") is True  # Location On


def test_shipped_conf_with_a2enmod(tmp_path):
    """conf/reqperf.load and .conf as shipped, enabled with a2enmod in a
    copy of Debian's /etc/apache2, pass apache2ctl configtest."""
    confdir = str(tmp_path / "apache2")
    shutil.copytree("/etc/apache2", confdir, symlinks=True)
    load = open(os.path.join(ROOT, "conf", "reqperf.load")).read()
    assert "/usr/lib/apache2/modules/mod_reqperf.so" in load
    # point at the module just built instead of an installed copy
    with open(os.path.join(confdir, "mods-available", "reqperf.load"), "w") as f:
        f.write(load.replace("/usr/lib/apache2/modules/mod_reqperf.so", MODULE))
    shutil.copy(os.path.join(ROOT, "conf", "reqperf.conf"),
                os.path.join(confdir, "mods-available", "reqperf.conf"))
    asan_dir = str(tmp_path / "asan")
    os.makedirs(asan_dir)
    env = apache_env(asan_dir, dict(os.environ, APACHE_CONFDIR=confdir))
    r = subprocess.run(["a2enmod", "-q", "reqperf"],
                       env=dict(os.environ, APACHE_CONFDIR=confdir),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.islink(os.path.join(confdir, "mods-enabled", "reqperf.load"))
    assert os.path.islink(os.path.join(confdir, "mods-enabled", "reqperf.conf"))
    r = subprocess.run(["apache2ctl", "configtest"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Syntax OK" in r.stdout + r.stderr
    # and the module really is loaded by that configuration
    r = subprocess.run(["apache2ctl", "-M"], env=env, capture_output=True,
                       text=True)
    assert "reqperf_module" in r.stdout, r.stdout + r.stderr
    assert os.listdir(asan_dir) == []


# A commented line of conf/reqperf.conf that is a directive (or a section
# around directives), as opposed to prose: "#ReqPerfCache On",
# "#    ReqPerfCacheTTL 60", "#<Location /shop/>", "#LogFormat ...".
EXAMPLE_LINE = re.compile(r"^(\s*)#\s*((?:ReqPerf\w+|</?Location\b|SetHandler"
                          r"|Require|LogFormat|CustomLog)\b.*)$")


def test_shipped_conf_every_example_uncommented():
    """Uncommenting every commented example in conf/reqperf.conf gives a
    configuration that passes configtest: an example that is copied must
    work (Apache has no trailing comments, so a '# note' after a value
    fails, or worse, becomes part of a list)."""
    text = open(os.path.join(ROOT, "conf", "reqperf.conf")).read()
    lines, uncommented = [], []
    for line in text.splitlines():
        m = EXAMPLE_LINE.match(line)
        if m:
            line = m.group(1) + m.group(2)
            uncommented.append(line.strip())
        lines.append(line)
    assert any(l.startswith("ReqPerfCacheVary") for l in uncommented)
    assert any(l.startswith("ReqPerfCacheServers") for l in uncommented)
    body = "\n".join(lines) + "\n"
    # a memcached that is not there: configtest does not connect
    body = re.sub(r"(?m)^(\s*ReqPerfCacheServers)\s.*$",
                  r"\1 127.0.0.1:9", body)
    a = Apache(conf=body)
    try:
        a.extra_global = "Define APACHE_LOG_DIR %s/logs" % a.root
        r = a.configtest()
        assert r.returncode == 0, (r.stdout + r.stderr, uncommented)
        # nothing but "Syntax OK": no warning about the examples either
        assert (r.stdout + r.stderr).strip() == "Syntax OK", r.stdout + r.stderr
    finally:
        a.cleanup()


@pytest.mark.parametrize("where", ["server", "location"])
def test_cache_on_without_servers_is_logged(apache_factory, where):
    # the usual mistake: ReqPerfCache On in a <Location>, no memcached named
    conf = ("ReqPerfCache On\n" if where == "server" else
            "<Location /app/>\n    ReqPerfCache On\n</Location>\n")
    a = apache_factory(mpm="event", conf=conf)
    assert "ReqPerfCache On without ReqPerfCacheServers" in a.read_error_log()
    b = apache_factory(mpm="event",
                       conf="<Location /app/>\n    ReqPerfCache Off\n"
                            "</Location>\n")
    assert "without ReqPerfCacheServers" not in b.read_error_log()
