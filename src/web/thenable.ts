/**
 * Whether a hook's return value is a promise (or any thenable). Hooks may be sync or async; the
 * lifecycle only pays for a promise when a hook returned one.
 */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
