/**
 * A real Prometheus server (Debian's `prometheus`) for tests: scrapes given targets on loopback
 * every second, and answers queries through its HTTP API. Tests that use it declare it:
 * `describe.runIf(has('prometheus'))` (see `programs.ts`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { programPath } from './programs.js';
import { freePort } from './socket.js';
import { eventually } from './wait.js';

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  /** `host:port` of the one target, scraped at `/metrics` as job `tornode`. */
  readonly target: string;
  /** Labels the target's series get (as a ServiceMonitor's relabelling would give them). */
  readonly labels?: Readonly<Record<string, string>>;
  /** `--enable-feature` values, e.g. `exemplar-storage`. */
  readonly features?: readonly string[];
}

/** One sample of an instant query's vector. */
export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** A running Prometheus; {@link stop} it in `afterAll`. */
export class Prometheus {
  private log = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly workDir: string,
    /** `http://127.0.0.1:PORT` of its HTTP API. */
    readonly origin: string,
  ) {
    const keep = (chunk: Buffer): void => {
      this.log += chunk.toString();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  /** Starts Prometheus on a free port and waits (bounded) until it is ready. */
  static async start(options: PrometheusOptions): Promise<Prometheus> {
    const workDir = mkdtempSync(path.join(tmpdir(), 'tornode-prometheus-'));
    const labels = Object.entries(options.labels ?? {})
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
    writeFileSync(
      path.join(workDir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: tornode',
        '    static_configs:',
        `      - targets: ['${options.target}']`,
        ...(labels === '' ? [] : [`        labels: { ${labels} }`]),
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const child = spawn(
      programPath('prometheus'),
      [
        `--config.file=${path.join(workDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(workDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
        ...(options.features ?? []).map((f) => `--enable-feature=${f}`),
      ],
      { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const prometheus = new Prometheus(child, workDir, `http://127.0.0.1:${port}`);
    await eventually(
      async () => {
        if (child.exitCode !== null) {
          throw new Error(`prometheus exited (${child.exitCode}):\n${prometheus.log}`);
        }
        const ok = await fetch(`${prometheus.origin}/-/ready`).then(
          (r) => r.status === 200,
          () => false,
        );
        return ok ? true : undefined;
      },
      () => `Prometheus /-/ready\n${prometheus.log}`,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    return prometheus;
  }

  /** What Prometheus has logged so far. */
  get output(): string {
    return this.log;
  }

  /** GETs an API path (`/api/v1/…`); throws unless Prometheus answers `success`. */
  async api<T>(pathAndQuery: string): Promise<T> {
    const response = await fetch(`${this.origin}${pathAndQuery}`);
    const body = (await response.json()) as { status: string; error?: string; data?: T };
    if (body.status !== 'success') {
      throw new Error(`${pathAndQuery}: ${body.error ?? response.status}`);
    }
    return body.data as T;
  }

  /** An instant query; throws on a PromQL error, so a syntax error is not mistaken for no data. */
  async query(expr: string): Promise<PromSample[]> {
    const data = await this.api<{ resultType: string; result: PromSample[] }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`,
    );
    if (data.resultType !== 'vector') throw new Error(`${expr}: not an instant vector`);
    return data.result;
  }

  /** The value of a query that gives one sample; `undefined` for none or several. */
  async single(expr: string): Promise<number | undefined> {
    const result = await this.query(expr);
    const [sample] = result;
    return result.length === 1 && sample ? Number(sample.value[1]) : undefined;
  }

  /** Stops the server (SIGTERM, SIGKILL after 5 s) and removes its data. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.workDir, { recursive: true, force: true });
  }
}
