#!/usr/bin/python3
"""mod_reqperf benchmarks: every figure is a ratio of variants measured
side by side in one run (this machine is shared and noisy; an absolute
requests-per-second figure means little).

    /usr/bin/python3 bench/run.py [timing] [status] ... [--seconds N]

Each variant gets its own private apache2 (event MPM) on 127.0.0.1; wrk
runs against them in alternating rounds and the median of the rounds is
kept.  Every server started is stopped at the end.  Prints one Markdown
table of ratios and the figures behind them.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import Apache, Backend, Memcached  # noqa: E402

PAGE_BYTES = 14 * 1024
WRK_THREADS = 2
WRK_CONNECTIONS = 32

ROWS = []          # (benchmark, variant, rps, p50 ms, p99 ms, ratio, goal)


def wrk(url, seconds, headers=()):
    cmd = ["wrk", "-t%d" % WRK_THREADS, "-c%d" % WRK_CONNECTIONS,
           "-d%ds" % seconds, "--latency", "--timeout", "5s"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99),
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": sock.group(1) if sock else ""}


def side_by_side(variants, seconds, rounds):
    """variants: {name: (url, headers)}; alternating rounds, medians."""
    results = {name: [] for name in variants}
    for name, (url, headers) in variants.items():      # warm up
        wrk(url, 1, headers)
    for _ in range(rounds):
        for name, (url, headers) in variants.items():
            results[name].append(wrk(url, seconds, headers))
    out = {}
    for name, runs in results.items():
        out[name] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50": statistics.median(r["p50"] for r in runs),
            "p99": statistics.median(r["p99"] for r in runs),
            "non2xx": sum(r["non2xx"] for r in runs),
        }
    return out


def row(bench, variant, res, base=None, goal=""):
    ratio = "" if base is None else "%.2f×" % (res["rps"] / base["rps"])
    ROWS.append((bench, variant, "%.0f" % res["rps"], "%.2f" % res["p50"],
                 "%.2f" % res["p99"], ratio, goal))
    if res.get("non2xx"):
        print("warning: %s/%s had %d non-2xx responses" % (bench, variant,
                                                          res["non2xx"]),
              file=sys.stderr)


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
    return {"on_ratio": res["ReqPerf On"]["rps"] / base["rps"],
            "p99_ratio": res["ReqPerf On"]["p99"] / base["p99"]}


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
                     "", "%.2f" % ms, "", "%d KB" % (size // 1024),
                     "< 10 ms" if fmt == "html" else ""))
    return times


BENCHES = {"timing": bench_timing, "status": bench_status}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("which", nargs="*", default=list(BENCHES))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cleanup = []
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
          "%d rounds of %d s, medians" % (
              time.strftime("%Y-%m-%d"), os.uname().nodename,
              os.cpu_count(), WRK_THREADS, WRK_CONNECTIONS, args.rounds,
              args.seconds))
    print()
    print("| benchmark | variant | req/s | p50 ms | p99 ms | ratio | goal |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in ROWS:
        print("| %s |" % " | ".join(r))
    print()
    print("(%.0f s in all)" % (time.time() - started))


if __name__ == "__main__":
    main()
