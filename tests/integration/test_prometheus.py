"""The Prometheus side, against a real apache2 with the page cache on, a
real memcached and the counting backend: `promtool check metrics` prints
nothing on the live output, the output follows the conventions that let
several servers be aggregated, and the Grafana dashboard in
contrib/grafana/reqperf.json asks only for what the module exports,
checked by a real Prometheus (Debian's) that scrapes the Apache and
answers every query of every panel and variable, and README's example
queries.

The dashboard test reads the panels from the file: a panel added there is
tested as it is, with no change here.  The traffic covers every metric
family, including a backend Server-Timing header (application metrics).
"""
import json
import math
import os
import re
import time

import requests

from harness import ROOT, Prometheus, parse_prom, promtool_check

DASHBOARD = os.path.join(ROOT, "contrib", "grafana", "reqperf.json")

CONF = """
ReqPerfCacheServers {mc}
ReqPerfCacheTimeout 2s
ReqPerfSlowThreshold 1h
ProxyPass /app/ ${{BACKEND}}/
<Location /app/>
    ReqPerfCache On
</Location>
<Location /app/slow>
    ReqPerfSlowThreshold 0
</Location>
<Location /app/timed>
    ReqPerfCache Off
</Location>
<Location /reqperf-status>
    SetHandler reqperf-status
</Location>
"""

# what one round of traffic asks (each line reaches a different family)
ROUND = [
    ("/app/page/1", {}),                     # miss, then hits (local tier)
    ("/app/page/2", {}),
    ("/app/page/1", {}),
    ("/app/slow", {}),                       # slow by configuration
    ("/app/err?status=503", {}),             # 5xx
    ("/app/page/3", {"Cookie": "session=a"}),  # bypass (cookie)
    ("/app/timed?header=Server-Timing:db;dur=3.5,render;dur=1", {}),
]

# the bounds README documents for the request histogram
REQUEST_LE = ["0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
              "0.5", "1", "2.5", "5", "10", "30", "60", "+Inf"]

# Grafana's own variables, and what the test puts in their place
BUILTINS = {"$__rate_interval": "1m", "$__range": "5m", "$__interval": "1s"}


def start(apache_factory, memcached):
    return apache_factory(mpm="event", conf=CONF.format(mc=memcached.address))


def traffic(a, rounds=1):
    for _ in range(rounds):
        for path, headers in ROUND:
            r = requests.get(a.url(path), headers=headers, timeout=30)
            assert r.status_code == (503 if "status=503" in path else 200), path


def live(a):
    r = requests.get(a.url("/reqperf-status?format=prometheus"), timeout=30)
    assert r.status_code == 200
    return r.text


def wait_counted(a, n, timeout=10.0):
    """Until the status page counts n requests (a request is counted in
    its log phase, just after the client has its answer)."""
    deadline = time.monotonic() + timeout
    while True:
        d = requests.get(a.url("/reqperf-status?format=json"), timeout=30).json()
        if d["requests"] >= n or time.monotonic() > deadline:
            return d
        time.sleep(0.02)


