/**
 * Plain JavaScript of a few sources, for child processes that must start in
 * a second and not in tens (the kiosk relay under cage, the units' entry
 * points in a container): each file and its relative imports, transpiled
 * without type checks (tsc checks them anyway), in the layout of `dist/`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const REPO = resolve(import.meta.dirname, '../..');
/** Under the repository, so that the output finds its node_modules; ignored by git. */
export const TEST_DIST = join(REPO, '.cache', 'test-dist');

const IMPORT = /(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g;

/** Transpiles `sources` (repository paths of .ts files) and what they import into `outDir`; returns the .js path of each. */
export function transpile(sources: string[], outDir = TEST_DIST): string[] {
  const seen = new Set<string>();
  const queue = sources.map((s) => resolve(REPO, s));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const out = ts.transpileModule(text, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 }, fileName: file }).outputText;
    const target = join(outDir, relative(REPO, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, out);
    for (const m of text.matchAll(IMPORT)) queue.push(resolve(dirname(file), `${m[1]}.ts`));
  }
  return sources.map((s) => join(outDir, s).replace(/\.ts$/, '.js'));
}
