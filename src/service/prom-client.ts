/**
 * The parts of prom-client the service uses, loaded from their own files.
 *
 * prom-client's index also loads its Pushgateway, and with it `https`, `tls` and `zlib`: about a
 * third of the library's load time and ~5 MiB of idle RSS that a scraped service never uses.
 * The classes are the very ones the index exports (one module cache), so metrics made here and
 * metrics a user makes with `import client from 'prom-client'` go in the same registries.
 * Values come through `require` typed as prom-client's own declarations.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry: typeof PromClient.Registry = require('prom-client/lib/registry');
export type Registry = PromClient.Registry;
export const Counter: typeof PromClient.Counter = require('prom-client/lib/counter');
export type Counter<T extends string = string> = PromClient.Counter<T>;
export const Gauge: typeof PromClient.Gauge = require('prom-client/lib/gauge');
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export const collectDefaultMetrics: typeof PromClient.collectDefaultMetrics = require('prom-client/lib/defaultMetrics');

/** prom-client's AggregatorRegistry (the cluster primary's), loaded on first use. */
export function aggregatorRegistry(): typeof PromClient.AggregatorRegistry {
  return require('prom-client/lib/cluster');
}
