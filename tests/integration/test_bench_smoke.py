"""The benchmark's data generator (bench/generate.py) at a tiny scale on both backends: the row
counts it promises, and the same data for the same seed (resumable runs and comparable results
depend on it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import template_copy

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCALE = "0.0005"  # 500 contacts, 100 companies, 150 deals, 1,000 activities, 50 leads
pytestmark = pytest.mark.slow


def generate(db_url: str, seed: int) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(BENCH / "generate.py"), "--db", db_url, "--scale", SCALE,
                           "--seed", str(seed), "--json"], capture_output=True, text=True, timeout=300, cwd=BENCH)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_the_generator_loads_the_promised_rows_the_same_for_the_same_seed(
        db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    first = generate(db_url, seed=7)
    counts = first["counts"]
    assert {k: counts[k] for k in ("contacts", "companies", "deals", "activities", "leads")} == {
        "contacts": 500, "companies": 100, "deals": 150, "activities": 1000, "leads": 50}
    assert 200 < counts["contact_companies"] < 400  # ~60% of contacts work at a company

    again = generate(db_url, seed=7)  # a second run on the same database: nothing to do
    assert again["counts"] == counts and again["digest"] == first["digest"]
    assert "contacts" not in again["seconds"]

    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    for seed, d in ((7, tmp_path / "same-seed"), (8, tmp_path / "other-seed")):
        d.mkdir()
        with template_copy(request, backend, d) as fresh:
            out = generate(fresh, seed=seed)
        assert out["org_id"] != first["org_id"]
        assert (out["digest"] == first["digest"]) is (seed == 7)
