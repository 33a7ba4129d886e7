export { AccessLog, CLIENT_CLOSED_REQUEST } from './access-log.js';
export { type Config, ConfigError, LOG_LEVELS, type LogLevel, loadConfig } from './config.js';
export {
  type ConfigValues,
  configOrExit,
  defineConfig,
  EX_CONFIG,
  extendConfig,
  type Variable,
  variable,
} from './config-define.js';
export {
  type CheckOptions,
  type CheckResult,
  DEFAULT_CHECK_TIMEOUT_MS,
  Health,
  type Readiness,
  type ReadinessCheck,
} from './health.js';
export {
  DEFAULT_HOOK_TIMEOUT_MS,
  Lifecycle,
  type LifecycleOptions,
  type LifecycleState,
  type ShutdownHook,
} from './lifecycle.js';
export {
  createLogger,
  type LoggerOptions,
  REDACTED_HEADERS,
  requestIdGenerator,
} from './logging.js';
export {
  DROPPED_DEFAULT_METRICS,
  HTTP_BUCKETS,
  type MetricsOptions,
  OTHER_METHOD,
  ServiceMetrics,
  UNMATCHED_ROUTE,
} from './metrics.js';
export {
  type OperationalRouteOptions,
  operationalRoutes,
  PROBE_PATHS,
  QUIET_ROUTES,
} from './probes.js';
export { Service, type ServiceOptions } from './service.js';
