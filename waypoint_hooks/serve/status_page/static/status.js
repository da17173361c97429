// Keeps the status page current without a reload: every data-refresh seconds it fetches the
// page again and puts the new <main> in place of the old. The server renders (and escapes)
// everything; this script only swaps what it rendered.
"use strict";

(function () {
  const seconds = Number(document.body.dataset.refresh) || 5;

  async function refresh() {
    try {
      const response = await fetch(window.location.href, { cache: "no-store" });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        const main = fresh.querySelector("main");
        if (main !== null) {
          document.querySelector("main").replaceWith(document.adoptNode(main));
        }
      }
    } catch (error) {
      // The service is restarting or gone: the next round tries again.
    }
    window.setTimeout(refresh, seconds * 1000);
  }

  window.setTimeout(refresh, seconds * 1000);
})();
