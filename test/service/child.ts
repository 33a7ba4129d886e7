/**
 * Runs `dist/main.js` or a fixture program under `test/fixtures/` as a child process for black-box
 * tests: JSON log lines on stdout, parsed as they arrive, with bounded waits for a given line, for
 * the `listening` line (its `port` and `adminPort`) and for the exit.
 *
 * Every process started here is killed (SIGKILL to its process group) when the test that started
 * it finishes, and as a last resort when the test worker exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

/** The built entry point. */
export const MAIN_JS = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

/** A fixture program by file name (`test/fixtures/NAME`). */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** Variables of the service contract: removed from the inherited environment. */
const SERVICE_VARIABLES = [
  'PORT',
  'HOST',
  'ADMIN_PORT',
  'WORKERS',
  'LOG_LEVEL',
  'LOG_FORMAT',
  'SHUTDOWN_DELAY_MS',
  'SHUTDOWN_TIMEOUT_MS',
  'KEEP_ALIVE_TIMEOUT_MS',
  'MAX_BODY_BYTES',
  'KUBERNETES_SERVICE_HOST',
  'NODE_OPTIONS',
];

/** What every child starts from: a free loopback port, one process, JSON logs, no delay. */
export const BASE_ENV: Readonly<Record<string, string>> = {
  PORT: '0',
  HOST: '127.0.0.1',
  WORKERS: '1',
  LOG_FORMAT: 'json',
  SHUTDOWN_DELAY_MS: '0',
};

/** pino's numeric levels. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** One parsed log line. */
export type LogLine = Record<string, unknown> & { msg?: unknown; level?: unknown; time?: unknown };

