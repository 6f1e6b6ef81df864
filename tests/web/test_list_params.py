"""The list page's query string → the service's ListQuery: a parser, so property-tested."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from kith.core.listing import MAX_LIMIT
from kith.web.lists import PAGE_PARAMS, list_query
from kith.web.objects import OBJECTS

names = st.sampled_from(["stage", "q", "sort", "limit", "cursor", "col", "partial", "view", "tag", "x"])
pairs = st.lists(st.tuples(names, st.text(max_size=20)), max_size=8)


@given(pairs, st.sampled_from(sorted(OBJECTS)))
def test_page_parameters_never_become_filters_and_limits_stay_in_range(items, path) -> None:
    q = list_query(OBJECTS[path], QueryParams(items))
    assert 1 <= q.limit <= MAX_LIMIT
    assert not set(q.filters) & PAGE_PARAMS
    assert all(v == v.strip() and v for v in q.filters.values())
    assert q.sort  # always some order


def test_search_sorts_by_relevance_only_where_the_service_offers_it() -> None:
    assert list_query(OBJECTS["contacts"], QueryParams("q=ali")).sort == "relevance"
    assert list_query(OBJECTS["deals"], QueryParams("q=ali")).sort == "-created_at"
    assert list_query(OBJECTS["activities"], QueryParams("q=ali")).q is None
