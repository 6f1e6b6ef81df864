"""Text search: `q` on the record lists and `GET /api/v1/search` across the registered types.

Matching: every token of the query must match, as a prefix, a word of the indexed text (SQLite
FTS5 / PostgreSQL tsvector; see ``kith.search.ddl``). PostgreSQL also matches the whole query as
a substring of name and email (trigram indexes). A query without any letter or digit matches
nothing.

Order: ``sort`` omitted with ``q`` means ``sort=relevance``: rank (``kith.search.registry``), then
lower-cased name, then id, with an exact keyset cursor. Any other ``sort`` orders the matches by
that field as a list without ``q`` would.

On SQLite the FTS table drives the join (``CROSS JOIN``: the planner may not start from the
records table, which at 1M rows turns milliseconds into seconds); on PostgreSQL the document
function call matches the GIN expression index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Join

from kith.auth.model import Actor
from kith.auth.permissions import Grant, grant
from kith.core.errors import BadRequest, FieldError, Forbidden, ValidationFailed
from kith.core.listing import ListQuery, Page, decode_cursor, encode_cursor, keyset, page, parse_sort
from kith.core.uow import UnitOfWork
from kith.records.crud import Kind
from kith.search import registry
from kith.search.query import Terms, fts5_match, like_escape, parse
from kith.search.registry import SearchType

RELEVANCE = "relevance"
SEARCH_CURSOR = "search"
# The whole query is matched as a substring (PostgreSQL) only from this length: trigram indexes
# cannot serve shorter patterns.
MIN_SUBSTRING = 3


class _FtsJoin(Join):
    """A join rendered ``CROSS JOIN`` on SQLite: the left side (the FTS table) stays the outer loop."""

    inherit_cache = True


@compiles(_FtsJoin, "sqlite")
def _compile_fts_join(join: _FtsJoin, compiler: SQLCompiler, **kw: Any) -> str:
    sql: str = compiler.visit_join(join, **kw)  # type: ignore[no-untyped-call]
    left, sep, rest = sql.partition(" JOIN ")
    if not sep:
        raise AssertionError(f"unexpected join SQL {sql!r}")
    return f"{left} CROSS JOIN {rest}"


def _bad_cursor() -> BadRequest:
    return BadRequest("the cursor is not valid for this search", errors=[FieldError("cursor", "malformed cursor")])


def _search_type(kind: Kind) -> SearchType:
    st = registry.get(kind.name)
    if st is None:
        raise ValidationFailed(f"{kind.name} records cannot be searched",
                               errors=[FieldError("q", "text search is not available here")])
    return st


def matching(st: SearchType, stmt: sa.Select[Any], terms: Terms, backend: str) -> sa.Select[Any]:
    """``stmt`` (a select from the type's table) restricted to the records matching ``terms``."""
    t = st.kind.table
    pattern = f"%{like_escape(terms.whole)}%"
    literal = [sa.func.lower(t.c[c]).like(pattern, escape="\\") for c in st.pg_substring]
    if backend == "sqlite":
        fts = sa.table(st.fts_table, sa.column("rowid"))
        match = sa.literal_column(st.fts_table).op("MATCH")(sa.bindparam("fts_match", fts5_match(terms.tokens)))
        if not terms.literal:
            # The FTS table drives the join (CROSS JOIN): the planner starting from the records
            # instead is seconds at 1M rows (RECIPES.md).
            join = _FtsJoin(fts, t, sa.literal_column(f"{t.name}.rowid") == fts.c.rowid)
            return stmt.select_from(join).where(match)
        # A query with symbols ("100%", "snake_case") scans the substring columns: rare, and correct.
        hits = sa.select(fts.c.rowid).select_from(fts).where(match)
        in_fts = [sa.literal_column(f"{t.name}.rowid").in_(hits)] if terms.tokens else []
        return stmt.where(sa.or_(*in_fts, *literal))
    conds: list[sa.ColumnElement[bool]] = []
    if terms.tokens:
        doc = getattr(sa.func, st.pg_document)(*(t.c[a] for a in st.pg_document_args))
        tsq = sa.func.kith_search_tsquery(sa.bindparam("tokens", list(terms.tokens),
                                                       type_=postgresql.ARRAY(sa.Text)))
        conds.append(doc.op("@@", is_comparison=True)(tsq))
    if terms.literal or len(terms.whole) >= MIN_SUBSTRING:
        conds.extend(literal)
    return stmt.where(sa.or_(*conds))


def rank(st: SearchType, terms: Terms) -> sa.ColumnElement[int]:
    t = st.kind.table

    def low(col: str) -> sa.ColumnElement[str]:
        return sa.func.lower(t.c[col])

    exact = [low(c).in_(sorted({terms.whole, terms.joined})) for c in st.exact]
    prefix = [sa.func.substr(low(c), 1, len(q)) == q for c in st.prefix for q in sorted({terms.whole, terms.joined})]
    first = terms.first  # letters, digits and marks only: nothing LIKE would read as a wildcard
    words = [low(c).like(p) for c in st.words
             for p in (f"{first}%", f"% {first}%", f"%@{first}%", f"%.{first}%", f"%-{first}%")]
    return sa.case((sa.or_(*exact), 0), (sa.or_(*prefix), 1), (sa.or_(*words), 2), else_=3)


def sort_key(st: SearchType, backend: str) -> sa.ColumnElement[str]:
    """lower(name), compared byte-wise on both backends (PostgreSQL: COLLATE "C"), so the order the
    database gives is the order Python gives the same strings (cross-type merging)."""
    key = sa.func.lower(st.kind.table.c.name)
    return sa.collate(key, "C") if backend == "postgresql" else key


def _ranked(st: SearchType, stmt: sa.Select[Any], terms: Terms, backend: str) -> tuple[
        sa.Select[Any], sa.ColumnElement[int], sa.ColumnElement[str]]:
    r, key = rank(st, terms), sort_key(st, backend)
    return stmt.add_columns(r.label("_rank"), key.label("_key")), r, key


def _strip(row: Any) -> tuple[dict[str, Any], int, str]:
    d = dict(row._mapping)
    return d, d.pop("_rank"), d.pop("_key")


async def list_page(uow: UnitOfWork, kind: Kind, stmt: sa.Select[Any], query: ListQuery) -> Page:
    """The list of ``kind`` (``stmt``: its org-scoped, filtered select) matching ``query.q``."""
    assert query.q is not None
    st = _search_type(kind)
    terms = parse(query.q)
    t = kind.table
    if query.sort != RELEVANCE:
        if query.sort.lstrip("-+") == RELEVANCE:
            raise ValidationFailed("relevance sorts the best matches first and has no other direction",
                                   errors=[FieldError("sort", "use sort=relevance")])
        sort_name, desc = parse_sort(query.sort, kind.sortable)
        stmt = keyset(stmt, sort_col=t.c[sort_name], id_col=t.c.id, query=query, sort_name=sort_name, desc=desc)
        if terms.empty:
            return Page([], None)
        stmt = matching(st, stmt, terms, uow.backend)
        async with uow.transaction():
            rows = [dict(r._mapping) for r in await uow.execute(stmt)]
        return page(rows, query, sort_name)

    stmt, r, key = _ranked(st, stmt, terms, uow.backend)
    if query.cursor:
        value, last_id = decode_cursor(query.cursor, RELEVANCE)
        if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int and isinstance(value[1], str)):
            raise _bad_cursor()
        stmt = stmt.where(sa.tuple_(r, key, t.c.id) > sa.tuple_(sa.literal(value[0]), sa.literal(value[1]),
                                                                 sa.literal(last_id)))
    if terms.empty:
        return Page([], None)
    stmt = matching(st, stmt, terms, uow.backend)
    stmt = stmt.order_by(sa.literal_column("_rank"), sa.literal_column("_key"), t.c.id).limit(query.limit + 1)
    async with uow.transaction():
        found = [_strip(row) for row in await uow.execute(stmt)]
    more = len(found) > query.limit
    found = found[: query.limit]
    nxt = None
    if more and found:
        last, last_rank, last_key = found[-1]
        nxt = encode_cursor(RELEVANCE, [last_rank, last_key], last["id"])
    return Page([d for d, _, _ in found], nxt)


