/* A few promise helpers over IndexedDB for the judge's outbox (no library, no CDN).

   Database "judge-scoring", version 1:
   - "outbox": sheets waiting to be sent, keyed by client_request_id, indexed by "scope"
     (`<judge id>-<stage id>`, so a shared tablet never sends one judge's sheet as another's);
   - "problems": sheets the server refused or changed meanwhile, keyed by "<scope>:<entry id>",
     holding the judge's local copy until they re-apply or discard it. */

const DB_NAME = "judge-scoring";
const DB_VERSION = 1;

let opening = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export function openDb() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains("outbox")) {
          const store = db.createObjectStore("outbox", { keyPath: "rid" });
          store.createIndex("scope", "scope", { unique: false });
        }
        if (!db.objectStoreNames.contains("problems")) {
          const store = db.createObjectStore("problems", { keyPath: "key" });
          store.createIndex("scope", "scope", { unique: false });
        }
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return opening;
}

/** Run `fn(store)` in one transaction and resolve when the transaction has committed. */
export async function tx(storeName, mode, fn) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(storeName, mode);
    let result;
    Promise.resolve(fn(t.objectStore(storeName))).then((r) => { result = r; }, reject);
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

export function put(storeName, value) {
  return tx(storeName, "readwrite", (s) => { s.put(value); });
}

export function remove(storeName, key) {
  return tx(storeName, "readwrite", (s) => { s.delete(key); });
}

export function get(storeName, key) {
  return tx(storeName, "readonly", (s) => request(s.get(key)));
}

export function allInScope(storeName, scope) {
  return tx(storeName, "readonly", (s) => request(s.index("scope").getAll(scope)));
}
