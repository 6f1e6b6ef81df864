"""`kith import` as a real process: progress, the error report, dry runs, resume after SIGKILL; and
an uploaded import run by `kith worker --once` in another process."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from kith.config import Settings
from kith.core.db import sync_url
from kith.entrypoints.app import create_app
from tests.integration.test_cli import init, kith

KITH = [sys.executable, "-m", "kith.entrypoints.cli"]


def write_people(path: Path, n: int, *, bad_every: int = 0) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["Full Name", "E-mail", "Score"])
        for i in range(n):
            score = "999" if bad_every and i % bad_every == 0 else str(i % 100)
            w.writerow([f"Person {i}", f"p{i}@example.com", score])
    return path


def scalar(db_url: str, sql: str) -> int:
    engine = sa.create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_cli_import_reports_counts_and_writes_the_error_report(db_url: str, tmp_path: Path) -> None:
    init(db_url, "Acme")
    path = write_people(tmp_path / "people.csv", 30, bad_every=10)
    report = tmp_path / "errors.csv"
    dry = kith("import", "contacts", str(path), "--db", db_url, "--dry-run")
    assert json.loads(dry.stdout.splitlines()[-1])["counts"] == {
        "rows": 30, "created": 27, "updated": 0, "skipped": 3, "errors": 3}
    assert scalar(db_url, "SELECT count(*) FROM contacts") == 0
    proc = kith("import", "contacts", str(path), "--db", db_url, "--map", "Score=lead_score", "--errors", str(report))
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["status"] == "done" and out["counts"]["created"] == 27
    assert "rows/s" in proc.stderr
    lines = list(csv.reader(report.read_text(encoding="utf-8").splitlines()))
    assert lines[0] == ["row", "field", "message"]
    assert [(r[0], r[1]) for r in lines[1:]] == [("2", "lead_score"), ("12", "lead_score"), ("22", "lead_score")]
    again = kith("import", "contacts", str(path), "--db", db_url, "--mode", "upsert")
    assert json.loads(again.stdout.splitlines()[-1])["counts"]["created"] == 0
    assert scalar(db_url, "SELECT count(*) FROM contacts") == 27


def test_cli_refuses_a_bad_mapping_before_writing_anything(db_url: str, tmp_path: Path) -> None:
    init(db_url, "Acme")
    path = write_people(tmp_path / "people.csv", 3)
    proc = kith("import", "contacts", str(path), "--db", db_url, "--map", "E-mail=mail_address", check=False)
    assert proc.returncode == 2 and "unknown field 'mail_address'" in proc.stderr
    assert scalar(db_url, "SELECT count(*) FROM imports") == 0


def test_an_import_killed_with_sigkill_resumes_without_duplicates(db_url: str, tmp_path: Path) -> None:
    init(db_url, "Acme")
    n = 20_000
    path = write_people(tmp_path / "big.csv", n)
    env = {k: v for k, v in os.environ.items() if k != "KITH_DATABASE_URL"}
    proc = subprocess.Popen([*KITH, "import", "contacts", str(path), "--db", db_url], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline:
            try:
                done = scalar(db_url, "SELECT coalesce(max(rows_done), 0) FROM imports")
            except sa.exc.OperationalError:
                done = 0
            if done > 0:
                break
            assert proc.poll() is None, "the import finished before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = scalar(db_url, "SELECT rows_done FROM imports")
    written = scalar(db_url, "SELECT count(*) FROM contacts")
    assert 0 < done < n and written == done  # whole batches: the progress row and the rows agree
    assert scalar(db_url, "SELECT count(*) FROM import_changes") == written

    rerun = kith("import", "contacts", str(path), "--db", db_url)
    out = json.loads(rerun.stdout.splitlines()[-1])
    assert out["status"] == "done" and out["counts"] == {"rows": n, "created": n, "updated": 0, "skipped": 0,
                                                         "errors": 0}
    assert scalar(db_url, "SELECT count(*) FROM contacts") == n
    assert scalar(db_url, "SELECT count(DISTINCT email) FROM contacts") == n
    assert scalar(db_url, "SELECT count(*) FROM imports") == 1


async def test_an_uploaded_import_is_run_by_a_worker_in_another_process(db_url: str, tmp_path: Path) -> None:
    creds = init(db_url, "Acme")
    path = write_people(tmp_path / "people.csv", 50)
    app = create_app(Settings(database_url=db_url))
    h = {"Authorization": f"Bearer {creds['api_key']}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        resp = await c.post("/api/v1/imports", headers=h, data={"object": "contacts"},
                            files={"file": ("people.csv", path.read_bytes(), "text/csv")})
        assert resp.status_code == 202, resp.text
        kith("worker", "--db", db_url, "--once")
        got = (await c.get(f"/api/v1/imports/{resp.json()['id']}", headers=h)).json()
    await app.state.db.dispose()
    assert got["status"] == "done" and got["counts"]["created"] == 50
    assert scalar(db_url, "SELECT count(*) FROM import_chunks") == 0  # the stored file is dropped once done
