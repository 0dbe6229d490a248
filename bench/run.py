#!/usr/bin/python3
"""mod_reqperf benchmarks: every figure is a ratio of variants measured
side by side in one run (this machine is shared and noisy; an absolute
requests-per-second figure means little).

    /usr/bin/python3 bench/run.py [timing] [status] [cache] [apptiming]
                                  [demo] [--seconds N] [--rounds N]

Each variant gets its own private apache2 (event MPM) on 127.0.0.1; wrk
runs against them in alternating rounds and the median of the rounds is
kept.  Every server started is stopped at the end.  Prints one Markdown
table of ratios and the figures behind them.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import APACHE as APACHE_BIN  # noqa: E402
from harness import Apache, Memcached, free_port, wait_port  # noqa: E402

PAGE_BYTES = 14 * 1024
WRK_THREADS = 2
WRK_CONNECTIONS = 32

ROWS = []     # (benchmark, variant, rps, p50 ms, p99 ms, CPU us, ratio, goal)
SERVERS = []  # every server started (main()'s cleanup list)
TICK = os.sysconf("SC_CLK_TCK")


def apache_cpu_s(url):
    """CPU seconds used so far by the private Apache serving url (its
    processes, plus the children it has reaped), or None."""
    port = int(re.match(r"https?://[^/]*:(\d+)/", url).group(1))
    for a in SERVERS:
        if isinstance(a, (Apache, Peer)) and a.port == port:
            break
    else:
        return None
    ticks = 0
    for pid in a.children_pids():
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])      # utime, stime
        if pid == a.pid:
            ticks += int(fields[13]) + int(fields[14])  # reaped children
    return ticks / TICK


def wrk(url, seconds, headers=(), connections=WRK_CONNECTIONS):
    cmd = ["wrk", "-t%d" % WRK_THREADS, "-c%d" % connections,
           "-d%ds" % seconds, "--latency", "--timeout", "10s"]
    for h in headers:
        cmd += ["-H", h]
    cpu0 = apache_cpu_s(url)
    out = subprocess.run(cmd + [url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    cpu1 = apache_cpu_s(url)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    # the server's own CPU per request: far steadier than req/s on a
    # machine whose other tenants take the cores at will
    cpu_us = (cpu1 - cpu0) * 1e6 / n if cpu0 is not None and n else None

    def pct(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "cpu_us": cpu_us,
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": sock.group(1) if sock else ""}


def side_by_side(variants, seconds, rounds, connections=WRK_CONNECTIONS):
    """variants: {name: (url, headers)}, the ones compared with each other
    next to each other.  Every round runs each variant once, in an order
    rotated from round to round and reversed every other round, so that
    no variant always runs first, or always before the one it is compared
    with, and variants next to each other in the dict run a few seconds
    apart (the load on this machine drifts over tens of seconds); the
    figures kept are medians, and the runs themselves, so that ratios can
    be taken round by round (ratio())."""
    results = {name: [] for name in variants}
    names = list(variants)
    for name, (url, headers) in variants.items():      # warm up
        wrk(url, 1, headers, connections)
    for i in range(rounds):
        k = (i // 2) % len(names)
        order = names[k:] + names[:k]
        if i % 2:
            order.reverse()
        for name in order:
            url, headers = variants[name]
            results[name].append(wrk(url, seconds, headers, connections))
    out = {}
    for name, runs in results.items():
        out[name] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50": statistics.median(r["p50"] for r in runs),
            "p99": statistics.median(r["p99"] for r in runs),
            "cpu_us": (statistics.median(r["cpu_us"] for r in runs)
                       if all(r["cpu_us"] is not None for r in runs)
                       else None),
            "non2xx": sum(r["non2xx"] for r in runs),
            "runs": runs,
        }
    return out


def ratio(res, base, key="rps"):
    """res/base as the median of the ratios of runs made in the same round
    (the load on this shared machine drifts between rounds; within a round
    both variants see about the same)."""
    a, b = res.get("runs"), base.get("runs")
    if res is base:
        return 1.0
    if a and b and len(a) == len(b):
        return statistics.median(x[key] / y[key] for x, y in zip(a, b))
    return res[key] / base[key]


def row(bench, variant, res, base=None, goal=""):
    r = "" if base is None else "%.2f×" % ratio(res, base)
    cpu = "" if res.get("cpu_us") is None else "%.0f" % res["cpu_us"]
    ROWS.append((bench, variant, "%.0f" % res["rps"], "%.2f" % res["p50"],
                 "%.2f" % res["p99"], cpu, r, goal))
    if res.get("non2xx"):
        print("warning: %s/%s had %d non-2xx responses" % (bench, variant,
                                                          res["non2xx"]),
              file=sys.stderr)


def ratio_spread(res, base, key="rps"):
    """The lowest and highest of the round-by-round ratios, or None."""
    a, b = res.get("runs"), base.get("runs")
    if res is base or not a or not b or len(a) != len(b):
        return None
    r = [x[key] / y[key] for x, y in zip(a, b)]
    return min(r), max(r)


def ratio_row(what, value, goal="", spread=None):
    """A row that only holds a ratio (value: a ratio() result; spread:
    ratio_spread(), shown beside it so that the noise is in the table)."""
    text = "%.2f×" % value
    if spread is not None:
        text += " (%.2f–%.2f)" % spread
    ROWS.append(("", what, "", "", "", "", text, goal))


def pair_row(what, res, base, goal="", key="rps"):
    """ratio_row for res against base, with the spread of the rounds."""
    ratio_row(what, ratio(res, base, key), goal, ratio_spread(res, base, key))


def pairs_rows(res, pairs):
    """pair_row for each (what, variant, base variant, goal) of pairs."""
    for what, a, b, goal in pairs:
        pair_row(what, res[a], res[b], goal)


def cpu_ratio_row(what, res, base, goal=""):
    if res.get("cpu_us") is not None and base.get("cpu_us") is not None:
        pair_row(what, res, base, goal, key="cpu_us")


def page(apache):
    apache.write_file("htdocs/page.html", ("x" * 63 + "\n") * (PAGE_BYTES // 64))


# ---------------------------------------------------------------- timing

def bench_timing(args, cleanup):
    """The cost of timing: same static page, module not loaded / ReqPerf
    On / ReqPerf Off."""
    # no access log in any variant: only the module's own cost differs
    plain = Apache(name="plain", load_module=False, log_level="error",
                   access_log=False)
    on = Apache(name="on", log_level="error", access_log=False)
    off = Apache(name="off", log_level="error", access_log=False,
                 conf="ReqPerf Off\n")
    for a in (plain, on, off):
        page(a)
        cleanup.append(a)
        a.start()
    res = side_by_side({
        "not loaded": (plain.url("/page.html"), ()),
        "ReqPerf On": (on.url("/page.html"), ()),
        "ReqPerf Off": (off.url("/page.html"), ()),
    }, args.seconds, args.rounds)
    base = res["not loaded"]
    row("timing overhead", "module not loaded", base, base)
    row("timing overhead", "ReqPerf On", res["ReqPerf On"], base,
        "≥ 0.98×, p99 ≤ 1.05×")
    row("timing overhead", "ReqPerf Off", res["ReqPerf Off"], base)
    pair_row("req/s, ReqPerf On / not loaded", res["ReqPerf On"], base,
             "≥ 0.98×")
    pair_row("p99, ReqPerf On / not loaded", res["ReqPerf On"], base,
             "≤ 1.05×", key="p99")
    cpu_ratio_row("CPU per request, ReqPerf On / not loaded",
                  res["ReqPerf On"], base, "≤ 1.02×")
    return {"on_ratio": ratio(res["ReqPerf On"], base),
            "p99_ratio": ratio(res["ReqPerf On"], base, "p99")}


# ---------------------------------------------------------------- status

def bench_status(args, cleanup):
    """Rendering the status page with ReqPerfMaxRoutes routes in use."""
    a = Apache(name="status", log_level="error", conf="""
