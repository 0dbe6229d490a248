#!/bin/bash
# demo/run.sh: what `make demo` runs.
#
#   1. installs the Debian packages the demo needs (scripts/deps.sh demo)
#      and builds the module (make);
#   2. makes a run directory and seeds the billing database;
#   3. starts a private memcached and a private apache2 (event MPM,
#      mod_wsgi in daemon mode running demo/app.py, mod_reqperf timing and
#      caching it), each on a free 127.0.0.1 port;
#   4. drives a short, bounded burst of traffic (demo/traffic.py);
#   5. prints what to open, then runs until Ctrl-C, or for DEMO_SECONDS
#      seconds when that is set;
#   6. on the way out (Ctrl-C, SIGTERM, the end of DEMO_SECONDS or an
#      error) saves the status page's JSON to <run dir>/status.json and
#      stops the apache2 and memcached it started, by pid, and nothing else.
#
# Environment:
#   DEMO_SECONDS=N        stop after N seconds instead of waiting for Ctrl-C
#   DEMO_RUN_DIR=DIR      the run directory (default demo/run, or a directory
#                         under /tmp when www-data cannot reach demo/)
#   DEMO_PORT=N           Apache's port (default: a free one)
#   SANITIZE=address      build the module under AddressSanitizer and
#                         preload libasan into apache2 (also taken from
#                         REQPERF_SANITIZE, as the test suite sets it)
#   REQPERF_LD_PRELOAD, ASAN_OPTIONS
#                         LD_PRELOAD and ASAN_OPTIONS for apache2 only (the
#                         tests pass them; under SANITIZE=address they
#                         default to libasan and a log in <run dir>/asan)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3
APACHE=/usr/sbin/apache2
MEMCACHED=/usr/bin/memcached
MODDIR=/usr/lib/apache2/modules
SANITIZE=${SANITIZE:-${REQPERF_SANITIZE:-}}
DEMO_SECONDS=${DEMO_SECONDS:-}
TRAFFIC_REQUESTS=${DEMO_TRAFFIC_REQUESTS:-400}
TRAFFIC_SECONDS=${DEMO_TRAFFIC_SECONDS:-20}

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

case "$DEMO_SECONDS" in
*[!0-9]*) die "DEMO_SECONDS='$DEMO_SECONDS' is not a whole number of seconds" ;;
esac

# ---- 1. packages and the module --------------------------------------------
scripts/deps.sh demo
make --no-print-directory -f Makefile.apxs all SANITIZE="$SANITIZE"
MODULE=$ROOT/.libs/mod_reqperf.so
[ -f "$MODULE" ] || die "no $MODULE after make"

# ---- 2. the run directory -----------------------------------------------------
# Apache's children and the WSGI daemon run as www-data: everything they
# read (the application, the database) must be reachable by www-data along
# the whole path.  /work/you/project may not be (a 0700 home directory);
# then the run directory goes under /tmp.
if [ "$(id -u)" -eq 0 ]; then
    RUN_USER=www-data
    RUN_GROUP=www-data
else
    # not root: Apache cannot switch users; everything runs as us
    RUN_USER=$(id -un)
    RUN_GROUP=$(id -gn)
fi
reachable() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$RUN_USER" -- test -x "$1"
    else
        test -x "$1"
    fi
}
if [ -n "${DEMO_RUN_DIR:-}" ]; then
    RUN=$DEMO_RUN_DIR
elif reachable "$ROOT/demo"; then
    RUN=$ROOT/demo/run
else
    RUN=/tmp/reqperf-demo-$(printf '%s' "$ROOT" | md5sum | cut -c1-8)
    say "www-data cannot reach $ROOT/demo: the run directory is $RUN"
