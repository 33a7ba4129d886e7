import ts from 'typescript';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

/**
 * Vite's transformer (oxc) does not lower standard (TC39) decorators, which Node cannot run yet:
 * files that use them (`@authenticated`) are compiled by TypeScript first, as `tsc` builds them.
 */
const standardDecorators: Plugin = {
  name: 'standard-decorators',
  enforce: 'pre',
  transform(source, id) {
    if (!id.endsWith('.ts') || !/^\s*@[A-Za-z_$]/m.test(source)) return null;
    const out = ts.transpileModule(source, {
      fileName: id,
      compilerOptions: {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        sourceMap: true,
        verbatimModuleSyntax: true,
      },
    });
    const code = out.outputText.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    return { code, map: out.sourceMapText ?? null };
  },
};

export default defineConfig({
  plugins: [standardDecorators],
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
