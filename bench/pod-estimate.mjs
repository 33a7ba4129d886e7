// "100,000 connections per pod" in bench/results.md: an estimate computed from the per-connection
// figures of the run it sits under (never typed in), with the arithmetic shown. bench/analysis.md
// explains each line. A run without the long polls, WebSockets, start-up or kernel figures
// (BENCH_ONLY) gets no estimate.

const CONNECTIONS = 100_000;
/** Descriptors kept free in a worker for the log pipe, Redis, the listening socket, epoll. */
const FDS_KEPT = 1_000;

/** Markdown lines of the estimate for `results` (what run.mjs writes to results.json). */
export function podEstimate(results) {
  const poll = results.longPoll?.find((r) => r.contender === 'service');
  const socket = results.websockets?.find((r) => r.contender === 'service');
  const idle = results.startup?.idleRssMiB;
  const slab = results.kernel?.slabBytes;
  const fdLimit = results.machine?.fdLimit;
  if (!poll || !socket || idle === undefined || !slab?.TCP || !fdLimit) return [];
  const held = poll.held;
  const perWorker = fdLimit - FDS_KEPT;
  const minWorkers = Math.ceil(CONNECTIONS / perWorker);
  const workers = Math.ceil(CONNECTIONS / held); // as many as hold what the bench held in one
  const gib = (kib) => kib / 2 ** 20;
  const pollsGiB = gib(CONNECTIONS * poll.perPollKiB);
  const socketsGiB = gib(CONNECTIONS * socket.perSocketKiB);
  const idleGiB = (workers * idle) / 1024;
  const kernelBytes = Object.values(slab)
    .filter((b) => b !== null)
    .reduce((a, b) => a + b, 0);
  const kernelMiB = (CONNECTIONS * kernelBytes) / 2 ** 20;
  const broadcastMs = (poll.broadcastMs * (CONNECTIONS / workers)) / held;
  const f = (n, d = 2) => n.toFixed(d);
  return [
    `## ${CONNECTIONS.toLocaleString('en')} connections per pod (an estimate from this run)`,
    '',
    `From this run's per-connection figures (bench/analysis.md says what each line leaves out): P = ${poll.perPollKiB} KiB per held poll, S = ${socket.perSocketKiB} KiB per WebSocket, I = ${idle} MiB idle per worker, K = ${kernelBytes} B of kernel objects per TCP socket, descriptor limit ${fdLimit} per process.`,
    '',
    `- Workers: at least ⌈${CONNECTIONS} / (${fdLimit} − ${FDS_KEPT})⌉ = ${minWorkers} (one descriptor per connection); ${workers} to hold the ${held.toLocaleString('en')} each that the bench measured in one.`,
    `- Long polls, ${workers} workers: ${CONNECTIONS} × P + ${workers} × I = ${f(pollsGiB)} + ${f(idleGiB)} = **${f(pollsGiB + idleGiB)} GiB**.`,
    `- WebSockets, ${workers} workers: ${CONNECTIONS} × S + ${workers} × I = ${f(socketsGiB)} + ${f(idleGiB)} = **${f(socketsGiB + idleGiB)} GiB**.`,
    `- Kernel, charged to the pod's memory cgroup: ${CONNECTIONS} × K = **${f(kernelMiB, 0)} MiB**, before any queued data.`,
    `- Broadcast to all, ${workers} workers in parallel on as many CPUs: ${poll.broadcastMs} ms × ${CONNECTIONS / workers} / ${held} ≈ **${f(broadcastMs, 0)} ms**.`,
    '',
  ];
}
