#!/bin/sh
# tests/deb/run.sh DEB: the package test (make deb-test).
#
# 1. The package's metadata and contents, read from the .deb (no network).
# 2. In a throwaway Debian 12 root made by mmdebstrap from Debian's
#    mirror (apache2 and curl installed, then our package), everything an
#    administrator does, by tests/deb/in-root.sh.  mmdebstrap mounts
#    /proc, /sys and /dev for the hook, keeps services from starting, and
#    deletes the root afterwards (target /dev/null), whatever happens.
#
# DEB_TEST_MIRROR and DEB_TEST_SECURITY select other mirrors (defaults
# deb.debian.org).  About a minute, most of it downloading the root.
set -eu
deb=$(realpath "${1:?usage: tests/deb/run.sh libapache2-mod-reqperf_VERSION_ARCH.deb}")
cd "$(dirname "$0")/../.."
mirror=${DEB_TEST_MIRROR:-http://deb.debian.org/debian}
security=${DEB_TEST_SECURITY:-http://deb.debian.org/debian-security}
pkg=libapache2-mod-reqperf

fail() { echo "FAIL: $*" >&2; exit 1; }

echo "==== package metadata and contents: $deb"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = $pkg ] || fail "Package is '$(field Package)'"
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
[ "$(field Version)" = "$version" ] \
    || fail "Version '$(field Version)', debian/changelog says '$version'"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] \
    || fail "Architecture is '$(field Architecture)'"
[ "$(basename "$deb")" = "${pkg}_${version}_$(dpkg --print-architecture).deb" ] \
    || fail "file name $(basename "$deb")"
[ "$(field Section)" = httpd ] || fail "Section is '$(field Section)'"
depends=$(field Depends)
for d in apache2-api-20120211 apache2-bin libmemcached11 libxxhash0; do
    echo "$depends" | tr ',' '\n' | grep -q "^ *$d\( \|\$\)" \
        || fail "Depends lacks $d: $depends"
done
echo "$depends" | tr ',' '\n' | grep -q "^ *apache2\( \|\$\)" \
    && fail "Depends names apache2 itself (modules depend on the API)"
mkdir -p build/deb
# exactly these files, nothing else
dpkg-deb --fsys-tarfile "$deb" | tar -tvf - | awk '$1 !~ /^d/ {print $6}' \
    | sort > build/deb/files.txt
cat > build/deb/files.want <<'LIST'
./etc/apache2/mods-available/reqperf.conf
./etc/apache2/mods-available/reqperf.load
./usr/lib/apache2/modules/mod_reqperf.so
./usr/share/doc/libapache2-mod-reqperf/README.md.gz
./usr/share/doc/libapache2-mod-reqperf/changelog.gz
./usr/share/doc/libapache2-mod-reqperf/copyright
./usr/share/doc/libapache2-mod-reqperf/examples/reqperf.json
LIST
diff -u build/deb/files.want build/deb/files.txt \
    || fail "the package's files differ from the list above"
rm -rf build/deb/x && mkdir -p build/deb/x && dpkg-deb -R "$deb" build/deb/x
for f in reqperf.load reqperf.conf; do
    cmp conf/$f build/deb/x/etc/apache2/mods-available/$f \
        || fail "$f in the package is not conf/$f"
    grep -qx "/etc/apache2/mods-available/$f" build/deb/x/DEBIAN/conffiles \
        || fail "$f is not a conffile"
done
cmp contrib/grafana/reqperf.json \
    build/deb/x/usr/share/doc/$pkg/examples/reqperf.json \
    || fail "the dashboard in the package is not contrib/grafana/reqperf.json"
# dh_apache2's maintainer scripts: enable on install, disable on remove,
# forget on purge
for s in postinst:enmod prerm:dismod postrm:dismod; do
    f=build/deb/x/DEBIAN/${s%%:*}
    grep -q "for conf in reqperf *; do" "$f" \
        && grep -q "apache2_invoke ${s#*:} \$conf" "$f" \
        || fail "${s%%:*} does not ${s#*:} reqperf (dh_apache2)"
done
nm -D --defined-only build/deb/x/usr/lib/apache2/modules/mod_reqperf.so \
    | grep -q " reqperf_module\$" || fail "mod_reqperf.so lacks reqperf_module"
echo "ok: $pkg $version, Depends: $depends"

echo "==== install, a2enmod, configtest, request, purge in a throwaway root"
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mmdebstrap --quiet --variant=apt --include=apache2,curl \
    --customize-hook="copy-in $deb tests/deb/in-root.sh /tmp" \
    --customize-hook="chroot \"\$1\" sh /tmp/in-root.sh /tmp/$(basename "$deb") $port" \
    bookworm /dev/null \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
    "deb $security bookworm-security main"
echo "==== deb-test passed"