fi
case "$RUN" in /*) ;; *) RUN=$ROOT/$RUN ;; esac
[ "$RUN" != / ] || die "refusing to use / as the run directory"
mkdir -p "$RUN"
chmod 0755 "$RUN"
reachable "$RUN" || die "$RUN_USER cannot reach $RUN; set DEMO_RUN_DIR to a directory it can"
CONF=$RUN/httpd.conf
PIDFILE=$RUN/run/httpd.pid

# a demo already running from this directory? (never stop it: say so)
if [ -f "$PIDFILE" ]; then
    old=$(cat "$PIDFILE" 2>/dev/null || true)
    if [ -n "$old" ] && [ -r "/proc/$old/cmdline" ] \
        && tr '\0' ' ' < "/proc/$old/cmdline" | grep -qF -- "$CONF"; then
        die "a demo is already running from $RUN (apache2 pid $old); stop it first (Ctrl-C in its terminal, or kill $old)"
    fi
fi
# what a previous run left: start afresh (status.json and logs of the
# last run are replaced)
rm -rf "$RUN/run" "$RUN/logs" "$RUN/data" "$RUN/app" "$RUN/htdocs" \
       "$RUN/asan" "$RUN/status.json" "$RUN/httpd.conf" "$RUN/processes"
install -d -m 0755 "$RUN/run" "$RUN/logs" "$RUN/app" "$RUN/htdocs"
install -d -m 0755 -o "$RUN_USER" -g "$RUN_GROUP" "$RUN/data"
install -m 0644 demo/app.py "$RUN/app/app.py"
$PY demo/seed.py "$RUN/data/billing.sqlite3"
chown "$RUN_USER:$RUN_GROUP" "$RUN/data/billing.sqlite3"

# AddressSanitizer: the module is instrumented, Debian's apache2 is not, so
# libasan is preloaded into apache2 (and only apache2).
APACHE_PRELOAD=${REQPERF_LD_PRELOAD:-}
APACHE_ASAN=${ASAN_OPTIONS:-}
if [ "$SANITIZE" = address ]; then
    install -d -m 0777 "$RUN/asan"
    if [ -z "$APACHE_PRELOAD" ]; then
        APACHE_PRELOAD=$(gcc -print-file-name=libasan.so)
    fi
    if [ -z "$APACHE_ASAN" ]; then
        APACHE_ASAN="detect_leaks=0:abort_on_error=1:log_path=$RUN/asan/asan:allow_user_segv_handler=1"
    fi
fi

# ---- 3. memcached and apache2 ---------------------------------------------------
free_port() {
    $PY -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {                  # port seconds
    local i=0
    while ! port_open "$1"; do
        i=$((i + 1))
        [ "$i" -lt $(($2 * 20)) ] || return 1
        sleep 0.05
    done
}
# a live process (a zombie, exited but not yet reaped, counts as gone)
alive() {
    local state
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    state=$(sed -e 's/^.*) //' -e 's/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$state" != Z ]
}

PORT=${DEMO_PORT:-$(free_port)}
[ "$PORT" != 80 ] || die "DEMO_PORT=80: the demo never takes port 80"
port_open "$PORT" && die "port $PORT is in use"
MC_PORT=$(free_port)
while [ "$MC_PORT" = "$PORT" ]; do MC_PORT=$(free_port); done
BASE=http://127.0.0.1:$PORT

MC_PID=""
APACHE_PID=""
TRAFFIC_PID=""
APACHE_STARTED=0
CLEANED=0
STATUS_SAVED=0

save_status() {
    [ "$STATUS_SAVED" = 0 ] || return 0
    alive "$APACHE_PID" || return 0
    if curl -s --max-time 10 -o "$RUN/status.json.tmp" \
        "$BASE/reqperf-status?format=json"; then
        mv "$RUN/status.json.tmp" "$RUN/status.json"
        STATUS_SAVED=1
        say "saved the statistics to $RUN/status.json"
    else
        rm -f "$RUN/status.json.tmp"
        say "could not save the statistics (the status page did not answer)"
    fi
}

# Apache's processes: the parent, its children and the WSGI daemon all
# carry our configuration's path on their command line.
apache_pids() {
    local d
    for d in /proc/[0-9]*; do
        [ "$(readlink "$d/exe" 2>/dev/null)" = "$APACHE" ] || continue
        if tr '\0' ' ' < "$d/cmdline" 2>/dev/null | grep -qF -- "-f $CONF "; then
            echo "${d#/proc/}"
        fi
    done
}

stop_all() {
    local i
    if [ -z "$APACHE_PID" ] && [ "$APACHE_STARTED" = 1 ]; then
        # interrupted while it was starting: its pid file tells
        for i in $(seq 1 50); do
            APACHE_PID=$(cat "$PIDFILE" 2>/dev/null || true)
            [ -z "$APACHE_PID" ] || break
            sleep 0.1
        done
    fi
    if alive "$TRAFFIC_PID"; then
        kill "$TRAFFIC_PID" 2>/dev/null || true
        wait "$TRAFFIC_PID" 2>/dev/null || true
    fi
    if [ -n "$APACHE_PID" ]; then
        if alive "$APACHE_PID"; then
            kill -TERM "$APACHE_PID" 2>/dev/null || true
            for i in $(seq 1 200); do
                alive "$APACHE_PID" || break
                sleep 0.1
            done
            if alive "$APACHE_PID"; then
                say "apache2 (pid $APACHE_PID) did not stop in 20s: SIGKILL"
                kill -KILL "$APACHE_PID" 2>/dev/null || true
            fi
        fi
        # children that outlived their parent (should not happen)
        for i in $(apache_pids); do
            kill -KILL "$i" 2>/dev/null || true
        done
        say "stopped apache2 (pid $APACHE_PID)"
    elif [ "$APACHE_STARTED" = 1 ]; then
        for i in $(apache_pids); do
            kill -KILL "$i" 2>/dev/null || true
        done
    fi
    if [ -n "$MC_PID" ]; then
        # (on Ctrl-C memcached may have gone already: it handles SIGINT)
        if alive "$MC_PID"; then
            kill -TERM "$MC_PID" 2>/dev/null || true
            for i in $(seq 1 50); do
                alive "$MC_PID" || break
                sleep 0.1
            done
            if alive "$MC_PID"; then
                kill -KILL "$MC_PID" 2>/dev/null || true
            fi
        fi
        wait "$MC_PID" 2>/dev/null || true
        say "stopped memcached (pid $MC_PID)"
    fi
}

report_log() {
    local log=$RUN/logs/error.log
    if [ -f "$log" ] && grep -qE 'Segmentation fault|AH00052|exit signal|AddressSanitizer' "$log"; then
        say "WARNING: $log shows a crash:"
        grep -E 'Segmentation fault|AH00052|exit signal|AddressSanitizer' "$log" | head -5 >&2
    fi
    if [ -d "$RUN/asan" ] && [ -n "$(ls -A "$RUN/asan" 2>/dev/null)" ]; then
        say "WARNING: AddressSanitizer reports in $RUN/asan"
    fi
}

cleanup() {
    [ "$CLEANED" = 0 ] || return 0
    CLEANED=1
    trap '' INT TERM
    save_status || true
    stop_all || true
    report_log || true
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup' EXIT

"$MEMCACHED" -u nobody -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 -c 1024 \
    > "$RUN/logs/memcached.log" 2>&1 &
MC_PID=$!
wait_port "$MC_PORT" 10 || die "memcached did not open port $MC_PORT (see $RUN/logs/memcached.log)"

sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }
sed -e "s|@RUN_DIR@|$(sed_escape "$RUN")|g" \
    -e "s|@APP_DIR@|$(sed_escape "$RUN/app")|g" \
    -e "s|@MODULE@|$(sed_escape "$MODULE")|g" \
    -e "s|@MODDIR@|$(sed_escape "$MODDIR")|g" \
    -e "s|@PORT@|$PORT|g" -e "s|@MC_PORT@|$MC_PORT|g" \
    -e "s|^User  www-data|User  $RUN_USER|" \
    -e "s|^Group www-data|Group $RUN_GROUP|" \
    demo/httpd.conf.in > "$CONF"

apache() {
    if [ -n "$APACHE_PRELOAD" ]; then
        env LD_PRELOAD="$APACHE_PRELOAD" ASAN_OPTIONS="$APACHE_ASAN" \
            "$APACHE" -f "$CONF" "$@"
    else
        env -u LD_PRELOAD "$APACHE" -f "$CONF" "$@"
    fi
}
apache -t > "$RUN/logs/configtest.log" 2>&1 \
    || { cat "$RUN/logs/configtest.log" >&2; die "apache2 -t failed for $CONF"; }
APACHE_STARTED=1
apache -k start || die "apache2 did not start (see $RUN/logs/error.log)"
for i in $(seq 1 200); do
    APACHE_PID=$(cat "$PIDFILE" 2>/dev/null || true)
    [ -z "$APACHE_PID" ] || break
    sleep 0.1
done
[ -n "$APACHE_PID" ] || die "apache2 wrote no pid file ($PIDFILE); see $RUN/logs/error.log"
wait_port "$PORT" 20 || die "apache2 did not open port $PORT; see $RUN/logs/error.log"
printf 'apache2 %s port %s conf %s\nmemcached %s port %s\n' \
    "$APACHE_PID" "$PORT" "$CONF" "$MC_PID" "$MC_PORT" > "$RUN/processes"
say "apache2 (pid $APACHE_PID) on $BASE, memcached (pid $MC_PID) on 127.0.0.1:$MC_PORT"

# ---- 4. a burst of traffic ----------------------------------------------------
TRAFFIC_RC=0
$PY demo/traffic.py "$BASE" --requests "$TRAFFIC_REQUESTS" \
    --seconds "$TRAFFIC_SECONDS" &
TRAFFIC_PID=$!
wait "$TRAFFIC_PID" || TRAFFIC_RC=$?
TRAFFIC_PID=""
[ "$TRAFFIC_RC" = 0 ] || say "WARNING: the traffic driver reported failures (see above and $RUN/logs/error.log)"

# ---- 5. what to look at ---------------------------------------------------------
cat <<EOF

==== mod_reqperf demo: running ============================================
  the application   $BASE/
  the status page   $BASE/reqperf-status        (?refresh=5 reloads, ?sort=p99)
  as JSON           $BASE/reqperf-status?format=json
  for Prometheus    $BASE/reqperf-status?format=prometheus
  run directory     $RUN
                    (logs/access.log has every request's route, phases and
                    cache result; status.json is written when the demo stops)

What to look at on the status page:
  * Routes, sorted by time spent: /invoices (the list: a LIKE scan and one
    more full-table query per row, an "N+1") and /reports/monthly (about
    1.2 s) lead.  Their time is in the handler and ttfb phases: the
    application's own time, not Apache's.
  * Inside the application: the app sends a Server-Timing header (one
    db entry per SQL query, tpl, rates), and the page splits each
    route's handler bar into what the application reported and the
    rest: /invoices is database-bound, about 53 queries per response
    (the N+1); /reports/monthly waits a second on "rates".
  * What caching would save: everything but the dashboard, the invoices
    and the report runs under ReqPerfCache Observe (every decision taken,
    nothing served or stored).  /invoices would be answered from the
    cache most of the time, saving seconds of application time, if the
    analytics cookie and the utm_* parameters were ignored (the directives
    are named); /customers/{id} can never be cached: it sets a csrftoken
    cookie on every response; /account is personal (its session cookie).
  * The slow-request log: every request over 500 ms, with its phases and
    cache result.  The first request of a cached page is slow; the ones
    after it are cache hits, served in about a millisecond.
  * After an invoice is paid (traffic above), its pages were purged by tag
    and filled again: see the MISS then HIT.

Try it (the second request of a page is a HIT; Server-Timing shows phases):
  curl -s -o /dev/null -D - '$BASE/invoices/42' | grep -iE '^(x-cache|age|server-timing)'
  curl -s -o /dev/null -D - '$BASE/invoices/42?utm_source=mail' | grep -i '^x-cache'
  curl -s -o /dev/null -D - -b 'sessionid=nobody' $BASE/invoices/42 | grep -i '^x-cache'
  curl -s -o /dev/null -D - '$BASE/invoices?status=unpaid' | grep -ci '^x-cache'   # Observe: 0
  curl -s -d tag=invoices $BASE/reqperf-purge        # drop every list and the report
  curl -s '$BASE/reqperf-status?format=json' | $PY -m json.tool | grep -A12 '"advice"'
EOF
if [ -n "$DEMO_SECONDS" ]; then
    echo "Stopping in $DEMO_SECONDS s (DEMO_SECONDS)."
else
    echo "Press Ctrl-C to stop everything the demo started."
fi
echo "==========================================================================="

# ---- 6. run until Ctrl-C or DEMO_SECONDS ------------------------------------
end=$((SECONDS + ${DEMO_SECONDS:-0}))
while [ -z "$DEMO_SECONDS" ] || [ "$SECONDS" -lt "$end" ]; do
    if ! alive "$APACHE_PID"; then
        say "apache2 (pid $APACHE_PID) exited; see $RUN/logs/error.log"
        exit 1
    fi
    sleep 1
done
cleanup
if [ -f "$RUN/status.json" ]; then
    $PY - "$RUN/status.json" <<'EOF' || true
import json, sys
d = json.load(open(sys.argv[1]))
c = d.get("cache", {})
print("demo: %d requests, %d slow; cache: %d hits, %d misses, %d bypassed"
      % (d.get("requests", 0), d.get("slow_requests", 0), c.get("hit", 0),
         c.get("miss", 0), c.get("bypass", 0)))
for r in sorted((r for r in d.get("routes", []) if r.get("advice")
                 and r["advice"]["mode"] == "observe"),
                key=lambda r: -r["advice"]["saved_us"]):
    a = r["advice"]
    print("demo: Observe %s %s: %d of %d lookups would hit, %.1f s saved; %s"
          % (r["method"], r["route"], a["would_hit"], a["observed"],
             a["saved_us"] / 1e6, ", ".join("%s %d" % kv for kv in sorted(
                 a["reasons"].items(), key=lambda kv: -kv[1])) or "-"))
EOF
fi
exit "$TRAFFIC_RC"
