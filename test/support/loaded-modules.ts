import { fixture, type ServiceProcess, type SpawnOptions, startService } from './process.js';

/** What a service started by {@link startWatchedService} has loaded (test/fixtures/loaded-modules.mjs). */
export interface LoadedModules {
  /** Built-in modules (`process.moduleLoadList`), as `crypto`, `internal/fs/promises`… */
  readonly builtinModules: string[];
  /** CommonJS files (`require.cache`), absolute paths. */
  readonly requiredFiles: string[];
}

/** The service (dist/main.js) run by a fixture that reports what it has loaded on SIGUSR2. */
export function startWatchedService(options: SpawnOptions = {}): Promise<ServiceProcess> {
  return startService({}, { ...options, script: fixture('loaded-modules.mjs') });
}

/** What `service` (from {@link startWatchedService}) has loaded so far. */
export async function loadedModules(service: ServiceProcess): Promise<LoadedModules> {
  const reports = () => service.logLines.filter((line) => Array.isArray(line.builtinModules));
  const before = reports().length;
  service.signal('SIGUSR2');
  const line = await service.waitUntil(
    () => reports()[before],
    10_000,
    'the list of loaded modules',
  );
  return line as unknown as LoadedModules;
}
