import { HttpError } from './errors.js';

/** Parsed `name=value` pairs: every value of each name, in order. */
export type Arguments = Record<string, string[]>;

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARS = /[\x00-\x08\x0e-\x1f]/g;

/**
 * Parses `application/x-www-form-urlencoded` text (a query string or a form body) strictly:
 * malformed percent-encoding or invalid UTF-8 is a 400, and so is more than `maxParams` pairs.
 * The result has no prototype, so names like `__proto__` are ordinary keys.
 */
export function parseUrlEncoded(text: string, maxParams: number): Arguments {
  const out: Arguments = Object.create(null);
  if (text.length === 0) return out;
  let count = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('&', start);
    if (end < 0) end = text.length;
    if (end > start) {
      if (++count > maxParams) {
        throw new HttpError(400, `too many parameters (more than ${maxParams})`, {
          code: 'ERR_INVALID_ARGUMENTS',
        });
      }
      const eq = text.indexOf('=', start);
      const hasValue = eq >= 0 && eq < end;
      const name = decodeComponent(text.slice(start, hasValue ? eq : end));
      const value = hasValue ? decodeComponent(text.slice(eq + 1, end)) : '';
      const values = out[name];
      if (values === undefined) out[name] = [value];
      else values.push(value);
    }
    start = end + 1;
  }
  return out;
}

function decodeComponent(raw: string): string {
  const spaced = raw.includes('+') ? raw.replace(/\+/g, ' ') : raw;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    throw new HttpError(400, 'malformed percent-encoding in arguments', {
      code: 'ERR_INVALID_ARGUMENTS',
    });
  }
}

/**
 * Decodes one percent-encoded path segment (a captured path argument); `+` stays a plus.
 * Malformed encoding or invalid UTF-8 is a 400.
 */
export function decodePathArgument(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'malformed percent-encoding in path');
  }
}

/** Tornado's argument clean-up: control characters become spaces, and the ends are trimmed. */
export function cleanArgument(value: string, strip: boolean): string {
  const cleaned = value.replace(CONTROL_CHARS, ' ');
  return strip ? cleaned.trim() : cleaned;
}
