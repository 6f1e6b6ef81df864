"""The searchable record types. Making a type searchable is registering it here (plus a migration
creating its index with ``kith.search.ddl``): `q` on its list and `GET /api/v1/search` follow.

Ranking is a small integer from the record's own values, the same on both backends:

- 0: an ``exact`` field equals the query (case-insensitively): the name, the email, the domain;
- 1: a ``prefix`` field starts with the query: the name first, then each other field in turn;
- 2: a word of a ``words`` field (SQLite: those FTS columns; PostgreSQL: the lexemes of weight A
  in the search document) starts with the query's first token ("smi" in "Jane Smith", "acm" in
  "bob@acme.com");
- 3: any other match (title, notes, tags, phone; on PostgreSQL also substrings of name/email).

Each rank (and each prefix field within rank 1) is a *tier* served by its own bounded query:
exact and prefix tiers from ordered indexes with LIMIT, ranks 2 and 3 by the full-text index
(``kith.search.service``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kith.records.crud import Kind


@dataclass(frozen=True)
class SearchType:
    name: str  # the record type: "contact"; the value of `types=` on /search
    kind: Kind
    fts_table: str  # SQLite: the FTS5 table whose rowid is the record row's rowid
    pg_document: str  # PostgreSQL: the stored tsvector column (GIN-indexed; name/email words weight A)
    pg_substring: tuple[str, ...]  # PostgreSQL: columns matched by substring (trigram GIN on lower(col))
    exact: tuple[str, ...]  # rank 0: equal to the query; the first is the name
    prefix: tuple[str, ...]  # rank 1, in this order: starts with the query; the first is the name
    words: tuple[str, ...]  # rank 2: SQLite FTS columns whose words are looked at
    summary: tuple[str, ...]  # fields a /search hit carries besides type, id, name, rank
    # Columns stored lower-case (emails, domains): compared as they are, so their (unique, live)
    # indexes serve the exact and prefix tiers; the others are compared as lower(column).
    stored_lower: tuple[str, ...] = ()
    # Columns unique among the org's live records: their prefix tier orders by the value alone.
    unique: tuple[str, ...] = ()


_types: dict[str, SearchType] = {}
_loaded = False


def register(search_type: SearchType) -> None:
    _types[search_type.name] = search_type


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from kith.companies.service import KIND as COMPANY
    from kith.contacts.service import KIND as CONTACT

    register(SearchType(
        name="contact", kind=CONTACT, fts_table="contacts_fts", pg_document="search_doc",
        pg_substring=("name", "email"),
        exact=("name", "email"), prefix=("name", "email"), words=("name", "email"),
        summary=("email", "title", "stage", "owner_id"),
        stored_lower=("email",), unique=("email",),
    ))
    register(SearchType(
        name="company", kind=COMPANY, fts_table="companies_fts", pg_document="search_doc",
        pg_substring=("name", "domain"),
        exact=("name", "domain", "external_id"), prefix=("name", "domain", "external_id"), words=("name", "domain"),
        summary=("domain", "external_id", "stage", "owner_id"),
        stored_lower=("domain",), unique=("domain",),
    ))


def get(name: str) -> SearchType | None:
    _load()
    return _types.get(name)


def names() -> list[str]:
    _load()
    return sorted(_types)
