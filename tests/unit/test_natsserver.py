"""The embedded nats-server's environment: the Go runtime gets half the cores unless told otherwise."""

from __future__ import annotations

from pathlib import Path

from nebula_core.natsserver import EmbeddedNats, server_environment


def test_half_the_cores_at_least_one_unless_the_environment_says() -> None:
    assert server_environment({"PATH": "/bin"}, cpus=2) == {"PATH": "/bin", "GOMAXPROCS": "1"}
    assert server_environment({}, cpus=8)["GOMAXPROCS"] == "4"
    assert server_environment({}, cpus=1)["GOMAXPROCS"] == "1"
    assert server_environment({"GOMAXPROCS": "3"}, cpus=2)["GOMAXPROCS"] == "3"


def test_the_started_server_runs_with_it(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    try:
        assert server.pid is not None
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        assert f"GOMAXPROCS={server_environment()['GOMAXPROCS']}".encode() in environ
    finally:
        server.stop()
