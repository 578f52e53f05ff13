/* The resource hub's service worker, served as /help/sw.js so that its scope is /help/.

   It keeps the hub's shell (the country chooser and the stylesheets) and every hub page a
   visitor opens, so that at a festival with no signal their country's numbers still show.
   Pages and stylesheets are fetched from the network first, so a visitor who is online
   always gets fresh numbers; only when the network fails (or a page takes longer than
   PAGE_WAIT) is the saved copy shown. Nothing the server marks no-store is kept. Each
   saved copy carries the moment it was saved in an X-Hub-Saved header; a page shown from
   the cache gets that moment written into its data-hub-saved attribute, and
   static/hub-offline.js tells the visitor. */

"use strict";

const CACHE = "hub-v1";
const SCOPE = new URL("./", self.location).pathname; /* "/help/" */
const STATIC = new URL("../static/", self.location).pathname; /* "/static/" */
const PAGE_WAIT = 8000; /* ms a saved page waits for a slow network before it shows */

/* A page is worth keeping when it is the hub's, with no filter or search, only a language. */
function keepable(url, isPage) {
  if (url.origin !== self.location.origin) return false;
  if (!isPage) return url.pathname.startsWith(STATIC);
  if (!url.pathname.startsWith(SCOPE)) return false;
  return [...url.searchParams.keys()].every((name) => name === "lang");
}

async function save(url, response) {
  if (/no-store/.test(response.headers.get("Cache-Control") || "")) return;
  const headers = new Headers(response.headers);
  headers.set("X-Hub-Saved", new Date().toISOString());
  const body = await response.blob();
  const cache = await caches.open(CACHE);
  await cache.put(url, new Response(body, { status: 200, headers }));
}

async function fetchAndSave(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  const isHtml = (response.headers.get("Content-Type") || "").startsWith("text/html");
  if (response.status === 200 && (isHtml || !url.pathname.startsWith(SCOPE))) {
    await save(url.href, response);
  }
}

/* The saved copy of a page, with the moment it was saved written where the page reads it. */
async function savedPage(request) {
  const cache = await caches.open(CACHE);
  const saved =
    (await cache.match(request, { ignoreVary: true })) ||
    (await cache.match(request, { ignoreVary: true, ignoreSearch: true }));
  if (!saved) return null;
  const when = (saved.headers.get("X-Hub-Saved") || "").replace(/[^0-9TZ:.-]/g, "");
  const html = (await saved.text()).replace('data-hub-saved=""', `data-hub-saved="${when}"`);
  return new Response(html, { status: 200, headers: saved.headers });
}

async function page(event) {
  const url = new URL(event.request.url);
  const network = fetch(event.request).then((response) => {
    const isHtml = (response.headers.get("Content-Type") || "").startsWith("text/html");
    if (response.status === 200 && isHtml && keepable(url, true)) {
      event.waitUntil(save(url.href, response.clone()));
    }
    return response;
  });
  const slow = new Promise((resolve) => setTimeout(resolve, PAGE_WAIT)).then(() =>
    savedPage(event.request),
  );
  try {
    return await Promise.race([network, slow.then((saved) => saved || network)]);
  } catch (offline) {
    return (await savedPage(event.request)) || Response.error();
  }
}

async function asset(event) {
  try {
    const response = await fetch(event.request);
    if (response.status === 200) event.waitUntil(save(event.request.url, response.clone()));
    return response;
  } catch (offline) {
    const saved = await caches.match(event.request, { ignoreVary: true });
    return saved || Response.error();
  }
}

self.addEventListener("install", (event) => {
  const shell = fetchAndSave(new URL(SCOPE, self.location)).catch(() => null);
  event.waitUntil(shell.then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  const stale = (name) => name.startsWith("hub-") && name !== CACHE;
  const old = caches
    .keys()
    .then((names) => Promise.all(names.filter(stale).map((name) => caches.delete(name))));
  event.waitUntil(old.then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  if (event.request.method !== "GET") return;
  const url = new URL(event.request.url);
  const isPage = event.request.mode === "navigate";
  if (!keepable(url, isPage)) return;
  event.respondWith(isPage ? page(event) : asset(event));
});

/* A page the worker did not see (the first one, opened before it was installed) asks it to
   save that page, its stylesheets and its scripts. */
self.addEventListener("message", (event) => {
  const asked = event.data && Array.isArray(event.data.save) ? event.data.save : [];
  const urls = asked
    .map((href) => new URL(href, self.location))
    .filter((url) => keepable(url, url.pathname.startsWith(SCOPE)));
  event.waitUntil(Promise.all(urls.map((url) => fetchAndSave(url).catch(() => null))));
});
