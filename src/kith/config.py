"""Settings, read once from flags or ``KITH_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

DEFAULT_DATABASE_URL = "sqlite:///./kith.db"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # Idempotency records live this long; a replay after that runs the request again.
    idempotency_ttl_seconds: int = 24 * 3600
    trash_retention_days: int = 30
    webhooks_allow_private: bool = False
    # Widget calls per second per widget key (per process), and the burst allowed above that.
    widget_rate_per_second: float = 100.0
    widget_burst: float = 200.0
    enrichment_provider: str = ""  # "package.module:Class"; empty: kith.contacts.enrichment.DomainOnlyProvider
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        base = cls(
            database_url=os.environ.get("KITH_DATABASE_URL", DEFAULT_DATABASE_URL),
            max_body_bytes=int(os.environ.get("KITH_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
            webhooks_allow_private=_env_bool("KITH_WEBHOOKS_ALLOW_PRIVATE", False),
            widget_rate_per_second=float(os.environ.get("KITH_WIDGET_RATE", 100.0)),
            widget_burst=float(os.environ.get("KITH_WIDGET_BURST", 200.0)),
            enrichment_provider=os.environ.get("KITH_ENRICHMENT_PROVIDER", ""),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(base, **clean)  # type: ignore[arg-type]
