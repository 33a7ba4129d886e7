/**
 * Black-box tests of the contract's Configuration section against the built `dist/main.js`
 * (run `npm run build` first).
 */
import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { spawnService, startService, stopGracefully } from '../support/process.js';
import { freePort, send, tryConnect } from '../support/socket.js';

describe('a bad configuration value', () => {
  const cases: [string, string][] = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['WORKERS', '0'],
    ['WORKERS', 'x'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_FORMAT', 'xml'],
    ['SHUTDOWN_DELAY_MS', '-1'],
    ['SHUTDOWN_TIMEOUT_MS', 'soon'],
    ['KEEP_ALIVE_TIMEOUT_MS', '1.5'],
    ['MAX_BODY_BYTES', '1.5'],
    ['ADMIN_PORT', 'abc'],
    ['KEEP_ALIVE_TIMEOUT_MS', '0'],
  ];

  it.each([
    ['ADMIN_PORT equal to PORT', 'ADMIN_PORT', 'same'],
    ['an unresolvable HOST', 'HOST', 'no-such-host.invalid'],
  ])(
    '%s stops start-up before listening: one line naming %s, exit 78',
    async (_, variable, value) => {
      const port = await freePort();
      const env =
        value === 'same'
          ? { PORT: String(port), ADMIN_PORT: String(port) }
          : { PORT: String(port), HOST: value };
      const service = spawnService(env);
      const exit = await service.waitForExit(8_000);
      expect(exit).toEqual({ code: 78, signal: null });
      const stderrLines = service.stderr.split('\n').filter((line) => line !== '');
      expect(stderrLines, service.describe()).toHaveLength(1);
      expect(stderrLines[0]).toMatch(new RegExp(`^configuration error: ${variable}=`));
      expect(service.listeningLines).toEqual([]);
    },
  );

  it.each(cases)(
    '%s=%s stops start-up with one line on stderr and a non-zero exit',
    async (variable, value) => {
      const started = performance.now();
      const service = spawnService({ [variable]: value });
      const exit = await service.waitForExit(8_000);
      const elapsed = performance.now() - started;
      expect(exit.signal).toBeNull();
      expect(exit.code).not.toBe(0);
      expect(exit.code).toBe(78); // EX_CONFIG, as the README documents
      // Start-up of node itself is most of this; nothing waits for a timeout.
      expect(elapsed).toBeLessThan(5_000);
      const stderrLines = service.stderr.split('\n').filter((line) => line !== '');
      expect(stderrLines, service.describe()).toHaveLength(1);
      const [line] = stderrLines as [string];
      expect(line).toContain(variable);
      expect(line).toContain(value);
      expect(line).toMatch(/expected /);
      // Nothing listened: no listening line, no log line at all.
      expect(service.listeningLines).toEqual([]);
      expect(service.stdoutLines).toEqual([]);
    },
  );

  it('binds no port even when PORT itself is fine (ADMIN_PORT=abc)', async () => {
    const port = await freePort();
    const service = spawnService({ PORT: String(port), ADMIN_PORT: 'abc' });
    // Probe the application port for as long as the process lives (bounded by its exit).
    let probes = 0;
    let connected = false;
    let exited = false;
    const exit = service.waitForExit(8_000).finally(() => {
      exited = true;
    });
    while (!exited && probes < 2_000) {
      probes++;
      if ((await tryConnect(port)) === 'connected') connected = true;
    }
    expect((await exit).code).toBe(78);
    expect(probes).toBeGreaterThan(0);
    expect(connected).toBe(false);
    expect(service.stderr).toContain('ADMIN_PORT');
    expect(service.stdoutLines).toEqual([]);
  });

  it('names what is accepted (LOG_LEVEL=loud lists the levels)', async () => {
    const service = spawnService({ LOG_LEVEL: 'loud' });
    await service.waitForExit(8_000);
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
      expect(service.stderr).toContain(level);
    }
  });
});

