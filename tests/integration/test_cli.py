"""The `nebula` command as an operator uses it: `up` (make up) and `run <service>`, stopped with signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from nebula_core.natsserver import free_port

NEBULA = str(Path(sys.executable).parent / "nebula")


def _children_named(pid: int, name: str) -> list[int]:
    """PIDs of processes called `name` whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid and comm == name:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and ") Z " not in stat.read_text()


def _wait_health(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "exited"
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return dict(r.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("platform did not become healthy")


def test_help_lists_commands() -> None:
    out = subprocess.run([NEBULA, "--help"], check=True, capture_output=True, text=True).stdout
    for command in ("run", "up", "tenant", "status", "schema"):
        assert command in out


def test_up_serves_health_prints_logins_and_ctrl_c_leaves_no_orphan(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "NEBULA_DATA_DIR": str(tmp_path / "var"), "NEBULA_HTTP_PORT": str(port),
           "NEBULA_NATS_PORT": str(free_port()), "NEBULA_SIM_PORT": str(free_port()),
           "NEBULA_LOG_LEVEL": "WARNING"}
    env.pop("NEBULA_NATS_URL", None)
    env.pop("NEBULA_DATABASE_URL", None)
    proc = subprocess.Popen([NEBULA, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        health = _wait_health(f"http://127.0.0.1:{port}/api/v1/health", proc)
        assert health["status"] == "up"
        nats_pids = _children_named(proc.pid, "nats-server")
        assert len(nats_pids) == 1
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login",
                       json={"tenant": "demo", "username": "agent1", "password": "demo1234"})
        assert r.status_code == 200
        assert (tmp_path / "var" / "nats" / "jetstream").is_dir()
        assert (tmp_path / "var" / "nebula.db").is_file()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        text = out.decode()
        assert proc.returncode == 0, text
        assert "Demo logins" in text and "agent1" in text and "demo1234" in text
        assert not _alive(nats_pids[0]), "nats-server outlived `nebula up`"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("service", ["directory", "queue-router"])
def test_run_one_service_alone_answers_status(nats_url: str, tmp_path: Path, service: str) -> None:
    env = {**os.environ, "NEBULA_NATS_URL": nats_url, "NEBULA_DATA_DIR": str(tmp_path),
           "NEBULA_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([NEBULA, "run", service], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        name = {"queue-router": "router"}.get(service, service)
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            status = subprocess.run([NEBULA, "status"], check=False, env=env, capture_output=True, text=True)
            if f'"service": "{name}"' in status.stdout:
                break
            assert time.monotonic() < deadline, status.stdout + status.stderr
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_rejects_unknown_service() -> None:
    r = subprocess.run([NEBULA, "run", "nope"], check=False, capture_output=True, text=True)
    assert r.returncode != 0 and "unknown service" in r.stderr
