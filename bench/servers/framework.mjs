// This framework alone: the bench routes on an Application, no logs, no metrics.
import { Application, HttpServer } from '../../dist/index.js';
import { benchRoutes } from './app-routes.mjs';

const server = new HttpServer(new Application(benchRoutes()));
await server.listen(Number(process.env.PORT), '127.0.0.1');
process.stdout.write('ready\n');
