'use strict';
// The peer's server (issue 13): express + express-pouchdb (mode minimumForPouchDB: the routes
// replication needs, no auth, no _users/_replicator) over PouchDB 9 on LevelDB, on disk in --dir.
//
//   node server.js --dir DIR --setup [--seed FILE.ndjson]   create the `cases` database and its
//       `grid/mine` filter (and load the seed's case documents with bulkDocs), close, exit
//   node server.js --dir DIR --port PORT                    serve on 127.0.0.1:PORT until SIGTERM,
//       then close every database (LevelDB written out) and exit 0
//
// Prints one JSON line on stdout when done with --setup, or when listening.

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const express = require('express');
const expressPouchDB = require('express-pouchdb');
const PouchDBBase = require('pouchdb');

const DB = 'cases';
// CouchDB's classic filtered replication: a worker pulls the cases of her grids
// (query_params.grids, comma-separated); express-pouchdb forwards filter + query params to
// db.changes, where a Mango selector in a POST body it does not.
const DESIGN = {
  _id: '_design/grid',
  filters: {
    mine: 'function (doc, req) { return req.query.grids.split(",").indexOf(doc.grid_code) !== -1; }',
  },
};

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'setup') out.setup = true;
    else out[key] = argv[++i];
  }
  return out;
}

async function seed(db, file) {
  const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let batch = [];
  let loaded = 0;
  for await (const line of lines) {
    if (!line) continue;
    batch.push(JSON.parse(line));
    if (batch.length === 1000) {
      await check(db.bulkDocs(batch));
      loaded += batch.length;
      batch = [];
    }
  }
  if (batch.length) {
    await check(db.bulkDocs(batch));
    loaded += batch.length;
  }
  return loaded;
}

async function check(written) {
  const failed = (await written).filter((r) => r.error);
  if (failed.length) throw new Error(`bulkDocs refused ${failed.length} docs: ${JSON.stringify(failed[0])}`);
}

async function main() {
  const a = args();
  const dir = path.resolve(a.dir);
  fs.mkdirSync(dir, { recursive: true });
  const PouchDB = PouchDBBase.defaults({ prefix: dir + path.sep });
  const app = express();
  // express-pouchdb applies pouchdb-all-dbs to PouchDB: a database made through it is listed
  const pouch = expressPouchDB(PouchDB, { mode: 'minimumForPouchDB' });
  app.use(pouch);
  const db = new PouchDB(DB);
  if (a.setup) {
    await db.info();
    try {
      await db.put(DESIGN);
    } catch (e) {
      if (e.status !== 409) throw e;
    }
    const loaded = a.seed ? await seed(db, a.seed) : 0;
    const info = await db.info();
    await db.close();
    process.stdout.write(JSON.stringify({ loaded, doc_count: info.doc_count }) + '\n');
    return;
  }
  await db.info();
  const server = app.listen(Number(a.port), '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ listening: Number(a.port), pid: process.pid }) + '\n');
  });
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    db.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + '\n');
  process.exit(1);
});
