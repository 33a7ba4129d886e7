/**
 * A real `redis-server` for tests: on a free loopback port, persisting to an append-only file in
 * its own temporary directory (`--save '' --appendonly yes`), so a stopped and restarted server
 * keeps the data, as a production Redis with persistence does.
 *
 * Suites that use it run under `describe.runIf(has('redis-server'))` (./programs.ts): skipped with
 * one line when `redis-server` is missing, failed under `CI`.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { programPath } from './programs.js';
import { freePort } from './socket.js';

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
    const child = spawn(programPath('redis-server'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