ReqPerfMaxRoutes 500
ReqPerfSlowThreshold 0
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
""")
    cleanup.append(a)
    a.start()
    s = requests.Session()
    for i in range(500):
        s.get(a.url("/route-%03d/page" % i))
    times = {}
    for fmt in ("", "?format=json", "?format=prometheus"):
        samples = []
        for _ in range(30):
            t0 = time.perf_counter()
            r = s.get(a.url("/reqperf-status" + fmt))
            samples.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
        times[fmt or "html"] = (statistics.median(samples), len(r.content))
    for fmt, (ms, size) in times.items():
        ROWS.append(("status page, 500 routes", fmt.replace("?format=", ""),
                     "", "%.2f" % ms, "", "", "%d KB" % (size // 1024),
                     "< 10 ms" if fmt == "html" else ""))
    return times


# ---------------------------------------------------------------- cache

CEILING_SO = os.path.join(ROOT, "build", "ceiling", ".libs", "mod_ceiling.so")


def build_ceiling():
    """bench/ceiling/mod_ceiling.c, built with apxs into build/ceiling."""
    d = os.path.join(ROOT, "build", "ceiling")
    os.makedirs(d, exist_ok=True)
    src = os.path.join(HERE, "ceiling", "mod_ceiling.c")
    dst = os.path.join(d, "mod_ceiling.c")
    with open(src) as f, open(dst, "w") as g:
        g.write(f.read())
    subprocess.run(["apxs", "-c", "-o", "mod_ceiling.la", "mod_ceiling.c",
                    "-lmemcached", "-lmemcachedutil"], cwd=d, check=True,
                   capture_output=True)
    return CEILING_SO


def origin(cleanup):
    """A fast, steady backend: a plain Apache serving the page, cacheable
    under /c/, uncacheable under /u/, tagged under /t/."""
    o = Apache(name="origin", load_module=False, log_level="error",
               access_log=False, conf="""
<Location /c/>
    Header set Cache-Control "max-age=3600"
</Location>
<Location /t/>
    Header set Cache-Control "max-age=3600"
    Header set X-ReqPerf-Tags "invoice-123 customer-7 dashboard"
