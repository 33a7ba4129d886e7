// Idle RSS of builds of the service, side by side: `node dist/main.js` (WORKERS=1) in each directory
// given, as bench/longpoll.mjs's runStartup measures it (wait for /readyz 200, then 1 s, VmRSS),
// rounds interleaved, after one unmeasured start of each (its module compile cache is then warm).
// Prints the median RSS and start-up time to ready with their spread (min–max), the CPU time the
// process had used by then (all its threads, and its main thread alone: /proc/PID/task/*/schedstat;
// far steadier than the time to ready on a loaded machine), and where the resident pages are: the node binary's code (r-xp) and read-only data (r--p), anonymous memory
// (V8's heap and the JIT's), malloc's [heap], shared libraries (/proc/PID/smaps, medians).
//
//   node bench/tools/idle-memory.mjs before=/path/to/checkout-a after=.
//
// ROUNDS (7); HELLO=1 serves one `GET /` before the second of waiting; NODE_FLAGS adds node flags
// (diagnosis only, e.g. "--no-opt --no-maglev" to see what the optimising compilers cost);
// AB_PORT (3999) is the first of the 10 ports used. Linux only (/proc).
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { median, spread } from '../http.mjs';

const rounds = Number(process.env.ROUNDS ?? 7);
const flags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
const firstPort = Number(process.env.AB_PORT ?? 3999);
const variants = process.argv.slice(2).map((arg) => {
  const [name, dir = '.'] = arg.includes('=') ? arg.split('=') : [arg, arg];
  return { name, dir: path.resolve(dir), rss: [], ms: [], cpu: [], mainCpu: [], maps: [] };
});
if (variants.length === 0) {
  console.error('usage: node bench/tools/idle-memory.mjs name=dir [name=dir …]');
  process.exit(2);
}

/** Resident KiB by kind of mapping, from /proc/PID/smaps. */
function residentByMapping(pid) {
  const groups = {};
  let key = 'anon';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const [, perms, name] = head;
      if (name === '') key = 'anon';
      else if (name === '[heap]') key = 'malloc';
      else if (name === process.execPath) key = perms.includes('x') ? 'node code' : 'node data';
      else if (name.startsWith('/')) key = 'libs';
      else key = 'other';
      continue;
    }
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (rss) groups[key] = (groups[key] ?? 0) + Number(rss[1]);
  }
  return groups;
}

/** Milliseconds on a CPU so far: the process's threads together, and its main thread. */
function cpuTime(pid) {
  const onCpu = (task) =>
    Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  const tasks = readdirSync(`/proc/${pid}/task`);
  return { cpu: tasks.reduce((sum, task) => sum + onCpu(task), 0), mainCpu: onCpu(String(pid)) };
}

let next = 0;
async function start(variant) {
  const port = firstPort + (next++ % 10);
  const began = performance.now();
  const child = spawn('taskset', ['-c', '0', process.execPath, ...flags, 'dist/main.js'], {
    cwd: variant.dir,
    env: { ...process.env, WORKERS: '1', PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  try {
    for (const deadline = Date.now() + 30_000; ; ) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`${variant.name}: no /readyz 200\n${stderr}`);
      }
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const ms = performance.now() - began;
    const { cpu, mainCpu } = cpuTime(child.pid);
    if (process.env.HELLO) await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 1000));
    const rss = Number(
      /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1],
    );
    return { ms, cpu, mainCpu, rss: rss / 1024, maps: residentByMapping(child.pid) };
  } finally {
    await new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGKILL');
    });
  }
}

for (const variant of variants) await start(variant);
for (let round = 0; round < rounds; round++) {
  for (const variant of variants) {
    const { ms, cpu, mainCpu, rss, maps } = await start(variant);
    variant.ms.push(ms);
    variant.cpu.push(cpu);
    variant.mainCpu.push(mainCpu);
    variant.rss.push(rss);
    variant.maps.push(maps);
  }
}
console.log(
  `Node ${process.version}, ${rounds} rounds${flags.length ? `, ${flags.join(' ')}` : ''}`,
);
for (const { name, rss, ms, cpu, mainCpu, maps } of variants) {
  const kinds = ['node code', 'node data', 'anon', 'malloc', 'libs'];
  const where = kinds
    .map((k) => `${k} ${(median(maps.map((m) => m[k] ?? 0)) / 1024).toFixed(1)}`)
    .join(', ');
  console.log(
    `${name}: idle RSS ${median(rss).toFixed(1)} MiB (${spread(rss, 1)}), ready ${median(ms).toFixed(0)} ms (${spread(ms, 0)}), CPU to ready ${median(cpu).toFixed(0)} ms (${spread(cpu, 0)}), main thread ${median(mainCpu).toFixed(0)} ms (${spread(mainCpu, 0)}); MiB: ${where}`,
  );
}
