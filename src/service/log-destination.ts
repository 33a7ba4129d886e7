// `node:fs` without its ES namespace, which would load `fs/promises` (src/web/builtins.ts).
const { writeSync } = process.getBuiltinModule('node:fs');

/**
 * The largest batch: a pipe's atomic write size (PIPE_BUF on Linux), so that cluster workers
 * sharing stdout never interleave their lines within a batch.
 */
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
  /** Where a batch is encoded before its `write(2)`: room for any batch of LOG_BUFFER_BYTES. */
  private readonly encoded = Buffer.allocUnsafe(3 * LOG_BUFFER_BYTES);

  constructor(private readonly fd: number) {
    this.timer = setInterval(() => this.flushSync(), LOG_FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Buffers one line (pino's `write`); writes the batch out once it is large enough. */
  write(line: string): boolean {
    // A batch never grows past LOG_BUFFER_BYTES with a second line in it: written out first.
    if (this.pending.length + line.length > LOG_BUFFER_BYTES && this.pending.length > 0) {
      this.flushSync();
    }
    this.pending += line;
    if (this.pending.length >= LOG_BUFFER_BYTES) this.flushSync();
    return true;
  }

  /** Writes out what is buffered, now. */
  flushSync(): void {
    const text = this.pending;
    if (text.length === 0) return;
    this.pending = '';
    if (this.closed) return;
    // Encoded once, into a buffer kept for it (UTF-8 takes at most 3 bytes per UTF-16 unit):
    // no separate pass to measure the batch, no buffer allocated per batch.
    const bytes =
      text.length * 3 <= this.encoded.length
        ? this.encoded.subarray(0, this.encoded.write(text, 0, 'utf8'))
        : Buffer.from(text, 'utf8');
    if (bytes.length <= LOG_BUFFER_BYTES) {
      this.writeOut(bytes); // the usual case: one write(2)
      return;
    }
    // Non-ASCII text can take more bytes than characters: write it in atomic, line-aligned pieces
    // (a single line longer than a pipe's atomic size cannot be helped).
    let start = 0;
    while (start < bytes.length) {
      let end = bytes.length;
      if (end - start > LOG_BUFFER_BYTES) {
        const cut = bytes.lastIndexOf(0x0a, start + LOG_BUFFER_BYTES - 1);
        end = cut >= start ? cut + 1 : bytes.indexOf(0x0a, start) + 1 || bytes.length;
      }
      this.writeOut(bytes.subarray(start, end));
      start = end;
    }
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