</Location>
<Location /u/>
    Header set Cache-Control "no-store"
</Location>
Alias /c/ {root}/htdocs/
Alias /t/ {root}/htdocs/
Alias /u/ {root}/htdocs/
""".replace("{root}", "@ROOT@"))
    o.conf_body = o.conf_body.replace("@ROOT@", o.root)
    page(o)
    cleanup.append(o)
    o.start()
    return o


# ---------------------------------------------------------------- peers

class Peer:
    """A server that is not Apache (Varnish, nginx), run in the foreground
    from a per-run configuration in its own temporary directory, on
    127.0.0.1, and stopped by its pid."""

    def __init__(self, name, argv_of, conf_of=None, env=None):
        self.name = name
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="reqperf-bench-%s-" % name)
        os.chmod(self.dir, 0o755)
        self.conf = None
        if conf_of is not None:
            self.conf = os.path.join(self.dir, name + ".conf")
            with open(self.conf, "w") as f:
                f.write(conf_of(self))
        self.argv = argv_of(self)
        self.env = env
        self.proc = None
        self.log = open(os.path.join(self.dir, "output.log"), "wb")

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=30):
        self.proc = subprocess.Popen(self.argv, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     env=self.env, start_new_session=True)
        wait_port(self.port, timeout, self.proc)

    def children_pids(self):
        """The process and all its descendants."""
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            try:
                for t in os.listdir("/proc/%d/task" % pid):
                    with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                        todo += [int(c) for c in f.read().split()]
            except OSError:
                pass
        return out

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def varnish(origin_port, cleanup):
    """Varnish with its built-in VCL in front of the origin (it honours
    the origin's Cache-Control: max-age), 64 MB of malloc storage; None
    when varnishd is not installed."""
    if shutil.which("varnishd") is None:
        return None
    v = Peer("varnish", lambda p: [
        "varnishd", "-F", "-a", "127.0.0.1:%d" % p.port,
        "-b", "127.0.0.1:%d" % origin_port, "-n", os.path.join(p.dir, "n"),
        "-s", "malloc,64m", "-T", "127.0.0.1:0",
        "-P", os.path.join(p.dir, "varnishd.pid")])
    cleanup.append(v)
    v.start()
    return v


NGINX_MODULES = "/usr/lib/nginx/modules"


def nginx_srcache(origin_port, mc_address, cleanup):
    """nginx as memcached's usual page cache: srcache_fetch/srcache_store
    through memc to the same memcached, in front of the origin (2 workers,
    a keepalive pool to memcached); None unless nginx and both modules are
    installed."""
    mods = ["ndk_http_module.so", "ngx_http_srcache_filter_module.so",
            "ngx_http_memc_module.so"]
    if shutil.which("nginx") is None or not all(
            os.path.exists(os.path.join(NGINX_MODULES, m)) for m in mods):
        return None

    def conf(p):
        return """
%(loads)s
worker_processes 2;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log error;
user www-data;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    upstream memcached { server %(mc)s; keepalive 64; }
    upstream origin { server 127.0.0.1:%(op)d; keepalive 64; }
    server {
        listen 127.0.0.1:%(port)d;
        location = /memc {
            internal;
            memc_connect_timeout 500ms;
            memc_send_timeout 500ms;
            memc_read_timeout 500ms;
            set $memc_key $query_string;
            set $memc_exptime 3600;
            memc_pass memcached;
        }
        location /app/ {
            srcache_fetch GET /memc $uri;
            srcache_store PUT /memc $uri;
            srcache_store_statuses 200;
            add_header X-Cache $srcache_fetch_status;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://origin/;
        }
    }
}
""" % {"loads": "".join("load_module %s/%s;\n" % (NGINX_MODULES, m)
                         for m in mods),
       "dir": p.dir, "mc": mc_address, "op": origin_port, "port": p.port}
    n = Peer("nginx", lambda p: ["nginx", "-p", p.dir, "-c", p.conf,
                                 "-e", os.path.join(p.dir, "error.log")],
             conf_of=conf)
    cleanup.append(n)
    n.start()
    return n


def reqperf_front(name, mc_address, origin_port, extra="", cleanup=None,
                  local="0", start=True):
    # the timeout as the peers' (nginx memc below): under saturation on
    # 2 cores a reply can take longer than the 50 ms default, and a hit
    # benchmark measures hits, not the way round a slow memcached
    a = Apache(name=name, log_level="error", access_log=False, conf="""
ReqPerfCacheServers {mc}
ReqPerfCacheLocal {local}
ReqPerfCacheTimeout 500ms
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
ProxyPass /app/ http://127.0.0.1:{op}/
ProxyPass /off/ http://127.0.0.1:{op}/
<Location /app/>
    ReqPerfCache On
