"""The searchable record types. Making a type searchable is registering it here (plus a migration
creating its index with ``kith.search.ddl``): `q` on its list and `GET /api/v1/search` follow.

Ranking is a small integer computed from the record's own values, the same on both backends, so
results order by (rank, lower(name), id) and keyset cursors stay exact:

- 0: an ``exact`` field equals the query (case-insensitively), e.g. the name or the email;
- 1: a ``prefix`` field starts with the query;
- 2: a word of a ``words`` field starts with the query's first token ("smi" in "Jane Smith",
  "acm" in "bob@acme.com");
- 3: any other match (title, notes, tags, phone; on PostgreSQL also substrings of name/email).
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
    pg_document: str  # PostgreSQL: the indexed document function ...
    pg_document_args: tuple[str, ...]  # ... and the columns it is called with, in order
    pg_substring: tuple[str, ...]  # PostgreSQL: columns matched by substring (trigram GIN on lower(col))
    exact: tuple[str, ...]
    prefix: tuple[str, ...]
    words: tuple[str, ...]
    summary: tuple[str, ...]  # fields a /search hit carries besides type, id, name, rank


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
        name="contact", kind=CONTACT, fts_table="contacts_fts",
        pg_document="kith_contacts_search_doc",
        pg_document_args=("name", "first_name", "last_name", "email", "phone", "mobile", "title", "tags", "notes"),
        pg_substring=("name", "email"),
        exact=("name", "email"), prefix=("name", "email", "first_name", "last_name"), words=("name", "email"),
        summary=("email", "title", "stage", "owner_id"),
    ))
    register(SearchType(
        name="company", kind=COMPANY, fts_table="companies_fts",
        pg_document="kith_companies_search_doc",
        pg_document_args=("name", "domain", "external_id", "tags", "notes"),
        pg_substring=("name", "domain"),
        exact=("name", "domain", "external_id"), prefix=("name", "domain", "external_id"), words=("name", "domain"),
        summary=("domain", "external_id", "stage", "owner_id"),
    ))


def get(name: str) -> SearchType | None:
    _load()
    return _types.get(name)


def names() -> list[str]:
    _load()
    return sorted(_types)
