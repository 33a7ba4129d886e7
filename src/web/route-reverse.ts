import { withCode } from './errors.js';
import { encodeLiteral, parseTemplateParts } from './route-patterns.js';

/** Builds a route's path from positional arguments, percent-encoding each one. */
export type Reverser = (args: readonly (string | number)[]) => string;

/** The reverser of a path template: each parameter is replaced by one argument. */
export function templateReverser(template: string): Reverser {
  const parts = parseTemplateParts(template);
  const params = parts.filter((p) => !('literal' in p)).length;
  return (args) => {
    if (args.length !== params) {
      throw withCode(
        new Error(`route ${template} takes ${params} argument(s), got ${args.length}`),
        'ERR_ROUTE_NOT_REVERSIBLE',
      );
    }
    let out = '';
    let k = 0;
    for (const part of parts) {
      if ('literal' in part) {
        out += encodeLiteral(part.literal);
        continue;
      }
      const value = String(args[k++]);
      out += part.rest
        ? value.split('/').map(encodeURIComponent).join('/')
        : encodeURIComponent(value);
    }
    return out;
  };
}

/**
 * Inverts a regular expression whose capture groups sit between literal text only (Tornado's
 * rule): each group is replaced by one argument.
 */
export function regexReverser(original: string): Reverser {
  let source = original;
  if (source.startsWith('^')) source = source.slice(1);
  if (source.endsWith('$') && !source.endsWith('\\$')) source = source.slice(0, -1);
  const pieces: string[] = [''];
  let reversible = true;
  for (let i = 0; i < source.length && reversible; i++) {
    const c = source[i] as string;
    if (c === '\\') {
      const next = source[i + 1];
      if (next === undefined || /[A-Za-z0-9]/.test(next)) reversible = false;
      else pieces[pieces.length - 1] += next;
      i++;
    } else if (c === '(') {
      let depth = 1;
      let j = i + 1;
      let inClass = false;
      while (j < source.length && depth > 0) {
        const d = source[j];
        if (d === '\\') j++;
        else if (inClass) inClass = d !== ']';
        else if (d === '[') inClass = true;
        else if (d === '(') depth++;
        else if (d === ')') depth--;
        j++;
      }
      const after = source[j];
      const quantified = after !== undefined && '*+?{'.includes(after);
      const lookbehind = source[i + 2] === '<' && (source[i + 3] === '=' || source[i + 3] === '!');
      const special = source[i + 1] === '?' && (source[i + 2] !== '<' || lookbehind);
      if (depth !== 0 || special || quantified) reversible = false;
      pieces.push('');
      i = j - 1;
    } else if ('^$.*+?[]{}|)'.includes(c)) {
      reversible = false;
    } else {
      pieces[pieces.length - 1] += c;
    }
  }
  return (args) => {
    if (!reversible) {
      throw withCode(
        new Error(`route /${original}/ is too complex to reverse`),
        'ERR_ROUTE_NOT_REVERSIBLE',
      );
    }
    if (args.length !== pieces.length - 1) {
      throw withCode(
        new Error(`route /${original}/ takes ${pieces.length - 1} argument(s), got ${args.length}`),
        'ERR_ROUTE_NOT_REVERSIBLE',
      );
    }
    let out = pieces[0] as string;
    for (let k = 1; k < pieces.length; k++) {
      out += encodeURIComponent(String(args[k - 1])) + pieces[k];
    }
    return out;
  };
}