</Location>
{extra}
""".format(mc=mc_address, op=origin_port, extra=extra, local=local))
    cleanup.append(a)
    if start:
        a.start()
    return a


def ceiling_front(name, ceiling_so, directive, phase, origin_port, cleanup,
                  start=True):
    """An Apache with a ceiling of bench/ceiling/mod_ceiling.c.  In handler
    mode the URL is proxied, as the mod_reqperf fronts' are, so Apache's
    pipeline (mod_proxy's translate and fixups, the location walk,
    mod_mime) runs before the ceiling's handler."""
    a = Apache(name=name, load_module=False, log_level="error",
               access_log=False,
               extra_global="LoadModule ceiling_module %s\n%s\n"
                            "CeilingPhase %s\n"
                            % (ceiling_so, directive, phase),
               conf=("ProxyPass /ceiling/ http://127.0.0.1:%d/c/\n"
                     % origin_port if phase == "handler" else ""))
    cleanup.append(a)
    if start:
        a.start()
    return a


def socache_front(name, mc_address, origin_port, quick, cleanup, start=True):
    """mod_cache_socache storing into memcached, in front of the origin."""
    a = Apache(name=name, load_module=False, log_level="error",
               access_log=False,
               modules=["cache", "cache_socache", "socache_memcache"],
               conf="""
ProxyPass /app/ http://127.0.0.1:%d/
CacheEnable socache /app/
CacheSocache memcache:%s
CacheSocacheMaxSize 102400
CacheQuickHandler %s
CacheHeader On
""" % (origin_port, mc_address, "On" if quick else "Off"))
    cleanup.append(a)
    if start:
        a.start()
    return a


def cache_counts(a):
    """The cache results a mod_reqperf front has counted so far."""
    c = requests.get(a.url("/reqperf-status?format=json")).json()["cache"]
    return {k: c.get(k, 0) for k in ("hit", "miss", "stale", "bypass")}


def hit_share(before, after):
    d = {k: after[k] - before[k] for k in after}
    n = sum(d.values())
    return d["hit"] / n if n else 0.0


def warm(url, n=3):
    for _ in range(n):
        requests.get(url)