def families(text):
    """{family: type} from the # TYPE lines."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


# ---------------------------------------------------------------- promtool

def test_promtool_and_conventions(apache_factory, memcached):
    a = start(apache_factory, memcached)
    # before any request: families without series still pass
    promtool_check(live(a))
    traffic(a, 2)
    wait_counted(a, 2 * len(ROUND))
    text = live(a)
    promtool_check(text)
    m = parse_prom(text)
    types = families(text)

    # the names SPEC fixes, with their types
    for name, kind in (("reqperf_requests_total", "counter"),
                       ("reqperf_request_duration_seconds", "histogram"),
                       ("reqperf_phase_duration_seconds", "histogram"),
                       ("reqperf_slow_requests_total", "counter"),
                       ("reqperf_cache_requests_total", "counter"),
                       ("reqperf_cache_stores_total", "counter"),
                       ("reqperf_memcached_up", "gauge"),
                       ("reqperf_start_time_seconds", "gauge")):
        assert types.get(name) == kind, (name, types.get(name))

    # only counters, gauges and classic histograms: no summary (its
    # quantiles cannot be aggregated across servers), nothing untyped
    assert set(types.values()) <= {"counter", "gauge", "histogram"}, types
    # and no gauge that is an average, a percentile or a ratio
    for name, kind in types.items():
        if kind == "gauge":
            assert not re.search(r"avg|average|mean|median|p\d\d|percentile|"
                                 r"quantile|ratio", name), name
    for name, _ in m:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or types.get(base) == "histogram", \
            "series %s has no TYPE" % name

    # every histogram: the same bounds on every series of the family,
    # cumulative, ending at +Inf == _count, with a _sum; the request
    # histogram has the bounds README documents
    for fam in (f for f, k in types.items() if k == "histogram"):
        series = {}
        for (name, labels), v in m.items():
            if name == fam + "_bucket":
                d = dict(labels)
                le = d.pop("le")
                series.setdefault(frozenset(d.items()), []).append((le, v))
        assert series, "histogram %s has no series" % fam
        bounds = None
        for key, buckets in series.items():
            les = [le for le, _ in buckets]
            assert les[-1] == "+Inf", (fam, key)
            if bounds is None:
                bounds = les
            assert les == bounds, "%s: bounds differ between series" % fam
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), (fam, key, counts)
            assert m[(fam + "_count", key)] == counts[-1], (fam, key)
            assert (fam + "_sum", key) in m, (fam, key)
        if fam == "reqperf_request_duration_seconds":
            assert bounds == REQUEST_LE

    # the traffic is there: these would be zero if a family broke
    lab = lambda **kw: frozenset(kw.items())  # noqa: E731
    assert m[("reqperf_requests_total", lab(route="/app/page/{id}", method="GET",
                                            status_class="2xx"))] == 8
    assert m[("reqperf_slow_requests_total",
              lab(route="/app/slow", method="GET"))] == 2
    assert m[("reqperf_cache_requests_total", lab(result="hit"))] >= 2
    assert m[("reqperf_cache_requests_total", lab(result="bypass"))] >= 2
    assert m[("reqperf_memcached_up", lab(server=memcached.address))] == 1


# ---------------------------------------------------------------- dashboard

def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def dashboard_queries(d):
    """[(where, expr)] of every panel target and every query variable."""
    out = []
    for p in walk_panels(d["panels"]):
        for t in p.get("targets", []):
            out.append(("panel %r %s" % (p.get("title"), t.get("refId")),
                        t["expr"]))
    for v in d["templating"]["list"]:
        if v["type"] == "query":
            q = v.get("definition") or v["query"]
            out.append(("variable $%s" % v["name"],
                        q["query"] if isinstance(q, dict) else q))
    return out


def grafana_regex(value):
    """A variable's value as Grafana puts a multi-value selection into a
    Prometheus =~ matcher (regex-escaped, inside a PromQL string)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value)


def substitute(expr, values):
    for name in sorted(list(values) + list(BUILTINS), key=len, reverse=True):
        expr = expr.replace(name, values.get(name, BUILTINS.get(name)))
    assert "$" not in expr, "unknown variable in %s" % expr
    return expr


LABEL_VALUES = re.compile(r"^label_values\((.*),\s*(\w+)\)$")
SELECTOR = re.compile(r"\b(reqperf_[A-Za-z0-9_:]*)\s*(\{([^}]*)\})?")
SCRAPE_LABELS = {"instance", "job"}


def check_names(where, expr, live_labels):
    """Every metric expr names is a series name in the live output, and
    every label it matches on or groups by is one those series carry (or
    one Prometheus adds when it scrapes)."""
    names = [n for n, _, _ in SELECTOR.findall(expr)]
    assert names, "%s queries no reqperf metric: %s" % (where, expr)
    carried = set(SCRAPE_LABELS)
    for name, _, matchers in SELECTOR.findall(expr):
        assert name in live_labels, \
            "%s: %s is not in the live output" % (where, name)
        carried |= live_labels[name]
        for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
            assert label in live_labels[name] | SCRAPE_LABELS, \
                "%s: %s has no label %s" % (where, name, label)
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        for label in re.split(r"\s*,\s*", group.strip()):
            assert label in carried, "%s: groups by %s, which %s lack" \
                % (where, label, names)
    m = LABEL_VALUES.match(expr)
    if m:
        assert m.group(2) in carried, where


