/*
 * azurite_durable.js - loaded into Azurite (NODE_OPTIONS=--require) by
 * tests/support/azurite.c when a test needs the emulator to keep its data
 * through a SIGKILL (mmt_azurite_start_persistent).
 *
 * Azurite keeps its metadata in LokiJS databases under --location and saves
 * them every 5 s (LokiJS autosave): a SIGKILL loses every write acknowledged
 * since the last save, which Azure Storage never does. Here every change to
 * a file-backed database is written out before the call that made it
 * returns, so before Azurite answers the request: an acknowledged write
 * survives a kill of the process, as on the real service. Blob contents go
 * to extent files before their metadata, so both are on disk by then.
 *
 * Test harness only; the saves rewrite a whole database (small in tests).
 */
"use strict";

const fs = require("fs");

/* The LokiJS Azurite itself loads: resolved from Azurite's own directory
 * (MM_AZURITE_DIR, set by azurite.c), so it is the same cached module. */
const Loki = require(require.resolve("lokijs", { paths: [process.env.MM_AZURITE_DIR] }));

const fileBacked = new Set();

const configureOptions = Loki.prototype.configureOptions;
Loki.prototype.configureOptions = function (options, initialConfig) {
  const result = configureOptions.call(this, options, initialConfig);
  if (this.persistenceMethod === "fs" && this.filename) fileBacked.add(this);
  return result;
};

/* Write every changed file-backed database now: tmp file, then rename, as LokiJS does. */
function saveChanged() {
  for (const db of fileBacked) {
    if (!db.autosaveDirty()) continue;
    const tmp = db.filename + "~";
    fs.writeFileSync(tmp, db.serialize());
    fs.renameSync(tmp, db.filename);
    db.autosaveClearFlags();
  }
}

const mutators = [
  "insert",
  "update",
  "remove",
  "findAndRemove",
  "findAndUpdate",
  "removeWhere",
  "updateWhere",
  "clear",
];
for (const name of mutators) {
  const original = Loki.Collection.prototype[name];
  if (typeof original !== "function") continue;
  Loki.Collection.prototype[name] = function (...args) {
    const result = original.apply(this, args);
    saveChanged();
    return result;
  };
}
