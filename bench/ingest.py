"""Benchmark of ingest at two sizes (default 200k and 2M Pub 1220 B records).

For each size it writes one synthetic Pub 1220 file (1099-NEC, 10,000 payees per
payer), then reports records/second for:

* parse alone (``read_pub1220``: framing, grammar, B columns, control totals);
* parse + validate + load (``ingest_paths``: the whole pipeline, one transaction,
  audit event included) into a fresh SQLite store (executemany) and, when a
  PostgreSQL URL is given, into a fresh PostgreSQL database (COPY).

    .venv/bin/python bench/ingest.py                         # 200k and 2M, SQLite
    .venv/bin/python bench/ingest.py --sizes 20000,200000    # smoke run
    .venv/bin/python bench/ingest.py --pg-url postgresql://postgres@127.0.0.1:55432/postgres
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from taxvault.access.system_principals import ensure_system_principals
from taxvault.formats.pub1220 import PayeeInput, PayerInput, TransmitterInput, read_pub1220, write_pub1220
from taxvault.ingest import ingest_paths
from taxvault.store import make_engine
from taxvault.store.migrate import upgrade
from taxvault.synth.identifiers import synthetic_eins, synthetic_ssns

PER_PAYER = 10_000
_NAMES = ("SMITH", "JOHNSON", "NGUYEN", "GARCIA", "O'NEIL", "DE LA ROSA", "LEE", "BROWN")


def make_file(n: int, seed: int = 1) -> bytes:
    """A synthetic (test-flagged) Pub 1220 file with ``n`` 1099-NEC payees."""
    rng = np.random.default_rng(seed)
    ssns = synthetic_ssns(seed, np.arange(n, dtype=np.int64)).tolist()
    amounts = rng.integers(1_000, 5_000_000, n).tolist()
    last = rng.integers(0, len(_NAMES), n).tolist()
    payees = [
        PayeeInput(
            tin=ssns[i],
            name=f"PAT {_NAMES[last[i]]}",
            name_control=_NAMES[last[i]].replace("'", "").replace(" ", "")[:4],
            amounts={"1": amounts[i]},
            address="1 MAIN ST",
            city="SPRINGFIELD",
            state="IL",
            zip="62701",
        )
        for i in range(n)
    ]
    eins = synthetic_eins(seed, np.arange((n + PER_PAYER - 1) // PER_PAYER, dtype=np.int64)).tolist()
    payers = [
        PayerInput(tin=ein, name=f"PAYER {k}", form="1099-NEC", payees=payees[k * PER_PAYER : (k + 1) * PER_PAYER])
        for k, ein in enumerate(eins)
    ]
    transmitter = TransmitterInput(tin=eins[0], tcc="00SYN", name="BENCH", test_file=True)
    return write_pub1220(transmitter, payers, payment_year=2024, line_end=b"\r\n")


def fresh_pg(admin_url: str) -> tuple[str, str]:
    name = f"tv_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return name, url


def drop_pg(admin_url: str, name: str) -> None:
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def timed_load(url: str, path: Path) -> tuple[float, int]:
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:  # what `taxvault init` does after migrating
        ensure_system_principals(conn)
    started = time.perf_counter()
    (report,) = ingest_paths(engine, [path])
    elapsed = time.perf_counter() - started
    engine.dispose()
    assert report.read == report.loaded + report.quarantined
    return elapsed, report.loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200000,2000000", help="B records per file, comma-separated")
    parser.add_argument("--pg-url", default=None, help="PostgreSQL admin URL (a database is created per run)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            started = time.perf_counter()
            data = make_file(n)
            path = Path(tmp) / f"bench_{n}.p1220"
            path.write_bytes(data)
            print(f"\n{n:,} B records ({len(data) / 1e6:,.0f} MB) written in {time.perf_counter() - started:.1f}s")
            started = time.perf_counter()
            parsed = read_pub1220(data)
            elapsed = time.perf_counter() - started
            assert len(parsed.payees) == n and parsed.consistent
            print(f"  parse                     {n / elapsed:>12,.0f} records/s  ({elapsed:.2f}s)")
            del parsed, data
            gc.collect()
            db = Path(tmp) / f"bench_{n}.db"
            elapsed, loaded = timed_load(f"sqlite:///{db}", path)
            print(f"  parse+validate+load SQLite{loaded / elapsed:>12,.0f} records/s  ({elapsed:.2f}s)")
            db.unlink()
            if args.pg_url:
                name, url = fresh_pg(args.pg_url)
                try:
                    elapsed, loaded = timed_load(url, path)
                    print(f"  parse+validate+load PG    {loaded / elapsed:>12,.0f} records/s  ({elapsed:.2f}s)")
                finally:
                    drop_pg(args.pg_url, name)
            path.unlink()


if __name__ == "__main__":
    main()
