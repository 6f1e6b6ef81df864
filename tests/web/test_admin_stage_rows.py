"""Property tests of the stage editor's form parser (``kith.web.admin.stage_rows``): the rows come
back ordered by their order numbers (ties keep the form's order), deleted rows are left out with
their targets, and the blank "new stage" row is ignored."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import FormData

from kith.web.admin import stage_rows

row = st.fixed_dictionaries({
    "name": st.text(alphabet="abcxyz ", min_size=0, max_size=8),
    "position": st.one_of(st.integers(-5, 20).map(str), st.just(""), st.just("x")),
    "delete": st.booleans(),
    "target": st.sampled_from(["", "stage_t"]),
    "probability": st.one_of(st.integers(-10, 150).map(str), st.just(""), st.just("many")),
})


@given(st.lists(row, max_size=12))
def test_rows_are_ordered_filtered_and_targets_kept(rows: list[dict]) -> None:
    items: list[tuple[str, str]] = []
    for n, r in enumerate(rows):
        p = f"s{n}."
        items += [(p + "id", f"stage_{n}" if n % 2 == 0 else ""), (p + "name", r["name"]),
                  (p + "position", r["position"]), (p + "probability", r["probability"]), (p + "outcome", ""),
                  (p + "target", r["target"])]
        if r["delete"]:
            items.append((p + "delete", "on"))
    stages, targets = stage_rows(FormData(items), outcomes=True)

    def pos(n: int, raw: str) -> float:
        try:
            return float(raw) if raw.strip() else float(n)
        except ValueError:
            return float(n)

    kept = [(pos(n, r["position"]), n) for n, r in enumerate(rows)
            if not r["delete"] and (n % 2 == 0 or r["name"].strip())]
    expected = [n for _, n in sorted(kept)]
    assert [s.get("id") for s in stages] == [f"stage_{n}" if n % 2 == 0 else None for n in expected]
    assert [s["name"] for s in stages] == [rows[n]["name"].strip() for n in expected]
    assert targets == {f"stage_{n}": "stage_t" for n, r in enumerate(rows)
                       if r["delete"] and n % 2 == 0 and r["target"]}
    for s, n in zip(stages, expected, strict=True):
        raw = rows[n]["probability"]
        if raw == "":
            assert "probability" not in s
        else:
            assert s["probability"] == (int(raw) if raw.lstrip("-").isdigit() else raw)
