// "Load older" on a record's timeline: without scripts the link opens the next page; with them it
// fetches the same URL with partial=timeline and appends the items in place (focus moves to the
// first new item so keyboard and screen-reader users land on what was added).
(function () {
  "use strict";
  async function loadOlder(link) {
    const list = document.querySelector(link.dataset.loadOlder);
    const url = new URL(link.href, location.href);
    url.searchParams.set("partial", "timeline");
    url.hash = "";
    link.setAttribute("aria-busy", "true");
    const resp = await fetch(url, {credentials: "same-origin"});
    if (!resp.ok) { location.href = link.href; return; }
    const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
    const items = [...doc.querySelectorAll("ul > li")];
    items.forEach((li) => list.appendChild(document.adoptNode(li)));
    const more = doc.getElementById("timeline-more");
    document.getElementById("timeline-more").replaceWith(document.adoptNode(more));
    wire();
    if (items[0]) { items[0].tabIndex = -1; items[0].focus(); }
  }
  function wire() {
    document.querySelectorAll("a[data-load-older]").forEach((a) => {
      if (a.dataset.wired) return;
      a.dataset.wired = "1";
      a.addEventListener("click", (e) => { e.preventDefault(); loadOlder(a); });
    });
  }
  document.addEventListener("DOMContentLoaded", wire);
})();
