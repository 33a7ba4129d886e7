/**
 * The shape of `src/`, read from the source text: no import circle (type imports included: a circle
 * of types is still one a reader must hold in mind), no module over 400 lines, and imports that
 * point down only: `web` ← `service` ← `app` ← the entry points (`main.ts`, `index.ts`), with the
 * cluster reached through its index. Each failure names the files; tests in `src/` are left out.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const MAX_LINES = 400;

/** Layers from the bottom up; a module may import its own layer or lower ones. */
const LAYERS = ['web', 'service', 'app', 'entry points'] as const;
/** The folder reached from outside only through its `index.ts`. */
const CLUSTER = 'service/cluster/';

/** Every module specifier of a file: imports and re-exports (types too), `import()` calls and types. */
function moduleSpecifiers(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false);
  const found: string[] = [];
  const literal = (node: ts.Node | undefined): void => {
    if (node !== undefined && ts.isStringLiteralLike(node)) found.push(node.text);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) literal(node.moduleSpecifier);
    else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference)
    )
      literal(node.moduleReference.expression);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword)
      literal(node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument))
      literal(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Import circles: every strongly connected component with more than one file or a self-import. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  // Tarjan's algorithm, recursive: src/ is a few hundred files deep at most.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let counter = 0;
  const connect = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter);
    counter++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(next) ?? 0));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(next) ?? 0));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member === undefined) break;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) {
      components.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) connect(node);
  return components;
}

/** One circle through the component's first file, as `a → b → … → a` (a shortest one). */
function describeCycle(
  graph: ReadonlyMap<string, readonly string[]>,
  component: readonly string[],
): string {
  const members = new Set(component);
  const start = component[0] as string;
  const previous = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i] as string;
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0] as string) as string);
        return [...path, start].join(' → ');
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return component.join(', ');
}

interface Module {
  /** Path under `src/`, with `/` separators. */
  readonly name: string;
  readonly lines: number;
  /** Modules of `src/` it imports. */
  readonly imports: readonly string[];
  /** Relative imports that name no file. */
  readonly unresolved: readonly string[];
}

function listModules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(SRC, path.join(entry.parentPath, entry.name)))
    .map((name) => name.split(path.sep).join('/'))
    .filter((name) => !name.endsWith('.test.ts') && !name.endsWith('.d.ts'))
    .sort();
}

function readModules(): Map<string, Module> {
  const names = listModules(SRC);
  const known = new Set(names);
  const modules = new Map<string, Module>();
  for (const name of names) {
    const text = readFileSync(path.join(SRC, name), 'utf8');
    const imports = new Set<string>();
    const unresolved: string[] = [];
    for (const specifier of moduleSpecifiers(name, text)) {
      if (!specifier.startsWith('.')) continue;
      const target = path.posix.join(path.posix.dirname(name), specifier).replace(/\.js$/, '.ts');
      if (known.has(target)) imports.add(target);
      else unresolved.push(specifier);
    }
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    modules.set(name, { name, lines, imports: [...imports].sort(), unresolved });
  }
  return modules;
}

function layerOf(name: string): number {
  const top = name.includes('/') ? name.slice(0, name.indexOf('/')) : '';
  const layer = LAYERS.indexOf(top as (typeof LAYERS)[number]);
  return layer === -1 ? LAYERS.length - 1 : layer;
}

/** Imports that point up a layer, or into the cluster folder other than through its index. */
function layeringProblems(modules: Iterable<Module>): string[] {
  const problems: string[] = [];
  for (const { name, imports } of modules) {
    for (const target of imports) {
      const from = layerOf(name);
      const to = layerOf(target);
      if (to > from) {
        problems.push(
          `src/${name} imports src/${target}: ${LAYERS[from]} must not import ${LAYERS[to]}`,
        );
      } else if (
        target.startsWith(CLUSTER) &&
        !name.startsWith(CLUSTER) &&
        target !== `${CLUSTER}index.ts`
      ) {
        problems.push(`src/${name} imports src/${target}: use src/${CLUSTER}index.ts`);
      }
    }
  }
  return problems;
}

describe('the layout checks themselves', () => {
  it('find every kind of import', () => {
    const text = [
      "import type { A } from './a.js';",
      "import { type B, c } from './b.js';",
      "export { d } from './d.js';",
      "export type { E } from './e.js';",
      "export * as f from './f.js';",
      "import './g.js';",
      "const h = await import('./h.js');",
      "type I = typeof import('./i.js');",
      "const text = \"import j from './j.js'\"; // import k from './k.js'",
    ].join('\n');
    expect(moduleSpecifiers('sample.ts', text)).toEqual([
      './a.js',
      './b.js',
      './d.js',
      './e.js',
      './f.js',
      './g.js',
      './h.js',
      './i.js',
    ]);
  });

  it('find circles, self-imports included, and only those', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c', 'd']],
      ['c', ['a']],
      ['d', ['e']],
      ['e', []],
      ['f', ['f']],
      ['g', ['a', 'e']],
    ]);
    expect(findCycles(graph)).toEqual([['a', 'b', 'c'], ['f']]);
    expect(describeCycle(graph, ['a', 'b', 'c'])).toBe('a → b → c → a');
    expect(
      findCycles(
        new Map([
          ['x', ['y']],
          ['y', []],
        ]),
      ),
    ).toEqual([]);
  });

  it('find an upward import and a deep import into the cluster', () => {
    const module = (name: string, imports: string[]): Module => ({
      name,
      lines: 1,
      imports,
      unresolved: [],
    });
    expect(
      layeringProblems([
        module('web/a.ts', ['service/b.ts', 'web/c.ts']),
        module('app/d.ts', ['service/cluster/primary.ts', 'service/cluster/index.ts', 'web/a.ts']),
        module('service/cluster/primary.ts', ['service/cluster/supervision.ts']),
        module('main.ts', ['app/d.ts']),
      ]),
    ).toEqual([
      'src/web/a.ts imports src/service/b.ts: web must not import service',
      'src/app/d.ts imports src/service/cluster/primary.ts: use src/service/cluster/index.ts',
    ]);
  });
});

describe('src/', () => {
  const modules = readModules();
  const graph = new Map([...modules.values()].map((m) => [m.name, m.imports]));

  it('is read whole: many modules, every relative import names a file', () => {
    expect(modules.size).toBeGreaterThan(40);
    expect([...modules.values()].filter((m) => m.imports.length > 0).length).toBeGreaterThan(30);
    const unresolved = [...modules.values()].flatMap((m) =>
      m.unresolved.map((specifier) => `src/${m.name} imports ${specifier}: no such file`),
    );
    expect(unresolved).toEqual([]);
  });

  it('has no import circle', () => {
    const circles = findCycles(graph).map(
      (component) =>
        `${component.length} files of src/ in a circle: ${component.join(', ')}; e.g. ${describeCycle(graph, component)}`,
    );
    expect(circles).toEqual([]);
  });

  it(`has no module over ${MAX_LINES} lines`, () => {
    const long = [...modules.values()]
      .filter((m) => m.lines > MAX_LINES)
      .map((m) => `src/${m.name}: ${m.lines} lines`);
    expect(long).toEqual([]);
  });

  it('imports point down only, and into the cluster through its index', () => {
    expect(layeringProblems(modules.values())).toEqual([]);
  });
});
