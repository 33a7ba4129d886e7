/**
 * The cluster: a primary that supervises worker processes and talks to them over IPC. What the
 * entry point and applications use; the other modules of this folder are its internals.
 */
export { Primary, type PrimaryHandler, type PrimaryOptions } from './primary.js';
export { resolveWorkerCount, type WorkerCount, workerHeapLimitMiB } from './resources.js';
export { announceReady, attachToPrimary } from './worker.js';
export { REQUEST_TIMEOUT_MS, RequestTimeoutError, WorkerChannel } from './worker-channel.js';
