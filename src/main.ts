/**
 * The container's entry point (`node dist/main.js`). It handles SIGTERM and SIGINT before
 * anything heavy loads, so that a signal at any moment of start-up ends in a graceful exit 0
 * rather than a death by the signal (exit 143); then it loads the service (`start.ts`), which
 * takes the signal handling over.
 */
import type { EarlySignals } from './start.js';

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
