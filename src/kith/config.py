"""Settings, read once from flags or ``KITH_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from kith.webhooks.model import DEFAULT_BACKOFF, DEFAULT_DISABLE_AFTER

DEFAULT_DATABASE_URL = "sqlite:///./kith.db"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_ints(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """A comma-separated list of whole seconds, e.g. ``KITH_WEBHOOK_BACKOFF=10,60,300``."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    values = tuple(int(p) for p in raw.replace(" ", "").split(",") if p)
    if any(v < 0 for v in values):
        raise ValueError(f"{name} takes seconds >= 0, got {raw!r}")
    return values


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # File uploads to POST /api/v1/imports stream (not buffered) up to this size (KITH_MAX_IMPORT_BYTES).
    max_import_bytes: int = 1024**3
    # Idempotency records live this long; a replay after that runs the request again.
    idempotency_ttl_seconds: int = 24 * 3600
    trash_retention_days: int = 30
    webhooks_allow_private: bool = False
    # Outbound webhooks (docs/webhooks.md): retry delays after failed attempt 1, 2, … (seconds);
    # total time allowed per attempt; consecutive failed attempts that disable a subscription.
    webhook_backoff: tuple[int, ...] = DEFAULT_BACKOFF
    webhook_timeout_seconds: float = 10.0
    webhook_disable_after: int = DEFAULT_DISABLE_AFTER
    # The worker (outbox relay + deliveries). `kith serve` turns the in-process one on; an app made
    # by create_app() elsewhere (tests) has none unless asked. A claimed delivery whose worker died
    # is retried after the lease; an event committing this long after its id was made may be missed.
    embedded_worker: bool = False
    worker_poll_seconds: float = 0.1
    worker_lease_seconds: float = 60.0
    outbox_window_seconds: float = 60.0
    # Widget calls per second per widget key (per process), and the burst allowed above that.
    widget_rate_per_second: float = 100.0
    widget_burst: float = 200.0
    enrichment_provider: str = ""  # "package.module:Class"; empty: kith.contacts.enrichment.DomainOnlyProvider
    # Web sessions (docs/web.md): the cookie is Secure when served over HTTPS (KITH_COOKIE_SECURE);
    # a session lasts 12 hours, or 30 days with "remember me".
    cookie_secure: bool = False
    session_hours: float = 12.0
    remember_days: float = 30.0
    # Realtime streams (docs/realtime.md): how often a process looks for new events without a
    # wake-up (SQLite; PostgreSQL is woken by NOTIFY and polls every second as a fallback), the
    # heartbeat comment's period, how long one stream lives before the client must reconnect (and
    # so re-authenticate), and how many missed events a resume with Last-Event-ID looks through.
    realtime_poll_seconds: float = 0.2
    realtime_heartbeat_seconds: float = 15.0
    realtime_max_stream_seconds: float = 300.0
    realtime_replay_limit: int = 1000
    # Scheduled jobs (docs/jobs.md): how often the worker looks for due jobs (KITH_JOBS_CHECK, default
    # 30 s under `kith worker`/`kith serve`); 0 turns the job step off, as for apps made in tests.
    jobs_check_seconds: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        base = cls(
            database_url=os.environ.get("KITH_DATABASE_URL", DEFAULT_DATABASE_URL),
            max_body_bytes=int(os.environ.get("KITH_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
            max_import_bytes=int(os.environ.get("KITH_MAX_IMPORT_BYTES", 1024**3)),
            webhooks_allow_private=_env_bool("KITH_WEBHOOKS_ALLOW_PRIVATE", False),
            webhook_backoff=_env_ints("KITH_WEBHOOK_BACKOFF", DEFAULT_BACKOFF),
            webhook_timeout_seconds=float(os.environ.get("KITH_WEBHOOK_TIMEOUT", 10.0)),
            webhook_disable_after=int(os.environ.get("KITH_WEBHOOK_DISABLE_AFTER", DEFAULT_DISABLE_AFTER)),
            embedded_worker=_env_bool("KITH_EMBEDDED_WORKER", False),
            worker_poll_seconds=float(os.environ.get("KITH_WORKER_POLL", 0.1)),
            worker_lease_seconds=float(os.environ.get("KITH_WORKER_LEASE", 60.0)),
            outbox_window_seconds=float(os.environ.get("KITH_OUTBOX_WINDOW", 60.0)),
            widget_rate_per_second=float(os.environ.get("KITH_WIDGET_RATE", 100.0)),
            widget_burst=float(os.environ.get("KITH_WIDGET_BURST", 200.0)),
            enrichment_provider=os.environ.get("KITH_ENRICHMENT_PROVIDER", ""),
            cookie_secure=_env_bool("KITH_COOKIE_SECURE", False),
            realtime_poll_seconds=float(os.environ.get("KITH_REALTIME_POLL", 0.2)),
            realtime_heartbeat_seconds=float(os.environ.get("KITH_REALTIME_HEARTBEAT", 15.0)),
            realtime_max_stream_seconds=float(os.environ.get("KITH_REALTIME_MAX_STREAM", 300.0)),
            realtime_replay_limit=int(os.environ.get("KITH_REALTIME_REPLAY_LIMIT", 1000)),
            jobs_check_seconds=float(os.environ.get("KITH_JOBS_CHECK", 30.0)),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(base, **clean)  # type: ignore[arg-type]
