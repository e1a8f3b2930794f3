'use strict';
// The peer's catch-up (issue 13): a fresh device (PouchDB 9 on LevelDB, on disk in DIR) replicates
// every case document from the server (unfiltered: a supervisor sees the whole city), with
// PouchDB's default replication options. Timed: the replication, from the device.
//
//   node catchup.js URL DIR
//
// Prints one JSON line: {"seconds", "docs_written", "doc_count", "cpu_s"}.

const PouchDB = require('pouchdb');

async function main() {
  const [url, dir] = process.argv.slice(2);
  const local = new PouchDB(dir);
  await local.info();
  const remote = new PouchDB(url, { skip_setup: true });
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = await PouchDB.replicate(remote, local);
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  if (!result.ok || result.doc_write_failures) {
    throw new Error(`replication failed: ${JSON.stringify(result.errors)}`);
  }
  const info = await local.info();
  await local.close();
  process.stdout.write(
    JSON.stringify({
      seconds,
      docs_written: result.docs_written,
      doc_count: info.doc_count,
      cpu_s: (used.user + used.system) / 1e6,
    }) + '\n',
  );
}

main().catch((e) => {
  process.stderr.write(String((e && e.stack) || e) + '\n');
  process.exit(1);
});