def bench_cache(args, cleanup):
    """Hits from memcached against the static file, the minimal memcached
    ceiling and mod_cache_socache, each in quick-handler and in handler
    mode; the miss path and a memcached that is
    down against the cache Off; tagged hits against untagged ones."""
    ceiling_so = build_ceiling()
    mc = Memcached(memory_mb=256)
    cleanup.append(mc)
    o = origin(cleanup)
    static = Apache(name="static", load_module=False, log_level="error",
                    access_log=False)
    page(static)
    cleanup.append(static)
    static.start()
    body = open(static.path("htdocs/page.html"), "rb").read()
    mc.set("ceiling-page", body)

    def ceiling_server(name, directive, phase):
        return ceiling_front(name, ceiling_so, directive, phase, o.port,
                             cleanup)

    def socache_server(name, quick):
        return socache_front(name, mc.address, o.port, quick, cleanup)

    mc_dir = "CeilingMemcached %s ceiling-page" % mc.address
    mem_dir = "CeilingMemory %s" % static.path("htdocs/page.html")
    ceiling = ceiling_server("ceiling", mc_dir, "quick")
    ceiling_h = ceiling_server("ceiling-handler", mc_dir, "handler")
    memceil = ceiling_server("memceiling", mem_dir, "quick")
    memceil_h = ceiling_server("memceiling-handler", mem_dir, "handler")
    socache = socache_server("socache", True)
    socache_h = socache_server("socache-handler", False)
    rp = reqperf_front("reqperf", mc.address, o.port, cleanup=cleanup,
                       extra="<Location /off/>\n ReqPerfCache Off\n"
                             "</Location>\n")
    rpq = reqperf_front("reqperf-quick", mc.address, o.port, cleanup=cleanup,
                        extra="ReqPerfCacheQuick On\n")
    # the default configuration: the shared-memory tier in front
    rpl = reqperf_front("reqperf-local", mc.address, o.port, cleanup=cleanup,
                        local="64M", extra="<Location /off/>\n"
                        " ReqPerfCache Off\n</Location>\n")
    rplq = reqperf_front("reqperf-local-quick", mc.address, o.port,
                         cleanup=cleanup, local="64M",
                         extra="ReqPerfCacheQuick On\n")
    dead = reqperf_front("reqperf-dead", "127.0.0.1:9", o.port,
                         cleanup=cleanup, local="64M",
                         extra="<Location /off/>\n ReqPerfCache Off\n"
                               "</Location>\n")

    # the peers, where installed: Varnish in front of the origin, nginx
    # with srcache + memc on the same memcached
    peers = {}
    v = varnish(o.port, cleanup)
    if v is not None:
        warm(v.url("/c/page.html"))
        r = requests.get(v.url("/c/page.html"))
        assert len(r.headers.get("X-Varnish", "").split()) == 2, r.headers
        peers["varnish"] = (v.url("/c/page.html"), ())
    ng = nginx_srcache(o.port, mc.address, cleanup)
    if ng is not None:
        warm(ng.url("/app/c/page.html"))
        r = requests.get(ng.url("/app/c/page.html"))
        assert r.headers.get("X-Cache") == "HIT", r.headers
        assert r.content == body
        peers["nginx srcache"] = (ng.url("/app/c/page.html"), ())

    warm(socache.url("/app/c/page.html"))
    warm(socache_h.url("/app/c/page.html"))
    for a in (rp, rpq, rpl, rplq):
        warm(a.url("/app/c/page.html"))
        warm(a.url("/app/t/page.html"))
        warm(a.url("/app/u/page.html"))
    r = requests.get(rp.url("/app/c/page.html"))
    assert r.headers["X-Cache"].startswith("HIT"), r.headers
    for a in (socache, socache_h):
        r = requests.get(a.url("/app/c/page.html"))
        assert "HIT" in r.headers.get("X-Cache", ""), r.headers
    for a in (ceiling, ceiling_h, memceil, memceil_h):
        # the ceiling's own answer, not the origin's through the proxy
        # (the origin's static file has an ETag, the ceiling's none)
        r = requests.get(a.url("/ceiling/page.html"))
        assert r.content == body and "ETag" not in r.headers, r.headers
    r = requests.get(rp.url("/app/t/page.html"))
    assert r.headers["X-Cache"].startswith("HIT"), r.headers
    r = requests.get(rpl.url("/app/c/page.html"))
    assert r.headers["X-Cache"] == "HIT local", r.headers

    fronts = (rp, rpq, rpl, rplq)
    counts0 = [cache_counts(a) for a in fronts]
    # the variants compared with each other next to each other (see
    # side_by_side)
    variants = {
        "ceiling": (ceiling.url("/ceiling/page.html"), ()),
        "reqperf quick": (rpq.url("/app/c/page.html"), ()),
        "mod_cache_socache": (socache.url("/app/c/page.html"), ()),
        "mod_cache_socache handler": (socache_h.url("/app/c/page.html"), ()),
        "reqperf": (rp.url("/app/c/page.html"), ()),
        "ceiling handler": (ceiling_h.url("/ceiling/page.html"), ()),
        "reqperf tagged": (rp.url("/app/t/page.html"), ()),
        "static file": (static.url("/page.html"), ()),
        "reqperf local quick": (rplq.url("/app/c/page.html"), ()),
        "memory ceiling": (memceil.url("/ceiling/page.html"), ()),
        "memory ceiling handler": (memceil_h.url("/ceiling/page.html"), ()),
        "reqperf local": (rpl.url("/app/c/page.html"), ()),
    }
    variants.update(peers)
    res = side_by_side(variants, args.seconds, args.rounds)
    # every mod_reqperf request of these runs should have been a HIT (a
    # MISS or BYPASS down would be the backend's speed, not the cache's)
    shares = [hit_share(b, cache_counts(a)) for a, b in zip(fronts, counts0)]
    base = res["static file"]
    row("cache hits from memcached", "Apache static file", base, base)
    # each mode against its like: a quick handler skips Apache's request
    # pipeline (translate, the location walk, access checks, mod_mime,
    # mod_proxy's fixups), a handler runs after all of it
    row("cache hits from memcached", "ceiling: quick handler + libmemcached",
        res["ceiling"], base)
    row("cache hits from memcached", "ceiling: handler + libmemcached",
        res["ceiling handler"], base)
    row("cache hits from memcached", "mod_cache_socache (memcache), "
        "CacheQuickHandler On", res["mod_cache_socache"], base)
    row("cache hits from memcached", "mod_cache_socache (memcache), "
        "CacheQuickHandler Off", res["mod_cache_socache handler"], base)
    row("cache hits from memcached", "mod_reqperf (handler)", res["reqperf"],
        base, "≥ 0.95× ceiling, ≥ 1.0× socache")
    row("cache hits from memcached", "mod_reqperf (ReqPerfCacheQuick On)",
        res["reqperf quick"], base, "≥ 0.95× ceiling, ≥ 1.0× socache")
    pairs_rows(res, (
        ("mod_reqperf (handler) / ceiling (handler)",
         "reqperf", "ceiling handler", "≥ 0.95×"),
        ("mod_reqperf (quick) / ceiling (quick)",
         "reqperf quick", "ceiling", "≥ 0.95×"),
        ("mod_reqperf (handler) / mod_cache_socache (handler)",
         "reqperf", "mod_cache_socache handler", "≥ 1.0×"),
        ("mod_reqperf (quick) / mod_cache_socache (quick)",
         "reqperf quick", "mod_cache_socache", "≥ 1.0×"),
        ("mod_reqperf (handler) / ceiling (quick), for scale",
         "reqperf", "ceiling", "")))
    cpu_ratio_row("CPU per hit, mod_reqperf (quick) / ceiling (quick)",
                  res["reqperf quick"], res["ceiling"])
    row("tags", "hits, 3 tags per entry, vs untagged",
        res["reqperf tagged"], res["reqperf"], "≥ 0.9×")
    row("cache hits from the local tier", "Apache static file", base, base)
    row("cache hits from the local tier", "ceiling: quick handler, page in memory",
        res["memory ceiling"], base)
    row("cache hits from the local tier", "ceiling: handler, page in memory",
        res["memory ceiling handler"], base)
    row("cache hits from the local tier", "mod_reqperf (handler)",
        res["reqperf local"], base, "≥ 1.5× static, ≥ 0.9× ceiling")
    row("cache hits from the local tier", "mod_reqperf (ReqPerfCacheQuick On)",
        res["reqperf local quick"], base, "≥ 1.5× static, ≥ 0.9× ceiling")
    pairs_rows(res, (
        ("mod_reqperf local (handler) / static file",
         "reqperf local", "static file", "≥ 1.5×"),
        ("mod_reqperf local (quick) / static file",
         "reqperf local quick", "static file", "≥ 1.5×"),
        ("mod_reqperf local (handler) / memory ceiling (handler)",
         "reqperf local", "memory ceiling handler", "≥ 0.9×"),
        ("mod_reqperf local (quick) / memory ceiling (quick)",
         "reqperf local quick", "memory ceiling", "≥ 0.9×")))
    pair_row("p99, mod_reqperf local (quick) / static file",
             res["reqperf local quick"], base, "≤ 1.0×", key="p99")
    if "nginx srcache" in res:
        row("peers (same page, same memcached)", "nginx + srcache + memc (hit)",
            res["nginx srcache"], base)
        pair_row("mod_reqperf (quick) / nginx srcache",
                 res["reqperf quick"], res["nginx srcache"])
        pair_row("mod_reqperf local (quick) / nginx srcache",
                 res["reqperf local quick"], res["nginx srcache"])
    if "varnish" in res:
        row("peers (same page, same memcached)",
            "Varnish hit (for scale; not inside Apache)", res["varnish"], base)
        pair_row("mod_reqperf local (quick) / Varnish",
                 res["reqperf local quick"], res["varnish"])
    ROWS.append(("", "requests answered HIT, lowest of the mod_reqperf "
                 "variants", "", "", "", "", "%.1f%%" % (100 * min(shares)),
                 "100%"))

    warm(rpl.url("/app/u/page.html"))
    res = side_by_side({
        "off": (rp.url("/off/u/page.html"), ()),
        "miss": (rp.url("/app/u/page.html"), ()),
        "local off": (rpl.url("/off/u/page.html"), ()),
        "local miss": (rpl.url("/app/u/page.html"), ()),
        "dead off": (dead.url("/off/u/page.html"), ()),
        "dead": (dead.url("/app/u/page.html"), ()),
    }, args.seconds, args.rounds)
    row("miss path", "cache Off (proxy to origin)", res["off"], res["off"])
    row("miss path", "cache On, every request a miss (memcached only)",
        res["miss"], res["off"])
    row("miss path", "cache Off (proxy to origin)", res["local off"],
        res["local off"])
    row("miss path", "cache On, every request a miss (default, local tier)",
        res["local miss"], res["local off"], "≥ 0.97× (overhead ≤ 3%)")
    cpu_ratio_row("CPU per request, miss (memcached only) / cache Off",
                  res["miss"], res["off"])
    cpu_ratio_row("CPU per request, miss (default) / cache Off",
                  res["local miss"], res["local off"], "≤ 1.03×")
    row("memcached down", "cache Off", res["dead off"], res["dead off"])
    row("memcached down", "cache On, memcached down", res["dead"],
        res["dead off"], "≥ 0.98×")
    cpu_ratio_row("CPU per request, memcached down / cache Off", res["dead"],
                  res["dead off"], "≤ 1.02×")


