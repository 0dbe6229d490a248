#!/bin/sh
# tests/deb/in-root.sh DEB PORT: run inside a throwaway Debian 12 root
# (tests/deb/run.sh makes it with mmdebstrap; apache2 and curl are
# installed, nothing else of ours).  Does what an administrator does:
# apt install ./the.deb, a2enmod reqperf, apache2ctl configtest, requests
# to /reqperf-status, a2dismod and a reinstall, apt purge; fails if any
# step fails or the purge leaves anything behind.  Apache listens on 127.0.0.1:PORT only and is
# stopped by its pid whatever happens.
set -eu
deb=$1
port=$2
pkg=libapache2-mod-reqperf
export DEBIAN_FRONTEND=noninteractive

step() { echo "---- $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# apt, failing on its exit status (sh has no pipefail), showing the end
apt_run() {
    apt "$@" > /tmp/apt.txt 2>&1 || { cat /tmp/apt.txt; fail "apt $*"; }
    tr '\r' '\n' < /tmp/apt.txt | grep -v -e "^WARNING: apt does not have" \
        -e "^(Reading database" | tail -n 3
}

# Every path on this root's filesystem with its type and mode, and the
# checksum of every file in /etc, less what apt, dpkg and logging change
# by themselves.  Also left out: the empty marker directories that
# apache2's own a2dismod creates under /var/lib/apache2/module/ the first
# time any module is disabled (a marker file left in them would show).
snapshot() {
    find / -xdev \( -path /tmp -o -path /run -o -path /var/log \
        -o -path /var/cache -o -path /var/lib/apt -o -path /var/lib/dpkg \
        -o -path /proc -o -path /sys -o -path /dev \) -prune \
        -o -printf '%y %m %p\n' \
        | grep -Ev '^d 755 /var/lib/apache2/module/(en|dis)abled_by_(admin|maint)$' \
        | sort
    find /etc -xdev -type f -exec md5sum {} + | sort -k 2
}

apache_pid() { cat /run/apache2/apache2.pid 2>/dev/null || true; }
stop_apache() {
    pid=$(apache_pid)
    [ -n "$pid" ] || return 0
    apache2ctl stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1; i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        fail "apache2 (pid $pid) did not stop within 10 s"
    fi
}
trap stop_apache EXIT

# A private port and a ServerName (otherwise configtest warns AH00558);
# done before the first snapshot: they are the machine's, not ours.
sed -i "s/^Listen 80\$/Listen 127.0.0.1:$port/" /etc/apache2/ports.conf
grep -q "^Listen 127.0.0.1:$port\$" /etc/apache2/ports.conf \
    || fail "could not set Listen in ports.conf"
echo "ServerName localhost" > /etc/apache2/conf-available/servername.conf
a2enconf -q servername
snapshot > /tmp/before.txt

step "apt install ./$(basename "$deb")"
apt_run install -y "$deb"
dpkg-query -W -f='${Status}\n' $pkg | grep -q "install ok installed" \
    || fail "$pkg is not installed"
dpkg -L $pkg > /tmp/files.txt
[ -L /etc/apache2/mods-enabled/reqperf.load ] \
    || fail "the package did not enable the module"

step "a2enmod reqperf"
a2enmod reqperf
[ -L /etc/apache2/mods-enabled/reqperf.load ] \
    && [ -L /etc/apache2/mods-enabled/reqperf.conf ] \
    || fail "reqperf.load/.conf are not in mods-enabled"

step "a2enmod follows reqperf.load's Depends (on a copy of /etc/apache2)"
cp -a /etc/apache2 /tmp/confcopy
(
    export APACHE_CONFDIR=/tmp/confcopy APACHE_STATE_DIRECTORY=/tmp/state
    a2dismod -q reqperf
    a2dismod -q -f authz_host
    [ ! -e /tmp/confcopy/mods-enabled/authz_host.load ] \
        || fail "a2dismod did not disable authz_host"
    a2enmod reqperf > /tmp/a2enmod.txt
    cat /tmp/a2enmod.txt
    grep -q "Considering dependency authz_host for reqperf" /tmp/a2enmod.txt \
        || fail "a2enmod did not consider authz_host"
    [ -L /tmp/confcopy/mods-enabled/authz_host.load ] \
        || fail "a2enmod reqperf did not enable authz_host"
)

step "apache2ctl configtest"
apache2ctl configtest > /tmp/configtest.txt 2>&1 \
    || { cat /tmp/configtest.txt; fail "configtest failed"; }
cat /tmp/configtest.txt
[ "$(cat /tmp/configtest.txt)" = "Syntax OK" ] \
    || fail "configtest printed more than 'Syntax OK'"

step "apache2ctl start; requests"
apache2ctl start
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "apache2 did not answer on 127.0.0.1:$port within 10 s"
    sleep 0.1
done
for n in 1 2 3; do
    curl -s -f -o /dev/null "http://127.0.0.1:$port/index.html?n=$n" \
        || fail "GET /index.html failed"
done
# a request is counted in its log phase, just after the client has its
# answer: ask until the four requests are in (bounded)
i=0
while :; do
    json=$(curl -s -f "http://127.0.0.1:$port/reqperf-status?format=json") \
        || fail "GET /reqperf-status?format=json failed"
    echo "$json" | grep -q '"requests":4,' && break
    i=$((i + 1))
    [ $i -lt 50 ] || { echo "$json" | head -c 400; fail "requests is not 4"; }
    sleep 0.1
done
echo "$json" | grep -q '"route":"/index.html","method":"GET","count":3,' \
    || { echo "$json" | head -c 600; fail "no route /index.html with count 3"; }
curl -s -f "http://127.0.0.1:$port/reqperf-status" | grep -q "/index.html" \
    || fail "the HTML status page does not show /index.html"
curl -s -f "http://127.0.0.1:$port/reqperf-status?format=prometheus" \
    | grep -q '^reqperf_requests_total{route="/index.html",method="GET",status_class="2xx"} 3$' \
    || fail "the Prometheus output does not count /index.html"
echo "status page: 4 requests counted, /index.html 3 times"
stop_apache
if grep -E "AH00052|Segmentation fault|child pid [0-9]+ exit signal" \
        /var/log/apache2/error.log; then
    fail "the error log shows a crash"
fi

step "a2dismod reqperf stays off through a reinstall (an upgrade)"
a2dismod -q reqperf
apt_run install --reinstall -y "$deb"
[ ! -e /etc/apache2/mods-enabled/reqperf.load ] \
    || fail "the reinstall enabled the module the admin had disabled"

step "apt purge $pkg"
apt_run purge -y $pkg
left=""
while read -r f; do
    [ -d "$f" ] && continue
    if [ -e "$f" ] || [ -L "$f" ]; then left="$left $f"; fi
done < /tmp/files.txt
[ -z "$left" ] || fail "files of the package left after purge:$left"
found=$(find / -xdev \( -path /tmp -o -path /proc -o -path /sys -o -path /dev \) \
        -prune -o -name '*reqperf*' -print)
[ -z "$found" ] || fail "left after purge: $found"
# the libraries it pulled in go with autoremove; then the root is as it
# was before the install
apt_run autoremove --purge -y
snapshot > /tmp/after.txt
if ! diff -u /tmp/before.txt /tmp/after.txt; then
    fail "the root differs from before the install (above)"
fi
echo "purge and autoremove leave the root as it was"
echo "PASS"
