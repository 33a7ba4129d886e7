/**
 * Imported for its side effect, first thing, by the modules that serve requests.
 *
 * Node 24 runs with `--async-context-frame` on: every queued tick, timer and immediate records
 * the context frame current when it was queued, and the tick loop swaps frames around each one
 * (`AsyncContextFrame.current()` and `.exchange()` in `process.nextTick` and
 * `processTicksAndRejections`). Node picks the class behind those calls lazily: the first
 * timer or immediate that is cleaned up, or the first read of `AsyncLocalStorage`, changes the
 * class's prototype. A tick queued before that (node:http's `listen` queues one for its address
 * lookup) leaves the tick loop's inline caches with the class's old shape, and once the prototype
 * changes they stay polymorphic for the life of the process: V8 then looks those methods up
 * through its generic `LoadIC` in the hottest code a server runs, ~10 % of a small request's CPU
 * (in-process hello on Node 24.21: 5.82 → 5.23 µs per request, `bench/tools/inproc-ab.mjs`).
 * Later 24.x releases (24.22.3 in the container's base image) set the active functions as
 * properties of the class instead of changing its prototype, "to preserve V8 optimizations", on
 * the same lazy trigger. Reading `AsyncLocalStorage` here makes the change happen before any
 * tick, either way. On Node 20 (no context frames) it is a plain property read.
 */
void process.getBuiltinModule('node:async_hooks').AsyncLocalStorage;
