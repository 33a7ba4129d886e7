/**
 * Runs the built service (`dist/main.js`) or a fixture program under `test/fixtures/` as a child
 * process for black-box tests, relying only on the service contract: JSON log lines on stdout,
 * parsed as they arrive, one of them with `msg` containing `listening` and the bound `port` (and
 * `adminPort`). Waits are bounded and driven by the output (a readiness signal), not by sleeps.
 *
 * Every process started here is killed (SIGKILL to its process group, so the workers it forked go
 * with it) when the test that started it finishes, and as a last resort when the test worker exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { within } from './wait.js';

/** The built entry point. */
export const MAIN_JS = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

/** A fixture program by file name (`test/fixtures/NAME`). */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** The service's own variables: removed from the inherited environment so the tests decide. */
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
  'WORKER_STARTUP_TIMEOUT_MS',
  'MAX_BODY_BYTES',
  'REDIS_URL',
  'REDIS_KEY_PREFIX',
  'KUBERNETES_SERVICE_HOST',
  'NODE_OPTIONS',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_SERVICE_NAME',
];

/**
 * What every process starts from: a free port on loopback (tests run in parallel), one process,
 * JSON logs and no shutdown delay. A test overrides any of these; `undefined` removes one.
 */
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

/** An environment on top of {@link BASE_ENV}; `undefined` removes a variable. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Whether a log line's `msg` matches (a string matches as a substring). */
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

/** A running (or finished) service process. */
export class ServiceProcess {
  readonly child: ChildProcess;
  /** Every stdout line so far, as written. */
  readonly stdoutLines: string[] = [];
  /** The stdout lines that are JSON objects, parsed. */
  readonly logLines: LogLine[] = [];
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** `performance.now()` when each signal was sent, by order. */
  readonly signalledAt: number[] = [];
  private stderrText = '';
  private rest = '';
  private closed = false;
  private readonly streamsClosed: Promise<void>;
  private readonly watchers = new Set<() => void>();
  private listening: LogLine | undefined;

