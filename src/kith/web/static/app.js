// Kith web app: small progressive enhancements over server-rendered pages. No libraries.
// window.Kith.api(method, url, body, {ifMatch}) calls the JSON API with the session cookie and the
// CSRF token; problems come back as readable messages (Kith.describe).
(function () {
  "use strict";
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function describe(problem) {
    if (!problem || typeof problem !== "object") return "The request failed.";
    let text = problem.detail || problem.title || "The request failed.";
    if (problem.errors && problem.errors.length) {
      text += " (" + problem.errors.map(e => e.field + ": " + e.message).join("; ") + ")";
    }
    if (problem.rule) text += " [rule " + problem.rule + "]";
    return text;
  }

  async function api(method, url, body, opts) {
    const headers = {"X-CSRF-Token": csrf(), "Accept": "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (opts && opts.ifMatch) headers["If-Match"] = opts.ifMatch;
    const resp = await fetch(url, {method, headers, credentials: "same-origin",
                                   body: body === undefined ? undefined : JSON.stringify(body)});
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    return {ok: resp.ok, status: resp.status, data, etag: resp.headers.get("ETag")};
  }

  function say(area, text, isError) {
    if (!area) { if (isError) alert(text); return; }
    area.textContent = text;
    area.className = "msg-area " + (isError ? "error" : "flash");
    area.setAttribute("role", isError ? "alert" : "status");
  }

  // Search as you type: <input data-live-search="#rows"> inside the list's filter form.
  function liveSearch(input) {
    let timer = null;
    const target = document.querySelector(input.dataset.liveSearch);
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const form = input.form;
        const params = new URLSearchParams(new FormData(form));
        for (const [k, v] of [...params.entries()]) if (!v) params.delete(k);
        const url = form.action.split("?")[0] + "?" + params.toString();
        params.set("partial", "rows");
        const resp = await fetch(form.action.split("?")[0] + "?" + params.toString(), {credentials: "same-origin"});
        if (resp.ok && target) {
          target.innerHTML = await resp.text();
          history.replaceState(null, "", url);
        }
      }, 250);
    });
  }

  // Inline editing: <dd data-edit="field" data-type="text|number|date|select" data-value="…"> inside
  // <section data-record="/api/v1/contacts/ID" data-etag='"v3"'>. Enter saves (PATCH + If-Match), Esc cancels.
  function inlineEdit(el) {
    el.tabIndex = 0;
    el.setAttribute("role", "button");
    el.setAttribute("aria-label", "Edit " + el.dataset.edit);
    const start = () => {
      if (el.querySelector("input,select")) return;
      const record = el.closest("[data-record]");
      const old = el.dataset.value || "";
      let input;
      if (el.dataset.options) {
        input = document.createElement("select");
        for (const opt of el.dataset.options.split(",")) {
          const o = document.createElement("option"); o.value = opt; o.textContent = opt || "—";
          if (opt === old) o.selected = true; input.appendChild(o);
        }
      } else {
        input = document.createElement("input");
        input.type = el.dataset.type || "text"; input.value = old;
      }
      input.setAttribute("aria-label", el.dataset.edit);
      const shown = el.innerHTML;
      el.innerHTML = ""; el.appendChild(input); input.focus();
      const cancel = () => { el.innerHTML = shown; el.focus(); };
      const save = async () => {
        const raw = input.value;
        if (raw === old) return cancel();
        let value = raw === "" ? null : raw;
        if (el.dataset.type === "number" && value !== null) value = Number(value);
        const body = {}; const path = el.dataset.edit.split(".");
        if (path.length === 2) { body[path[0]] = {}; body[path[0]][path[1]] = value; } else body[path[0]] = value;
        const r = await api("PATCH", record.dataset.record, body, {ifMatch: record.dataset.etag});
        const area = record.querySelector(".msg-area");
        if (r.ok) {
          record.dataset.etag = r.etag || record.dataset.etag;
          el.dataset.value = raw; el.textContent = raw; say(area, "Saved " + el.dataset.edit + ".", false);
        } else {
          el.innerHTML = shown;
          say(area, (r.status === 412 ? "Someone changed this record meanwhile: reload to see it. " : "") + describe(r.data), true);
        }
        el.focus();
      };
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter") { e.preventDefault(); save(); }
        if (e.key === "Escape") { e.preventDefault(); cancel(); }
      });
      input.addEventListener("blur", () => { if (el.contains(input)) save(); });
    };
    el.addEventListener("click", start);
    el.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === el) { e.preventDefault(); start(); } });
  }

  // <button data-open-dialog="id"> opens <dialog id="id">; <button data-close-dialog> closes it.
  function dialogs() {
    document.querySelectorAll("[data-open-dialog]").forEach(b => b.addEventListener("click", (e) => {
      e.preventDefault();
      const d = document.getElementById(b.dataset.openDialog);
      if (d && d.showModal) d.showModal();
    }));
    document.querySelectorAll("[data-close-dialog]").forEach(b => b.addEventListener("click", (e) => {
      e.preventDefault(); b.closest("dialog").close();
    }));
  }

  // A "select all" checkbox for bulk actions: <input type=checkbox data-select-all="name">.
  function selectAll(box) {
    box.addEventListener("change", () => {
      document.querySelectorAll('input[type=checkbox][name="' + box.dataset.selectAll + '"]')
        .forEach(c => { c.checked = box.checked; });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-live-search]").forEach(liveSearch);
    document.querySelectorAll("[data-edit]").forEach(inlineEdit);
    document.querySelectorAll("[data-select-all]").forEach(selectAll);
    dialogs();
  });

  window.Kith = {api, describe, say, csrf};
})();
