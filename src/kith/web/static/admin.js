// Admin pages: the import wizard (upload, map columns, dry run, run with progress, revert) over the
// imports API (POST /api/v1/imports multipart, GET /api/v1/imports/{id}, POST …/revert). No libraries.
(function () {
  "use strict";
  const wizard = document.querySelector("[data-import-wizard]");
  if (!wizard || !window.Kith) return;
  const $ = (id) => document.getElementById(id);
  const msg = $("import-msg");
  let headers = [];
  let lastRun = null;

  function parseHeader(text) {
    const line = text.replace(/^\uFEFF/, "").split(/\r?\n/)[0] || "";
    const delim = [",", ";", "\t", "|"].map(d => [d, line.split(d).length]).sort((a, b) => b[1] - a[1])[0][0];
    const out = []; let cur = ""; let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (ch === '"') quoted = false; else cur += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === delim) { out.push(cur.trim()); cur = ""; } else cur += ch;
    }
    out.push(cur.trim());
    return out.filter(h => h !== "");
  }

  function showMapping() {
    const body = $("imp-mapping");
    body.textContent = "";
    headers.forEach((h, n) => {
      const tr = document.createElement("tr");
      const th = document.createElement("td"); th.textContent = h;
      const td = document.createElement("td");
      const input = document.createElement("input");
      input.type = "text"; input.value = h.trim().toLowerCase().replace(/[^a-z0-9_.]+/g, "_");
      input.dataset.column = h; input.id = "map-" + n;
      input.setAttribute("aria-label", "Field for column " + h + " (blank: ignore)");
      td.appendChild(input); tr.append(th, td); body.appendChild(tr);
    });
    $("imp-map-hint").textContent = headers.length ? "Edit a field name, or clear it to ignore the column (custom fields: custom_fields.<name>)." : "No columns found.";
  }

  $("imp-file").addEventListener("change", () => {
    const file = $("imp-file").files[0];
    headers = [];
    if (!file) return showMapping();
    if (/\.xlsx$/i.test(file.name)) { $("imp-mapping").textContent = ""; $("imp-map-hint").textContent = "XLSX: columns are mapped by their header names."; return; }
    const reader = new FileReader();
    reader.onload = () => { headers = parseHeader(String(reader.result)); showMapping(); };
    reader.readAsText(file.slice(0, 64 * 1024));
  });

  function mapping() {
    const m = {};
    wizard.querySelectorAll("[data-column]").forEach(i => { m[i.dataset.column] = i.value.trim() || null; });
    return m;
  }

  async function start(dry) {
    const file = $("imp-file").files[0];
    if (!file) { Kith.say(msg, "Choose a file first.", true); $("imp-file").focus(); return; }
    const form = new FormData();
    form.append("file", file);
    form.append("object", $("imp-object").value);
    form.append("mode", $("imp-mode").value);
    if ($("imp-match").value.trim()) form.append("match", $("imp-match").value.trim());
    if (headers.length) form.append("mapping", JSON.stringify(mapping()));
    form.append("dry_run", dry ? "true" : "false");
    const resp = await fetch("/api/v1/imports", {method: "POST", body: form, credentials: "same-origin",
                                                  headers: {"X-CSRF-Token": Kith.csrf(), "Accept": "application/json"}});
    let data = null; try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) { Kith.say(msg, Kith.describe(data), true); return; }
    Kith.say(msg, (dry ? "Dry run" : "Import") + " queued.", false);
    follow(data.id, dry);
  }

  function show(run) {
    const c = run.counts || {};
    const p = $("imp-progress");
    p.hidden = false;
    p.max = Math.max(c.rows || 0, 1);
    p.value = run.status === "done" || run.status === "failed" ? p.max : (c.created || 0) + (c.updated || 0) + (c.skipped || 0);
    $("imp-status").textContent = (run.dry_run ? "Dry run " : "Import ") + run.status + ": " + (c.rows || 0) + " rows, " +
      (c.created || 0) + " created, " + (c.updated || 0) + " updated, " + (c.skipped || 0) + " skipped, " + (c.errors || 0) + " errors" +
      (run.failure ? " (" + run.failure + ")" : "") + (run.reverted_at ? " — reverted" : "");
    const list = $("imp-errors"); list.textContent = "";
    (run.errors || []).slice(0, 20).forEach(e => {
      const li = document.createElement("li"); li.textContent = "row " + e.row + ", " + e.field + ": " + e.message; list.appendChild(li);
    });
    $("imp-revert").hidden = !(run.status === "done" && !run.dry_run && !run.reverted_at);
  }

  async function follow(id, dry) {
    for (let n = 0; n < 600; n++) {
      const r = await Kith.api("GET", "/api/v1/imports/" + encodeURIComponent(id));
      if (!r.ok) { Kith.say(msg, Kith.describe(r.data), true); return; }
      lastRun = r.data; show(r.data);
      if (r.data.status === "done" || r.data.status === "failed") { recent(); return; }
      await new Promise(res => setTimeout(res, n < 20 ? 500 : 2000));
    }
  }

  async function recent() {
    const r = await Kith.api("GET", "/api/v1/imports?limit=10");
    const list = $("imp-recent"); list.textContent = "";
    if (!r.ok) { const li = document.createElement("li"); li.textContent = Kith.describe(r.data); list.appendChild(li); return; }
    (r.data.data || []).forEach(run => {
      const li = document.createElement("li");
      const b = document.createElement("button"); b.type = "button"; b.className = "link";
      b.textContent = run.filename + " · " + run.object + " · " + (run.dry_run ? "dry run · " : "") + run.status +
        (run.reverted_at ? " · reverted" : "") + " · " + String(run.created_at).replace("T", " ").slice(0, 16);
      b.addEventListener("click", () => { lastRun = run; show(run); });
      li.appendChild(b); list.appendChild(li);
    });
    if (!list.children.length) { const li = document.createElement("li"); li.className = "muted"; li.textContent = "No imports yet."; list.appendChild(li); }
  }

  $("imp-dry").addEventListener("click", () => start(true));
  $("imp-run").addEventListener("click", () => start(false));
  $("imp-revert").addEventListener("click", async () => {
    if (!lastRun || !confirm("Revert this import? Records it created are removed and updated fields restored.")) return;
    const r = await Kith.api("POST", "/api/v1/imports/" + encodeURIComponent(lastRun.id) + "/revert");
    if (r.ok) { Kith.say(msg, "Reverted.", false); lastRun = r.data; show(r.data); recent(); }
    else Kith.say(msg, Kith.describe(r.data), true);
  });
  recent();
})();