def _readable(actor: Actor, wanted: Sequence[SearchType]) -> list[tuple[SearchType, frozenset[str] | None]]:
    out: list[tuple[SearchType, frozenset[str] | None]] = []
    for st in wanted:
        g = grant(actor.roles, f"{st.kind.resource}:read")
        if g is not Grant.NONE:
            out.append((st, None if g is Grant.ALL else actor.team_ids))
    return out


def parse_types(raw: str | None) -> list[SearchType]:
    if not raw:
        return [st for n in registry.names() if (st := registry.get(n)) is not None]
    wanted = list(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))
    unknown = [w for w in wanted if registry.get(w) is None]
    if unknown or not wanted:
        raise ValidationFailed(f"cannot search {unknown}" if unknown else "name at least one type",
                               errors=[FieldError("types", f"comma-separated, any of {registry.names()}")])
    return [st for w in wanted if (st := registry.get(w)) is not None]


def _decode_search_cursor(cursor: str) -> tuple[int, str, str, str]:
    value, last_id = decode_cursor(cursor, SEARCH_CURSOR)
    if not (isinstance(value, list) and len(value) == 3 and type(value[0]) is int
            and all(isinstance(v, str) for v in value[1:])):
        raise _bad_cursor()
    return value[0], value[1], value[2], last_id


