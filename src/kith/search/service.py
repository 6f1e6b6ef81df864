"""Text search: `q` on the record lists and `GET /api/v1/search` across the registered types.

Matching: every token of the query must match, as a prefix, a word of the indexed text (SQLite
FTS5 / PostgreSQL tsvector; see ``kith.search.ddl``); a record whose name or email (domain,
external id) equals or starts with the query matches too. PostgreSQL also matches the whole query
as a substring of name and email (trigram indexes); on SQLite only a query holding symbols
(``%``, ``_``, ``&``...) does. A query without any letter, digit or symbol matches nothing.

Order: ``sort`` omitted with ``q`` means ``sort=relevance``: rank (``kith.search.registry``), then
within a rank by tier. A page never ranks every match: each tier is one bounded query, run in
order until the page is full:

==========  =====================================  ==============================================
rank (sub)  tier                                   served by
==========  =====================================  ==============================================
0           name / email / domain equals q         equality on ``(org_id, lower(name), id)`` and
                                                   the live-unique email/domain indexes
1 (0)       the name starts with q                 a range of ``(org_id, lower(name), id)``, in order
1 (1, 2)    the email (domain, external id) does   a range of that column's index, in its order
2           a name/email word starts with token 1  the full-text index (FTS5 column filter /
3 (0)       any other full-text match              tsvector lexemes of weight A), ordered by name
3 (1)       PostgreSQL: a substring of name/email  trigram indexes, ordered by name
==========  =====================================  ==============================================

Ranks 2 and 3 are ordered by lower-cased name while the full-text index holds at most ``BROAD``
candidates for the tier; beyond that the tier comes in index order (SQLite: rowid, PostgreSQL: id,
i.e. oldest first), which the full-text index serves without sorting every match. A page that
reaches such a tier costs a capped count plus one page of rows, however many records match.

Cursors are keyset positions ``(rank, sub, key, id)``: exact on every page; `/search` keeps one
position per type and merges the types by ``(rank, sub, key, type, id)``.

On SQLite the FTS table drives the join (``CROSS JOIN``: the planner may not start from the
records table, which at 1M rows turns milliseconds into seconds); on PostgreSQL the stored
``search_doc`` column is GIN-indexed, and search statements run with
``plan_cache_mode=force_custom_plan`` (a generic plan cannot pick between the name-ordered index
and the GIN bitmap, which depends on how many records the query matches).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
# A full-text tier with more candidates than this comes in index order instead of by name.
BROAD = 1000

Key = str | int  # str: the tier's value order; int: a broad tier in index order (SQLite rowid)


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


# --- expressions ----------------------------------------------------------------------------------

def sort_key(st: SearchType, backend: str) -> sa.ColumnElement[str]:
    """The name as the relevance order compares it: lower-cased, byte-wise on both backends
    (PostgreSQL: COLLATE "C"; SQLite: NOCASE, which folds ASCII exactly as its lower() does), so
    the order the database gives is the order Python gives the keys (cross-type merging)."""
    return _value(st, "name", backend)


def _value(st: SearchType, col: str, backend: str) -> sa.ColumnElement[str]:
    """``col`` as the tiers compare and order it, served by its ordered index (migration 0012)."""
    c = st.kind.table.c[col]
    if backend == "postgresql":
        return sa.collate(c if col in st.stored_lower else sa.func.lower(c), "C")
    return c if col in st.stored_lower else sa.collate(c, "NOCASE")


def _label(st: SearchType, col: str) -> sa.ColumnElement[str]:
    """The cursor key of ``col``: lower-cased (equal to ``_value`` under its collation)."""
    c = st.kind.table.c[col]
    return c if col in st.stored_lower else sa.func.lower(c)


def _safe(st: SearchType, col: str, backend: str) -> sa.ColumnElement[str]:
    """``col`` lower-cased and '' when NULL, byte order: exclusions must never be NULL."""
    c = st.kind.table.c[col]
    expr: sa.ColumnElement[str] = c if col in st.stored_lower else sa.func.lower(c)
    if c.nullable:
        expr = sa.func.coalesce(expr, "")
    return sa.collate(expr, "C") if backend == "postgresql" else expr


def _exact_values(terms: Terms) -> list[str]:
    return sorted({v for v in (terms.whole, terms.joined) if v})


def _prefix_values(terms: Terms) -> list[str]:
    """The query's forms a field may start with, minus those another form already covers."""
    out: list[str] = []
    for v in sorted(sorted({v for v in (terms.whole, terms.joined) if v}), key=len):
        if not any(v.startswith(u) for u in out):
            out.append(v)
    return out


