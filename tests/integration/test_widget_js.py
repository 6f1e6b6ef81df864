"""The browser snippet end to end: ``/widget.js`` as a real server serves it, run by a real
JavaScript engine (Node's, with its built-in ``fetch``) exactly as a page's ``<script
src=… data-key=…>`` would run it, calling the real widget routes of that server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_cli import init
from tests.integration.test_multiprocess import _free_port

NODE = shutil.which("node")

# Loads the served script with document.currentScript pointing at it (src + data-key), then runs
# the seed 000 "common sync pattern" and prints what each call resolved or rejected with.
DRIVER = textwrap.dedent("""
    const vm = require("vm");
    const [base, key] = process.argv.slice(2);
    (async () => {
      const source = await (await fetch(base + "/widget.js")).text();
      const script = {src: base + "/widget.js", getAttribute: (n) => (n === "data-key" ? key : null)};
      globalThis.window = globalThis;
      globalThis.document = {currentScript: script};
      vm.runInThisContext(source);
      document.currentScript = null;
      const out = {};
      out.identify = await window.Kith.identify({
        visitor_id: "user_456", email: "Alice@Acme.com", metadata: {plan: "enterprise", role: "admin"},
        company: {id: "acme", name: "Acme Inc", stage: "Qualified", metadata: {crm_owner: "Sam"}}});
      out.deal = await window.Kith.setDeal({company_id: "acme", deal_value: 12000, stage_name: "Qualified"});
      out.stage = await window.Kith.setStage({stage_name: "Customer"});
      try { await window.Kith.setDeal({deal_value: -5}); out.bad = "resolved"; }
      catch (e) { out.bad = e.problem; }
      window.Kith.init({key: "pk_not_a_key"});
      try { await window.Kith.identify({visitor_id: "x"}); out.badkey = "resolved"; }
      catch (e) { out.badkey = e.problem; }
      console.log(JSON.stringify(out));
    })().catch((e) => { console.error(e && e.stack || e); process.exit(3); });
""")


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    creds = init(db_url, "WidgetJs")
    port = _free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "kith.entrypoints.cli", "serve", "--port", str(port)],
                                env={**os.environ, "KITH_DATABASE_URL": db_url}, stdout=log,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {log_path.read_text()}")
            time.sleep(0.1)
        yield url, creds
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _run_driver(url: str, key: str, tmp_path: Path) -> dict[str, Any]:
    if NODE is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is required under CI to run the widget script")
        pytest.skip("node is not installed: the widget script cannot be run")
    driver = tmp_path / "driver.js"
    driver.write_text(DRIVER)
    done = subprocess.run([NODE, str(driver), url, key], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.slow
def test_the_served_widget_script_runs_the_seed_sync_pattern(server: tuple[str, dict[str, str]],
                                                             tmp_path: Path) -> None:
    url, creds = server
    out = _run_driver(url, creds["widget_key"], tmp_path)
    ident = out["identify"]
    assert ident["contact"]["email"] == "alice@acme.com"
    assert ident["contact"]["metadata"] == {"plan": "enterprise", "role": "admin"}
    [acme] = ident["companies"]  # the real company, no placeholder beside it
    assert acme["name"] == "Acme Inc" and acme["stage"] == "Qualified" and ident["active_company_id"] == acme["id"]
    # setDeal and setStage carried the visitor id remembered from identify
    assert out["deal"]["external_id"] == "acme" and out["deal"]["metadata"] == {"crm_owner": "Sam"}
    assert out["deal"]["deal_value"] in ("12000", "12000.00") and out["deal"]["stage"] == "Qualified"
    assert out["stage"]["stage"] == "Customer" and out["stage"]["id"] == acme["id"]
    assert out["bad"]["status"] == 422 and out["bad"]["errors"][0]["field"] == "deal_value"
    assert out["badkey"]["status"] == 401
    admin = {"Authorization": f"Bearer {creds['api_key']}"}
    company = httpx.get(f"{url}/api/v1/companies/{acme['id']}", headers=admin).json()
    assert company["stage"] == "Customer" and company["deal_value"] in ("12000", "12000.00")
    visitor = httpx.get(f"{url}/api/v1/visitors/user_456", headers=admin).json()
    assert visitor["contact_id"] == ident["contact"]["id"]
