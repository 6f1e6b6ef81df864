"""Alembic environment: runs against the URL given by `kith migrate` (sync driver)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import kith.tables  # noqa: F401  (fills the metadata)
from kith.core.db import metadata, sync_url
from kith.search.ddl import include_name  # search index objects are not in the metadata

config = context.config
url = config.get_main_option("kith_url") or "sqlite:///./kith.db"


def run_offline() -> None:
    context.configure(url=sync_url(url), target_metadata=metadata, literal_binds=True,
                      render_as_batch=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=metadata, render_as_batch=True,
                          include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                          include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