def _successor(v: str) -> str | None:
    """The least string greater than every string starting with ``v`` (code point order)."""
    while v:
        c = ord(v[-1]) + 1
        if 0xD800 <= c <= 0xDFFF:
            c = 0xE000
        if c <= 0x10FFFF:
            return v[:-1] + chr(c)
        v = v[:-1]
    return None


def _starts(expr: sa.ColumnElement[str], values: Sequence[str]) -> sa.ColumnElement[bool]:
    """``expr`` starts with one of ``values``, as index ranges."""
    conds: list[sa.ColumnElement[bool]] = []
    for v in values:
        nxt = _successor(v)
        conds.append(sa.and_(expr >= v, expr < nxt) if nxt is not None else expr >= v)
    return sa.or_(*conds)


def _exact(st: SearchType, terms: Terms, backend: str) -> sa.ColumnElement[bool]:
    values = _exact_values(terms)
    return sa.or_(*(_safe(st, c, backend).in_(values) for c in st.exact))


def _prefixed(st: SearchType, col: str, terms: Terms, backend: str) -> sa.ColumnElement[bool]:
    expr = _safe(st, col, backend)
    return sa.or_(*(sa.func.substr(expr, 1, len(v)) == v for v in _prefix_values(terms)))


def _above(st: SearchType, terms: Terms, backend: str, prefix_cols: Sequence[str]) -> list[sa.ColumnElement[bool]]:
    """Conditions keeping out the records of the exact tier and of the prefix tiers ``prefix_cols``."""
    out = [sa.not_(_exact(st, terms, backend))]
    out += [sa.not_(_prefixed(st, c, terms, backend)) for c in prefix_cols]
    return out


def _rowid(t: sa.Table) -> sa.ColumnElement[int]:
    return sa.literal_column(f"{t.name}.rowid")


def _fts_match(st: SearchType, expr: str) -> sa.ColumnElement[bool]:
    return sa.literal_column(st.fts_table).op("MATCH")(sa.bindparam("fts_match", expr, unique=True))


def _document(st: SearchType) -> sa.ColumnElement[Any]:
    return sa.literal_column(f"{st.kind.table.name}.{st.pg_document}")


def _tsquery(tokens: Sequence[str], weights: str = "") -> sa.ColumnElement[Any]:
    """An AND of prefix terms, one per token (``weights``: only lexemes of those weights)."""
    arr = sa.literal(list(tokens), type_=postgresql.ARRAY(sa.Text))
    return sa.func.kith_search_tsquery_w(arr, sa.literal(weights, type_=sa.Text))