def finite(result):
    return [s for s in result if math.isfinite(float(s["value"][1]))]


def test_dashboard_queries_answer_from_live_apache(apache_factory, memcached):
    with open(DASHBOARD) as f:
        d = json.load(f)
    queries = dashboard_queries(d)
    variables = {"$" + v["name"] for v in d["templating"]["list"]}
    assert {"$datasource", "$instance", "$route"} <= variables
    for p in walk_panels(d["panels"]):
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p.get("targets"), "panel %r has no query" % p["title"]
    for where, expr in queries:
        for name in re.findall(r"\$\w+", expr):
            assert name in variables or name in BUILTINS, (where, name)

    a = start(apache_factory, memcached)
    traffic(a)
    wait_counted(a, len(ROUND))
    live_labels = {}
    for (name, labels), _ in parse_prom(live(a)).items():
        live_labels.setdefault(name, set()).update(k for k, _ in labels)
    for where, expr in queries:
        check_names(where, expr, live_labels)

    # a real Prometheus scrapes this Apache (the scrape config README
    # shows, for one server) while traffic goes on, until it has three
    # scrapes; the first comes some 5 s after start (its discovery)
    target = "127.0.0.1:%d" % a.port
    prom = Prometheus([{"job_name": "reqperf",
                        "metrics_path": "/reqperf-status",
                        "params": {"format": ["prometheus"]},
                        "static_configs": [{"targets": [target]}]}])
    try:
        deadline = time.monotonic() + 60
        while True:
            traffic(a)
            up = prom.query('count_over_time(up{job="reqperf"}[5m])')
            if up and float(up[0]["value"][1]) >= 3:
                break
            assert time.monotonic() < deadline, \
                "Prometheus did not scrape 3 times in 60 s: %s\n%s" \
                % (prom.api("targets"), prom.log())
            time.sleep(0.2)
        assert prom.query('up{job="reqperf"}')[0]["value"][1] == "1"

        everything = {"$instance": grafana_regex(target), "$route": ".*"}
        for where, expr in queries:
            m = LABEL_VALUES.match(expr)
            if m:
                # a variable: the values Grafana would list
                selector = substitute(m.group(1), everything)
                got = prom.api("label/%s/values" % m.group(2),
                               **{"match[]": selector})
                assert got, "%s lists nothing" % where
                if m.group(2) == "instance":
                    assert got == [target]
                if m.group(2) == "route":
                    assert "/app/page/{id}" in got and "/app/slow" in got
                continue
            result = prom.query(substitute(expr, everything))
            assert finite(result), "%s: no finite value from %s: %s" \
                % (where, expr, result)

        # README's example queries (```promql blocks), as written
        with open(os.path.join(ROOT, "README.md")) as f:
            examples = re.findall(r"```promql\n(.*?)```", f.read(), re.S)
        assert len(examples) >= 3
        for expr in examples:
            check_names("README", expr, live_labels)
            assert finite(prom.query(expr)), "README: %s" % expr

        # one route chosen: panels that use $route show that route only.
        # /app/timed is the route with every per-route family (requests,
        # durations, application metrics; slow and 5xx at zero)
        chosen = "/app/timed"
        one = dict(everything, **{"$route": grafana_regex(chosen)})
        for where, expr in queries:
            if "$route" not in expr or LABEL_VALUES.match(expr):
                continue
            result = prom.query(substitute(expr, one))
            assert finite(result), "%s with one route: %s" % (where, result)
            for s in result:
                assert s["metric"].get("route", chosen) == chosen, (where, s)
    finally:
        prom.stop()
