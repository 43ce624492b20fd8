"""Process settings, all from `NEBULA_*` environment variables (12-factor, as in Kubernetes)."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a service needs to find its dependencies."""

    model_config = SettingsConfigDict(env_prefix="NEBULA_", extra="ignore")

    data_dir: Path = Field(default=Path("./var"), description="where the embedded NATS store and SQLite live")
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    nats_url: str | None = Field(default=None, description="external NATS; unset = start an embedded one")
    nats_port: int = Field(default=4222, description="port of the embedded nats-server")
    database_url: str | None = Field(default=None, description="unset = SQLite file under data_dir")
    jwt_secret: str | None = None
    token_ttl_s: int = Field(default=8 * 3600, ge=60)
    log_level: str = "INFO"
    log_format: str = Field(default="json", description="json | console")
    otel_exporter: str = Field(default="none", description="none | console | otlp")
    demo: bool = Field(default=False, description="create the demo tenant on first start")
    request_timeout_s: float = 5.0
    max_body_bytes: int = 1_048_576
    ari_url: str | None = Field(default=None, description="Asterisk ARI base URL; unset = the PBX simulator")
    ari_user: str = "nebula"
    ari_password: str = "nebula"
    ari_app: str = "nebula"
    sim_port: int = Field(default=8088, description="port of the PBX simulator (when ari_url is unset)")
    sim_url: str | None = Field(default=None, description="the PBX simulator's base URL: the browser phone is its "
                                "sandbox phone (set by `nebula up`/`run all` when they start the simulator)")
    sip_ws_url: str | None = Field(default=None, description="public wss:// URL of Asterisk's WebSocket SIP "
                                   "transport: the browser phone registers there (WebRTC)")
    sip_domain: str | None = Field(default=None, description="SIP domain of the agents' URIs; unset = the host "
                                   "of sip_ws_url")
    sip_ice_servers: list[str] = Field(default_factory=list, description='STUN/TURN URLs for the browser phone, '
                                       'JSON: ["stun:stun.example.com:3478"]')
    default_region: str = Field(default="TR", description="region for national-format phone numbers")
    web_dist: Path | None = Field(default=None, description="the built web client served at /; unset = web/dist "
                                  "of the source tree")
    login_max_failures: int = 5
    login_window_s: float = 60.0

    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL of the read-model database."""
        url = self.database_url
        if not url:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return f"sqlite+aiosqlite:///{(self.data_dir / 'nebula.db').resolve()}"
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        return url

    def resolved_ari_url(self) -> str:
        """Where ARI is: the configured Asterisk, else the simulator on loopback."""
        return (self.ari_url or f"http://127.0.0.1:{self.sim_port}").rstrip("/")

    def resolved_jwt_secret(self) -> str:
        """The token signing key: from the environment, else one kept under data_dir across restarts."""
        if self.jwt_secret:
            return self.jwt_secret
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