  /** Spawns `script` (default `dist/main.js`) with `env`; prefer {@link spawnService}. */
  constructor(env: Env = {}, script = MAIN_JS) {
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
    this.streamsClosed = new Promise<void>((resolve) =>
      this.child.once('close', () => {
        this.closed = true;
        resolve();
        this.notify();
      }),
    );
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderrText += chunk;
    });
  }

  /** Everything written to stderr so far. */
  get stderr(): string {
    return this.stderrText;
  }

  /** Whether the process is still running. */
  get isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The application port from the `listening` line (throws before it was seen). */
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

  /** The `listening` line, once seen. */
  get listeningLine(): LogLine | undefined {
    return this.listening;
  }

  /** The `listening` log lines seen so far. */
  get listeningLines(): LogLine[] {
    return this.lines(/listening/);
  }

  /** `http://127.0.0.1:PORT`. */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `fetch` relative to {@link origin}. */
  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(this.origin + path, init);
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
   * Resolves with the first result of `check` other than `undefined`, re-checked whenever the
   * process writes output or exits, and at least every 100 ms (for checks on other state).
   * Rejects when `check` throws or after `timeoutMs`.
   */
  waitUntil<T>(check: () => T | undefined, timeoutMs = 10_000, what = 'a condition'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (settle: () => void): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearInterval(ticker);
        this.watchers.delete(attempt);
        settle();
      };
      const attempt = (): void => {
        try {
          const result = check();
          if (result !== undefined) finish(() => resolve(result));
        } catch (error) {
          finish(() => reject(error));
        }
      };
      const timer = setTimeout(() => {
        finish(() =>
          reject(new Error(`not within ${timeoutMs} ms: ${what}\n${this.describe(40)}`)),
        );
      }, timeoutMs);
      const ticker = setInterval(attempt, 100);
      this.watchers.add(attempt);
      attempt();
    });
  }

  /**
   * Waits for the first parsed log line (seen so far or arriving later) that `predicate` accepts;
   * rejects when the process has exited and closed its output without writing one.
   */
  waitForLine(
    predicate: (line: LogLine) => boolean,
    timeoutMs = 10_000,
    what = 'a matching log line',
  ): Promise<LogLine> {
    return this.waitForLines(predicate, 1, timeoutMs, what).then((lines) => lines[0] as LogLine);
  }

  /** Like {@link waitForLine}, for the first `count` matching lines. */
  waitForLines(
    predicate: (line: LogLine) => boolean,
    count: number,
    timeoutMs = 10_000,
    what = `${count} matching log lines`,
  ): Promise<LogLine[]> {
    return this.waitUntil(
      () => {
        const found = this.logLines.filter(predicate);
        if (found.length >= count) return found;
        if (this.closed) throw new Error(`the process exited before writing ${what}`);
        return undefined;
      },
      timeoutMs,
      what,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${this.describe()}`);
    });
  }

  /** Waits for a log line whose `msg` matches and that satisfies `where`. */
  waitForLog(
    pattern: RegExp | string,
    timeoutMs = 10_000,
    where: (line: LogLine) => boolean = () => true,
  ): Promise<LogLine> {
    return this.waitForLine(
      (line) => msgMatches(line, pattern) && where(line),
      timeoutMs,
      `a log line ${String(pattern)}`,
    );
  }

  /** Waits for the `listening` line and returns the port it carries. */
  async waitForListening(timeoutMs = 10_000): Promise<number> {
    const line = await this.waitForLog('listening', timeoutMs);
    const port = line.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0) {
      throw new Error(`the listening line has no usable port: ${JSON.stringify(line)}`);
    }
    this.listening = line;
    return port;
  }

  /** Waits for the process to exit and its output to be complete, at most `timeoutMs`. */
  async waitForExit(timeoutMs = 10_000): Promise<Exit> {
    const exit = await within(this.exited, timeoutMs, `the process to exit\n${this.describe()}`);
    // Bounded: a grandchild could hold the pipes open.
    await within(this.streamsClosed, 2_000, 'stdout/stderr to close').catch(() => {});
    return exit;
  }

  /** Sends a signal to the process itself (not its group). */
  signal(signal: NodeJS.Signals): void {
    this.signalledAt.push(performance.now());
    this.child.kill(signal);
  }

  /** Kills the process and anything it forked (SIGKILL), and waits for it to be gone. */
  async stop(): Promise<void> {
    // Only while it runs: once it has exited and been reaped, its pid (and group id) may be reused.
    if (this.isRunning) killGroup(this.child);
    await within(this.exited, 5_000, 'a killed process to exit').catch(() => {});
  }

  /** Stdout (the last `lastLines` lines, or all) and stderr, for failure messages. */
  describe(lastLines?: number): string {
    const lines = lastLines === undefined ? this.stdoutLines : this.stdoutLines.slice(-lastLines);
    return `--- stdout ---\n${lines.join('\n')}${this.rest}\n--- stderr ---\n${this.stderrText}`;
  }

  private onStdout(chunk: string): void {
    const parts = (this.rest + chunk).split('\n');
    this.rest = parts.pop() ?? '';
    for (const raw of parts) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      this.stdoutLines.push(line);
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
          this.logLines.push(parsed as LogLine);
        }
      } catch {
        // not a JSON line
      }
    }
    this.notify();
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }
}

/** Options of {@link spawnService} and {@link startService}. */
export interface SpawnOptions {
  /** The program to run (default `dist/main.js`; see {@link fixture}). */
  readonly script?: string;
  /**
   * For a process shared by several tests (`beforeAll`): not killed when the calling test
   * finishes; the caller stops it (the worker's exit does at the latest).
   */
  readonly shared?: boolean;
  /** How long {@link startService} waits for the `listening` line (default 10 s). */
  readonly timeoutMs?: number;
}

/** Spawns the service with `env` on top of {@link BASE_ENV}, without waiting for anything. */
export function spawnService(env: Env = {}, options: SpawnOptions = {}): ServiceProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const child of running) killGroup(child);
    });
  }
  const service = new ServiceProcess(env, options.script);
  if (options.shared !== true) onTestFinished(() => service.stop());
  return service;
}

/** {@link spawnService}, then waits (bounded) for its `listening` line. */
export async function startService(
  env: Env = {},
  options: SpawnOptions = {},
): Promise<ServiceProcess> {
  const service = spawnService(env, options);
  await service.waitForListening(options.timeoutMs);
  return service;
}

/** Sends SIGTERM and waits (bounded) for the process to exit 0 with all its output read. */
export async function stopGracefully(service: ServiceProcess): Promise<void> {
  service.signal('SIGTERM');
  const exit = await service.waitForExit(10_000);
  if (exit.code !== 0) throw new Error(`exit ${JSON.stringify(exit)}\n${service.describe()}`);
}
