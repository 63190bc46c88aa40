// Storage adapters for the nipee client in JavaScript. A store keeps the client's rows
// ({ table, key, value }, key in hex, value in base64) and applies each operation's write
// (a list of put / delete / deletePrefix steps) atomically, in order.

function rowKey(table, key) {
  return `${table}/${key}`;
}

/** Rows in memory (tests, ephemeral clients). */
export class MemoryStore {
  constructor(rows = []) {
    this.map = new Map(rows.map((r) => [rowKey(r.table, r.key), r]));
  }

  async load() {
    return [...this.map.values()].sort((a, b) => (rowKey(a.table, a.key) < rowKey(b.table, b.key) ? -1 : 1));
  }

  async apply(write) {
    // Build the new map first, then swap: all or nothing.
    const next = new Map(this.map);
    for (const step of write ?? []) {
      if (step.op === "put") next.set(rowKey(step.row.table, step.row.key), step.row);
      else if (step.op === "delete") next.delete(rowKey(step.table, step.key));
      else if (step.op === "deletePrefix") {
        const p = rowKey(step.table, step.prefix);
        for (const k of [...next.keys()]) if (k.startsWith(p)) next.delete(k);
      } else throw Object.assign(new Error(`storage: unknown write step ${step.op}`), { code: "storage" });
    }
    this.map = next;
  }
}

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** Rows in IndexedDB: one object store, one transaction per write. */
export class IndexedDbStore {
  /** Opens (creating) the database `name`. */
  static async open(name, indexedDB = globalThis.indexedDB) {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains("rows")) db.createObjectStore("rows");
    };
    return new IndexedDbStore(await req(open));
  }

  constructor(db) {
    this.db = db;
  }

  async load() {
    const tx = this.db.transaction("rows", "readonly");
    return await req(tx.objectStore("rows").getAll());
  }

  async apply(write) {
    if (!write || write.length === 0) return;
    const tx = this.db.transaction("rows", "readwrite");
    const store = tx.objectStore("rows");
    for (const step of write) {
      if (step.op === "put") store.put(step.row, rowKey(step.row.table, step.row.key));
      else if (step.op === "delete") store.delete(rowKey(step.table, step.key));
      else if (step.op === "deletePrefix") {
        const p = rowKey(step.table, step.prefix);
        store.delete(IDBKeyRange.bound(p, `${p}\uffff`));
      } else {
        tx.abort();
        throw Object.assign(new Error(`storage: unknown write step ${step.op}`), { code: "storage" });
      }
    }
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = () => reject(Object.assign(new Error(`storage: ${tx.error}`), { code: "storage" }));
      tx.onabort = () => reject(Object.assign(new Error(`storage: aborted ${tx.error ?? ""}`), { code: "storage" }));
    });
  }

  close() {
    this.db.close();
  }

  /** Deletes the database `name`. */
  static async destroy(name, indexedDB = globalThis.indexedDB) {
    await req(indexedDB.deleteDatabase(name));
  }
}
