/**
 * Route patterns taken apart: path templates into trie segments or regular expressions, and
 * regular expressions into capture group names and the literal prefix that lets most of them be
 * skipped without running them. Used when routes are added, never per request.
 */

const PARAM_NAME = /^[A-Za-z_$][\w$]*$/;
const NON_ASCII = /[^\x20-\x7e]/;

/** One segment of a template the trie can hold. */
export type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'param'; name: string }
  | { kind: 'rest'; name: string };

/** Splits a template into trie segments, or `null` when it needs a regular expression. */
export function parseSegments(template: string, raw: string[]): Segment[] | null {
  const segments: Segment[] = [];
  for (let i = 0; i < raw.length; i++) {
    const text = raw[i] as string;
    if (!text.includes('{') && !text.includes('}')) {
      segments.push({ kind: 'literal', text: encodeLiteral(text) });
      continue;
    }
    const whole = /^\{([^{}:*]+)(\*?)\}$/.exec(text);
    if (whole === null) return null;
    const name = whole[1] as string;
    checkParamName(template, name);
    if (whole[2] === '*') {
      if (i !== raw.length - 1) {
        throw new Error(`"{${name}*}" must be the last segment of ${JSON.stringify(template)}`);
      }
      segments.push({ kind: 'rest', name });
    } else {
      segments.push({ kind: 'param', name });
    }
  }
  return segments;
}

function checkParamName(template: string, name: string): void {
  if (!PARAM_NAME.test(name)) {
    throw new Error(`bad parameter name ${JSON.stringify(name)} in ${JSON.stringify(template)}`);
  }
}

export function encodeLiteral(text: string): string {
  return NON_ASCII.test(text) ? encodeURI(text) : text;
}

export type TemplatePart = { literal: string } | { name: string; expr: string; rest: boolean };

/** Splits a template into literal text and `{name}`, `{name*}`, `{name:expr}` parameters. */
export function parseTemplateParts(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i] as string;
    if (c === '}') throw new Error(`unbalanced "}" in route template ${JSON.stringify(template)}`);
    if (c !== '{') {
      literal += c;
      i++;
      continue;
    }
    let depth = 1;
    let j = i + 1;
    while (j < template.length && depth > 0) {
      const d = template[j];
      if (d === '\\') j++;
      else if (d === '{') depth++;
      else if (d === '}') depth--;
      j++;
    }
    if (depth !== 0)
      throw new Error(`unbalanced "{" in route template ${JSON.stringify(template)}`);
    const inner = template.slice(i + 1, j - 1);
    const colon = inner.indexOf(':');
    let name = colon < 0 ? inner : inner.slice(0, colon);
    let expr = colon < 0 ? '[^/]+' : inner.slice(colon + 1);
    let rest = false;
    if (colon < 0 && name.endsWith('*')) {
      name = name.slice(0, -1);
      expr = '.*';
      rest = true;
    }
    checkParamName(template, name);
    if (literal !== '') parts.push({ literal });
    literal = '';
    parts.push({ name, expr, rest });
    i = j;
  }
  if (literal !== '') parts.push({ literal });
  return parts;
}

export function templateToRegexSource(template: string): { source: string; names: string[] } {
  const names: string[] = [];
  let source = '';
  for (const part of parseTemplateParts(template)) {
    if ('literal' in part) {
      source += escapeRegex(encodeLiteral(part.literal));
    } else {
      if (names.includes(part.name)) {
        throw new Error(`duplicate parameter ${part.name} in ${JSON.stringify(template)}`);
      }
      names.push(part.name);
      source += `(?<${part.name}>${part.expr})`;
    }
  }
  return { source, names };
}

export function literalPrefixOfTemplate(template: string): string {
  const brace = template.indexOf('{');
  return encodeLiteral(brace < 0 ? template : template.slice(0, brace));
}

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/** Names of a regular expression's capture groups, in order ('' for unnamed ones). */
export function captureGroupNames(source: string): string[] {
  const names: string[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(') {
      if (source[i + 1] !== '?') {
        names.push('');
      } else if (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!') {
        const close = source.indexOf('>', i);
        names.push(source.slice(i + 3, close));
      }
    }
  }
  return names;
}

/** Whether a `|` outside any group or class splits the whole expression into alternatives. */
export function hasTopLevelAlternation(source: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) return true;
  }
  return false;
}

/** The literal text a regular expression (without its `^`) must start with. */
export function literalPrefixOfRegex(source: string): string {
  let prefix = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i] as string;
    if (c === '\\') {
      const next = source[i + 1];
      if (next === undefined || /[A-Za-z0-9]/.test(next)) break;
      prefix += next;
      i++;
      continue;
    }
    if ('^$.*+?()[]{}|'.includes(c)) {
      // A quantifier makes the previous character optional or repeated: drop it from the prefix.
      if ('*+?{'.includes(c)) prefix = prefix.slice(0, -1);
      break;
    }
    prefix += c;
  }
  return prefix;
}
