/** Loggers for applications under test: one that drops everything, one that records every call. */
import type { Logger } from '../../src/web/index.js';

/** A logger that drops everything. */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
};

/** One captured log call. */
export interface LogEntry {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  readonly obj: Record<string, unknown>;
  readonly msg: string | undefined;
}

/** A logger that records every call and prints nothing. */
export interface CapturingLogger extends Logger {
  /** Every call so far, in order (children add their bindings to each entry). */
  readonly entries: LogEntry[];
  /** The `error` and `warn` entries. */
  errors(): LogEntry[];
}

/** A {@link CapturingLogger}. */
export function captureLogger(): CapturingLogger {
  const entries: LogEntry[] = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const at =
      (level: LogEntry['level']) =>
      (obj: object, msg?: string): void => {
        entries.push({ level, obj: { ...bindings, ...obj }, msg });
      };
    return {
      error: at('error'),
      warn: at('warn'),
      info: at('info'),
      debug: at('debug'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return Object.assign(make({}), {
    entries,
    errors: () => entries.filter((e) => e.level === 'error' || e.level === 'warn'),
  });
}
