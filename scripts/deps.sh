#!/bin/sh
# scripts/deps.sh PROFILE...: install the Debian 12 packages mod_reqperf
# needs for PROFILE (build, test, demo, bench, fuzz, deb, deb-test), only
# those missing.
# As root it installs them with apt-get; otherwise it lists them and fails.
set -eu

build="apache2 apache2-dev libmemcached-dev libjansson-dev libxxhash-dev pkg-config make gcc"
# make deb (dh-apache2 is provided by apache2-dev); make deb-test
deb="$build dpkg-dev debhelper fakeroot lintian"
debtest="$deb mmdebstrap"
test="$debtest memcached libcmocka-dev python3 python3-pytest python3-requests python3-h2 openssl apache2-utils libapache2-mod-wsgi-py3 prometheus clang libclang-rt-14-dev curl wrk chromium"
demo="$build memcached python3 libapache2-mod-wsgi-py3 apache2-utils curl"
# the peers the cache benchmark sets beside mod_reqperf (Varnish; nginx
# with srcache + memc, nginx's usual memcached page cache)
bench="$build memcached wrk apache2-utils valgrind libapache2-mod-wsgi-py3 python3 python3-requests curl varnish nginx libnginx-mod-http-srcache-filter libnginx-mod-http-memc"
fuzz="$build clang libclang-rt-14-dev libcmocka-dev"

want=""
for profile in "${@:-test}"; do
    case "$profile" in
    build) want="$want $build" ;;
    test) want="$want $test" ;;
    demo) want="$want $demo" ;;
    bench) want="$want $bench" ;;
    fuzz) want="$want $fuzz" ;;
    deb) want="$want $deb" ;;
    deb-test) want="$want $debtest" ;;
    *) echo "deps.sh: unknown profile '$profile'" >&2; exit 2 ;;
    esac
done

missing=""
for p in $(echo $want | tr ' ' '\n' | sort -u); do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: not root; install them with: sudo apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The packages' own services (apache2 on :80, memcached on :11211) are not
# used; keep apt from starting them where policy-rc.d allows it.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps.sh: done"
