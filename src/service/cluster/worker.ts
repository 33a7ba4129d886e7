import cluster from 'node:cluster';
import type { Service } from '../service.js';
import {
  DRAINED_TOPIC,
  METRICS_TOPIC,
  type MetricsRequest,
  type PrimaryMessage,
} from './messages.js';
import type { WorkerChannel } from './worker-channel.js';

/** How long a worker waits for the primary's aggregated metrics before serving its own. */
const METRICS_TIMEOUT_MS = 3000;

/**
 * Connects a worker's service to the primary:
 *
 * - `shutdown` from the primary runs the worker's graceful shutdown (readiness fails); `retire`
 *   (rolling restart) runs it without failing readiness;
 * - a lost IPC channel (the primary died, even by SIGKILL) runs it too, so the port is freed;
 * - `collect` is answered with the worker's metrics, and `/metrics` serves the cluster's
 *   aggregate (this worker's own metrics if the primary does not answer in time);
 * - after draining, the worker sends its final metrics so its counts stay in the totals;
 * - SIGHUP is the primary's business: a worker ignores it (a terminal hang-up reaches the group).
 *
 * Call before `service.start()`; call {@link announceReady} after it.
 */
export function attachToPrimary(service: Service, channel: WorkerChannel): void {
  const { lifecycle, metrics, logger } = service;
  channel.onControl((message: PrimaryMessage) => {
    switch (message.t) {
      case 'tornode:shutdown':
        void lifecycle.shutdown(`primary: ${message.reason}`, 0);
        return;
      case 'tornode:retire':
        void lifecycle.shutdown('rolling restart', 0, { keepReady: true });
        return;
      case 'tornode:collect':
        void metrics.registry
          .getMetricsAsJSON()
          .then(
            (snapshot) => channel.send({ t: 'tornode:metrics', id: message.id, metrics: snapshot }),
            (error: unknown) => logger.error({ err: error }, 'collecting metrics failed'),
          )
          .catch(() => {});
        return;
      default:
        return;
    }
  });
  // node:cluster makes a worker whose channel closes unexpectedly exit at once, cutting its
  // in-flight requests; marking the disconnect as expected lets the worker drain first. (The
  // listening socket belongs to the primary, so the port is free as soon as the primary is gone.)
  if (cluster.worker) cluster.worker.exitedAfterDisconnect = true;
  process.on('disconnect', () => {
    void lifecycle.shutdown('the primary is gone', 0);
  });
  process.on('SIGHUP', () => {});
  metrics.useSource(async (format) => {
    try {
      const request: MetricsRequest = { format };
      return (await channel.request(METRICS_TOPIC, request, METRICS_TIMEOUT_MS)) as string;
    } catch (error) {
      logger.warn({ err: error }, "cluster metrics unavailable; serving this worker's own");
      return metrics.ownExposition(format);
    }
  });
  // Registered first, so it runs last: after draining and the application's own hooks.
  lifecycle.addShutdownHook('final metrics', async () => {
    if (!channel.connected) return;
    const snapshot = await metrics.registry.getMetricsAsJSON();
    await channel.send({ t: 'tornode:final', metrics: snapshot });
    // A round trip before exiting. The primary answers after it has seen this worker close its
    // listener and has taken the final metrics, so every connection it handed over before that
    // has reached this worker (which hands it back, to another worker) instead of being lost
    // unanswered in the channel when this process exits.
    await channel.request(DRAINED_TOPIC, null).catch(() => {});
  });
  // Until this arrives the primary holds its control messages: one sent before the listener
  // above existed would be lost.
  channel.send({ t: 'tornode:attached' }).catch(() => {});
}

/**
 * Tells the primary this worker is ready: call it once `service.start()` has resolved with the
 * port. Until then the primary counts the worker as starting: its death counts towards the
 * crash-loop guard, and a rolling restart waits for it.
 */
export function announceReady(channel: WorkerChannel, port: number): Promise<void> {
  return channel.send({ t: 'tornode:ready', port });
}
