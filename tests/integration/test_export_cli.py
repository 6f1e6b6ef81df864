"""`kith export` as a real process against real databases: files, stdout, filters, errors, orgs."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
from openpyxl import load_workbook

from kith.config import Settings
from kith.entrypoints.app import create_app
from tests.integration.test_cli import init, kith


async def make_contacts(db_url: str, key: str, bodies: list[dict[str, object]]) -> list[str]:
    app = create_app(Settings(database_url=db_url))
    made = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for body in bodies:
            r = await c.post("/api/v1/contacts", json=body, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 201, r.text
            made.append(r.json()["id"])
    await app.state.db.dispose()
    return made


async def test_export_writes_csv_and_xlsx_files_with_filters(db_url: str, tmp_path: Path) -> None:
    acme = init(db_url, "Acme")
    ann, bob = await make_contacts(db_url, acme["api_key"], [
        {"name": "Ann", "stage": "qualified", "title": "=1+1"}, {"name": "Bob"}])
    out = tmp_path / "contacts.csv"
    proc = kith("export", "contacts", "--db", db_url, "--output", str(out))
    assert "exported 2 contacts" in proc.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["id"] for r in rows} == {ann, bob}
    assert next(r for r in rows if r["id"] == ann)["title"] == "'=1+1"

    proc = kith("export", "contacts", "--db", db_url, "--filter", "stage=qualified")  # stdout
    assert [r["id"] for r in csv.DictReader(io.StringIO(proc.stdout))] == [ann]

    xlsx = tmp_path / "contacts.xlsx"  # the format follows the suffix
    kith("export", "contacts", "--db", db_url, "-o", str(xlsx), "--sort", "created_at")
    values = list(load_workbook(xlsx).active.iter_rows(values_only=True))
    assert values[0][0] == "id" and [v[0] for v in values[1:]] == [ann, bob]


async def test_export_picks_the_org_and_refuses_bad_input_without_leaving_a_file(db_url: str, tmp_path: Path
                                                                                 ) -> None:
    acme, globex = init(db_url, "Acme"), init(db_url, "Globex")
    [mine] = await make_contacts(db_url, acme["api_key"], [{"name": "Mine"}])
    [theirs] = await make_contacts(db_url, globex["api_key"], [{"name": "Theirs"}])
    proc = kith("export", "contacts", "--db", db_url, "--org", "Globex")
    assert [r["id"] for r in csv.DictReader(io.StringIO(proc.stdout))] == [theirs]
    proc = kith("export", "contacts", "--db", db_url, "--org", acme["org_id"])
    assert [r["id"] for r in csv.DictReader(io.StringIO(proc.stdout))] == [mine]

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "x.csv"
    for args, words in [
        (["--filter", "colour=red"], "colour"),
        (["--filter", "stage"], "field=value"),
        (["--format", "pdf"], "csv or xlsx"),
    ]:
        proc = kith("export", "contacts", "--db", db_url, "--org", "Acme", "-o", str(out), *args, check=False)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    proc = kith("export", "campaigns", "--db", db_url, "--org", "Acme", check=False)
    assert proc.returncode == 2 and "object" in proc.stderr
    assert list(out_dir.iterdir()) == []