describe('valid configuration', () => {
  it('listens on the given HOST and a free port for PORT=0', async () => {
    const service = await startService({ PORT: '0', HOST: '127.0.0.1' });
    const [line] = service.listeningLines;
    expect(line?.address).toBe('127.0.0.1');
    expect(String(line?.msg)).toContain(String(service.port));
    const res = await service.fetch('/');
    expect(res.status).toBe(200);
  });

  it('listens on a fixed PORT', async () => {
    const port = await freePort();
    const service = await startService({ PORT: String(port) });
    expect(service.port).toBe(port);
    expect((await service.fetch('/')).status).toBe(200);
  });

  it('serves the probes and /metrics on ADMIN_PORT (/metrics no longer on PORT)', async () => {
    const adminPort = await freePort();
    const service = await startService({ ADMIN_PORT: String(adminPort) });
    expect(service.listeningLines[0]?.adminPort).toBe(adminPort);
    for (const path of ['/livez', '/readyz', '/startupz', '/healthz', '/metrics']) {
      const onAdmin = await send(adminPort, path);
      expect(onAdmin.status, path).toBe(200);
      const onMain = await service.fetch(path);
      await onMain.arrayBuffer();
      expect(onMain.status, path).toBe(path === '/metrics' ? 404 : 200);
    }
    // Only those: the application's routes stay on PORT.
    expect((await send(adminPort, '/')).status).toBe(404);
  });

  it('answers 413 above MAX_BODY_BYTES and accepts a body that fits', async () => {
    const service = await startService({ MAX_BODY_BYTES: '40' });
    const post = (text: string) =>
      service.fetch('/chat/messages', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ text }),
      });
    const small = await post('hi'); // 13 bytes
    expect(small.status).toBe(201);
    await small.arrayBuffer();
    const large = await post('x'.repeat(40)); // 51 bytes
    expect(large.status).toBe(413);
    await large.arrayBuffer();
  });

  it('keeps the default 1 MiB body limit', async () => {
    const service = await startService({ MAX_BODY_BYTES: undefined });
    const res = await service.fetch('/chat/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: `{"text":"hi","pad":"${'x'.repeat(1_048_576)}"}`,
    });
    await res.arrayBuffer();
    expect(res.status).toBe(413);
    const fits = await service.fetch('/chat/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: `{"text":"hi","pad":"${'x'.repeat(1_000_000)}"}`,
    });
    await fits.arrayBuffer();
    expect(fits.status).toBe(201);
  });

  it('announces KEEP_ALIVE_TIMEOUT_MS in the Keep-Alive header (default 65 s)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const byDefault = await startService({ KEEP_ALIVE_TIMEOUT_MS: undefined });
      const answer = await send(byDefault.port, '/', { agent });
      expect(answer.headers['keep-alive']).toBe('timeout=65');
      const custom = await startService({ KEEP_ALIVE_TIMEOUT_MS: '7000' });
      expect((await send(custom.port, '/', { agent })).headers['keep-alive']).toBe('timeout=7');
    } finally {
      agent.destroy();
    }
  });

  it('uses a 5 s shutdown delay by default in Kubernetes, serving meanwhile', async () => {
    const service = await startService({
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      SHUTDOWN_DELAY_MS: undefined,
    });
    service.signal('SIGTERM');
    const line = await service.waitForLine((l) => 'shutdownDelayMs' in l, 5_000);
    expect(line.shutdownDelayMs).toBe(5000);
    // Still serving during the delay, while readiness fails.
    expect((await service.fetch('/readyz')).status).toBe(503);
    expect((await service.fetch('/')).status).toBe(200);
    expect(service.isRunning).toBe(true);
  });

  it('uses no shutdown delay by default outside Kubernetes', async () => {
    const service = await startService({
      KUBERNETES_SERVICE_HOST: undefined,
      SHUTDOWN_DELAY_MS: undefined,
    });
    const started = performance.now();
    await stopGracefully(service);
    expect(performance.now() - started).toBeLessThan(4_000);
    const line = service.logLines.find((l) => 'shutdownDelayMs' in l);
    expect(line?.shutdownDelayMs).toBe(0);
  });

  it('LOG_FORMAT=pretty writes lines for people instead of JSON', async () => {
    const service = spawnService({ LOG_FORMAT: 'pretty' });
    const stdout = service.child.stdout;
    // Bounded wait for the listening text (not JSON, so the helper's own wait does not apply).
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(service.describe())), 8_000);
      const check = (): void => {
        if (service.stdoutLines.some((line) => line.includes('listening'))) {
          clearTimeout(timer);
          stdout?.off('data', check);
          resolve();
        }
      };
      stdout?.on('data', check);
      service.child.once('exit', () => {
        clearTimeout(timer);
        reject(new Error(`exited\n${service.describe()}`));
      });
      check();
    });
    expect(service.logLines).toEqual([]);
    expect(service.stdoutLines.find((line) => line.includes('listening'))).toMatch(/INFO/);
  });

  it('LOG_LEVEL=warn leaves out info lines, but not the start-up line', async () => {
    const service = await startService({ LOG_LEVEL: 'warn' });
    expect((await send(service.port, '/')).status).toBe(200);
    expect((await send(service.port, '/nope')).status).toBe(404);
    const warn = await service.waitForLine((l) => l.url === '/nope');
    expect(warn.level).toBe(40);
    const quiet = service.logLines.filter((l) => typeof l.level === 'number' && l.level < 40);
    expect(quiet.map((l) => l.msg)).toEqual([`listening on port ${service.port}`]);
  });
});
