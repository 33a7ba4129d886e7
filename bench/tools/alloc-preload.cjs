// Preloaded (`-r`) into a server by bench/tools/alloc-per-poll.mjs: the first SIGUSR2 starts V8's
// sampling heap profiler, counting objects the young and old generation collectors free as well
// (so it sees every allocation, garbage included, not only what survives); the second stops it
// and writes the profile to ALLOC_OUT.
'use strict';
const { Session } = require('node:inspector');
const { writeFileSync } = require('node:fs');

const session = new Session();
session.connect();
let sampling = false;
process.on('SIGUSR2', () => {
  if (!sampling) {
    sampling = true;
    session.post('HeapProfiler.startSampling', {
      samplingInterval: Number(process.env.ALLOC_INTERVAL ?? 256),
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    return;
  }
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (error) process.stderr.write(`alloc-preload: ${error.message}\n`);
    else writeFileSync(process.env.ALLOC_OUT, JSON.stringify(result.profile));
  });
});
