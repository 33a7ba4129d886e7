import { createExampleApp } from './app/app.js';
import { ConfigError, loadConfig } from './service/config.js';
import { HttpServer } from './web/index.js';

function line(level: number, msg: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(
    `${JSON.stringify({ level, time: Date.now(), pid: process.pid, ...extra, msg })}\n`,
  );
}

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const { app } = createExampleApp({ maxBodyBytes: config.maxBodyBytes });
  const server = new HttpServer(app, { keepAliveTimeoutMs: config.keepAliveTimeoutMs });
  const address = await server.listen(config.port, config.host);
  line(30, `listening on port ${address.port}`, { port: address.port, address: address.address });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    line(30, `${signal} received, shutting down`, { signal });
    setTimeout(async () => {
      const { forced } = await server.close(config.shutdownTimeoutMs);
      line(forced ? 50 : 30, forced ? 'shutdown deadline passed' : 'shutdown complete');
      process.exitCode = forced ? 1 : 0;
    }, config.shutdownDelayMs);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`fatal: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
