/**
 * Route compilation and lookup.
 *
 * Patterns are either path templates or regular expressions:
 *
 * - `/users/{id}`: `{name}` captures one non-empty path segment.
 * - `/static/{path*}`: `{name*}` as the last segment captures the rest of the path, slashes
 *   included (possibly empty).
 * - `/posts/{id:\d+}` or `/files/{name}.json`: a parameter with its own regular expression, or
 *   one that shares a segment with literal text, turns the template into a regular expression.
 * - a `RegExp` (Tornado style), anchored at both ends: every capture group becomes a positional
 *   argument and named groups also become named parameters.
 *
 * Matching is against the raw (still percent-encoded) path; captured values are returned raw and
 * decoded by the caller. The first route in table order that matches wins. Static paths are a map
 * lookup; templates share a segment trie; only regular expressions are tried one by one, and only
 * those that come before the best match found so far.
 *
 * This file holds the lookup (the hot path); `route-patterns.ts` takes patterns apart when routes
 * are added, and `route-reverse.ts` builds paths back from them.
 */

import { withCode } from './errors.js';
import {
  captureGroupNames,
  hasTopLevelAlternation,
  literalPrefixOfRegex,
  literalPrefixOfTemplate,
  parseSegments,
  templateToRegexSource,
} from './route-patterns.js';
import { type Reverser, regexReverser, templateReverser } from './route-reverse.js';

/** A route as compiled by the {@link Router}. */
export interface CompiledRoute<T> {
  /** Position in the route table; lower wins. */
  readonly index: number;
  /** The pattern as written (a template, or a regular expression's source): use it as a label. */
  readonly pattern: string;
  /** The name given for {@link Router.reverse}, if any. */
  readonly name: string | undefined;
  /** Names of the parameters, in the order of the positional arguments (empty for unnamed groups). */
  readonly paramNames: readonly string[];
  /** Whatever the route table associated with this route (a handler class, say). */
  readonly target: T;
}

/** The result of {@link Router.match}. */
export interface RouteMatch<T> {
  readonly route: CompiledRoute<T>;
  /** Captured values in order, still percent-encoded. */
  readonly args: readonly string[];
}

const NO_ARGS: readonly string[] = Object.freeze([]);

interface RouteRecord<T> extends CompiledRoute<T> {
  readonly reverse: Reverser;
}

class TrieNode<T> {
  statics: Map<string, TrieNode<T>> | null = null;
  param: TrieNode<T> | null = null;
  rest: RouteRecord<T> | null = null;
  end: RouteRecord<T> | null = null;
  /** Lowest route index anywhere below this node: lets a search skip subtrees that cannot win. */
  min = Number.POSITIVE_INFINITY;
}

interface RegexEntry<T> {
  readonly route: RouteRecord<T>;
  readonly regex: RegExp;
  readonly prefix: string;
  /** Named groups in order when the route came from a template; positional groups otherwise. */
  readonly named: boolean;
}

interface StaticEntry<T> {
  readonly route: RouteRecord<T>;
  /** An earlier dynamic route also matches this path, so the map alone cannot answer. */
  readonly shadowed: boolean;
}

/**
 * An ordered route table. Generic over the target so that it can be tested, benchmarked and reused
 * without handlers.
 */
export class Router<T> {
  private readonly routes: RouteRecord<T>[] = [];
  private readonly statics = new Map<string, StaticEntry<T>>();
  private readonly trie = new TrieNode<T>();
  private readonly regexes: RegexEntry<T>[] = [];
  private readonly named = new Map<string, RouteRecord<T>>();
  // Scratch state for one search; lookups are synchronous, so one set per router is safe.
  private bestRoute: RouteRecord<T> | null = null;
  private bestArgs: readonly string[] = NO_ARGS;
  private readonly argStack: string[] = [];

  /** Every route, in table order. */
  get all(): readonly CompiledRoute<T>[] {
    return this.routes;
  }

  /**
   * Appends a route. Throws on a malformed pattern or a duplicate name, so mistakes surface when
   * the application is built rather than on the first request.
   */
  add(pattern: string | RegExp, target: T, name?: string): CompiledRoute<T> {
    const index = this.routes.length;
    if (name !== undefined && this.named.has(name)) {
      throw new Error(`duplicate route name ${JSON.stringify(name)}`);
    }
    let record: RouteRecord<T>;
    if (pattern instanceof RegExp) {
      record = this.addRegex(pattern, target, name, index);
    } else {
      record = this.addTemplate(pattern, target, name, index);
    }
    this.routes.push(record);
    if (name !== undefined) this.named.set(name, record);
    return record;
  }

  /** Finds the first route matching a raw path (no query string), or `null`. */
  match(path: string): RouteMatch<T> | null {
    const hit = this.statics.get(path);
    if (hit !== undefined && !hit.shadowed) return { route: hit.route, args: NO_ARGS };
    this.bestRoute = hit === undefined ? null : hit.route;
    this.bestArgs = NO_ARGS;
    this.searchDynamic(path);
    const route = this.bestRoute;
    const args = this.bestArgs;
    this.bestRoute = null;
    this.bestArgs = NO_ARGS;
    return route === null ? null : { route, args };
  }

