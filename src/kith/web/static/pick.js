// Search-as-you-type for <input list data-pick="/pick/<kind>"> (templates/_picker.html): refills the
// datalist from the JSON endpoint (session cookie) and shows the chosen record's name in the hint.
(function () {
  "use strict";
  function wire(input) {
    const list = document.getElementById(input.getAttribute("list"));
    const hint = document.getElementById(input.id + "-hint");
    const names = new Map();
    for (const o of list.options) names.set(o.value, o.textContent);
    let timer = null, seq = 0;
    function showChoice() {
      if (hint && names.has(input.value)) hint.textContent = "Chosen: " + names.get(input.value);
    }
    async function refill() {
      const q = input.value.trim();
      if (names.has(q)) { showChoice(); return; }
      const mine = ++seq;
      const resp = await fetch(input.dataset.pick + "?q=" + encodeURIComponent(q),
                               {credentials: "same-origin", headers: {Accept: "application/json"}});
      if (!resp.ok || mine !== seq) return;
      const body = await resp.json();
      list.replaceChildren(...body.data.map((c) => {
        names.set(c.id, c.label);
        const o = document.createElement("option");
        o.value = c.id;
        o.textContent = c.label;
        return o;
      }));
    }
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refill, 150); });
    input.addEventListener("change", showChoice);
  }
  document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("input[data-pick]").forEach(wire));
})();
