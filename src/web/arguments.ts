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
      if (++count > maxParams) throw tooManyParameters(maxParams);
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

/**
 * The values of the `names` in urlencoded `text`, checked as strictly as {@link parseUrlEncoded}
 * checks (every pair counted against `maxParams`, every name and value decoded, so malformed
 * encoding anywhere is a 400), without building the object of every name: slot `i` holds the
 * last value of `names[i]`, or all its values in order when `arrays` has the name; `null` when
 * none of them occurs. A schema's query reads its few declared names this way (a held long poll
 * allocates one small array rather than an object and an array per name).
 */
export function pickUrlEncoded(
  text: string,
  maxParams: number,
  names: readonly string[],
  arrays: ReadonlySet<string>,
): (string | string[] | undefined)[] | null {
  let slots: (string | string[] | undefined)[] | null = null;
  let count = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('&', start);
    if (end < 0) end = text.length;
    if (end > start) {
      if (++count > maxParams) throw tooManyParameters(maxParams);
      let eq = text.indexOf('=', start);
      if (eq < 0 || eq > end) eq = end;
      const index = nameIndex(text, start, eq, names);
      if (index >= 0) {
        const value = eq < end ? decodeComponent(text.slice(eq + 1, end)) : '';
        slots ??= new Array<string | string[] | undefined>(names.length).fill(undefined);
        const name = names[index] as string;
        if (!arrays.has(name)) slots[index] = value;
        else {
          const values = slots[index];
          if (values === undefined) slots[index] = [value];
          else (values as string[]).push(value);
        }
      } else if (eq < end && hasEncoding(text, eq + 1, end)) {
        decodeComponent(text.slice(eq + 1, end)); // checked, as parseUrlEncoded would
      }
    }
    start = end + 1;
  }
  return slots;
}

/** Which of `names` `text[start, end)` is once decoded (-1: none), slicing only encoded names. */
function nameIndex(text: string, start: number, end: number, names: readonly string[]): number {
  const length = end - start;
  if (hasEncoding(text, start, end)) return names.indexOf(decodeComponent(text.slice(start, end)));
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (name.length === length && text.startsWith(name, start)) return i;
  }
  return -1;
}

function hasEncoding(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 37 /* % */ || c === 43 /* + */) return true;
  }
  return false;
}

function tooManyParameters(maxParams: number): HttpError {
  return new HttpError(400, `too many parameters (more than ${maxParams})`, {
    code: 'ERR_INVALID_ARGUMENTS',
  });
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
