/**
 * Environment variables as typed values: one parser per kind of value (integer, one of a list,
 * text, URL, boolean), each turning a bad value into one {@link ConfigError} line naming the
 * variable. The service's own configuration (config.ts) and yours (config-define.ts) read through
 * them.
 */

/** A bad environment variable: the message is one line naming it, its value and what it accepts. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    value: string,
    accepts: string,
  ) {
    super(`${variable}=${JSON.stringify(value)} is not valid: expected ${accepts}`);
    this.name = 'ConfigError';
  }
}

/** The environment, or any map of variable names to text. */
export type Env = Readonly<Record<string, string | undefined>>;

/** One environment variable: its name and how its text becomes a value. */
export interface Variable<T> {
  readonly name: string;
  /** The value, or the default when the variable is unset or blank; throws a ConfigError. */
  read(env: Env): T;
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** A URL's text with any password replaced by `***` (best effort for text that is not a URL). */
export function withoutPassword(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

function integer(
  name: string,
  options: { default: number; min?: number; max?: number },
): Variable<number> {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = options;
  return {
    name,
    read(env) {
      const text = raw(env, name);
      if (text === undefined) return options.default;
      const value = text.trim();
      if (
        !(min < 0 ? /^-?\d+$/ : /^\d+$/).test(value) ||
        Number(value) < min ||
        Number(value) > max
      ) {
        throw new ConfigError(name, text, `an integer from ${min} to ${max}`);
      }
      return Number(value);
    },
  };
}

function oneOf<const T extends string>(
  name: string,
  allowed: readonly T[],
  fallback: NoInfer<T>,
): Variable<T> {
  return {
    name,
    read(env) {
      const text = raw(env, name);
      if (text === undefined) return fallback;
      const value = text.trim().toLowerCase();
      const match = allowed.find((candidate) => candidate.toLowerCase() === value);
      if (match === undefined) throw new ConfigError(name, text, `one of ${allowed.join(', ')}`);
      return match;
    },
  };
}

interface StringOptions {
  /** Checked against the trimmed value, whole (anchor it). */
  readonly pattern?: RegExp;
  /** What the pattern accepts, in words, for the error line. */
  readonly describe?: string;
}

function string(name: string, options: StringOptions & { default: string }): Variable<string>;
function string(name: string, options?: StringOptions): Variable<string | undefined>;
function string(
  name: string,
  options: StringOptions & { default?: string } = {},
): Variable<string | undefined> {
  return {
    name,
    read(env) {
      const text = raw(env, name);
      if (text === undefined) return options.default;
      const value = text.trim();
      if (options.pattern !== undefined && !options.pattern.test(value)) {
        throw new ConfigError(name, text, options.describe ?? `text matching ${options.pattern}`);
      }
      return value;
    },
  };
}

interface UrlOptions {
  /** Accepted schemes with their colon (`['https:']`); default: http: and https:. */
  readonly protocols?: readonly string[];
}

function url(name: string, options: UrlOptions & { default: string }): Variable<URL>;
function url(name: string, options?: UrlOptions): Variable<URL | undefined>;
function url(
  name: string,
  options: UrlOptions & { default?: string } = {},
): Variable<URL | undefined> {
  const protocols = options.protocols ?? ['http:', 'https:'];
  return {
    name,
    read(env) {
      const text = raw(env, name) ?? options.default;
      if (text === undefined) return undefined;
      const accepts = `a URL (${protocols.map((p) => `${p}//…`).join(' or ')})`;
      let value: URL;
      try {
        value = new URL(text.trim());
      } catch {
        // The value may hold a password: the line shows it without.
        throw new ConfigError(name, withoutPassword(text), accepts);
      }
      if (!protocols.includes(value.protocol) || value.hostname === '') {
        throw new ConfigError(name, withoutPassword(text), accepts);
      }
      return value;
    },
  };
}

function boolean(name: string, fallback: boolean): Variable<boolean> {
  const words = oneOf(name, ['true', 'false', '1', '0', 'yes', 'no'], fallback ? 'true' : 'false');
  return { name, read: (env) => ['true', '1', 'yes'].includes(words.read(env)) };
}

/** Parsers for {@link defineConfig} and {@link extendConfig}: each reads one variable. */
export const variable = { integer, oneOf, string, url, boolean } as const;
