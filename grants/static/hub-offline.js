/* The resource hub's pages keep themselves for offline use: this registers the hub's service
   worker (static/hub-sw.js, served as /help/sw.js) and, on a page the worker showed from its
   cache, says when that page was saved. Loaded by templates/hub/offline/_saved.html. */

(function () {
  "use strict";

  const script = document.currentScript;
  const notice = document.querySelector("[data-hub-saved]");
  const saved = notice ? notice.getAttribute("data-hub-saved") : "";
  if (saved && !Number.isNaN(Date.parse(saved))) {
    const time = notice.querySelector("time");
    const language = document.documentElement.lang || undefined;
    time.dateTime = saved;
    time.textContent = new Intl.DateTimeFormat(language, {
      dateStyle: "long",
      timeStyle: "short",
    }).format(new Date(saved));
    notice.hidden = false;
  }

  if (!script || !("serviceWorker" in navigator)) return;
  navigator.serviceWorker
    .register(script.dataset.worker, { scope: script.dataset.scope })
    .then(() => navigator.serviceWorker.ready)
    .then((registration) => {
      /* A page the worker answered was saved then. One opened before the worker took over
         was not, even if the worker controls it by now: it asks the worker to save it. */
      const navigation = performance.getEntriesByType("navigation")[0];
      if (navigation && navigation.workerStart > 0) return;
      const assets = document.querySelectorAll('link[rel="stylesheet"], script[src]');
      const urls = [location.href, ...Array.from(assets, (asset) => asset.href || asset.src)];
      registration.active.postMessage({ save: urls });
    })
    .catch(() => {
      /* No worker (a private window, an old browser): the page works as it is. */
    });
})();
