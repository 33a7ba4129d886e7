import { describe, expect, it } from 'vitest';
import { Router } from '../../src/web/routing.js';

/** Builds a router whose targets are the given labels, in order. */
function table(routes: readonly (readonly [string | RegExp, string, string?])[]): Router<string> {
  const router = new Router<string>();
  for (const [pattern, target, name] of routes) router.add(pattern, target, name);
  return router;
}

/** `[target, args]` of the match, or `null`: compact to assert on. */
function hit(router: Router<string>, path: string): [string, string[]] | null {
  const m = router.match(path);
  return m === null ? null : [m.route.target, [...m.args]];
}

/** A small seeded PRNG (mulberry32), so that the randomised tests are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  private readonly rand: () => number;
  constructor(seed: number) {
    this.rand = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  chance(p: number): boolean {
    return this.rand() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

describe('static routes', () => {
  const router = table([
    ['/', 'root'],
    ['/about', 'about'],
    ['/about/', 'about-slash'],
    ['/a/b/c', 'abc'],
    ['/café', 'cafe'],
  ]);

  it('match exactly, with no arguments', () => {
    expect(hit(router, '/')).toEqual(['root', []]);
    expect(hit(router, '/about')).toEqual(['about', []]);
    expect(hit(router, '/a/b/c')).toEqual(['abc', []]);
  });

  it('treat a trailing slash as a different path', () => {
    expect(hit(router, '/about/')).toEqual(['about-slash', []]);
    const only = table([['/docs', 'docs']]);
    expect(only.match('/docs/')).toBeNull();
    const onlySlash = table([['/docs/', 'docs']]);
    expect(onlySlash.match('/docs')).toBeNull();
    expect(hit(onlySlash, '/docs/')).toEqual(['docs', []]);
  });

  it('match non-ASCII literals against the percent-encoded raw path', () => {
    expect(hit(router, '/caf%C3%A9')).toEqual(['cafe', []]);
  });

  it('return null when nothing matches', () => {
    expect(router.match('/a/b')).toBeNull();
    expect(router.match('/a/b/c/')).toBeNull();
    expect(router.match('/a/b/c/d')).toBeNull();
    expect(router.match('/About')).toBeNull();
    expect(router.match('//')).toBeNull();
    expect(router.match('')).toBeNull();
    expect(new Router<string>().match('/')).toBeNull();
  });

  it('describe the compiled route', () => {
    const r = new Router<number>();
    const first = r.add('/x', 1, 'x');
    const second = r.add('/y', 2);
    expect(first).toMatchObject({ index: 0, pattern: '/x', name: 'x', paramNames: [], target: 1 });
    expect(second).toMatchObject({ index: 1, pattern: '/y', name: undefined, target: 2 });
    expect(r.all.map((route) => route.target)).toEqual([1, 2]);
    expect(r.match('/y')?.route).toBe(second);
  });
});

describe('{name} parameters', () => {
  it('capture one non-empty segment', () => {
    const router = table([['/users/{id}', 'user']]);
    expect(hit(router, '/users/42')).toEqual(['user', ['42']]);
    expect(hit(router, '/users/a.b-c~d_e')).toEqual(['user', ['a.b-c~d_e']]);
    expect(router.match('/users/')).toBeNull();
    expect(router.match('/users')).toBeNull();
    expect(router.match('/users/42/')).toBeNull();
    expect(router.match('/users/4/2')).toBeNull();
    expect(router.match('/people/42')).toBeNull();
    expect(router.all[0]?.paramNames).toEqual(['id']);
  });

  it('do not match an empty segment in the middle of a path', () => {
    const router = table([['/a/{x}/b', 'axb']]);
    expect(hit(router, '/a/1/b')).toEqual(['axb', ['1']]);
    expect(router.match('/a//b')).toBeNull();
  });

  it('a lone parameter does not match the root', () => {
    const router = table([['/{page}', 'page']]);
    expect(router.match('/')).toBeNull();
    expect(hit(router, '/home')).toEqual(['page', ['home']]);
  });

  it('capture several parameters in order', () => {
    const router = table([['/users/{uid}/posts/{pid}/{part}', 'post']]);
    expect(hit(router, '/users/7/posts/abc/body')).toEqual(['post', ['7', 'abc', 'body']]);
    expect(router.all[0]?.paramNames).toEqual(['uid', 'pid', 'part']);
    expect(router.match('/users/7/posts/abc')).toBeNull();
  });

  it('return arguments raw, still percent-encoded', () => {
    const router = table([['/users/{id}/{other}', 'user']]);
    expect(hit(router, '/users/a%20b/%2F')).toEqual(['user', ['a%20b', '%2F']]);
    expect(hit(router, '/users/caf%C3%A9/x+y')).toEqual(['user', ['caf%C3%A9', 'x+y']]);
  });

  it('work after non-ASCII literal segments', () => {
    const router = table([['/café/{id}', 'cafe']]);
    expect(hit(router, '/caf%C3%A9/1')).toEqual(['cafe', ['1']]);
  });

  it('treat regex metacharacters in literal segments literally', () => {
    const router = table([
      ['/a.b/{x}', 'dot'],
      ['/a+b/{x}', 'plus'],
    ]);
    expect(hit(router, '/a.b/1')).toEqual(['dot', ['1']]);
    expect(router.match('/axb/1')).toBeNull();
    expect(hit(router, '/a+b/1')).toEqual(['plus', ['1']]);
    expect(router.match('/aab/1')).toBeNull();
  });
});

describe('{rest*} parameters', () => {
  const router = table([
    ['/static/{path*}', 'static'],
    ['/u/{id}/files/{file*}', 'files'],
  ]);

  it('capture the rest of the path, slashes included', () => {
    expect(hit(router, '/static/css/site.css')).toEqual(['static', ['css/site.css']]);
    expect(hit(router, '/static/a//b/')).toEqual(['static', ['a//b/']]);
    expect(hit(router, '/static/x')).toEqual(['static', ['x']]);
    expect(router.all[0]?.paramNames).toEqual(['path']);
  });

  it('match an empty remainder after the slash, but not a missing slash', () => {
    expect(hit(router, '/static/')).toEqual(['static', ['']]);
    expect(router.match('/static')).toBeNull();
    expect(router.match('/staticx')).toBeNull();
  });

  it('combine with other parameters', () => {
    expect(hit(router, '/u/1/files/a/b%20c')).toEqual(['files', ['1', 'a/b%20c']]);
    expect(hit(router, '/u/1/files/')).toEqual(['files', ['1', '']]);
    expect(router.match('/u//files/a')).toBeNull();
    expect(router.all[1]?.paramNames).toEqual(['id', 'file']);
  });

  it('work at the root', () => {
    const root = table([['/{all*}', 'all']]);
    expect(hit(root, '/')).toEqual(['all', ['']]);
    expect(hit(root, '/x/y/')).toEqual(['all', ['x/y/']]);
    expect(root.match('')).toBeNull();
  });

  it('must be the last segment', () => {
    const r = new Router<string>();
    expect(() => r.add('/a/{rest*}/b', 'x')).toThrow(/last segment/);
    expect(() => r.add('/{rest*}/x', 'x')).toThrow(/last segment/);
    expect(r.all).toHaveLength(0);
  });
});

describe('custom-regex parameters and mixed segments', () => {
  it('restrict a parameter with its own expression, anchored', () => {
    const router = table([['/posts/{id:\\d+}', 'post']]);
    expect(hit(router, '/posts/123')).toEqual(['post', ['123']]);
    expect(router.match('/posts/abc')).toBeNull();
    expect(router.match('/posts/12a')).toBeNull();
    expect(router.match('/posts/')).toBeNull();
    expect(router.match('/posts/1/')).toBeNull();
    expect(router.match('/x/posts/1')).toBeNull();
    expect(router.all[0]?.paramNames).toEqual(['id']);
  });

  it('share a segment with literal text', () => {
    const router = table([['/files/{name}.json', 'json']]);
    expect(hit(router, '/files/report.json')).toEqual(['json', ['report']]);
    expect(hit(router, '/files/a.b.json')).toEqual(['json', ['a.b']]);
    expect(hit(router, '/files/a%20b.json')).toEqual(['json', ['a%20b']]);
    expect(router.match('/files/report.xml')).toBeNull();
    expect(router.match('/files/reportxjson')).toBeNull();
    expect(router.match('/files/.json')).toBeNull();
    expect(router.match('/files/a/b.json')).toBeNull();
    expect(router.match('/files/report.json/')).toBeNull();
    expect(router.all[0]?.paramNames).toEqual(['name']);
  });

  it('allow several parameters in one segment', () => {
    const router = table([['/v{major:\\d+}.{minor:\\d+}/api', 'api']]);
    expect(hit(router, '/v1.22/api')).toEqual(['api', ['1', '22']]);
    expect(router.match('/v1x22/api')).toBeNull();
    expect(router.match('/v1./api')).toBeNull();
    expect(router.all[0]?.paramNames).toEqual(['major', 'minor']);
  });

  it('accept braces nested in the expression', () => {
    const router = table([['/archive/{year:\\d{4}}/{month:\\d{2}}', 'archive']]);
    expect(hit(router, '/archive/2024/05')).toEqual(['archive', ['2024', '05']]);
    expect(router.match('/archive/24/05')).toBeNull();
    expect(router.match('/archive/20245/05')).toBeNull();
    expect(router.match('/archive/2024/5')).toBeNull();
    expect(router.all[0]?.paramNames).toEqual(['year', 'month']);
  });

  it('keep alternation and inner groups inside the parameter', () => {
    const router = table([
      ['/lang/{l:en|fr}', 'lang'],
      ['/c/{code:(ab)+}', 'code'],
    ]);
    expect(hit(router, '/lang/en')).toEqual(['lang', ['en']]);
    expect(hit(router, '/lang/fr')).toEqual(['lang', ['fr']]);
    expect(router.match('/lang/english')).toBeNull();
    expect(router.match('/lang/de')).toBeNull();
    // Only the named parameter is an argument, not the expression's own group.
    expect(hit(router, '/c/abab')).toEqual(['code', ['abab']]);
  });

  it('may let an expression span slashes', () => {
    const router = table([['/raw/{p:.+}', 'raw']]);
    expect(hit(router, '/raw/a/b/')).toEqual(['raw', ['a/b/']]);
    expect(router.match('/raw/')).toBeNull();
  });

  it('escape literal text around the expression', () => {
    const router = table([['/v1.0/{id:\\d+}', 'v1']]);
    expect(hit(router, '/v1.0/5')).toEqual(['v1', ['5']]);
    expect(router.match('/v1x0/5')).toBeNull();
  });

  it('work after non-ASCII literal text', () => {
    const router = table([['/café/{id:\\d+}', 'cafe']]);
    expect(hit(router, '/caf%C3%A9/7')).toEqual(['cafe', ['7']]);
    expect(router.match('/caf%C3%A9/x')).toBeNull();
  });
});

describe('RegExp routes', () => {
  it('are anchored at both ends', () => {
    const router = table([
      [/\/ab/, 'none'],
      [/^\/cd/, 'start'],
      [/\/ef$/, 'end'],
    ]);
    expect(hit(router, '/ab')).toEqual(['none', []]);
    expect(router.match('/abc')).toBeNull();
    expect(router.match('/x/ab')).toBeNull();
    expect(hit(router, '/cd')).toEqual(['start', []]);
    expect(router.match('/cde')).toBeNull();
    expect(hit(router, '/ef')).toEqual(['end', []]);
    expect(router.match('/x/ef')).toBeNull();
  });

  it('are anchored around a top-level alternation', () => {
    const router = table([[/\/a|\/b\/(\d+)/, 'alt']]);
    expect(hit(router, '/a')).toEqual(['alt', ['']]);
    expect(hit(router, '/b/1')).toEqual(['alt', ['1']]);
    expect(router.match('/ab')).toBeNull();
    expect(router.match('/a/b/1')).toBeNull();
    expect(router.match('/b/1x')).toBeNull();
    expect(router.match('/x/b/1')).toBeNull();
  });

  it('keep a literal dollar sign at the end', () => {
    const router = table([[/^\/price\$/, 'price']]);
    expect(hit(router, '/price$')).toEqual(['price', []]);
    expect(router.match('/price')).toBeNull();
  });

  it('turn unnamed groups into positional arguments', () => {
    const router = table([[/^\/(\w+)\/(\d+)$/, 're']]);
    expect(hit(router, '/foo/12')).toEqual(['re', ['foo', '12']]);
    expect(router.match('/foo/bar')).toBeNull();
    expect(router.all[0]?.paramNames).toEqual(['', '']);
    expect(router.all[0]?.pattern).toBe('^\\/(\\w+)\\/(\\d+)$');
  });

  it('name named groups in paramNames, keeping positional arguments', () => {
    const router = table([[/^\/(?<kind>\w+)\/(\d+)\/(?<slug>[a-z-]+)$/, 're']]);
    expect(router.all[0]?.paramNames).toEqual(['kind', '', 'slug']);
    expect(hit(router, '/post/3/hello-world')).toEqual(['re', ['post', '3', 'hello-world']]);
  });

  it('do not count non-capturing groups, lookarounds or bracketed parentheses', () => {
    const router = table([[/^\/(?:x|y)\/(?=\d)(\d+)(?!z)[()]?$/, 're']]);
    expect(router.all[0]?.paramNames).toEqual(['']);
    expect(hit(router, '/x/5')).toEqual(['re', ['5']]);
    expect(hit(router, '/y/5(')).toEqual(['re', ['5']]);
  });

  it('give an empty string for an optional group that did not take part', () => {
    const router = table([
      [/^\/opt(?:\/(\d+))?$/, 'opt'],
      [/^\/named(?:\/(?<id>\d+))?$/, 'named'],
    ]);
    expect(hit(router, '/opt')).toEqual(['opt', ['']]);
    expect(hit(router, '/opt/3')).toEqual(['opt', ['3']]);
    expect(hit(router, '/named')).toEqual(['named', ['']]);
    expect(hit(router, '/named/4')).toEqual(['named', ['4']]);
  });

  it('honour the case-insensitive flag', () => {
    const router = table([
      [/^\/Hello\/(\w+)$/i, 'insensitive'],
      [/^\/World\/(\w+)$/, 'sensitive'],
    ]);
    expect(hit(router, '/hello/x')).toEqual(['insensitive', ['x']]);
    expect(hit(router, '/HELLO/x')).toEqual(['insensitive', ['x']]);
    expect(hit(router, '/World/x')).toEqual(['sensitive', ['x']]);
    expect(router.match('/world/x')).toBeNull();
  });

  it('ignore the global and sticky flags (no state between matches)', () => {
    const router = table([
      [/\/g\/(\d+)/g, 'g'],
      [/\/y\/(\d+)/y, 'y'],
    ]);
    for (let i = 0; i < 3; i++) {
      expect(hit(router, '/g/12')).toEqual(['g', ['12']]);
      expect(hit(router, '/y/34')).toEqual(['y', ['34']]);
    }
  });
});

describe('first match wins', () => {
  it('an earlier template shadows a later static route', () => {
    const router = table([
      ['/users/{id}', 'template'],
      ['/users/me', 'static'],
    ]);
    expect(hit(router, '/users/me')).toEqual(['template', ['me']]);
    expect(hit(router, '/users/you')).toEqual(['template', ['you']]);
  });

  it('the static route still wins where the earlier template does not match', () => {
    const router = table([
      ['/posts/{id:\\d+}', 'regex-template'],
      ['/{a}/{b}/edit', 'trie-template'],
      ['/{rest*}', 'rest'],
      ['/posts/new', 'static-shadowed'],
      ['/', 'root-shadowed'],
    ]);
    expect(hit(router, '/posts/5')).toEqual(['regex-template', ['5']]);
    expect(hit(router, '/x/y/edit')).toEqual(['trie-template', ['x', 'y']]);
    expect(hit(router, '/posts/new')).toEqual(['rest', ['posts/new']]);
    expect(hit(router, '/')).toEqual(['rest', ['']]);
    const unshadowed = table([
      ['/posts/{id:\\d+}', 'regex-template'],
      ['/{a}/{b}/edit', 'trie-template'],
      ['/posts/new', 'static'],
      ['/about', 'about'],
    ]);
    expect(hit(unshadowed, '/posts/new')).toEqual(['static', []]);
    expect(hit(unshadowed, '/about')).toEqual(['about', []]);
    expect(hit(unshadowed, '/posts/5')).toEqual(['regex-template', ['5']]);
  });

  it('an earlier static route beats a later template', () => {
    const router = table([
      ['/users/me', 'static'],
      ['/users/{id}', 'template'],
    ]);
    expect(hit(router, '/users/me')).toEqual(['static', []]);
    expect(hit(router, '/users/5')).toEqual(['template', ['5']]);
  });

  it('an earlier regex beats a later template, and vice versa', () => {
    const regexFirst = table([
      [/^\/users\/(\d+)$/, 'regex'],
      ['/users/{id}', 'template'],
    ]);
    expect(hit(regexFirst, '/users/5')).toEqual(['regex', ['5']]);
    expect(hit(regexFirst, '/users/x')).toEqual(['template', ['x']]);
    const templateFirst = table([
      ['/users/{id}', 'template'],
      [/^\/users\/(\d+)$/, 'regex'],
    ]);
    expect(hit(templateFirst, '/users/5')).toEqual(['template', ['5']]);
  });

  it('an earlier regex beats a later static route', () => {
    const router = table([
      [/^\/x\/.*$/, 'regex'],
      ['/x/y', 'static'],
      ['/z', 'z'],
    ]);
    expect(hit(router, '/x/y')).toEqual(['regex', []]);
    expect(hit(router, '/z')).toEqual(['z', []]);
  });

  it('an earlier parameter branch beats a later literal branch of the trie', () => {
    const paramFirst = table([
      ['/a/{x}/c', 'param'],
      ['/a/b/{y}', 'literal'],
    ]);
    expect(hit(paramFirst, '/a/b/c')).toEqual(['param', ['b']]);
    expect(hit(paramFirst, '/a/b/d')).toEqual(['literal', ['d']]);
    const literalFirst = table([
      ['/a/b/{y}', 'literal'],
      ['/a/{x}/c', 'param'],
    ]);
    expect(hit(literalFirst, '/a/b/c')).toEqual(['literal', ['c']]);
    expect(hit(literalFirst, '/a/z/c')).toEqual(['param', ['z']]);
  });

  it('an earlier rest parameter beats later deeper templates, and vice versa', () => {
    const restFirst = table([
      ['/a/{r*}', 'rest'],
      ['/a/b/{x}', 'deep'],
    ]);
    expect(hit(restFirst, '/a/b/c')).toEqual(['rest', ['b/c']]);
    const deepFirst = table([
      ['/a/b/{x}', 'deep'],
      ['/a/{r*}', 'rest'],
    ]);
    expect(hit(deepFirst, '/a/b/c')).toEqual(['deep', ['c']]);
    expect(hit(deepFirst, '/a/b')).toEqual(['rest', ['b']]);
    expect(hit(deepFirst, '/a/b/c/d')).toEqual(['rest', ['b/c/d']]);
  });

  it('a rest parameter under a later branch does not beat an earlier match', () => {
    const router = table([
      ['/{x}/zzz', 'param-literal'],
      ['/a/{y}', 'literal-param'],
      ['/{x}/{r*}', 'param-rest'],
    ]);
    expect(hit(router, '/a/b')).toEqual(['literal-param', ['b']]);
    expect(hit(router, '/c/b')).toEqual(['param-rest', ['c', 'b']]);
    expect(hit(router, '/a/zzz')).toEqual(['param-literal', ['a']]);
  });

  it('keeps the first of identical routes', () => {
    const router = table([
      ['/same', 'first-static'],
      ['/same', 'second-static'],
      ['/t/{id}', 'first-template'],
      ['/t/{other}', 'second-template'],
      ['/r/{a*}', 'first-rest'],
      ['/r/{b*}', 'second-rest'],
      [/^\/re$/, 'first-regex'],
      [/^\/re$/, 'second-regex'],
      ['/m/{n}.json', 'first-mixed'],
      ['/m/{n}.json', 'second-mixed'],
    ]);
    expect(hit(router, '/same')).toEqual(['first-static', []]);
    expect(hit(router, '/t/1')).toEqual(['first-template', ['1']]);
    expect(hit(router, '/r/1/2')).toEqual(['first-rest', ['1/2']]);
    expect(hit(router, '/re')).toEqual(['first-regex', []]);
    expect(hit(router, '/m/x.json')).toEqual(['first-mixed', ['x']]);
    expect(router.all).toHaveLength(10);
  });

  it('never lets a later route beat an earlier one, whatever the kinds and order', () => {
    // Every pattern matches '/k/v'; whichever is added first must win.
    const patterns: (string | RegExp)[] = [
      '/k/v',
      '/k/{x}',
      '/{a}/{b}',
      '/{a}/v',
      '/k/{r*}',
      '/{r*}',
      '/k/{x:v}',
      '/{a}/{b}.',
      /^\/k\/v$/,
      /\/k\/(.)/,
      /\/(?<k>k)\/v/i,
      /\/K\/V/i,
    ];
    const gen = new Gen(1234);
    let checked = 0;
    for (let round = 0; round < 300; round++) {
      const order = gen.shuffle(patterns.map((_, i) => i)).slice(0, 1 + gen.int(patterns.length));
      const router = new Router<number>();
      for (const i of order) router.add(patterns[i] as string | RegExp, i);
      const expected = order.find((i) => i !== 7); // '/{a}/{b}.' does not match '/k/v'
      expect(router.match('/k/v')?.route.target).toBe(expected);
      checked++;
    }
    expect(checked).toBe(300);
  });
});

describe('reverse', () => {
  const router = table([
    ['/', 'root', 'root'],
    ['/about', 'about', 'about'],
    ['/café', 'cafe', 'cafe'],
    ['/users/{id}', 'user', 'user'],
    ['/users/{uid}/posts/{pid}', 'post', 'post'],
    ['/static/{path*}', 'static', 'static'],
    ['/posts/{id:\\d+}', 'num', 'num'],
    ['/files/{name}.json', 'json', 'json'],
    ['/archive/{year:\\d{4}}/{month:\\d{2}}', 'archive', 'archive'],
    [/^\/articles\/(\d+)$/, 'article', 'article'],
    [/^\/u\/(?<id>\d+)\/edit$/, 'edit', 'edit'],
    [/\/b\/(\w+)/, 'unanchored', 'unanchored'],
    [/^\/f\/([^/]+)\.txt$/, 'txt', 'txt'],
    [/^\/a\/(\d+)\/.*$/, 'complex', 'complex'],
    [/^\/q\/(\d)+$/, 'quantified', 'quantified'],
    [/^\/n\/(?:x|y)\/(\d+)$/, 'noncapturing', 'noncapturing'],
    [/^\/l\/(?<=\/)(\d+)$/, 'lookbehind', 'lookbehind'],
  ]);

  it('builds static paths', () => {
    expect(router.reverse('root')).toBe('/');
    expect(router.reverse('about')).toBe('/about');
    expect(router.reverse('cafe')).toBe('/caf%C3%A9');
  });

  it('fills template parameters, percent-encoding each argument', () => {
    expect(router.reverse('user', 42)).toBe('/users/42');
    expect(router.reverse('user', 'a b')).toBe('/users/a%20b');
    expect(router.reverse('user', 'a/b')).toBe('/users/a%2Fb');
    expect(router.reverse('user', 'é?#&')).toBe('/users/%C3%A9%3F%23%26');
    expect(router.reverse('post', 7, 'x y')).toBe('/users/7/posts/x%20y');
  });

  it('keeps slashes in rest parameters but encodes the rest', () => {
    expect(router.reverse('static', 'css/a b.css')).toBe('/static/css/a%20b.css');
    expect(router.reverse('static', '')).toBe('/static/');
    expect(router.reverse('static', 'a/b?c')).toBe('/static/a/b%3Fc');
  });

  it('fills custom-regex parameters and mixed segments', () => {
    expect(router.reverse('num', 7)).toBe('/posts/7');
    expect(router.reverse('json', 'my report')).toBe('/files/my%20report.json');
    expect(router.reverse('archive', 2024, '05')).toBe('/archive/2024/05');
  });

  it('round-trips through match', () => {
    const cases: [string, (string | number)[]][] = [
      ['user', ['a b/c']],
      ['post', ['ü', '%']],
      ['static', ['x/y z/']],
      ['json', ['a.b c']],
      ['article', [99]],
      ['edit', [5]],
      ['txt', ['a b']],
    ];
    for (const [name, args] of cases) {
      const m = router.match(router.reverse(name, ...args));
      expect(m?.route.name).toBe(name);
      expect(m?.args.map(decodeURIComponent)).toEqual(args.map(String));
    }
  });

  it('inverts simple regular expressions', () => {
    expect(router.reverse('article', 42)).toBe('/articles/42');
    expect(router.reverse('edit', 5)).toBe('/u/5/edit');
    expect(router.reverse('unanchored', 'x')).toBe('/b/x');
    expect(router.reverse('txt', 'a/b')).toBe('/f/a%2Fb.txt');
  });

  it('refuses regular expressions too complex to invert', () => {
    expect(() => router.reverse('complex', 1)).toThrow(/too complex/);
    expect(() => router.reverse('quantified', 1)).toThrow(/too complex/);
    expect(() => router.reverse('noncapturing', 1)).toThrow(/too complex/);
    expect(() => router.reverse('lookbehind', 1)).toThrow(/too complex/);
    // They still match.
    expect(hit(router, '/a/1/anything')).toEqual(['complex', ['1']]);
  });

  it('throws on a wrong number of arguments', () => {
    expect(() => router.reverse('user')).toThrow(/argument/);
    expect(() => router.reverse('user', 1, 2)).toThrow(/argument/);
    expect(() => router.reverse('about', 1)).toThrow(/argument/);
    expect(() => router.reverse('static')).toThrow(/argument/);
    expect(() => router.reverse('archive', 2024)).toThrow(/argument/);
    expect(() => router.reverse('article')).toThrow(/argument/);
    expect(() => router.reverse('article', 1, 2)).toThrow(/argument/);
  });

  it('throws on an unknown name', () => {
    expect(() => router.reverse('nope')).toThrow(/no route named "nope"/);
  });

  it('rejects a duplicate name when the route is added', () => {
    const r = table([['/a', 'a', 'dup']]);
    expect(() => r.add('/b', 'b', 'dup')).toThrow(/duplicate route name "dup"/);
    expect(() => r.add(/^\/c$/, 'c', 'dup')).toThrow(/duplicate route name/);
    expect(r.all).toHaveLength(1);
    expect(r.reverse('dup')).toBe('/a');
    expect(r.match('/b')).toBeNull();
    // Unnamed routes never clash.
    r.add('/d', 'd');
    r.add('/e', 'e');
    expect(r.all).toHaveLength(3);
  });
});

describe('malformed templates', () => {
  it('throw when added, leaving the table unchanged', () => {
    const r = new Router<string>();
    const bad: [string, RegExp][] = [
      ['users', /must start with "\/"/],
      ['', /must start with "\/"/],
      ['users/{id}', /must start with "\/"/],
      ['/a/{id', /unbalanced "\{"/],
      ['/a/{{id}', /unbalanced "\{"/],
      ['/a/{id:\\d{2}', /unbalanced "\{"/],
      ['/a/id}', /unbalanced "\}"/],
      ['/a/{id}}', /unbalanced "\}"/],
      ['/a/{1id}', /bad parameter name/],
      ['/a/{}', /bad parameter name/],
      ['/a/{a-b}', /bad parameter name/],
      ['/a/{ id}', /bad parameter name/],
      ['/a/{:\\d+}', /bad parameter name/],
      ['/a/{*}', /bad parameter name/],
      ['/a/x{1}', /bad parameter name/],
      ['/{a}/{a:\\d+}', /duplicate parameter/],
    ];
    for (const [template, message] of bad) {
      expect(() => r.add(template, 'x'), template).toThrow(message);
    }
    expect(() => r.add('/a/{id:(}', 'x')).toThrow(SyntaxError);
    expect(r.all).toHaveLength(0);
    expect(r.add('/ok/{id}', 'ok').index).toBe(0);
    expect(hit(r, '/ok/1')).toEqual(['ok', ['1']]);
  });
});

describe('scale', () => {
  it('resolves 10,000 static and 1,000 templated routes', () => {
    const r = new Router<string>();
    for (let i = 0; i < 10_000; i++) r.add(`/s${i}/page/${i % 7}`, `s${i}`);
    for (let i = 0; i < 1_000; i++) {
      if (i % 3 === 0) r.add(`/t${i}/{id}`, `t${i}`);
      else if (i % 3 === 1) r.add(`/t${i}/{id}/edit`, `t${i}`);
      else r.add(`/t${i}/files/{path*}`, `t${i}`);
    }
    expect(r.all).toHaveLength(11_000);
    for (let i = 0; i < 10_000; i++) {
      const m = r.match(`/s${i}/page/${i % 7}`);
      if (m?.route.target !== `s${i}` || m.args.length !== 0) {
        expect.fail(`static route ${i} resolved to ${m?.route.target}`);
      }
    }
    for (let i = 0; i < 1_000; i++) {
      const path =
        i % 3 === 0 ? `/t${i}/x${i}` : i % 3 === 1 ? `/t${i}/x${i}/edit` : `/t${i}/files/a/${i}`;
      const arg = i % 3 === 2 ? `a/${i}` : `x${i}`;
      const m = r.match(path);
      if (m?.route.target !== `t${i}` || m.args.length !== 1 || m.args[0] !== arg) {
        expect.fail(`templated route ${i} resolved to ${m?.route.target} ${m?.args}`);
      }
    }
    expect(r.match('/s10000/page/4')).toBeNull();
    expect(r.match('/s1/page/2')).toBeNull();
    expect(r.match('/t1/x')).toBeNull();
    expect(r.match('/t0/x/edit')).toBeNull();
    expect(r.match('/t1000/x')).toBeNull();
    expect(hit(r, '/s9999/page/3')).toEqual(['s9999', []]);
    expect(hit(r, '/t999/x')).toEqual(['t999', ['x']]);
  });
});

describe('agreement with a naive reference matcher', () => {
  interface Literal {
    readonly text: string;
    readonly raw: string;
  }
  const LITERALS: readonly Literal[] = [
    { text: 'a', raw: 'a' },
    { text: 'b', raw: 'b' },
    { text: 'users', raw: 'users' },
    { text: 'v1.0', raw: 'v1.0' },
    { text: 'x-y', raw: 'x-y' },
    { text: 'café', raw: 'caf%C3%A9' },
  ];
  const TOKENS = ['1', '42', 'abc', 'ab', 'cab', 'x.json', 'v7', 'q%2Fz', 'A', 'a.b'];
  const DIGITS = ['0', '7', '42', '2024'];
  const ABC = ['a', 'abc', 'cab', 'b'];

  /** One generated route: the pattern given to the Router, and the reference's own regex. */
  interface GeneratedRoute {
    readonly pattern: string | RegExp;
    readonly reference: RegExp;
    readonly kind: 'static' | 'trie' | 'template-regex' | 'regex';
    /** A path this route should match (an earlier route may still win). */
    readonly sample: (gen: Gen) => string;
  }

  interface Piece {
    readonly template: string;
    readonly regex: string;
    readonly sample: (gen: Gen) => string;
    readonly kind: 'literal' | 'param' | 'regex-param' | 'rest';
  }

  const escapeRe = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

  function piece(gen: Gen, lits: readonly Literal[], k: number, last: boolean): Piece {
    const roll = gen.int(last ? 14 : 10);
    if (roll < 4) {
      const lit = gen.pick(lits);
      return {
        template: lit.text,
        regex: escapeRe(lit.raw),
        sample: () => lit.raw,
        kind: 'literal',
      };
    }
    if (roll < 6) {
      return {
        template: `{p${k}}`,
        regex: '([^/]+)',
        sample: (g) => g.pick([...TOKENS, ...lits.map((l) => l.raw)]),
        kind: 'param',
      };
    }
    if (roll === 6) {
      return {
        template: `{p${k}:\\d+}`,
        regex: '(\\d+)',
        sample: (g) => g.pick(DIGITS),
        kind: 'regex-param',
      };
    }
    if (roll === 7) {
      return {
        template: `{p${k}:[a-c]+}`,
        regex: '([a-c]+)',
        sample: (g) => g.pick(ABC),
        kind: 'regex-param',
      };
    }
    if (roll === 8) {
      return {
        template: `{p${k}}.json`,
        regex: '([^/]+)\\.json',
        sample: (g) => `${g.pick(TOKENS)}.json`,
        kind: 'regex-param',
      };
    }
    if (roll === 9) {
      return {
        template: `v{p${k}:\\d+}`,
        regex: 'v(\\d+)',
        sample: (g) => `v${g.pick(DIGITS)}`,
        kind: 'regex-param',
      };
    }
    if (roll === 10) {
      return { template: '', regex: '', sample: () => '', kind: 'literal' };
    }
    return {
      template: `{p${k}*}`,
      regex: '(.*)',
      sample: (g) => {
        const parts = Array.from({ length: g.int(3) }, () => g.pick(TOKENS));
        return parts.join('/') + (g.chance(0.2) ? '/' : '');
      },
      kind: 'rest',
    };
  }

  function templateRoute(gen: Gen, lits: readonly Literal[], maxSegments: number): GeneratedRoute {
    const count = gen.int(maxSegments + 1);
    const pieces = Array.from({ length: count }, (_, k) => piece(gen, lits, k, k === count - 1));
    const template = `/${pieces.map((p) => p.template).join('/')}`;
    const reference = new RegExp(`^/${pieces.map((p) => p.regex).join('/')}$`);
    const kinds = new Set(pieces.map((p) => p.kind));
    const kind = kinds.has('regex-param')
      ? 'template-regex'
      : kinds.has('param') || kinds.has('rest')
        ? 'trie'
        : 'static';
    return {
      pattern: template,
      reference,
      kind,
      sample: (g) => `/${pieces.map((p) => p.sample(g)).join('/')}`,
    };
  }

  function regexRoute(gen: Gen, lits: readonly Literal[]): GeneratedRoute {
    const lit = gen.pick(lits);
    const other = gen.pick(lits);
    const shapes: [string, string, (g: Gen) => string][] = [
      [`^/${escapeRe(lit.raw)}/(\\d+)$`, '', (g) => `/${lit.raw}/${g.pick(DIGITS)}`],
      [`/${escapeRe(lit.raw)}/([a-c]+)`, '', (g) => `/${lit.raw}/${g.pick(ABC)}`],
      [
        `/${escapeRe(lit.raw.toUpperCase())}(?:/(\\w+))?`,
        'i',
        (g) => (g.chance(0.5) ? `/${lit.raw}` : `/${lit.raw.toUpperCase()}/${g.pick(ABC)}`),
      ],
      [
        `/${escapeRe(lit.raw)}|/${escapeRe(other.raw)}/(\\d+)`,
        '',
        (g) => (g.chance(0.5) ? `/${lit.raw}` : `/${other.raw}/${g.pick(DIGITS)}`),
      ],
      [
        `/${escapeRe(lit.raw)}/(?<n>[^/]+)/(\\d*)`,
        '',
        (g) => `/${lit.raw}/${g.pick(TOKENS)}/${g.chance(0.5) ? g.pick(DIGITS) : ''}`,
      ],
      [
        `/(?:${escapeRe(lit.raw)}|${escapeRe(other.raw)})/.*`,
        '',
        (g) => `/${other.raw}/${g.pick(TOKENS)}`,
      ],
    ];
    const [source, flags, sample] = gen.pick(shapes);
    return {
      pattern: new RegExp(source, flags),
      reference: new RegExp(`^(?:${source})$`, flags),
      kind: 'regex',
      sample,
    };
  }

  function randomPath(gen: Gen, lits: readonly Literal[], maxSegments: number): string {
    const count = gen.int(maxSegments + 1);
    const pool = [
      ...TOKENS,
      ...DIGITS,
      ...lits.map((l) => l.raw),
      ...lits.map((l) => l.raw.toUpperCase()),
      '',
      'x.json',
      'v1',
    ];
    const segments = Array.from({ length: count }, () => gen.pick(pool));
    return `/${segments.join('/')}${gen.chance(0.15) ? '/' : ''}`;
  }

  function referenceMatch(
    routes: readonly GeneratedRoute[],
    path: string,
  ): { index: number; args: string[] } | null {
    for (let i = 0; i < routes.length; i++) {
      const m = (routes[i] as GeneratedRoute).reference.exec(path);
      if (m !== null) return { index: i, args: m.slice(1).map((v) => v ?? '') };
    }
    return null;
  }

  it('agrees with first-match-wins over many random tables and paths', () => {
    const failures: unknown[] = [];
    const wins = { static: 0, trie: 0, 'template-regex': 0, regex: 0 };
    let matched = 0;
    let contested = 0;
    let total = 0;
    for (let seed = 1; seed <= 600; seed++) {
      const gen = new Gen(seed);
      // Half the tables draw on few literals and short paths, so that routes overlap a lot.
      const dense = seed % 2 === 0;
      const lits = dense ? gen.shuffle(LITERALS).slice(0, 1 + gen.int(2)) : LITERALS;
      const maxSegments = dense ? 3 : 4;
      const size = 1 + gen.int(14);
      const routes = Array.from({ length: size }, () =>
        gen.chance(0.2) ? regexRoute(gen, lits) : templateRoute(gen, lits, maxSegments),
      );
      const router = new Router<number>();
      routes.forEach((route, i) => {
        router.add(route.pattern, i);
      });
      for (let p = 0; p < 150; p++) {
        let path: string;
        const roll = gen.int(10);
        if (roll < 5) path = gen.pick(routes).sample(gen);
        else if (roll < 7) path = gen.pick(routes).sample(gen) + gen.pick(['/', 'x', '/1']);
        else path = randomPath(gen, lits, maxSegments);
        const expected = referenceMatch(routes, path);
        const actual = router.match(path);
        const got = actual === null ? null : { index: actual.route.target, args: [...actual.args] };
        total++;
        if (expected !== null) {
          matched++;
          wins[(routes[expected.index] as GeneratedRoute).kind]++;
          if (routes.filter((r) => r.reference.test(path)).length > 1) contested++;
        }
        if (JSON.stringify(got) !== JSON.stringify(expected) && failures.length < 5) {
          failures.push({
            seed,
            patterns: routes.map((r) => String(r.pattern)),
            path,
            expected,
            got,
          });
        }
        if (actual !== null && actual.route.index !== actual.route.target) {
          failures.push({ seed, path, message: 'route index differs from table position' });
        }
      }
    }
    expect(failures).toEqual([]);
    // The comparison is only meaningful if the generated cases exercise every kind of route.
    expect(matched).toBeGreaterThan(total / 2);
    expect(contested).toBeGreaterThan(10_000);
    expect(wins.static).toBeGreaterThan(5000);
    expect(wins.trie).toBeGreaterThan(5000);
    expect(wins['template-regex']).toBeGreaterThan(5000);
    expect(wins.regex).toBeGreaterThan(5000);
  });
});