  /**
   * Builds the path of the named route from positional arguments, percent-encoding each one.
   * Throws for an unknown name, a wrong number of arguments, or a regular expression too complex
   * to invert.
   */
  reverse(name: string, ...args: (string | number)[]): string {
    const route = this.named.get(name);
    if (route === undefined) {
      throw withCode(new Error(`no route named ${JSON.stringify(name)}`), 'ERR_UNKNOWN_ROUTE');
    }
    return route.reverse(args);
  }

  private searchDynamic(path: string): void {
    if (this.trie.min !== Number.POSITIVE_INFINITY && path.charCodeAt(0) === 47) {
      this.visit(this.trie, path, 1);
    }
    const regexes = this.regexes;
    for (let i = 0; i < regexes.length; i++) {
      const entry = regexes[i] as RegexEntry<T>;
      if (this.bestRoute !== null && entry.route.index >= this.bestRoute.index) break;
      if (!path.startsWith(entry.prefix)) continue;
      const m = entry.regex.exec(path);
      if (m === null) continue;
      this.bestRoute = entry.route;
      this.bestArgs = entry.named
        ? entry.route.paramNames.map((n) => m.groups?.[n] ?? '')
        : m.slice(1).map((v) => v ?? '');
      break;
    }
  }

  /** `pos` is where the next segment starts, or -1 once the path is used up. */
  private visit(node: TrieNode<T>, path: string, pos: number): void {
    const best = this.bestRoute;
    if (best !== null && node.min >= best.index) return;
    if (pos < 0) {
      const end = node.end;
      if (end !== null && (best === null || end.index < best.index)) {
        this.bestRoute = end;
        this.bestArgs = this.argStack.slice();
      }
      return;
    }
    const rest = node.rest;
    if (rest !== null && (best === null || rest.index < best.index)) {
      this.bestRoute = rest;
      this.argStack.push(path.slice(pos));
      this.bestArgs = this.argStack.slice();
      this.argStack.pop();
    }
    const slash = path.indexOf('/', pos);
    const segment = slash < 0 ? path.slice(pos) : path.slice(pos, slash);
    const next = slash < 0 ? -1 : slash + 1;
    if (node.statics !== null) {
      const child = node.statics.get(segment);
      if (child !== undefined) this.visit(child, path, next);
    }
    if (node.param !== null && segment.length > 0) {
      this.argStack.push(segment);
      this.visit(node.param, path, next);
      this.argStack.pop();
    }
  }

  private addTemplate(
    template: string,
    target: T,
    name: string | undefined,
    index: number,
  ): RouteRecord<T> {
    if (!template.startsWith('/')) {
      throw new Error(`route template must start with "/": ${JSON.stringify(template)}`);
    }
    const raw = template.slice(1).split('/');
    const segments = parseSegments(template, raw);
    if (segments === null) {
      // A parameter with its own expression or sharing a segment: compile to a regular expression.
      const { source, names } = templateToRegexSource(template);
      const route: RouteRecord<T> = {
        index,
        pattern: template,
        name,
        paramNames: names,
        target,
        reverse: templateReverser(template),
      };
      const regex = new RegExp(`^${source}$`);
      this.regexes.push({ route, regex, prefix: literalPrefixOfTemplate(template), named: true });
      return route;
    }
    const paramNames = segments.filter((s) => s.kind !== 'literal').map((s) => s.name);
    const route: RouteRecord<T> = {
      index,
      pattern: template,
      name,
      paramNames,
      target,
      reverse: templateReverser(template),
    };
    if (paramNames.length === 0) {
      const path = `/${segments.map((s) => (s.kind === 'literal' ? s.text : '')).join('/')}`;
      if (this.statics.has(path)) return route; // an earlier identical route always wins
      this.bestRoute = null;
      this.searchDynamic(path);
      const shadowed = this.bestRoute !== null;
      this.bestRoute = null;
      this.bestArgs = NO_ARGS;
      this.statics.set(path, { route, shadowed });
      return route;
    }
    let node = this.trie;
    node.min = Math.min(node.min, index);
    for (const segment of segments) {
      if (segment.kind === 'rest') {
        if (node.rest === null) node.rest = route;
        return route;
      }
      if (segment.kind === 'param') {
        node.param ??= new TrieNode<T>();
        node = node.param;
      } else {
        node.statics ??= new Map();
        let child = node.statics.get(segment.text);
        if (child === undefined) {
          child = new TrieNode<T>();
          node.statics.set(segment.text, child);
        }
        node = child;
      }
      node.min = Math.min(node.min, index);
    }
    if (node.end === null) node.end = route;
    return route;
  }

  private addRegex(
    regex: RegExp,
    target: T,
    name: string | undefined,
    index: number,
  ): RouteRecord<T> {
    // The group keeps a top-level alternation (`a|b`) anchored at both ends.
    const anchored = new RegExp(`^(?:${regex.source})$`, regex.flags.replace(/[gy]/g, ''));
    const paramNames = captureGroupNames(regex.source);
    const route: RouteRecord<T> = {
      index,
      pattern: regex.source,
      name,
      paramNames,
      target,
      reverse: regexReverser(regex.source),
    };
    const prefix =
      regex.flags.includes('i') || hasTopLevelAlternation(regex.source)
        ? ''
        : literalPrefixOfRegex(regex.source.replace(/^\^/, ''));
    this.regexes.push({ route, regex: anchored, prefix, named: false });
    return route;
  }
}
