import { writeSync } from 'node:fs';

/** Buffered characters (bytes, for ASCII lines) that trigger a write at once. */
export const LOG_BUFFER_BYTES = 4096;
/** How long a log line may wait in the buffer before it is written. */
export const LOG_FLUSH_INTERVAL_MS = 100;

/** How long to wait for a full pipe (EAGAIN) before trying again, and how many times. */
const EAGAIN_WAIT_MS = 1;
const EAGAIN_TRIES = 1000;

/**
 * A log destination writing to a file descriptor (stdout) synchronously, in batches: lines are
 * appended to one string and written with a single `write(2)` once {@link LOG_BUFFER_BYTES}
 * characters are waiting, every {@link LOG_FLUSH_INTERVAL_MS} and on
 * {@link flushSync}. Synchronous, so lines keep their order and what was flushed is out when the
 * process exits (an asynchronous stream can reorder or drop lines in flight at exit); batched, so
 * a busy service makes one system call per ~20 access lines instead of one per line. A full pipe
 * (`EAGAIN`, when the reader is slow) is waited out for up to a second per batch; a batch that
 * still cannot be written, or a closed stdout (`EPIPE`), is dropped: logging never takes the
 * service down.
 *
 * Cheaper than pino's SonicBoom with `minLength` on the hot path, which measures the byte length
 * of its growing string on every write (flattening it each time), and than encoding each line
 * into a buffer (a call into C++ per line): here a line costs one string append.
 */
export class BufferedFdDestination {
  /** Lines not written yet, as one (rope) string: appending is the cheapest thing V8 does. */
  private pending = '';
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly fd: number) {
    this.timer = setInterval(() => this.flushSync(), LOG_FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Buffers one line (pino's `write`); writes the batch out once it is large enough. */
  write(line: string): boolean {
    this.pending += line;
    if (this.pending.length >= LOG_BUFFER_BYTES) this.flushSync();
    return true;
  }

  /** Writes out what is buffered, now. */
  flushSync(): void {
    if (this.pending.length === 0) return;
    const bytes = Buffer.from(this.pending, 'utf8');
    this.pending = '';
    this.writeOut(bytes);
  }

  /** pino's `logger.flush(cb)`: the same, synchronously, then `cb`. */
  flush(callback?: (error?: Error) => void): void {
    let failure: Error | undefined;
    try {
      this.flushSync();
    } catch (error) {
      failure = error as Error;
    }
    callback?.(failure);
  }

  /** Flushes and stops the timer; later lines are written at once. */
  end(): void {
    this.flushSync();
    clearInterval(this.timer);
  }

  private writeOut(bytes: Uint8Array): void {
    if (this.closed) return;
    let offset = 0;
    let waits = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(this.fd, bytes, offset, bytes.length - offset);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' && waits++ < EAGAIN_TRIES) {
          Atomics.wait(SLEEP, 0, 0, EAGAIN_WAIT_MS);
          continue;
        }
        // Nobody reads the logs any more: drop them from now on, keep serving.
        if (code === 'EPIPE' || code === 'EBADF') this.closed = true;
        return;
      }
    }
  }
}

const SLEEP = new Int32Array(new SharedArrayBuffer(4));
