// `npm run dev`: the example service in watch mode for people at a terminal. TypeScript recompiles
// into dist/ on every change (`tsc --watch`, so the standard decorators compile exactly as in the
// build), and Node restarts the service when dist/ changes (`node --watch-path`). One worker and
// pretty logs unless the shell says otherwise; a `.env` file beside package.json is read with
// Node's own `--env-file` (variables already set in the shell win).
//
// `--incremental false`: the first compilation writes every file, dist/main.js too, which
// `npm run build` replaces with the bundled entry (scripts/bundle-service.mjs) that would not see
// tsc's later output; an incremental one would leave it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const env = { ...process.env, WORKERS: process.env.WORKERS ?? '1' };
env.LOG_FORMAT = process.env.LOG_FORMAT ?? 'pretty';

const compiler = spawn(
  process.execPath,
  [tsc, '-p', 'tsconfig.build.json', '--incremental', 'false', '--watch', '--preserveWatchOutput'],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
let service = null;

compiler.stdout.setEncoding('utf8');
compiler.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  // tsc prints "Found 0 errors. Watching for file changes." after each compilation.
  if (service === null && /Found 0 errors/.test(chunk)) startService();
});

function startService() {
  const args = ['--watch-path=dist', '--watch-preserve-output'];
  if (existsSync('.env')) args.push('--env-file=.env');
  args.push('dist/main.js');
  service = spawn(process.execPath, args, { stdio: 'inherit', env });
  service.on('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`dev: the service exited (${signal ?? code})\n`);
  });
}

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  compiler.kill('SIGTERM');
  if (service === null || service.exitCode !== null) process.exit(0);
  service.kill(signal);
  service.on('exit', () => process.exit(0));
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
compiler.on('exit', (code) => {
  if (!stopping) {
    process.stderr.write(`dev: tsc --watch exited (${code})\n`);
    stop('SIGTERM');
  }
});