def _ts_match(st: SearchType, query: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return _document(st).op("@@", is_comparison=True)(query)


def _substring(st: SearchType, terms: Terms) -> sa.ColumnElement[bool]:
    pattern = f"%{like_escape(terms.whole)}%"
    return sa.or_(*(sa.func.lower(st.kind.table.c[c]).like(pattern, escape="\\") for c in st.pg_substring))


def _words(st: SearchType, terms: Terms) -> sa.ColumnElement[bool]:
    """A word of a ``words`` field starts with the first token (by LIKE: the symbol-query tier)."""
    t, first = st.kind.table, terms.first  # letters, digits and marks only: no LIKE wildcard
    if not first:
        return sa.false()
    return sa.or_(*(sa.func.lower(t.c[c]).like(p) for c in st.words
                    for p in (f"{first}%", f"% {first}%", f"%@{first}%", f"%.{first}%", f"%-{first}%")))


def matching(st: SearchType, stmt: sa.Select[Any], terms: Terms, backend: str) -> sa.Select[Any]:
    """``stmt`` (a select from the type's table) restricted to the records matching ``terms``
    (used by lists sorted by a field: the order is that field's, no tiers)."""
    t = st.kind.table
    literal = [_substring(st, terms)]
    if backend == "sqlite":
        fts = sa.table(st.fts_table, sa.column("rowid"))
        match = _fts_match(st, fts5_match(terms.tokens))
        if not terms.literal:
            join = _FtsJoin(fts, t, _rowid(t) == fts.c.rowid)
            return stmt.select_from(join).where(match)
        hits = sa.select(fts.c.rowid).select_from(fts).where(match)
        in_fts = [_rowid(t).in_(hits)] if terms.tokens else []
        return stmt.where(sa.or_(*in_fts, *literal))
    conds: list[sa.ColumnElement[bool]] = []
    if terms.tokens:
        conds.append(_ts_match(st, _tsquery(terms.tokens)))
    if terms.literal or len(terms.whole) >= MIN_SUBSTRING:
        conds.extend(literal)
    return stmt.where(sa.or_(*conds))


# --- tiers -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pos:
    """Where a record stands in the relevance order of its type."""

    rank: int
    sub: int
    key: Key
    id: str

    def merge_key(self, type_name: str) -> tuple[int, int, int, int, str, str, str]:
        broad = isinstance(self.key, int)
        return (self.rank, self.sub, int(broad), self.key if isinstance(self.key, int) else 0,
                self.key if isinstance(self.key, str) else "", type_name, self.id)


@dataclass(frozen=True)
class Tier:
    kind: str  # exact | prefix | word | rest | substring | symbols
    first: tuple[int, int]  # the (rank, sub) it serves, from ...
    last: tuple[int, int]  # ... to
    column: str = ""


def tiers(st: SearchType, terms: Terms, backend: str) -> list[Tier]:
    out = [Tier("exact", (0, 0), (0, 0))]
    out += [Tier("prefix", (1, i), (1, i), c) for i, c in enumerate(st.prefix)]
    if terms.literal:
        out.append(Tier("symbols", (2, 0), (3, 0)))
        return out
    out += [Tier("word", (2, 0), (2, 0)), Tier("rest", (3, 0), (3, 0))]
    if backend == "postgresql" and len(terms.whole) >= MIN_SUBSTRING:
        out.append(Tier("substring", (3, 1), (3, 1)))
    return out


Found = list[tuple[Pos, dict[str, Any]]]


def _after(expr: sa.ColumnElement[Any], id_col: sa.ColumnElement[str], key: Any, last_id: str
           ) -> sa.ColumnElement[bool]:
    return sa.tuple_(expr, id_col) > sa.tuple_(sa.literal(key), sa.literal(last_id))


def _strip(row: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    d = dict(row._mapping)
    extra = {k: d.pop(k) for k in ("_key", "_rid", "_rank") if k in d}
    return d, extra


class _Search:
    """One type's relevance-ordered matches, tier by tier (``fetch``)."""

    def __init__(self, uow: UnitOfWork, st: SearchType, base: sa.Select[Any], terms: Terms) -> None:
        self.uow, self.st, self.base, self.terms = uow, st, base, terms
        self.backend = uow.backend
        self.t = st.kind.table
        self.name_key = sort_key(st, self.backend)
        self.name_label = _label(st, "name").label("_key")
        self._counts: dict[int, int] | None = None
        self._excluded: list[sa.ColumnElement[bool]] | None = None
        self._parts: dict[int, tuple[sa.Select[Any], sa.ColumnElement[Any], sa.Select[Any]]] = {}

    async def fetch(self, after: Pos | None, n: int) -> Found:
        """The first ``n`` matches after ``after`` (or from the start). The exact and name-prefix
        tiers go in one statement (each branch ordered and limited on its own index); the other
        tiers run one by one while the page is not full; the full-text tiers are counted together
        first, and skipped when empty."""
        out: Found = []
        todo = [tier for tier in tiers(self.st, self.terms, self.backend)
                if after is None or tier.last >= (after.rank, after.sub)]
        head = [tier for tier in todo[:2] if tier.first <= (1, 0)]
        if head:
            out += await self._head(head, after, n)
        for tier in todo[len(head):]:
            if len(out) >= n:
                break
            if tier.kind == "prefix":
                out += await self._head([tier], after, n - len(out))
                continue
            resume = after if after is not None and tier.first <= (after.rank, after.sub) else None
            out += await self._tier(tier, resume, n - len(out))
        return out[:n]

    async def _rows(self, stmt: sa.Select[Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [_strip(r) for r in await self.uow.execute(stmt)]

    async def _tier(self, tier: Tier, resume: Pos | None, n: int) -> Found:
        if tier.kind == "symbols":
            return await self._symbols(resume, n)
        if tier.kind == "substring":
            return await self._substring(resume, n)
        return await self._fulltext(tier, resume, n)

    def _str_key(self, resume: Pos | None) -> str | None:
        if resume is None:
            return None
        if not isinstance(resume.key, str):
            raise _bad_cursor()
        return resume.key

    async def _head(self, head: list[Tier], after: Pos | None, n: int) -> Found:
        branches: list[tuple[Tier, sa.Select[Any]]] = []
        for tier in head:
            resume = after if after is not None and tier.first <= (after.rank, after.sub) else None
            stmt = self._exact_stmt(resume, n) if tier.kind == "exact" else self._prefix_stmt(tier, resume, n)
            if stmt is not None:
                branches.append((tier, stmt))
        if not branches:
            return []
        parts = []
        for i, (_, stmt) in enumerate(branches):
            sub = stmt.subquery()
            parts.append(sa.select(sub, sa.literal(i).label("_tier")))
        union = sa.union_all(*parts) if len(parts) > 1 else parts[0]
        by_tier: list[list[tuple[tuple[str, str], dict[str, Any]]]] = [[] for _ in branches]
        for row in await self.uow.execute(union):
            d = dict(row._mapping)
            i, key = d.pop("_tier"), d.pop("_key")
            by_tier[i].append(((key, d["id"]), d))
        out: Found = []
        seen: set[str] = set()
        for (tier, _), found in zip(branches, by_tier, strict=True):
            found.sort(key=lambda f: f[0])  # the database's order (byte order keys), whatever the union did
            for (key, id_), d in found:
                if id_ not in seen:
                    seen.add(id_)
                    out.append((Pos(tier.first[0], tier.first[1], key, id_), d))
            if len(out) >= n:
                break
        return out[:n]

    def _exact_stmt(self, resume: Pos | None, n: int) -> sa.Select[Any] | None:
        st, backend, t = self.st, self.backend, self.t
        values = _exact_values(self.terms)
        if not values:
            return None
        key = self._str_key(resume)
        branches = []
        for col in st.exact:
            stmt = self.base.where(_value(st, col, backend).in_(values)).add_columns(self.name_label)
            if key is not None and resume is not None:
                stmt = stmt.where(_after(self.name_key, t.c.id, key, resume.id))
            branches.append(stmt)
        union = sa.union_all(*branches).subquery()
        # A record equal in two fields comes twice: room for the duplicates, dropped by ``_head``.
        return sa.select(union).order_by(union.c._key, union.c.id).limit(n * len(branches))

    def _prefix_stmt(self, tier: Tier, resume: Pos | None, n: int) -> sa.Select[Any] | None:
        st, backend, t = self.st, self.backend, self.t
        values = _prefix_values(self.terms)
        if not values:
            return None
        col = tier.column
        i = tier.first[1]
        expr = _value(st, col, backend)
        stmt = self.base.where(_starts(expr, values), *_above(st, self.terms, backend, st.prefix[:i]))
        stmt = stmt.add_columns(_label(st, col).label("_key"))
        key = self._str_key(resume)
        if col in st.unique:  # one live record per value: the value alone orders (its index has no id)
            if key is not None:
                stmt = stmt.where(expr > key)
            stmt = stmt.order_by(expr)
        else:
            if key is not None and resume is not None:
                stmt = stmt.where(_after(expr, t.c.id, key, resume.id))
            stmt = stmt.order_by(expr, t.c.id)
        return stmt.limit(n)

    def _not_tiered(self) -> list[sa.ColumnElement[bool]]:
        if self._excluded is None:  # built once per search: the full-text tiers and counts share it
            self._excluded = _above(self.st, self.terms, self.backend, self.st.prefix)
        return self._excluded

    def _fulltext_parts(self, rank: int) -> tuple[sa.Select[Any], sa.ColumnElement[Any], sa.Select[Any]]:
        """The tier's matches (exclusions included), its index order, and what to count."""
        parts = self._parts.get(rank)
        if parts is None:
            parts = self._parts[rank] = self._build_fulltext_parts(rank)
        return parts

    def _build_fulltext_parts(self, rank: int) -> tuple[sa.Select[Any], sa.ColumnElement[Any], sa.Select[Any]]:
        st, t, terms = self.st, self.t, self.terms
        if self.backend == "sqlite":
            everything = fts5_match(terms.tokens)
            word = "{" + " ".join(st.words) + "} : " + fts5_match(terms.tokens[:1])
            expr = f"({word}) AND ({everything})" if rank == 2 else f"({everything}) NOT ({word})"
            fts = sa.table(st.fts_table, sa.column("rowid"))
            match = _fts_match(st, expr)
            stmt = self.base.select_from(_FtsJoin(fts, t, _rowid(t) == fts.c.rowid)).where(match)
            # SQLite counts in the FTS table alone (every org's rows): no record is read.
            counted = sa.select(sa.literal(1)).select_from(sa.table(st.fts_table)).where(match)
            return stmt.where(*self._not_tiered()), fts.c.rowid, counted
        everything_q, word_q = _tsquery(terms.tokens), _tsquery(terms.tokens[:1], "A")
        q = sa.func.tsquery_and(everything_q, word_q if rank == 2 else sa.func.tsquery_not(word_q))
        stmt = self.base.where(_ts_match(st, q), *self._not_tiered())
        return stmt, t.c.id, stmt.with_only_columns(sa.literal(1))

    async def _candidates(self, rank: int) -> int:
        """How many candidates the full-text tier ``rank`` holds, counted up to ``BROAD + 1``:
        both tiers in one statement, on first use."""
        if self._counts is None:
            subs = [sa.select(sa.func.count()).select_from(self._fulltext_parts(r)[2].limit(BROAD + 1).subquery())
                    .scalar_subquery() for r in (2, 3)]
            row: Any = (await self.uow.execute(sa.select(*subs))).one()
            self._counts = {2: int(row[0]), 3: int(row[1])}
        return self._counts[rank]

    async def _fulltext(self, tier: Tier, resume: Pos | None, n: int) -> Found:
        """Rank 2 (a name/email word starts with the first token) or 3 (any other match)."""
        rank = tier.first[0]
        if resume is not None:
            broad = isinstance(resume.key, int)
        else:
            count = await self._candidates(rank)
            if count == 0:
                return []
            broad = count > BROAD
        stmt, order_col, _ = self._fulltext_parts(rank)
        sqlite = self.backend == "sqlite"
        if broad:
            stmt = stmt.add_columns(order_col.label("_rid"))
            if resume is not None:
                stmt = stmt.where(order_col > (resume.key if sqlite else resume.id))
            rows = await self._rows(stmt.order_by(order_col).limit(n))
            return [(Pos(rank, 0, extra["_rid"] if sqlite else 0, d["id"]), d) for d, extra in rows]
        stmt = stmt.add_columns(self.name_label)
        if resume is not None:
            stmt = stmt.where(_after(self.name_key, self.t.c.id, resume.key, resume.id))
        rows = await self._rows(stmt.order_by(self.name_key, self.t.c.id).limit(n))
        return [(Pos(rank, 0, extra["_key"], d["id"]), d) for d, extra in rows]

    async def _substring(self, resume: Pos | None, n: int) -> Found:
        """PostgreSQL: name/email holding the query, not matched by the full-text tiers."""
        st, t, terms = self.st, self.t, self.terms
        stmt = self.base.where(_substring(st, terms), *self._not_tiered())
        if terms.tokens:
            stmt = stmt.where(sa.not_(_ts_match(st, _tsquery(terms.tokens))))
        stmt = stmt.add_columns(self.name_label)
        key = self._str_key(resume)
        if key is not None and resume is not None:
            stmt = stmt.where(_after(self.name_key, t.c.id, key, resume.id))
        rows = await self._rows(stmt.order_by(self.name_key, t.c.id).limit(n))
        return [(Pos(3, 1, extra["_key"], d["id"]), d) for d, extra in rows]

    async def _symbols(self, resume: Pos | None, n: int) -> Found:
        """A query with symbols: full-text matches and literal substrings, ranks 2-3 in one query
        (rare; it reads every substring candidate)."""
        st, t, terms = self.st, self.t, self.terms
        stmt = matching(st, self.base, terms, self.backend).where(*self._not_tiered())
        r = sa.case((_words(st, terms), 2), else_=3)
        stmt = stmt.add_columns(r.label("_rank"), self.name_label)
        key = self._str_key(resume)
        if key is not None and resume is not None:
            stmt = stmt.where(sa.tuple_(r, self.name_key, t.c.id) > sa.tuple_(
                sa.literal(resume.rank), sa.literal(key), sa.literal(resume.id)))
        rows = await self._rows(stmt.order_by(r, self.name_key, t.c.id).limit(n))
        return [(Pos(extra["_rank"], 0, extra["_key"], d["id"]), d) for d, extra in rows]


async def _custom_plans(uow: UnitOfWork) -> None:
    if uow.backend == "postgresql":
        await uow.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))


# --- cursors ---------------------------------------------------------------------------------------

def _pos(rank: Any, sub: Any, key: Any, last_id: Any) -> Pos:
    ok = (type(rank) is int and type(sub) is int and 0 <= rank <= 3 and 0 <= sub < 10
          and (isinstance(key, str) or (type(key) is int and rank >= 2 and sub == 0))
          and isinstance(last_id, str))
    if not ok:
        raise _bad_cursor()
    return Pos(rank, sub, key, last_id)


def _decode_list_cursor(cursor: str) -> Pos:
    value, last_id = decode_cursor(cursor, RELEVANCE)
    if not (isinstance(value, list) and len(value) == 3):
        raise _bad_cursor()
    return _pos(value[0], value[1], value[2], last_id)


def _decode_search_cursor(cursor: str) -> dict[str, Pos]:
    value, _ = decode_cursor(cursor, SEARCH_CURSOR)
    if not isinstance(value, list) or not value:
        raise _bad_cursor()
    out: dict[str, Pos] = {}
    for item in value:
        if not (isinstance(item, list) and len(item) == 5 and isinstance(item[0], str)
                and registry.get(item[0]) is not None and item[0] not in out):
            raise _bad_cursor()
        out[item[0]] = _pos(item[1], item[2], item[3], item[4])
    return out


# --- entry points ------------------------------------------------------------------------------

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
            await _custom_plans(uow)
            rows = [dict(r._mapping) for r in await uow.execute(stmt)]
        return page(rows, query, sort_name)

    after = _decode_list_cursor(query.cursor) if query.cursor else None
    if terms.empty:
        return Page([], None)
    async with uow.transaction():
        await _custom_plans(uow)
        found = await _Search(uow, st, stmt, terms).fetch(after, query.limit + 1)
    more = len(found) > query.limit
    found = found[: query.limit]
    nxt = None
    if more and found:
        last = found[-1][0]
        nxt = encode_cursor(RELEVANCE, [last.rank, last.sub, last.key], last.id)
    return Page([d for _, d in found], nxt)


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


async def search(uow: UnitOfWork, actor: Actor, q: str, *, types: str | None = None, limit: int = 20,
                 cursor: str | None = None) -> Page:
    """The best matches across ``types`` (default: every searchable type), best first: hits
    ``{type, id, name, rank, <summary fields>}``. Types the caller may not read are left out;
    403 when that leaves none."""
    readable = _readable(actor, parse_types(types))
    if not readable:
        raise Forbidden("your role may not read any of the record types searched",
                        extra={"permission": "contact:read"})
    positions = _decode_search_cursor(cursor) if cursor else {}
    terms = parse(q)
    if terms.empty:
        return Page([], None)
    hits: list[tuple[tuple[Any, ...], str, Pos, dict[str, Any]]] = []
    async with uow.transaction():
        await _custom_plans(uow)
        for st, owners in readable:
            t = st.kind.table
            cols = [t.c.id, t.c.name, *(t.c[c] for c in st.summary)]
            base = sa.select(*cols).where(t.c.org_id == actor.org_id, t.c.deleted_at.is_(None))
            if owners is not None:
                base = base.where(t.c.owner_id.in_(sorted(owners)))
            for pos, d in await _Search(uow, st, base, terms).fetch(positions.get(st.name), limit + 1):
                hits.append((pos.merge_key(st.name), st.name, pos, {"type": st.name, "rank": pos.rank, **d}))
    hits.sort(key=lambda h: h[0])
    more = len(hits) > limit
    hits = hits[:limit]
    nxt = None
    if more and hits:
        for _, type_, pos, _ in hits:
            positions[type_] = pos
        value = [[n, p.rank, p.sub, p.key, p.id] for n, p in sorted(positions.items())]
        nxt = encode_cursor(SEARCH_CURSOR, value, hits[-1][2].id)
    return Page([h for _, _, _, h in hits], nxt)