# ---------------------------------------------------------------- apptiming

def bench_apptiming(args, cleanup):
    """Reading the backend's Server-Timing: the same proxied page with
    ReqPerfAppTiming On and Off, on responses without the header (the
    usual case: its cost should be below what this machine can measure)
    and with a three-metric header.  A second, identical Off server gives
    the noise floor: the ratio of two servers doing the same work."""
    o = Apache(name="st-origin", load_module=False, log_level="error",
               access_log=False, conf="""
<Location /st/>
    Header set Server-Timing "db;dur=12.3, tpl;dur=4.1;desc=\\"templates\\", cache-miss"
</Location>
Alias /st/ {root}/htdocs/
""".replace("{root}", "@ROOT@"))
    o.conf_body = o.conf_body.replace("@ROOT@", o.root)
    page(o)
    cleanup.append(o)
    o.start()
    fronts = {}
    for name, conf in (("on", ""), ("off", "ReqPerfAppTiming Off\n"),
                       ("off2", "ReqPerfAppTiming Off\n")):
        a = Apache(name="apptiming-" + name, log_level="error",
                   access_log=False, conf="ProxyPass /app/ http://127.0.0.1:%d/\n"
                   % o.port + conf)
        cleanup.append(a)
        a.start()
        fronts[name] = a
    r = requests.get(fronts["on"].url("/app/st/page.html"))
    assert "db;dur=12.3" in r.headers.get("Server-Timing", ""), r.headers
    res = side_by_side({
        "off": (fronts["off"].url("/app/page.html"), ()),
        "off2": (fronts["off2"].url("/app/page.html"), ()),
        "on": (fronts["on"].url("/app/page.html"), ()),
        "off st": (fronts["off"].url("/app/st/page.html"), ()),
        "on st": (fronts["on"].url("/app/st/page.html"), ()),
    }, args.seconds, args.rounds)
    base = res["off"]
    row("app timing, no header", "ReqPerfAppTiming Off (proxy)", base, base)
    row("app timing, no header", "ReqPerfAppTiming Off, a second server",
        res["off2"], base, "(the noise floor)")
    row("app timing, no header", "ReqPerfAppTiming On", res["on"], base,
        "within the noise floor")
    cpu_ratio_row("CPU per request, On / Off, no header", res["on"], base,
                  "within the noise floor")
    cpu_ratio_row("CPU per request, Off / Off (two servers)", res["off2"],
                  base)
    row("app timing, 3 metrics", "ReqPerfAppTiming Off (proxy)",
        res["off st"], res["off st"])
    row("app timing, 3 metrics", "ReqPerfAppTiming On", res["on st"],
        res["off st"])
    cpu_ratio_row("CPU per request, On / Off, 3 metrics", res["on st"],
                  res["off st"])


