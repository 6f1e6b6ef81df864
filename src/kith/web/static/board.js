// Pipeline board: native HTML5 drag and drop, a keyboard "Move to…" control, a reason dialog for
// lost stages, and live updates over the realtime channel (EventSource). No libraries.
// Every move calls POST /api/v1/deals/{id}/move-stage: the same verb and rules as the API.
(function () {
  "use strict";
  const board = document.querySelector("[data-board]");
  if (!board || !window.Kith) return;
  const msg = document.getElementById("board-msg");
  const dialog = document.getElementById("lost-dialog");
  board.classList.add("js");
  let dragged = null;
  let busy = 0;

  async function refresh() {
    const resp = await fetch(board.dataset.refresh, {credentials: "same-origin", headers: {"Accept": "text/html"}});
    if (resp.ok) {
      const focused = document.activeElement && document.activeElement.closest("[data-deal]");
      const keep = focused ? focused.dataset.deal : null;
      board.innerHTML = await resp.text();
      if (keep) {
        const again = board.querySelector('[data-deal="' + CSS.escape(keep) + '"]');
        if (again) again.focus();
      }
    }
  }

  function askReason(title) {
    return new Promise((resolve) => {
      if (!dialog || !dialog.showModal) { resolve(prompt("Why was " + title + " lost?")); return; }
      const form = dialog.querySelector("form");
      const text = dialog.querySelector("textarea");
      text.value = "";
      const done = (value) => {
        form.removeEventListener("submit", onSubmit);
        cancel.removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        if (dialog.open) dialog.close();
        resolve(value);
      };
      const onSubmit = (e) => { e.preventDefault(); if (text.value.trim()) done(text.value.trim()); else text.focus(); };
      const onCancel = (e) => { e.preventDefault(); done(null); };
      const cancel = dialog.querySelector("[data-lost-cancel]");
      form.addEventListener("submit", onSubmit);
      cancel.addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
      dialog.showModal();
      text.focus();
    });
  }

  async function move(card, column) {
    const stageId = column.dataset.stage;
    const current = card.closest("[data-stage]");
    if (current && current.dataset.stage === stageId) return;
    const title = card.dataset.title;
    const body = {stage_id: stageId};
    if (column.dataset.outcome === "lost") {
      const reason = await askReason(title);
      if (!reason) { Kith.say(msg, "Not moved: " + title + " stays where it was.", false); return; }
      body.reason = reason;
    }
    busy++;
    column.querySelector(".cards").appendChild(card);  // optimistic; the refresh below settles it
    const r = await Kith.api("POST", "/api/v1/deals/" + encodeURIComponent(card.dataset.deal) + "/move-stage", body);
    busy--;
    if (r.ok) {
      Kith.say(msg, "Moved " + title + " to " + column.querySelector("h2").firstChild.textContent.trim() + ".", false);
    } else {
      Kith.say(msg, "Could not move " + title + ": " + Kith.describe(r.data), true);
    }
    await refresh();
  }

  board.addEventListener("dragstart", (e) => {
    const card = e.target.closest && e.target.closest("[data-deal]");
    if (!card) return;
    dragged = card;
    card.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.deal);
  });
  board.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    board.querySelectorAll(".drop-target").forEach(c => c.classList.remove("drop-target"));
  });
  board.addEventListener("dragover", (e) => {
    const column = e.target.closest && e.target.closest("[data-stage]");
    if (!column || !dragged) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    board.querySelectorAll(".drop-target").forEach(c => { if (c !== column) c.classList.remove("drop-target"); });
    column.classList.add("drop-target");
  });
  board.addEventListener("drop", (e) => {
    const column = e.target.closest && e.target.closest("[data-stage]");
    if (!column || !dragged) return;
    e.preventDefault();
    column.classList.remove("drop-target");
    const card = dragged;
    dragged = null;
    move(card, column);
  });

  // Keyboard (and no-drag) alternative: the card's "Move to…" form, sent through the same verb.
  board.addEventListener("submit", (e) => {
    const form = e.target.closest("form.move");
    if (!form) return;
    e.preventDefault();
    const card = form.closest("[data-deal]");
    const column = board.querySelector('[data-stage="' + CSS.escape(form.querySelector("select").value) + '"]');
    if (card && column) move(card, column).then(() => {
      const again = board.querySelector('[data-deal="' + CSS.escape(card.dataset.deal) + '"]');
      if (again) again.focus();
    });
  });

  // Live updates: another user's move re-renders the columns.
  if (window.EventSource) {
    let timer = null;
    const later = () => { clearTimeout(timer); timer = setTimeout(() => { if (!busy && !dialog.open) refresh(); }, 150); };
    const channel = "org:" + board.dataset.org + ":crm:pipeline";
    const source = new EventSource("/api/v1/realtime?channel=" + encodeURIComponent(channel));
    ["deal.created", "deal.updated", "deal.stage-moved", "deal.won", "deal.lost", "deal.abandoned",
     "deal.reopened", "deal.deleted", "deal.restored", "deal.assigned", "pipeline.stages-changed"]
      .forEach(t => source.addEventListener(t, later));
    source.onmessage = later;
    board.dataset.live = "on";
    source.onopen = () => { board.dataset.live = "open"; };
    window.addEventListener("pagehide", () => source.close());
  }
})();
