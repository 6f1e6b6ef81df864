"""Engine, metadata and column types shared by every slice.

Invariants kept here:
- SQLite runs in WAL mode with foreign keys on and a busy timeout; SQLAlchemy's implicit BEGIN is
  replaced by our own so write transactions start ``BEGIN IMMEDIATE`` (no lock upgrade deadlocks).
- Datetimes are timezone-aware UTC on the way out, whatever the backend stores.
- Money is stored as integer minor units (exact sums in SQL on both backends).
- On SQLite, units of work run their statements on a *synchronous* engine, in the event loop's
  own thread: an in-process SQLite statement takes microseconds, while a hop to aiosqlite's
  thread costs about half a millisecond per statement (bench/README.md). This is safe because
  reads never wait (WAL, autocommit) and writers queue on ``write_lock`` before ``BEGIN
  IMMEDIATE``; only another *process* writing the same file (the CLI) can make a statement wait,
  for at most the busy timeout. The async engine stays for code that wants it (health checks).
- The statements every request runs (API-key lookup, the record read, event inserts, identify)
  are ``Prepared``: compiled once per dialect and run on the driver connection itself, with the
  columns' own type processors (see ``Prepared``).
- On PostgreSQL, units of work run on psycopg's own connection (``PgWork``): a write sends its own
  BEGIN and COMMIT, and the writes whose result nobody reads (inserts, events, NOTIFY) wait and
  travel with the next statement or the COMMIT in one pipeline: a create is 3 round trips, not 8.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; SQLite stores them as sortable UTC text."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Cents(sa.TypeDecorator[Decimal]):
    """A decimal amount with two places, stored as a BIGINT of hundredths."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * 100).to_integral_value())

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))


