"""Shared start-up for the benchmarks: a nats-server, a throwaway PostgreSQL cluster, and small statistics.

Everything listens on 127.0.0.1 on free ports and lives in a temporary directory that is removed at the
end, so a benchmark never touches `var/` or a developer's running platform.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nebula_core.natsserver import EmbeddedNats, free_port, nats_server_binary

RESULT_PREFIX = "BENCH-RESULT "


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """A scratch directory removed afterwards, so runs never share state."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def stop_process(proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """SIGTERM, and SIGKILL if it has not ended within `timeout` s."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def nats_server(store_dir: Path) -> Iterator[EmbeddedNats]:
    """An EmbeddedNats (JetStream, sync_interval: always) on a free loopback port, stopped afterwards."""
    server = EmbeddedNats(store_dir, log_file=store_dir.parent / f"{store_dir.name}.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def fill_nats_server(store_dir: Path, timeout: float = 10.0) -> Iterator[str]:
    """A nats-server on `store_dir` WITHOUT sync_interval: always, to fill a stream fast; yields its URL.

    Only for preparing data: stop it (SIGTERM flushes the store) before the measured server opens the same
    directory. The measured runs always use EmbeddedNats as the platform does.
    """
    store_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = store_dir.parent / f"{store_dir.name}-fill.conf"
    conf.write_text(f"listen: 127.0.0.1:{port}\nmax_payload: 8MB\njetstream {{\n  store_dir: {str(store_dir)!r}\n}}\n")
    log = store_dir.parent / f"{store_dir.name}-fill.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([nats_server_binary(), "-c", str(conf)], stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"fill nats-server exited with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("fill nats-server did not start in time") from None
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        stop_process(proc)


# ---------------------------------------------------------------- the disk


@contextmanager
def disk_probe(directory: Path, interval: float = 0.02) -> Iterator[list[tuple[float, float]]]:
    """bench._disk_probe fsyncing a file in `directory` while the block runs; the list fills when it ends.

    Each sample is (start on the monotonic clock, fsync ms). In a process of its own, so that its figures are
    the disk's and nothing else's.
    """
    samples: list[tuple[float, float]] = []
    out = directory / f"disk-probe-{uuid.uuid4().hex[:8]}.json"
    proc = subprocess.Popen([sys.executable, "-m", "bench._disk_probe", str(directory), "--out", str(out),
                             "--interval", str(interval)], stdout=subprocess.DEVNULL)
    try:
        yield samples
    finally:
        stop_process(proc)
        if out.exists():
            samples.extend((float(start), float(ms)) for start, ms in json.loads(out.read_text()))
            out.unlink()


# ---------------------------------------------------------------- PostgreSQL


def pg_bin() -> Path:
    """The newest installed PostgreSQL server binaries (Debian layout)."""
    base = Path("/usr/lib/postgresql")
    found = sorted(base.glob("*/bin/initdb"), reverse=True) if base.exists() else []
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql (make test-deps)")
    return found[0].parent


@dataclass
class PgCluster:
    """A PostgreSQL cluster owned by this benchmark run."""

    port: int
    durable: bool
    version: str

    @property
    def admin_url(self) -> str:
        """libpq URL of the maintenance database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """SQLAlchemy async URL of one database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"b_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres_cluster(durable: bool = True) -> Iterator[PgCluster]:
    """initdb + pg_ctl start on a free port (as user postgres when root), stopped and deleted afterwards.

    durable=True keeps PostgreSQL's defaults (fsync, synchronous_commit on), the production setting;
    durable=False uses the test suite's fsync=off / synchronous_commit=off settings.
    """
    pg = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="nebula-bench-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=100"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    try:
        subprocess.run([*as_postgres, str(pg / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, timeout=120)
        subprocess.run([*as_postgres, str(pg / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
                        "-t", "60", "start", "-o", options], check=True, capture_output=True, timeout=90)
        version = subprocess.run([str(pg / "postgres"), "--version"], check=True, capture_output=True,
                                 text=True, timeout=10).stdout.strip()
        yield PgCluster(port=port, durable=durable, version=version)
    finally:
        subprocess.run([*as_postgres, str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "-t", "30", "stop"],
                       check=False, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- stopping the platform


async def finish_stopping(stopping: Any, limit_s: float = 60.0) -> int:
    """Await a platform stop; re-cancel projection tasks whose cancellation was swallowed; return how many.

    ProjectionRunner.stop() cancels its task and waits for it without a bound, but nats-py's fetch can
    swallow that cancellation on Python 3.11 (asyncio.wait_for race), and the runner then keeps reading
    forever (see docs/benchmarks.md, "Problems found"). Only tasks already being cancelled are nudged.
    """
    fut = asyncio.ensure_future(stopping)
    nudges = 0
    deadline = time.monotonic() + limit_s
    while True:
        done, _ = await asyncio.wait({fut}, timeout=1.0)
        if done:
            fut.result()
            return nudges
        if time.monotonic() > deadline:
            raise RuntimeError(f"the platform did not stop within {limit_s:.0f} s")
        for task in asyncio.all_tasks():
            if task.get_name().startswith("projection:") and task.cancelling() and not task.done():
                task.cancel()
                nudges += 1


# ---------------------------------------------------------------- reporting


def quiet_logs() -> None:
    """Only warnings from the platform's loggers, and the garbage collector tuned as `nebula run` tunes it.

    Warnings only, so figures are not buried in start-up lines; the collector, so what is measured is what runs.
    """
    from nebula_core.runtime import tune_garbage_collector
    from nebula_core.telemetry import setup_logging

    setup_logging("WARNING", "console")
    logging.getLogger("faststream").setLevel(logging.WARNING)
    tune_garbage_collector()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def per_second(count: int, seconds: float) -> float:
    """A rate, guarding against a zero-length interval."""
    return count / seconds if seconds > 0 else float("inf")


def machine() -> dict[str, str]:
    """What the figures were measured on (printed with every run)."""
    nats_version = subprocess.run([nats_server_binary(), "--version"], capture_output=True, text=True,
                                  check=False, timeout=10).stdout.strip()
    return {
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
        "nats_server": nats_version,
        "platform": platform.platform(),
        "loadavg_1m": f"{os.getloadavg()[0]:.2f}",
    }


def report(name: str, figures: dict[str, Any]) -> None:
    """Print one machine-readable line (run_all collects it) after the human-readable ones."""
    print(RESULT_PREFIX + json.dumps({"bench": name, **figures}, default=str), flush=True)


class Deadline:
    """A wall-clock budget, so every loop stops by itself even when the system under test is slow."""

    def __init__(self, seconds: float):
        self._end = time.monotonic() + seconds
        self.seconds = seconds

    @property
    def expired(self) -> bool:
        """True once the budget is spent."""
        return time.monotonic() >= self._end

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self._end - time.monotonic())


def _proc_cpu_ticks() -> dict[int, tuple[str, int]]:
    """utime+stime ticks and command name of every process (for spotting busy neighbours)."""
    out: dict[int, tuple[str, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        out[int(stat.parent.name)] = (name, int(fields[11]) + int(fields[12]))
    return out


def background_load(seconds: float = 1.0) -> str:
    """CPU used by other processes just before the benchmark starts: figures taken on a busy machine differ."""
    def total() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]  # all, idle + iowait

    before_procs, (all0, idle0) = _proc_cpu_ticks(), total()
    time.sleep(seconds)
    after_procs, (all1, idle1) = _proc_cpu_ticks(), total()
    busy = 100.0 * (1 - (idle1 - idle0) / max(all1 - all0, 1)) * (os.cpu_count() or 1)
    hz = os.sysconf("SC_CLK_TCK")
    deltas = sorted(((ticks - before_procs[pid][1], name) for pid, (name, ticks) in after_procs.items()
                     if pid in before_procs and pid != os.getpid()), reverse=True)
    top = ", ".join(f"{name} {100 * d / hz / seconds:.0f}%" for d, name in deltas[:3] if d > 0)
    return f"{busy:.0f}% of one core busy before start ({top or 'nothing else running'})"


def header(title: str) -> None:
    """A banner with the machine facts and the background load, printed before a benchmark's figures."""
    facts = machine()
    print(f"== {title}", flush=True)
    print("   " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)
    print(f"   background: {background_load()}", flush=True)