/** How a process ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Rejects with `what` when `promise` has not settled within `ms` (a failure guard, not a sleep). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Whether a log line's `msg` matches. */
export function msgMatches(line: LogLine, pattern: RegExp | string): boolean {
  if (typeof line.msg !== 'string') return false;
  return typeof pattern === 'string' ? line.msg.includes(pattern) : pattern.test(line.msg);
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A running (or finished) child service. */
export class Child {
  readonly child: ChildProcess;
  readonly stdoutLines: string[] = [];
  readonly logLines: LogLine[] = [];
  readonly exited: Promise<Exit>;
  /** `performance.now()` when each signal was sent, by order. */
  readonly signalledAt: number[] = [];
  private stderrText = '';
  private rest = '';
  private readonly streamsClosed: Promise<void>;
  private waiters: (() => void)[] = [];
  private listening: LogLine | undefined;

  constructor(script: string, env: Readonly<Record<string, string | undefined>>) {
    if (!existsSync(MAIN_JS)) {
      throw new Error(`${MAIN_JS} is missing: run \`npm run build\` before the black-box tests`);
    }
    const childEnv: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && !SERVICE_VARIABLES.includes(name)) childEnv[name] = value;
    }
    for (const [name, value] of Object.entries({ ...BASE_ENV, ...env })) {
      if (value === undefined) delete childEnv[name];
      else childEnv[name] = value;
    }
    this.child = spawn(process.execPath, [script], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    running.add(this.child);
    this.exited = new Promise<Exit>((resolve) => {
      this.child.once('exit', (code, signal) => {
        running.delete(this.child);
        resolve({ code, signal });
        this.notify();
      });
      this.child.once('error', () => {
        running.delete(this.child);
        resolve({ code: null, signal: null });
        this.notify();
      });
    });
    this.streamsClosed = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderrText += chunk;
    });
  }

  get stderr(): string {
    return this.stderrText;
  }

  get isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The application port from the `listening` line. */
  get port(): number {
    const port = this.listening?.port;
    if (typeof port !== 'number') throw new Error('the service has not said listening');
    return port;
  }

  /** The admin port from the `listening` line, if it carries one. */
  get adminPort(): number | undefined {
    const port = this.listening?.adminPort;
    return typeof port === 'number' ? port : undefined;
  }

  /** The `listening` line. */
  get listeningLine(): LogLine | undefined {
    return this.listening;
  }

  /** `fetch` on the application port. */
  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(`http://127.0.0.1:${this.port}${path}`, init);
  }

  /** Log lines whose `msg` matches. */
  lines(pattern: RegExp | string): LogLine[] {
    return this.logLines.filter((line) => msgMatches(line, pattern));
  }

  /** The index in {@link logLines} of the first line matching (−1 if none). */
  indexOf(pattern: RegExp | string): number {
    return this.logLines.findIndex((line) => msgMatches(line, pattern));
  }

  /**
   * Waits (bounded) for a log line whose `msg` matches and that satisfies `where`; rejects when
   * the process exits without writing one.
   */
  waitForLog(
    pattern: RegExp | string,
    timeoutMs = 10_000,
    where: (line: LogLine) => boolean = () => true,
  ): Promise<LogLine> {
    return within(
      this.waitFor(() => {
        const line = this.logLines.find((l) => msgMatches(l, pattern) && where(l));
        if (line !== undefined) return line;
        if (!this.isRunning) {
          throw new Error(`exited without logging ${String(pattern)}\n${this.describe()}`);
        }
        return undefined;
      }),
      timeoutMs,
      `waiting for a log line ${String(pattern)}\n${this.describe()}`,
    );
  }

  /** Waits for the `listening` line. */
  async waitForListening(timeoutMs = 10_000): Promise<void> {
    this.listening = await this.waitForLog('listening', timeoutMs);
    if (typeof this.listening.port !== 'number' || this.listening.port <= 0) {
      throw new Error(`no usable port in ${JSON.stringify(this.listening)}`);
    }
  }

  /** Waits for the exit and for stdout/stderr to be complete. */
  async waitForExit(timeoutMs = 10_000): Promise<Exit> {
    const exit = await within(this.exited, timeoutMs, `the process to exit\n${this.describe()}`);
    await within(this.streamsClosed, 2_000, 'stdout/stderr to close').catch(() => {});
    return exit;
  }

  /** Sends a signal to the process (not its group). */
  signal(signal: NodeJS.Signals): void {
    this.signalledAt.push(performance.now());
    this.child.kill(signal);
  }

  async stop(): Promise<void> {
    if (this.isRunning) killGroup(this.child);
    await within(this.exited, 5_000, 'a killed child to exit').catch(() => {});
  }

  describe(): string {
    return `--- stdout ---\n${this.stdoutLines.join('\n')}${this.rest}\n--- stderr ---\n${this.stderrText}`;
  }

  private onStdout(chunk: string): void {
    const parts = (this.rest + chunk).split('\n');
    this.rest = parts.pop() ?? '';
    for (const line of parts) {
      this.stdoutLines.push(line);
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
          this.logLines.push(parsed as LogLine);
        }
      } catch {
        // not JSON
      }
    }
    this.notify();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private waitFor<T>(check: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const attempt = (): void => {
        try {
          const result = check();
          if (result !== undefined) resolve(result);
          else this.waiters.push(attempt);
        } catch (error) {
          reject(error);
        }
      };
      attempt();
    });
  }
}

/**
 * Spawns `script` (default `dist/main.js`) without waiting. Killed when the test that called this
 * finishes, or with `shared` (for `beforeAll`) when the caller calls `stop()` (at worker exit at
 * the latest).
 */
export function spawnChild(
  env: Readonly<Record<string, string | undefined>> = {},
  script = MAIN_JS,
  shared = false,
): Child {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const child of running) killGroup(child);
    });
  }
  const child = new Child(script, env);
  if (!shared) onTestFinished(() => child.stop());
  return child;
}

/** {@link spawnChild}, then waits for the `listening` line. */
export async function startChild(
  env: Readonly<Record<string, string | undefined>> = {},
  script = MAIN_JS,
  shared = false,
): Promise<Child> {
  const child = spawnChild(env, script, shared);
  await child.waitForListening();
  return child;
}
