/**
 * Kept only for `src/service/cluster/metrics-aggregator.test.ts`, which imports it by this path
 * (src/ is not this change's to edit); the helpers live in `test/support/metrics.ts`.
 */
export { homeCount, promtoolCheck, sampleValue } from '../support/metrics.js';
