// Keeps the status page current without a reload: every data-refresh seconds it fetches the
// page again and puts the new <main> in place of the old. The server renders (and escapes)
// everything; this script only swaps what it rendered, and says so when it cannot: a page
// left open must not go on showing what it last got as if it were current.
"use strict";

(function () {
  const seconds = Number(document.body.dataset.refresh) || 5;
  const lost = document.getElementById("lost");

  async function refresh() {
    let fresh = null;
    try {
      const response = await fetch(window.location.href, { cache: "no-store" });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        fresh = page.querySelector("main");
      }
    } catch (error) {
      // The service is restarting or gone: the banner says so; the next round tries again.
    }
    if (fresh !== null) {
      document.querySelector("main").replaceWith(document.adoptNode(fresh));
    }
    lost.hidden = fresh !== null;
    window.setTimeout(refresh, seconds * 1000);
  }

  window.setTimeout(refresh, seconds * 1000);
})();
