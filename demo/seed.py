#!/usr/bin/python3
"""Create the demo's billing database: 500 customers, 20,000 invoices.

    /usr/bin/python3 demo/seed.py PATH/billing.sqlite3

Deterministic (a seeded RNG): every run builds the same rows, so the
demo's numbers and URLs (/invoices/42, /customers/7) are stable.

Like many databases that grew with a young application, this one has no
index on invoices.customer_id, invoices.status or invoices.memo: the
invoice list's text filter (memo LIKE '%...%'), the customer pages and
the monthly report scan the whole table.  That is the point of the demo
(mod_reqperf shows where the time goes, then caches the pages); do not
add indexes here.
"""
import datetime
import os
import random
import sqlite3
import sys

CUSTOMERS = 500
INVOICES = 20000
SEED = 20261125

FIRST = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Dennis",
         "Barbara", "Edsger", "Donald", "Frances", "John", "Radia", "Niklaus",
         "Sophie", "Tim", "Vint", "Whitfield", "Hedy", "Katherine"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson",
        "Ritchie", "Liskov", "Dijkstra", "Knuth", "Allen", "McCarthy",
        "Perlman", "Wirth", "Wilson", "Berners-Lee", "Cerf", "Diffie",
        "Lamarr", "Johnson"]
COMPANY = ["Widgets", "Logistics", "Bakery", "Consulting", "Hardware",
           "Studios", "Analytics", "Foods", "Textiles", "Robotics", "Media",
           "Gardens", "Motors", "Labs", "Books"]
SUFFIX = ["Ltd", "GmbH", "SARL", "Inc.", "& Sons", "Co-op", "BV", "AB"]
CITIES = ["Lyon", "Hamburg", "Leeds", "Porto", "Gdansk", "Turin", "Ghent",
          "Aarhus", "Brno", "Bilbao", "Cork", "Graz"]
ITEMS = ["consulting hours", "server rental", "support contract",
         "hardware replacement", "license renewal", "training session",
         "on-site visit", "data migration", "security audit",
         "design workshop", "monthly retainer", "cloud storage",
         "network upgrade", "printer maintenance", "backup service"]
PROJECTS = ["Falcon", "Orion", "Juniper", "Atlas", "Kestrel", "Nimbus",
            "Quartz", "Sequoia", "Tundra", "Zephyr", "Lighthouse", "Mosaic"]
NOTES = ["net 30", "net 60", "payable by bank transfer",
         "reference the PO number when paying", "second reminder sent",
         "partial delivery", "discount applied", "late fee waived",
         "customer disputes line 3", "approved by finance",
         "split across two cost centres", "urgent"]

SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    company TEXT NOT NULL,
    email TEXT NOT NULL,
    city TEXT NOT NULL,
    since TEXT NOT NULL
);
-- no index on customer_id, status, due_date or memo: see the docstring
CREATE TABLE invoices (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    amount_cents INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('paid', 'unpaid')),
    issued TEXT NOT NULL,
    due_date TEXT NOT NULL,
    paid_at TEXT,
    memo TEXT NOT NULL
);
CREATE TABLE sessions (
    token TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    created TEXT NOT NULL
);
"""


def memo(rng):
    lines = []
    for _ in range(rng.randint(2, 5)):
        lines.append("%d x %s for project %s" % (
            rng.randint(1, 40), rng.choice(ITEMS), rng.choice(PROJECTS)))
    lines.append(rng.choice(NOTES))
    return "; ".join(lines) + "."


def build(path):
    rng = random.Random(SEED)
    tmp = path + ".tmp"
    for p in (tmp, tmp + "-journal"):
        if os.path.exists(p):
            os.unlink(p)
    db = sqlite3.connect(tmp)
    db.executescript(SCHEMA)
    start = datetime.date(2024, 1, 1)
    customers = []
    for cid in range(1, CUSTOMERS + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = "%s %s %s" % (last, rng.choice(COMPANY), rng.choice(SUFFIX))
        since = start - datetime.timedelta(days=rng.randint(0, 1500))
        customers.append((cid, "%s %s" % (first, last), company,
                          "%s.%s%d@example.com" % (first.lower(),
                                                   last.lower(), cid),
                          rng.choice(CITIES), since.isoformat()))
    db.executemany("INSERT INTO customers VALUES (?,?,?,?,?,?)", customers)
    invoices = []
    for iid in range(1, INVOICES + 1):
        cid = rng.randint(1, CUSTOMERS)
        issued = start + datetime.timedelta(days=rng.randint(0, 700))
        due = issued + datetime.timedelta(days=rng.choice((14, 30, 30, 60)))
        paid = rng.random() < 0.7
        paid_at = None
        if paid:
            paid_at = (due - datetime.timedelta(days=rng.randint(-20, 20))
                       ).isoformat()
        amount = rng.choice((rng.randint(1000, 50000),
                             rng.randint(50000, 900000)))
        invoices.append((iid, cid, amount, "paid" if paid else "unpaid",
                         issued.isoformat(), due.isoformat(), paid_at,
                         memo(rng)))
    db.executemany("INSERT INTO invoices VALUES (?,?,?,?,?,?,?,?)", invoices)
    db.commit()
    # WAL: readers do not block the writer (the pay form) and vice versa
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    os.replace(tmp, path)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: seed.py PATH/billing.sqlite3")
    path = sys.argv[1]
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    build(path)
    db = sqlite3.connect(path)
    n_c = db.execute("SELECT count(*) FROM customers").fetchone()[0]
    n_i, unpaid = db.execute(
        "SELECT count(*), sum(status = 'unpaid') FROM invoices").fetchone()
    db.close()
    print("seed.py: %s: %d customers, %d invoices (%d unpaid)"
          % (path, n_c, n_i, unpaid))


if __name__ == "__main__":
    main()
