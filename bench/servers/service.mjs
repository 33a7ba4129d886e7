// The full service (Service: request ids, one access line per request at info, the HTTP
// histogram, probes) in one process, with the bench routes. Its stdout (the logs) goes wherever
// the harness points it (/dev/null).
import { loadConfig, Service } from '../../dist/index.js';
import { benchRoutes } from './app-routes.mjs';

const service = new Service({
  config: loadConfig({ ...process.env, WORKERS: '1' }),
  routes: benchRoutes(),
});
await service.start();
process.stderr.write('ready\n');