# ---------------------------------------------------------------- demo

def bench_demo(args, cleanup):
    """The demo's heaviest cacheable view (the monthly report), uncached
    (every request carries Cache-Control: no-cache, so it goes to the
    application and refreshes the entry) against cached, on the demo's own
    Apache, side by side."""
    import signal
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = os.path.join("/tmp", "reqperf-bench-demo-%d" % os.getpid())
    env = dict(os.environ, DEMO_SECONDS="600", DEMO_PORT=str(port),
               DEMO_RUN_DIR=run_dir, DEMO_TRAFFIC_REQUESTS="40",
               DEMO_TRAFFIC_SECONDS="10")
    proc = subprocess.Popen(["bash", os.path.join(ROOT, "demo", "run.sh")],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True)

    class Stop:
        def stop(self):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)   # its trap stops it all
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
    cleanup.append(Stop())
    url = "http://127.0.0.1:%d/reports/monthly" % port
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            if requests.get(url, timeout=30).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(1)
    warm(url)
    assert requests.get(url).headers["X-Cache"].startswith("HIT")
    # as many connections as the application has threads: more would
    # only queue in front of it
    res = side_by_side({
        "uncached": (url, ("Cache-Control: no-cache",)),
        "cached": (url, ()),
    }, max(args.seconds, 5), args.rounds, connections=8)
    row("demo: /reports/monthly", "uncached (application every time)",
        res["uncached"], res["uncached"])
    row("demo: /reports/monthly", "cached", res["cached"], res["uncached"],
        "≥ 100×")


# ---------------------------------------------------------------- instructions

INSTR_FEW, INSTR_MANY = 100, 600


