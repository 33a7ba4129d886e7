/**
 * The container's entry point (`node dist/main.js`). It handles SIGTERM and SIGINT before
 * anything heavy loads, so that a signal at any moment of start-up ends in a graceful exit 0
 * rather than a death by the signal (exit 143); then it loads the service (`start.ts`), which
 * takes the signal handling over.
 *
 * On Node ≥ 22.1 it also turns on Node's module compile cache before the service loads: V8's
 * compiled code of every module (ours and the dependencies') is kept on disk and reused by the
 * next start, which then skips compiling them. The cache is in `NODE_COMPILE_CACHE` if set (the
 * image sets it to a directory filled when the image is built), else in the system's temporary
 * directory; `NODE_DISABLE_COMPILE_CACHE=1` turns it off. Node 20 has none and starts without.
 */
import './web/async-context.js';
import module from 'node:module';
import type { EarlySignals } from './start.js';

(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

let pending: NodeJS.Signals | undefined;
const remember = (signal: NodeJS.Signals): void => {
  pending ??= signal;
};
process.on('SIGTERM', remember);
process.on('SIGINT', remember);

const early: EarlySignals = {
  handOver() {
    process.off('SIGTERM', remember);
    process.off('SIGINT', remember);
    return pending;
  },
};

const { run } = await import('./start.js');
await run(early);
