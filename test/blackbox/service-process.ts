/**
 * Runs the built service (`dist/main.js`) as a child process for black-box tests, relying only on
 * the service contract: JSON log lines on stdout, one of them with `msg` containing `listening` and
 * the bound port in `port`.
 *
 * Every process started here is killed when the test that started it finishes (passed or failed),
 * and, as a last resort, when the test worker exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

/** The built entry point. */
export const MAIN_JS = fileURLToPath(new URL('../../dist/main.js', import.meta.url));

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
  'MAX_BODY_BYTES',
  'KUBERNETES_SERVICE_HOST',
  'NODE_OPTIONS',
];

/**
 * What every test starts from: a free port on loopback (tests run in parallel), one process, JSON
 * logs and no shutdown delay. A test overrides any of these; `undefined` removes one.
 */
export const DEFAULT_ENV: Readonly<Record<string, string>> = {
  PORT: '0',
  HOST: '127.0.0.1',
  WORKERS: '1',
  LOG_FORMAT: 'json',
  SHUTDOWN_DELAY_MS: '0',
};

/** How a process ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // The child leads its own process group (detached), so workers it forked go with it.
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms ${what()}`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** A running (or finished) service process. */
export class ServiceProcess {
  readonly child: ChildProcess;
  /** Every stdout line so far, as written. */
  readonly stdoutLines: string[] = [];
  /** The stdout lines that are JSON objects, parsed. */
  readonly logLines: Record<string, unknown>[] = [];
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  private stderrText = '';
  private stdoutRest = '';
  private readonly streamsClosed: Promise<void>;
  private lineWaiters: (() => void)[] = [];
  private listeningPort: number | undefined;

  constructor(env: Readonly<Record<string, string | undefined>>) {
    if (!existsSync(MAIN_JS)) {
      throw new Error(`${MAIN_JS} is missing: run \`npm run build\` before the black-box tests`);
    }
    const childEnv: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (value !== undefined && !SERVICE_VARIABLES.includes(name)) childEnv[name] = value;
    }
    for (const [name, value] of Object.entries({ ...DEFAULT_ENV, ...env })) {
      if (value === undefined) delete childEnv[name];
      else childEnv[name] = value;
    }
    this.child = spawn(process.execPath, [MAIN_JS], {
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
    this.streamsClosed = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
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

  /** The port from the `listening` line (throws before it was seen). */
  get port(): number {
    if (this.listeningPort === undefined) throw new Error('the service has not said listening');
    return this.listeningPort;
  }

  /** `http://127.0.0.1:PORT`. */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** `fetch` relative to {@link origin}. */
  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(this.origin + path, init);
  }

  /** The `listening` log lines seen so far. */
  get listeningLines(): Record<string, unknown>[] {
    return this.logLines.filter(
      (line) => typeof line.msg === 'string' && /listening/.test(line.msg),
    );
  }

  /**
   * Waits until the service logs its `listening` line and returns the port it carries. Rejects if
   * the process exits first or `timeoutMs` passes.
   */
  async waitForListening(timeoutMs = 10_000): Promise<number> {
    const port = await withTimeout(
      this.waitFor(() => {
        const line = this.listeningLines[0];
        if (line !== undefined) return line;
        if (!this.isRunning) {
          throw new Error(`the service exited before listening\n${this.describe()}`);
        }
        return undefined;
      }),
      timeoutMs,
      () => `waiting for the listening line\n${this.describe()}`,
    ).then((line) => line.port);
    if (typeof port !== 'number' || !Number.isInteger(port) || port <= 0) {
      throw new Error(`the listening line has no usable port: ${JSON.stringify(port)}`);
    }
    this.listeningPort = port;
    return port;
  }

  /** Waits for the process to exit (and its output to be complete), at most `timeoutMs`. */
  async waitForExit(timeoutMs = 10_000): Promise<Exit> {
    const exit = await withTimeout(
      this.exited,
      timeoutMs,
      () => `waiting for the process to exit\n${this.describe()}`,
    );
    // Output may still be in the pipes; its end follows shortly (bounded: a grandchild could hold
    // them open).
    await withTimeout(this.streamsClosed, 2_000, () => 'waiting for stdout/stderr to close').catch(
      () => {},
    );
    return exit;
  }

  /** Sends a signal to the service process itself. */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Kills the process and anything it forked (SIGKILL), and waits for it to be gone. */
  async stop(): Promise<void> {
    // Only while it runs: once it has exited and been reaped, its pid (and group id) may be reused.
    if (this.isRunning) killGroup(this.child, 'SIGKILL');
    await withTimeout(this.exited, 5_000, () => 'waiting for a killed service to exit').catch(
      () => {},
    );
  }

  /** Stdout and stderr, for failure messages. */
  describe(): string {
    return `--- stdout ---\n${this.stdoutLines.join('\n')}${this.stdoutRest}\n--- stderr ---\n${this.stderrText}`;
  }

  private onStdout(chunk: string): void {
    const parts = (this.stdoutRest + chunk).split('\n');
    this.stdoutRest = parts.pop() ?? '';
    for (const raw of parts) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      this.stdoutLines.push(line);
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
          this.logLines.push(parsed as Record<string, unknown>);
        }
      } catch {
        // not a JSON line
      }
    }
    this.notify();
  }

  private notify(): void {
    const waiters = this.lineWaiters;
    this.lineWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves with the first non-undefined result of `check`, re-run whenever output arrives. */
  private waitFor<T>(check: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const attempt = (): void => {
        try {
          const result = check();
          if (result !== undefined) resolve(result);
          else this.lineWaiters.push(attempt);
        } catch (error) {
          reject(error);
        }
      };
      attempt();
    });
  }
}

/**
 * Spawns the service with `env` on top of {@link DEFAULT_ENV}, without waiting for anything. Must
 * be called inside a test: the process is killed when that test finishes.
 */
export function spawnService(
  env: Readonly<Record<string, string | undefined>> = {},
): ServiceProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const child of running) killGroup(child, 'SIGKILL');
    });
  }
  const service = new ServiceProcess(env);
  onTestFinished(() => service.stop());
  return service;
}

/** Spawns the service and waits (bounded) for its `listening` line. */
export async function startService(
  env: Readonly<Record<string, string | undefined>> = {},
  timeoutMs = 10_000,
): Promise<ServiceProcess> {
  const service = spawnService(env);
  await service.waitForListening(timeoutMs);
  return service;
}
