'use strict';
// The peer's phones (issue 13): N devices in this one process, each with its own PouchDB 9 on
// LevelDB on disk, doing bench/client.py's work offline, then syncing all at once.
//
//   node client.js PLAN.json
//
// PLAN: {"url": "http://127.0.0.1:PORT/cases", "dir": DIR, "ops": 200, "now": SECONDS,
//        "steps": ["pull", "push", "pull"],
//        "devices": [{"worker_id", "grids": [code, code], "grid_code", "points": [[lat, lon], ...]}]}
// `points[k]` is the location of the k-th report (the device's first grid, as bench/client.py).
//
// Offline, each device makes `ops` ops: even ops report a case (a new document), odd ops add a
// note to the case just reported (the document read and written again: a second revision).
// Then it prints {"ready": true} and waits for a line on stdin; then every device runs its round
// at once, timed (wall and this process's CPU: process.cpuUsage, every thread), its `steps`:
//   "pull" (replicate from the server, filtered to her grids by the `grid/mine` design-doc filter),
//   "push" (replicate to the server), "pull_all" (replicate from it unfiltered). gridsync's round
//   is pull, push, pull.
// Then it closes every local database and prints one JSON line of figures.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const PouchDB = require('pouchdb');

const DESCRIPTION = '井盖松动，行人经过有响声';
const ADDRESS = '凤山街道 香洲路 12 号';
const NOTE = '已联系市政所，明早处理。';

function newId() {
  return crypto.randomUUID().replace(/-/g, '');
}

function dirBytes(dir) {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return total;
}

async function offlineWork(db, device, ops, now) {
  let doc = null;
  for (let i = 0; i < ops; i++) {
    if (i % 2 === 0) {
      const [lat, lon] = device.points[i / 2];
      doc = {
        _id: newId(),
        category: '0101',
        reporter: device.worker_id,
        status: 'reported',
        description: DESCRIPTION,
        location: { lat, lon, accuracy_m: 6.0, source: 'gps' },
        grid_code: device.grid_code,
        address: ADDRESS,
        captured_at: now,
        reported_at: now,
        on_spot: false,
        notes: [],
      };
      const r = await db.put(doc);
      doc._rev = r.rev;
    } else {
      // an edit reads the document as stored, as an app does
      const stored = await db.get(doc._id);
      stored.notes.push({ note_id: newId(), author: device.worker_id, text: NOTE, captured_at: now });
      await db.put(stored);
    }
  }
}

function waitForGo() {
  return new Promise((resolve) => {
    process.stdin.once('data', () => resolve());
  });
}

async function round(local, url, grids, steps) {
  const remote = new PouchDB(url, { skip_setup: true });
  const mine = { filter: 'grid/mine', query_params: { grids: grids.join(',') } };
  let pulled = 0;
  let pushed = 0;
  for (const step of steps) {
    let r;
    if (step === 'push') r = await PouchDB.replicate(local, remote);
    else r = await PouchDB.replicate(remote, local, step === 'pull' ? mine : {});
    if (!r.ok || r.doc_write_failures) throw new Error(`replication failed: ${JSON.stringify(r.errors)}`);
    if (step === 'push') pushed += r.docs_written;
    else pulled += r.docs_written;
  }
  await remote.close();
  return { pulled, pushed };
}

async function main() {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const dbs = plan.devices.map((d, k) => new PouchDB(path.join(plan.dir, `phone-${k}`)));
  await Promise.all(dbs.map((db) => db.info()));
  const before = dirBytes(plan.dir);
  for (let k = 0; k < dbs.length; k++) await offlineWork(dbs[k], plan.devices[k], plan.ops, plan.now);
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  await waitForGo();
  const cpu = process.cpuUsage();
  const start = performance.now();
  const rounds = await Promise.all(dbs.map((db, k) => round(db, plan.url, plan.devices[k].grids, plan.steps)));
  const wall = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  await Promise.all(dbs.map((db) => db.close()));
  process.stdout.write(
    JSON.stringify({
      wall_s: wall,
      cpu_s: (used.user + used.system) / 1e6,
      docs_pushed: rounds.reduce((s, r) => s + r.pushed, 0),
      docs_pulled: rounds.reduce((s, r) => s + r.pulled, 0),
      phone_bytes_before: before,
      phone_bytes_after: dirBytes(plan.dir),
    }) + '\n',
  );
  process.stdin.pause();
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + '\n');
  process.exit(1);
});
