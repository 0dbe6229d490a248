"""pytest fixtures over harness.py: every Apache, memcached and backend a
test starts is stopped by pid when the test ends, and every Apache's error
log is checked: a crash, AH00052 or a sanitizer report fails the test.

An event-MPM Apache whose children are younger than harness.SETTLE_S
(see Apache.settle) is handed to a reaper thread that stops and checks it
once they are old enough, while the next tests run: waiting for it in
line cost every run minutes.  What the reaper finds still fails the run
(at its end, naming the test), and every Apache is stopped before the
session ends."""
import threading

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


class Reaper:
    """Stops and checks Apaches whose children must age first."""

    def __init__(self):
        self.lock = threading.Lock()
        self.threads = []
        self.failures = []

    def later(self, a, test):
        def run():
            try:
                stop_and_check(a)
            except AssertionError as e:
                with self.lock:
                    self.failures.append("%s: %s" % (test, e))
        t = threading.Thread(target=run, daemon=True)
        t.start()
        with self.lock:
            self.threads.append(t)

    def join(self):
        for t in list(self.threads):
            t.join(60)


REAPER = Reaper()


def stop_and_check(a):
    a.stop()
    a.check_clean()
    a.cleanup()


def pytest_sessionfinish(session, exitstatus):
    REAPER.join()
    if REAPER.failures:
        for f in REAPER.failures:
            session.config.pluginmanager.get_plugin("terminalreporter") \
                .write_line("FAILED (found when its Apache stopped) " + f,
                            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def apache_factory(backend, request):
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
        if a.pid is not None and not a.settled():
            REAPER.later(a, request.node.nodeid)
            continue
        try:
            stop_and_check(a)
        except AssertionError as e:
            failures.append(str(e))
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
