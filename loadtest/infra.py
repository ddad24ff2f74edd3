"""The pieces a load run starts and breaks: a throwaway PostgreSQL, the taxvault server, the faults.

Everything listens on 127.0.0.1 and lives in the run's work directory; nothing touches the
shared test PostgreSQL (a fault restarts or fills only the cluster this module made).

Faults, each real rather than simulated in the code under test:

- ``kill``: SIGKILL of the server process, then a restart (what a supervisor does);
- ``pg-restart``: ``pg_ctl restart -m immediate`` of the cluster (crash recovery on start);
- ``disk-full``: the audit store on a size-limited tmpfs, filled to ENOSPC by a filler file,
  then the filler removed (SQLite: the whole store is on it; PostgreSQL: the audit tables and
  their indexes are moved to a tablespace on it);
- ``slow-disk``: ``slowfsync.so`` preloaded (LD_PRELOAD) into the server or the postmaster
  makes every fsync/fdatasync sleep the milliseconds written in a control file.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and pg_ctl refuse root: run them as the postgres account then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries of the machine (Debian layout), if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
    return found[-1] if found else None


def build_slow_fsync(work: Path) -> Path | None:
    """Compile ``slowfsync.c`` into the work directory (None without a C compiler)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    out = work / "slowfsync.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(Path(__file__).with_name("slowfsync.c")), "-ldl"],
        check=True,
    )
    out.chmod(0o755)
    return out


@dataclass
class SlowDisk:
    """The delay control file the preloaded shim reads on every sync."""

    shim: Path | None
    control: Path

    def env(self) -> dict[str, str]:
        if self.shim is None:
            return {}
        return {"LD_PRELOAD": str(self.shim), "LOADTEST_SLOW_FILE": str(self.control)}

    def set(self, ms: int) -> None:
        self.control.write_text(str(ms), encoding="ascii")
        self.control.chmod(0o644)


@dataclass
class SmallDisk:
    """A size-limited tmpfs, and a filler file that takes all its free space."""

    mount: Path
    size_mb: int
    mounted: bool = False

    def attach(self) -> str | None:
        """Mount it; returns why not if mounting is not permitted."""
        self.mount.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs", str(self.mount)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return (done.stderr or done.stdout).strip() or "mount failed"
        self.mounted = True
        return None

    @property
    def filler(self) -> Path:
        return self.mount / "filler"

    def fill(self) -> int:
        """Write zeros until ENOSPC; returns the bytes written."""
        written = 0
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096):  # megabytes, then the last partial megabyte
                chunk = b"\0" * size
                try:
                    while True:
                        written += os.write(fd, chunk)
                except OSError:
                    pass
        finally:
            os.close(fd)
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def detach(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.mount)], check=False)
            self.mounted = False


@dataclass
class Postgres:
    """A throwaway cluster of this run (its own initdb, port and socket directory)."""

    directory: Path
    port: int
    slow: SlowDisk
    binaries: Path

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env_args = [f"{k}={v}" for k, v in self.slow.env().items()]
        cmd = _as_postgres(["env", *env_args, str(self.binaries / "pg_ctl"), "-D", str(self.data), *args])
        return subprocess.run(cmd, capture_output=True, text=True, check=check)

    def create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        subprocess.run(
            _as_postgres([str(self.binaries / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]),
            check=True,
            capture_output=True,
        )
        conf = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.directory}'\n"
            "max_connections = 200\nshared_buffers = 128MB\nfsync = on\nsynchronous_commit = on\n"
        )
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write(conf)

    def start(self) -> None:
        self._ctl("-l", str(self.directory / "server.log"), "-w", "start")

    def restart_immediate(self) -> None:
        """``pg_ctl restart -m immediate``: no shutdown checkpoint; crash recovery on start."""
        self._ctl("-l", str(self.directory / "server.log"), "-w", "-m", "immediate", "restart")

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop", check=False)

    def audit_tablespace(self, location: Path) -> int:
        """Move the audit tables and their indexes to a tablespace at ``location``; returns how many."""
        import sqlalchemy as sa

        if os.geteuid() == 0:
            shutil.chown(location, "postgres")
        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        moved = 0
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"CREATE TABLESPACE loadtest_audit LOCATION '{location}'")
                rows = conn.exec_driver_sql(
                    "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND left(c.relname, 5) = 'audit' AND c.relkind IN ('r', 'i', 'p', 'I') "
                    "ORDER BY c.relkind DESC"
                ).all()
                for name, kind in rows:
                    what = "INDEX" if kind in ("i", "I") else "TABLE"
                    conn.exec_driver_sql(f'ALTER {what} "{name}" SET TABLESPACE loadtest_audit')
                    moved += 1
        finally:
            engine.dispose()
        return moved


@dataclass
class Server:
    """``taxvault serve`` on a loopback port, as a child process the run may kill."""

    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for /health; returns the seconds it took."""
        t0 = time.time()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(VENV_BIN / "taxvault"), "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        self.starts.append(t0)
        self.wait_healthy(timeout)
        return time.time() - t0

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(self.base + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not become healthy within {timeout} s; see {self.log}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """SIGTERM (the server signs a final tree head on shutdown), SIGKILL after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