class Thousandths(sa.TypeDecorator[Decimal]):
    """A decimal quantity with three places (line-item quantities), stored as a BIGINT of thousandths."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * 1000).to_integral_value())

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / 1000).quantize(Decimal("0.001"))


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def async_url(url: str) -> str:
    """The async driver URL for a user-facing ``sqlite:///`` or ``postgresql://`` URL."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return str(u.set(drivername="sqlite+aiosqlite"))
    if backend in {"postgresql", "postgres"}:
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def sync_url(url: str) -> str:
    """The sync driver URL (Alembic, CLI bulk tools) for a user-facing URL."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return str(u.set(drivername="sqlite"))
    if backend in {"postgresql", "postgres"}:
        return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


# SQLite waits this long for another process's write lock before answering "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000


def install_sqlite_pragmas(sync_engine: sa.Engine) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver: we emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Reads run in autocommit mode (each statement its own snapshot; WAL readers never block)
        # which saves two driver round trips per request; writes take the lock up front.
        if conn.get_execution_options().get("kith_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One engine per process; ``write_lock`` serialises writers inside this process on SQLite,
    so they queue on an asyncio lock instead of sleeping in SQLite's busy handler."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.backend = make_url(url).get_backend_name()
        if self.backend == "postgres":
            self.backend = "postgresql"
        kwargs: dict[str, Any] = {"echo": echo, "json_serializer": _json_dumps, "json_deserializer": orjson.loads}
        if self.backend == "postgresql":
            # Big enough for the concurrency one process serves (a connection closed on return to
            # an overfull pool is a new PostgreSQL backend on the next request, and loses psycopg's
            # prepared statements).
            kwargs.update(pool_size=32, max_overflow=16, pool_pre_ping=False)
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        self.sync_engine: sa.Engine | None = None
        if self.backend == "sqlite":
            install_sqlite_pragmas(self.engine.sync_engine)
            # max_overflow=-1: checking a connection out must never block the event loop's thread
            # (it would wait for a connection only that same thread can give back).
            # use_lifo: the connection that served the last unit of work serves the next one, so its
            # page cache is warm (another connection's commit empties a connection's cache).
            self.sync_engine = sa.create_engine(
                sync_url(url), echo=echo, json_serializer=_json_dumps, json_deserializer=orjson.loads,
                poolclass=QueuePool, pool_size=16, max_overflow=-1, pool_use_lifo=True,
                connect_args={"check_same_thread": False})
            install_sqlite_pragmas(self.sync_engine)
        self.write_lock: asyncio.Lock | None = None
        self._write_conn: sa.Connection | None = None  # SQLite: the writers' one connection

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    def lock(self) -> asyncio.Lock | None:
        if not self.is_sqlite:
            return None
        if self.write_lock is None:
            self.write_lock = asyncio.Lock()
        return self.write_lock

    @asynccontextmanager
    async def _writer(self, write: bool) -> AsyncIterator[None]:
        """Holds this process's SQLite writer lock for a write; nothing otherwise."""
        lock = self.lock() if write else None
        if lock is None:
            yield
            return
        async with lock:
            yield

    @asynccontextmanager
    async def connect(self, *, write: bool = False, autocommit: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction; ``write`` takes the writer lock and BEGIN IMMEDIATE.
        ``autocommit`` (reads only): no transaction, each statement its own snapshot, as SQLite
        reads always are; saves PostgreSQL the BEGIN and COMMIT round trips of a one-statement read."""
        async with self._writer(write), self.engine.connect() as conn:
            if write:
                conn = await conn.execution_options(kith_write=True)
            elif autocommit and not self.is_sqlite:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
                return
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def connect_work(self, *, write: bool = False, autocommit: bool = False) -> AsyncIterator[PgWork]:
        """PostgreSQL only: a pooled connection for one unit of work, driven on psycopg's own
        connection (see ``PgWork``). ``write`` and ``autocommit`` (reads) run the driver in
        autocommit mode for the block (a write sends its own BEGIN and COMMIT); other reads let
        psycopg open the transaction, as SQLAlchemy would."""
        async with self.engine.connect() as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            work = PgWork(conn, raw, write=write)
            if not (write or autocommit):
                yield work
                return
            await raw.set_autocommit(True)
            try:
                yield work
            finally:
                try:  # never hand the pool a connection inside a transaction, or left in autocommit
                    if raw.info.transaction_status != _PG_IDLE:
                        await raw.rollback()
                    await raw.set_autocommit(False)
                except Exception:
                    await conn.invalidate()

    @asynccontextmanager
    async def connect_inline(self, *, write: bool = False) -> AsyncIterator[sa.Connection]:
        """SQLite only: a synchronous connection inside one transaction, used from the event loop's
        thread (see the module docstring); ``write`` takes the writer lock and BEGIN IMMEDIATE."""
        assert self.sync_engine is not None
        if not write:  # reads run in autocommit mode: no transaction to open or end
            with self.sync_engine.connect() as conn:
                yield conn
            return
        async with self._writer(write):
            # Writers take turns on the lock, so one connection serves them all, kept open: no pool
            # checkout, Connection object or reset-on-return per write (~6% of a create's CPU).
            conn = self._sqlite_writer()
            # The driver's own BEGIN/COMMIT: SQLAlchemy's transaction object around them cost
            # ~0.2 ms a write here (bench/README.md). Core statements on ``conn`` autobegin a
            # SQLAlchemy transaction that emits nothing (no ``kith_write``: see _on_begin), ended
            # after the COMMIT (a no-op for the driver).
            _driver_sql(conn, "BEGIN IMMEDIATE")
            try:
                yield conn
                _driver_sql(conn, "COMMIT")
            except BaseException:
                # also when COMMIT itself fails (a deferred constraint): never leave the writer
                # connection inside a transaction, holding SQLite's write lock
                try:
                    conn.connection.driver_connection.rollback()  # type: ignore[union-attr]
                except Exception:
                    self._drop_sqlite_writer()
                raise
            finally:
                if conn.in_transaction():
                    conn.rollback()

    def _sqlite_writer(self) -> sa.Connection:
        conn = self._write_conn
        if conn is None or conn.closed or conn.invalidated:
            assert self.sync_engine is not None
            conn = self._write_conn = self.sync_engine.connect()
        return conn

    def _drop_sqlite_writer(self) -> None:
        conn, self._write_conn = self._write_conn, None
        if conn is not None:
            conn.invalidate()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._write_conn is not None:
            self._write_conn.close()
            self._write_conn = None
        if self.sync_engine is not None:
            self.sync_engine.dispose()


# --- prepared statements on the driver -------------------------------------------------------------

Row = dict[str, Any]


_UNSET: Any = object()  # matches no value (``params_many``)


class _Compiled:
    __slots__ = ("sql", "names", "binds", "fixed", "keys", "types", "results", "positional")

    def __init__(self, stmt: Any, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        self.sql: str = compiled.string
        self.positional = compiled.positiontup is not None
        self.names: tuple[str, ...] = tuple(compiled.positiontup or compiled.binds)
        self.binds = [(name, compiled.binds[name].type._cached_bind_processor(dialect)) for name in self.names]
        # literals in the statement (``.limit(1)``) are bound parameters with a value of their own
        self.fixed = {name: b.effective_value for name, b in compiled.binds.items() if not b.required}
        cols = list(stmt.selected_columns) if hasattr(stmt, "selected_columns") else []
        self.keys: tuple[str, ...] = tuple(c.key for c in cols)
        self.types = [c.type for c in cols]
        self.results: list[Any] | None = None

    def params(self, values: Mapping[str, Any]) -> Any:
        if self.fixed:
            values = {**self.fixed, **values}
        if self.positional:
            return tuple(values[n] if fn is None else fn(values[n]) for n, fn in self.binds)
        return {n: values[n] if fn is None else fn(values[n]) for n, fn in self.binds}

    def params_many(self, many: Sequence[Mapping[str, Any]]) -> list[Any]:
        """``[params(v) for v in many]``, built column by column: a value that is the very object
        of the row before (a batch's one timestamp, ``None``) goes through its processor once."""
        if self.fixed:
            return [self.params(v) for v in many]
        cols: list[list[Any]] = []
        for name, fn in self.binds:
            col = [v[name] for v in many]
            if fn is not None:
                out, last, done = [], _UNSET, None
                for x in col:
                    if x is not last:
                        last, done = x, fn(x)
                    out.append(done)
                col = out
            cols.append(col)
        if self.positional:
            return list(zip(*cols, strict=True))
        names = [name for name, _ in self.binds]
        return [dict(zip(names, vals, strict=True)) for vals in zip(*cols, strict=True)]

    def processors(self, dialect: Dialect, description: Any) -> list[Any]:
        if self.results is None:
            coltypes = [d[1] for d in description] if description else [None] * len(self.types)
            self.results = [t._cached_result_processor(dialect, ct) for t, ct in zip(self.types, coltypes, strict=True)]
        return self.results

    def rows(self, dialect: Dialect, description: Any, fetched: Iterable[Sequence[Any]]) -> list[Row]:
        procs = self.processors(dialect, description)
        keys = self.keys
        if not any(procs):
            return [dict(zip(keys, r, strict=True)) for r in fetched]
        return [{k: v if fn is None else fn(v) for k, fn, v in zip(keys, procs, r, strict=True)} for r in fetched]


class Prepared:
    """A Core statement compiled once per dialect and run on the driver connection itself.

    SQLAlchemy builds, caches (walking the statement for its cache key) and wraps every execution:
    ~90 µs a statement on the benchmark machine even when the statement object is prebuilt, ~300 µs
    when it is built per call, against ~10 µs for the driver alone (bench/README.md). The few
    statements every request runs go through this instead (``UnitOfWork.rows`` / ``run``). Binds
    and results pass through the columns' own type processors, so values are exactly what Core
    gives; results are dicts keyed by the selected columns' keys. Parameters are named: the
    ``sa.bindparam`` names, or an INSERT's column names (``column_keys``: the columns it sets).
    No expanding (IN-list) parameters. ``before_cursor_execute`` listeners still see every
    statement (the benchmark's statement capture and tests rely on it)."""

    __slots__ = ("stmt", "column_keys", "_by_dialect")

    def __init__(self, stmt: Any, column_keys: Sequence[str] | None = None) -> None:
        self.stmt = stmt
        self.column_keys = tuple(column_keys) if column_keys else None
        self._by_dialect: dict[int, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        c = self._by_dialect.get(id(dialect))
        if c is None:
            c = self._by_dialect[id(dialect)] = _Compiled(self.stmt, dialect, self.column_keys)
        return c


_INSERTS: dict[tuple[str, tuple[str, ...]], Prepared] = {}


def prepared_insert(table: sa.Table, keys: Iterable[str]) -> Prepared:
    """The INSERT of ``table`` setting exactly the columns ``keys`` (cached)."""
    k = (table.fullname, tuple(keys))
    p = _INSERTS.get(k)
    if p is None:
        p = _INSERTS[k] = Prepared(table.insert(), column_keys=k[1])
    return p


def _announce(conn: sa.Connection, sql: str, params: Any, many: bool) -> None:
    """Tell ``before_cursor_execute`` listeners (statement capture) about a driver-level statement."""
    for fn in conn.engine.dispatch.before_cursor_execute:
        fn(conn, None, sql, params, None, many)


def _integrity(exc: Exception, sql: str, params: Any) -> sa.exc.IntegrityError:
    return sa.exc.IntegrityError(sql, params, exc)


def _driver_sql(conn: sa.Connection, sql: str) -> None:
    """Run ``sql`` (no parameters) on the driver connection, announced to statement listeners."""
    if conn.engine.dispatch.before_cursor_execute:
        _announce(conn, sql, (), False)
    try:
        conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
    except conn.dialect.loaded_dbapi.IntegrityError as exc:  # a deferred constraint fails at COMMIT
        raise _integrity(exc, sql, ()) from exc


def run_sync(conn: sa.Connection, prepared: Prepared, values: Mapping[str, Any] | None = None, *,
             many: Sequence[Mapping[str, Any]] | None = None) -> tuple[list[Row], int]:
    """Run on a synchronous (SQLite) connection: the rows (for a SELECT) and the rowcount."""
    dialect = conn.dialect
    c = prepared.compiled(dialect)
    raw: Any = conn.connection.driver_connection
    params: Any = c.params_many(many) if many is not None else c.params(values or {})
    if conn.engine.dispatch.before_cursor_execute:
        _announce(conn, c.sql, params, many is not None)
    try:
        cur = raw.executemany(c.sql, params) if many is not None else raw.execute(c.sql, params)
    except dialect.loaded_dbapi.IntegrityError as exc:
        raise _integrity(exc, c.sql, params) from exc
    if cur.description is None:
        return [], cur.rowcount
    return c.rows(dialect, cur.description, cur.fetchall()), cur.rowcount


_PG_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE


class PgWork:
    """PostgreSQL: the statements of one unit of work, run on psycopg's own connection.

    Every round trip costs both processes a wake-up and several syscalls (slow on the benchmark
    machine), and a create used to make eight: BEGIN, the email check, the custom-field
    definitions, the contact, its events, their refs, the NOTIFY and COMMIT. So a write
    transaction runs the driver in autocommit mode and sends BEGIN (at the isolation level
    SQLAlchemy would use) and COMMIT itself, and writes nobody reads the result of (``defer``:
    ``UnitOfWork.insert``, the events, ``UnitOfWork.send``) wait: they go out in one pipeline
    (psycopg pipeline mode) with the next statement that needs an answer, or with the COMMIT.
    A create is three round trips: BEGIN + the email check, the definitions, then inserts +
    events + NOTIFY + COMMIT. Order is kept (what waits always runs before any later statement);
    a waiting write's error (a constraint) is raised by the statement it travels with or by the
    commit, as ``IntegrityError`` (→ 409) as before; the transaction then rolls back whole.
    Statements sent around this object (Core through SQLAlchemy, COPY) need ``ready`` first
    (``flush``). Reads: ``autocommit`` reads run in the driver's autocommit mode; other reads let
    psycopg open the transaction as usual, and ``commit`` ends it on the driver."""

    __slots__ = ("conn", "raw", "dialect", "sync", "write", "begin", "pending")

    def __init__(self, conn: AsyncConnection, raw: Any, *, write: bool) -> None:
        self.conn, self.raw, self.write = conn, raw, write
        self.dialect = conn.dialect
        self.sync = conn.sync_connection
        level = self.dialect.default_isolation_level
        # the BEGIN still to send (writes only; sent with the first statement)
        self.begin: bytes | None = (f"BEGIN ISOLATION LEVEL {level}" if level else "BEGIN").encode() if write else None
        self.pending: list[tuple[str, Any, bool]] = []  # (sql, driver parameters, executemany)

    @property
    def ready(self) -> bool:
        """Whether a statement sent some other way lands inside the transaction, after the rest."""
        return self.begin is None and not self.pending

    async def run(self, prepared: Prepared, values: Mapping[str, Any] | None = None, *,
                  many: Sequence[Mapping[str, Any]] | None = None, defer: bool = False) -> tuple[list[Row], int]:
        """Run ``prepared``: the rows (for a SELECT) and the rowcount. ``defer`` (writes only): send
        it later, with the next statement or the commit; the rowcount is then -1."""
        dialect = self.dialect
        c = prepared.compiled(dialect)
        params: Any = c.params_many(many) if many is not None else c.params(values or {})
        sync = self.sync
        if sync is not None and sync.engine.dispatch.before_cursor_execute:
            _announce(sync, c.sql, params, many is not None)
        if defer and self.write:
            self.pending.append((c.sql, params, many is not None))
            return [], -1
        raw = self.raw
        try:
            async with raw.cursor() as cur:
                if self.ready:
                    await (cur.executemany(c.sql, params) if many is not None else cur.execute(c.sql, params))
                else:
                    async with raw.cursor() as batch, raw.pipeline():
                        await self._send_pending(batch)
                        await (cur.executemany(c.sql, params) if many is not None else cur.execute(c.sql, params))
                if many is not None or cur.description is None:
                    return [], cur.rowcount
                return c.rows(dialect, cur.description, await cur.fetchall()), cur.rowcount
        except dialect.loaded_dbapi.IntegrityError as exc:
            raise _integrity(exc, c.sql, params) from exc

    async def _send_pending(self, cur: Any) -> None:
        """Queue BEGIN and the waiting writes on ``cur`` (inside a pipeline)."""
        if self.begin is not None:
            begin, self.begin = self.begin, None
            await cur.execute(begin, prepare=False)
        pending, self.pending = self.pending, []
        for sql, params, many in pending:
            await (cur.executemany(sql, params) if many else cur.execute(sql, params))

    async def _pipeline(self, commit: bool) -> None:
        try:
            async with self.raw.cursor() as cur:
                async with self.raw.pipeline():
                    await self._send_pending(cur)
                    if commit:
                        await cur.execute(b"COMMIT", prepare=False)
        except self.dialect.loaded_dbapi.IntegrityError as exc:  # a waiting write, or a deferred constraint
            raise _integrity(exc, "COMMIT" if commit else "(pipeline)", ()) from exc

    async def flush(self) -> None:
        """Send BEGIN and the waiting writes now (before a statement sent some other way)."""
        if not self.ready:
            await self._pipeline(commit=False)

    async def commit(self) -> None:
        """End the transaction: a write sends what waits and COMMIT in one round trip (nothing at
        all when it ran nothing); a read commits on the driver (nothing in autocommit mode)."""
        if not self.write:
            await self.raw.commit()
            return
        if self.begin is not None and not self.pending:  # nothing was sent: no transaction to end
            self.begin = None
            return
        if self.begin is None and not self.pending:
            try:
                await self.raw.execute(b"COMMIT", prepare=False)
            except self.dialect.loaded_dbapi.IntegrityError as exc:
                raise _integrity(exc, "COMMIT", ()) from exc
            return
        await self._pipeline(commit=True)

    async def rollback(self) -> None:
        """Drop what waits and roll back whatever was sent. A failure here (a broken connection)
        never hides the error being handled: the connection is then dropped on its way back
        to the pool (``Database.connect_work``, or the pool's own reset)."""
        self.pending, self.begin = [], None
        if self.raw.info.transaction_status != _PG_IDLE:
            with contextlib.suppress(Exception):
                await self.raw.rollback()
