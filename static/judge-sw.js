/* The judge scoring screen's service worker, served as /judge/sw.js (scope /judge/).

   It keeps the app shell (the CSS and JS under /static/) and the judge's last answers
   (the /judge/ page and GETs under /api/v1/me/) so the screen opens and reads its entries
   while the hall's Wi-Fi is down. Everything is network-first: when the network answers,
   the judge sees the server's copy and the cache is refreshed. Writes (PUT) are never
   touched here: the page's outbox (static/js/judge-outbox.js) queues and retries them.
   Logout (static/js/judge-common.js) deletes the judge's data cache. */

const SHELL = "judge-shell-v1";
const DATA = "judge-data-v1";
const SHELL_FILES = [
  "/static/css/app.css", "/static/css/judge.css", "/static/js/judge.js",
  "/static/js/judge-outbox.js", "/static/js/idb.js", "/static/js/judge-common.js",
];
const PAGE = "/judge/";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(SHELL_FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("judge-") && k !== SHELL && k !== DATA)
      .map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

function cacheable(resp) {
  return resp && resp.ok && resp.type === "basic" && !resp.redirected;
}

async function networkFirst(request, cacheName, key) {
  const cache = await caches.open(cacheName);
  try {
    const resp = await fetch(request);
    if (cacheable(resp)) {
      await cache.put(key, resp.clone());
    } else if (resp.status === 401 || resp.status === 403) {
      await caches.delete(DATA);             // signed out or refused: forget the judge's copy
    }
    return resp;
  } catch (err) {
    const hit = await cache.match(key, { ignoreVary: true });
    if (hit) return hit;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === "navigate" && url.pathname === PAGE) {
    event.respondWith(networkFirst(req, DATA, PAGE));
  } else if (url.pathname.startsWith("/api/v1/me/")) {
    event.respondWith(networkFirst(req, DATA, url.pathname));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(networkFirst(req, SHELL, url.pathname));
  }
});

/* The page asks for its own URL and its entries to be cached as soon as the worker controls it
   (the first load happened before the worker existed). */
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type !== "warm" || !Array.isArray(data.urls)) return;
  event.waitUntil(caches.open(DATA).then((cache) => Promise.all(data.urls.map((u) => {
    const url = new URL(u, self.location.origin);
    if (url.origin !== self.location.origin) return null;
    return fetch(url, { credentials: "same-origin", redirect: "manual" })
      .then((resp) => (cacheable(resp) ? cache.put(url.pathname, resp) : null))
      .catch(() => null);
  }))));
});
