"""pytest fixtures over harness.py: every Apache, memcached and backend a
test starts is stopped by pid when the test ends, and every Apache's error
log is checked: a crash, AH00052 or a sanitizer report fails the test."""
import pytest

from harness import (Apache, Backend, Memcached, MPMS, MPMS_ALL, ROOT,  # noqa: F401
                     MODULE, apache_env, parse_access_line, free_port,
                     wait_port, raw, raw_get, raw_to, tls_certificate)


@pytest.fixture(scope="session")
def backend():
    b = Backend()
    yield b
    b.stop()


@pytest.fixture
def memcached_factory():
    started = []

    def make(**kw):
        m = Memcached(**kw)
        started.append(m)
        return m
    yield make
    for m in started:
        m.stop()


@pytest.fixture
def memcached(memcached_factory):
    return memcached_factory()


@pytest.fixture
def apache_factory(backend):
    """Start Apaches; each is stopped and its error log checked after."""
    started = []

    def make(conf="", mpm="event", start=True, **kw):
        kw.setdefault("backend", backend)
        a = Apache(mpm=mpm, conf=conf, **kw)
        started.append(a)
        if start:
            a.start()
        return a
    yield make
    failures = []
    for a in started:
        a.stop()
        try:
            a.check_clean()
        except AssertionError as e:
            failures.append(str(e))
        if not failures:
            a.cleanup()
    if failures:
        pytest.fail("\n".join(failures))




@pytest.fixture(autouse=True)
def fresh_backend_counts(request):
    """Each test counts backend hits from zero (the backend is shared)."""
    if "backend" in request.fixturenames:
        b = request.getfixturevalue("backend")
        requests_post(b.url("/__reset"))
    yield


def requests_post(url):
    import requests
    requests.post(url, timeout=5)