async def search(uow: UnitOfWork, actor: Actor, q: str, *, types: str | None = None, limit: int = 20,
                 cursor: str | None = None) -> Page:
    """The best matches across ``types`` (default: every searchable type), best first: hits
    ``{type, id, name, rank, <summary fields>}``. Types the caller may not read are left out;
    403 when that leaves none."""
    readable = _readable(actor, parse_types(types))
    if not readable:
        raise Forbidden("your role may not read any of the record types searched",
                        extra={"permission": "contact:read"})
    after = _decode_search_cursor(cursor) if cursor else None
    terms = parse(q)
    if terms.empty:
        return Page([], None)
    hits: list[tuple[tuple[int, str, str, str], dict[str, Any]]] = []
    async with uow.transaction():
        for st, owners in readable:
            t = st.kind.table
            cols = [t.c.id, t.c.name, *(t.c[c] for c in st.summary)]
            stmt = sa.select(*cols).where(t.c.org_id == actor.org_id, t.c.deleted_at.is_(None))
            if owners is not None:
                stmt = stmt.where(t.c.owner_id.in_(sorted(owners)))
            stmt, r, key = _ranked(st, stmt, terms, uow.backend)
            if after is not None:
                a_rank, a_key, a_type, a_id = after
                head, last = sa.tuple_(r, key), sa.tuple_(sa.literal(a_rank), sa.literal(a_key))
                if st.name < a_type:
                    stmt = stmt.where(head > last)
                elif st.name > a_type:
                    stmt = stmt.where(head >= last)
                else:
                    stmt = stmt.where(sa.tuple_(r, key, t.c.id) > sa.tuple_(
                        sa.literal(a_rank), sa.literal(a_key), sa.literal(a_id)))
            stmt = matching(st, stmt, terms, uow.backend)
            stmt = stmt.order_by(sa.literal_column("_rank"), sa.literal_column("_key"), t.c.id).limit(limit + 1)
            for row in await uow.execute(stmt):
                d, rk, k = _strip(row)
                hits.append(((rk, k, st.name, d["id"]), {"type": st.name, "rank": rk, **d}))
    hits.sort(key=lambda h: h[0])
    more = len(hits) > limit
    hits = hits[:limit]
    nxt = None
    if more and hits:
        (rk, k, type_, last_id), _ = hits[-1]
        nxt = encode_cursor(SEARCH_CURSOR, [rk, k, type_], last_id)
    return Page([h for _, h in hits], nxt)
