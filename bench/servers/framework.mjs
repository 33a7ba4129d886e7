// This framework alone: the bench routes on an Application, no logs, no metrics.
// FRAMEWORK_ETAG=1 / FRAMEWORK_COMPRESS=1 turn the `etag` / `compress` settings on, to measure
// what each costs side by side with the plain framework.
import { Application, HttpServer } from '../../dist/index.js';
import { benchRoutes } from './app-routes.mjs';

const settings = {
  etag: process.env.FRAMEWORK_ETAG === '1',
  compress: process.env.FRAMEWORK_COMPRESS === '1',
};
const server = new HttpServer(new Application(benchRoutes(), settings));
await server.listen(Number(process.env.PORT), '127.0.0.1');
process.stdout.write('ready\n');
