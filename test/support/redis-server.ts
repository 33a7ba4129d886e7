/**
 * A real `redis-server` for tests: on a free loopback port, persisting to an append-only file in
 * its own temporary directory (`--save '' --appendonly yes`), so a stopped and restarted server
 * keeps the data, as a production Redis with persistence does.
 *
 * When `redis-server` is not installed, {@link redisServerMissing} says so and the Redis tests are
 * skipped with one line, unless `CI` is set: then they fail.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The one line printed when the Redis tests are skipped. */
export const MISSING_MESSAGE = 'redis-server missing: apt-get install redis-server';

/** Whether `redis-server` can be run here. */
export function redisServerInstalled(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * `true` when the Redis tests must be skipped (and prints {@link MISSING_MESSAGE}); throws in CI,
 * where a missing `redis-server` is a broken set-up rather than a reason to skip.
 */
export function redisServerMissing(): boolean {
  if (redisServerInstalled()) return false;
  if (process.env.CI) throw new Error(MISSING_MESSAGE);
  process.stdout.write(`${MISSING_MESSAGE}\n`);
  return true;
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** A `redis-server` process that can be stopped and started again on the same port and data. */
export class RedisServer {
  private child: ChildProcess | null = null;
  private output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  /**
   * Starts a server on `port` (default: a free one) with a new data directory; resolves once it
   * accepts commands.
   */
  static async start(port?: number): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'tornode-redis-'));
    const server = new RedisServer(port ?? (await freePort()), dir);
    await server.restart();
    return server;
  }

  /** `redis://127.0.0.1:PORT`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Whether the process runs. */
  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process again (same port, same data); resolves once it is ready. */
  async restart(): Promise<void> {
    if (this.running) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly'];
    args.push('yes', '--dir', this.dir, '--daemonize', 'no', '--loglevel', 'notice');
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server not ready within 10 s\n${this.output}`)),
        10_000,
      );
      const onData = (chunk: Buffer): void => {
        this.output += chunk.toString('utf8');
        if (/Ready to accept connections/.test(this.output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}\n${this.output}`));
      });
    });
    await ready;
  }

  /** Runs one command with `redis-cli` (installed with `redis-server`) and answers its raw output. */
  cli(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('redis-cli', ['-p', String(this.port), '--raw', ...args], (error, stdout) => {
        if (error) reject(error);
        else resolve(stdout);
      });
    });
  }

  /** The keys matching `pattern`. */
  async keys(pattern: string): Promise<string[]> {
    return (await this.cli('KEYS', pattern)).split('\n').filter((key) => key !== '');
  }

  /** Freezes the process (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void {
    if (this.running) this.child?.kill('SIGSTOP');
  }

  /** Lets a paused process run again (SIGCONT). */
  resume(): void {
    if (this.running) this.child?.kill('SIGCONT');
  }

  /** Stops the process (SIGTERM: Redis flushes its append-only file) and waits for its exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null || !this.running) return;
    child.kill('SIGCONT');
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the process and removes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
