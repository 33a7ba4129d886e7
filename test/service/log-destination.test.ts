import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BufferedFdDestination, LOG_BUFFER_BYTES } from '../../src/service/log-destination.js';

const open: BufferedFdDestination[] = [];
const fds: number[] = [];

afterEach(() => {
  for (const d of open.splice(0)) d.end();
  for (const fd of fds.splice(0)) closeSync(fd);
});

function fileDestination() {
  const path = join(mkdtempSync(join(tmpdir(), 'logdest-')), 'out.log');
  const fd = openSync(path, 'w');
  fds.push(fd);
  const destination = new BufferedFdDestination(fd);
  open.push(destination);
  return { path, destination, text: () => readFileSync(path, 'utf8') };
}

/** Opens a FIFO for non-blocking writes once its reader has it open (ENXIO until then). */
function openWhenReaderIsThere(fifo: string): number {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      return openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

describe('BufferedFdDestination', () => {
  it('holds short lines, writing whole lines in batches of at most LOG_BUFFER_BYTES', () => {
    const { destination, text, path } = fileDestination();
    destination.write('{"n":1}\n');
    destination.write('{"n":2}\n');
    expect(statSync(path).size).toBe(0);
    const line = `${'x'.repeat(99)}\n`;
    let all = '{"n":1}\n{"n":2}\n';
    while (all.length < 3 * LOG_BUFFER_BYTES) {
      destination.write(line);
      all += line;
    }
    const out = text();
    expect(out.length).toBeGreaterThan(LOG_BUFFER_BYTES); // batches went out on their own
    expect(all.startsWith(out)).toBe(true);
    expect(out.endsWith('\n')).toBe(true);
    destination.flushSync();
    expect(text()).toBe(all);
  });

  it('writes what waits on flushSync and on the timer (100 ms)', async () => {
    const { destination, text } = fileDestination();
    destination.write('a\n');
    destination.flushSync();
    expect(text()).toBe('a\n');
    destination.write('b\n');
    const deadline = Date.now() + 2_000;
    while (text() !== 'a\nb\n' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(text()).toBe('a\nb\n');
  });

  it('calls flush(cb) back once written (pino’s logger.flush)', () => {
    const { destination, text } = fileDestination();
    destination.write('a\n');
    let called = false;
    destination.flush((error) => {
      expect(error).toBeUndefined();
      called = true;
    });
    expect(called).toBe(true);
    expect(text()).toBe('a\n');
  });

  it('encodes UTF-8 and keeps lines larger than the buffer whole and in order', () => {
    const { destination, text } = fileDestination();
    const big = `${'é€😀'.repeat(40_000)}\n`; // far beyond the 64 KiB buffer once encoded
    destination.write('before\n');
    destination.write(big);
    destination.write('after\n');
    destination.flushSync();
    expect(text()).toBe(`before\n${big}after\n`);
  });

  it('waits out a full pipe instead of dropping lines (a slow log reader)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfifo-'));
    const fifo = join(dir, 'fifo');
    const out = join(dir, 'out');
    execFileSync('mkfifo', [fifo]);
    // The reader starts reading only after 300 ms: the writer fills the 64 KiB pipe and waits.
    const reader = spawn('sh', ['-c', `exec 3<"${fifo}"; sleep 0.3; cat <&3 > "${out}"`]);
    const fd = openWhenReaderIsThere(fifo);
    const destination = new BufferedFdDestination(fd);
    const line = `${'y'.repeat(1023)}\n`;
    for (let i = 0; i < 256; i++) destination.write(line); // 256 KiB
    destination.end();
    closeSync(fd);
    return new Promise<void>((resolve, reject) => {
      reader.on('exit', () => {
        try {
          expect(readFileSync(out, 'utf8')).toBe(line.repeat(256));
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
  }, 10_000);

  it('drops lines, without throwing, once nobody reads the pipe any more (EPIPE)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'logfifo-'));
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    fds.push(fd);
    closeSync(readFd);
    const destination = new BufferedFdDestination(fd);
    open.push(destination);
    expect(() => {
      for (let i = 0; i < 100; i++) destination.write(`${'z'.repeat(200)}\n`);
      destination.flushSync();
    }).not.toThrow();
  });
});

describe('BufferedFdDestination shared by processes (cluster workers on one stdout)', () => {
  it('never interleaves lines of two writers on one pipe, even when the reader is slow', async () => {
    const writer = join(process.cwd(), 'test/fixtures/log-writer.mjs');
    // Both writers share the pipe to `cat`, which starts reading late so the pipe is full and
    // writes wait for room: a write larger than the pipe's atomic size could then be split.
    const script = `(node "${writer}" a & node "${writer}" b & wait) | (sleep 0.3; cat)`;
    const child = spawn('sh', ['-c', script], { env: { ...process.env, LINES: '20000' } });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise((resolve) => child.on('close', resolve));
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    const seen = { a: 0, b: 0 };
    for (const line of lines) {
      const parsed = JSON.parse(line) as { id: 'a' | 'b'; i: number };
      expect(parsed.i).toBe(seen[parsed.id]);
      seen[parsed.id]++;
    }
    expect(seen).toEqual({ a: 20000, b: 20000 });
  }, 30_000);
});