def callgrind_total(a, path, n, out):
    """Instructions one apache2 -X (one process, the configuration of a,
    not started) executes in all, under callgrind, from its start to its
    stop, serving 3 warm-up requests for path and then n more on one
    keep-alive connection (ab -k -c1)."""
    with open(a.conf_path, "w") as f:
        f.write(a.render_conf())
    err = open(out + ".log", "w")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--vgdb=no",
                          "--dump-instr=no", "--callgrind-out-file=" + out,
                          APACHE_BIN, "-X", "-f", a.conf_path],
                         env=a.env(), stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_port(a.port, timeout=120, proc=p)
        # valgrind made the file as root; the child writes it at its exit
        # as the server's user
        os.chmod(out, 0o666)
        url = "http://127.0.0.1:%d%s" % (a.port, path)
        for _ in range(3):
            requests.get(url, timeout=60)
        subprocess.run(["ab", "-q", "-k", "-c", "1", "-n", str(n), url],
                       stdout=subprocess.DEVNULL, check=True, timeout=600)
    finally:
        try:
            with open(a.pid_file) as f:
                os.kill(int(f.read().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            p.terminate()
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
        err.close()
    with open(out) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("no callgrind total in %s" % out)


def instructions_per_request(make, path, out_dir, name):
    """(total after INSTR_MANY - total after INSTR_FEW) / the difference,
    each run in a fresh server from make(): what one more request costs,
    startup and warm-up cancelling out."""
    few = callgrind_total(make(), path, INSTR_FEW,
                          os.path.join(out_dir, name + ".few"))
    many = callgrind_total(make(), path, INSTR_MANY,
                           os.path.join(out_dir, name + ".many"))
    return (many - few) / (INSTR_MANY - INSTR_FEW)


def bench_instructions(args, cleanup):
    """Instructions per request counted by callgrind: repeatable whatever
    else this machine is doing, where req/s and CPU time are not.  Each
    variant is one apache2 -X (one process) under valgrind, a request at a
    time; it counts the server's own instructions (not the kernel's, not
    the time a cache miss or a lock costs), so it measures the work the
    code does, beside the wrk runs above that measure time."""
    if shutil.which("valgrind") is None or shutil.which("ab") is None:
        print("instructions: valgrind or ab is not installed (scripts/"
              "deps.sh bench installs them); skipped", file=sys.stderr)
        return
    ceiling_so = build_ceiling()
    mc = Memcached(memory_mb=64)
    cleanup.append(mc)
    o = origin(cleanup)
    static = Apache(name="i-static", load_module=False, log_level="error",
                    access_log=False)
    page(static)
    cleanup.append(static)
    mc.set("ceiling-page", open(static.path("htdocs/page.html"), "rb").read())
    mc_dir = "CeilingMemcached %s ceiling-page" % mc.address
    mem_dir = "CeilingMemory %s" % static.path("htdocs/page.html")

    def plain(conf="", load=True):
        def make():
            a = Apache(name="i-plain", load_module=load, log_level="error",
                       access_log=False, conf=conf)
            page(a)
            cleanup.append(a)
            return a
        return make

    def ceiling(directive, phase):
        return lambda: ceiling_front("i-ceiling", ceiling_so, directive,
                                     phase, o.port, cleanup, start=False)

    def socache(quick):
        return lambda: socache_front("i-socache", mc.address, o.port, quick,
                                     cleanup, start=False)

    def front(local, quick):
        return lambda: reqperf_front(
            "i-reqperf", mc.address, o.port, cleanup=cleanup, local=local,
            extra="ReqPerfCacheQuick On\n" if quick else "", start=False)

    variants = (
        ("not loaded", plain(load=False), "/page.html"),
        ("ReqPerf On", plain(), "/page.html"),
        ("ceiling quick", ceiling(mc_dir, "quick"), "/ceiling/page.html"),
        ("ceiling handler", ceiling(mc_dir, "handler"), "/ceiling/page.html"),
        ("socache quick", socache(True), "/app/c/page.html"),
        ("socache handler", socache(False), "/app/c/page.html"),
        ("reqperf quick", front("0", True), "/app/c/page.html"),
        ("reqperf handler", front("0", False), "/app/c/page.html"),
        ("memory quick", ceiling(mem_dir, "quick"), "/ceiling/page.html"),
        ("memory handler", ceiling(mem_dir, "handler"), "/ceiling/page.html"),
        ("local quick", front("64M", True), "/app/c/page.html"),
        ("local handler", front("64M", False), "/app/c/page.html"),
    )
    out_dir = tempfile.mkdtemp(prefix="reqperf-callgrind-")
    os.chmod(out_dir, 0o777)
    n = {}
    try:
        for name, make, path in variants:
            n[name] = instructions_per_request(make, path, out_dir,
                                               name.replace(" ", "-"))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)

    def show(bench, variant, name):
        ROWS.append((bench, variant, "", "", "", "",
                     "%.1f k" % (n[name] / 1000), ""))

    def against(what, a, b, goal=""):
        ROWS.append(("", what, "", "", "", "", "%.2f×" % (n[a] / n[b]),
                     goal))

    b = "instructions per request (callgrind; lower is better)"
    show(b, "static file, module not loaded", "not loaded")
    show(b, "static file, ReqPerf On", "ReqPerf On")
    against("timing: ReqPerf On / not loaded", "ReqPerf On", "not loaded")
    for mode in ("quick", "handler"):
        show(b, "hit from memcached: ceiling (%s)" % mode, "ceiling " + mode)
        show(b, "hit from memcached: mod_cache_socache (%s)" % mode,
             "socache " + mode)
        show(b, "hit from memcached: mod_reqperf (%s)" % mode,
             "reqperf " + mode)
        against("mod_reqperf / ceiling (%s)" % mode, "reqperf " + mode,
                "ceiling " + mode)
        against("mod_reqperf / mod_cache_socache (%s)" % mode,
                "reqperf " + mode, "socache " + mode)
    for mode in ("quick", "handler"):
        show(b, "hit from the local tier: memory ceiling (%s)" % mode,
             "memory " + mode)
        show(b, "hit from the local tier: mod_reqperf (%s)" % mode,
             "local " + mode)
        against("mod_reqperf local / memory ceiling (%s)" % mode,
                "local " + mode, "memory " + mode)
        against("mod_reqperf local (%s) / static file" % mode,
                "local " + mode, "not loaded")



BENCHES = {"timing": bench_timing, "status": bench_status,
           "cache": bench_cache, "apptiming": bench_apptiming,
           "demo": bench_demo, "instructions": bench_instructions}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("which", nargs="*", default=list(BENCHES))
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    cleanup = SERVERS
    started = time.time()
    try:
        for name in args.which:
            BENCHES[name](args, cleanup)
    finally:
        for x in cleanup:
            x.stop()
            if hasattr(x, "cleanup"):
                x.cleanup()
    print()
    print("mod_reqperf benchmarks, %s, %s, %d cores; wrk -t%d -c%d, "
          "%d rounds of %d s; req/s and latency are medians, a ratio is "
          "the median of the ratios within each round (in brackets, "
          "the lowest and the highest of them)" % (
              time.strftime("%Y-%m-%d"), os.uname().nodename,
              os.cpu_count(), WRK_THREADS, WRK_CONNECTIONS, args.rounds,
              args.seconds))
    print()
    print("| benchmark | variant | req/s | p50 ms | p99 ms | CPU µs/req "
          "| ratio | goal |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in ROWS:
        print("| %s |" % " | ".join(r))
    print()
    print("(%.0f s in all)" % (time.time() - started))


if __name__ == "__main__":
    main()
