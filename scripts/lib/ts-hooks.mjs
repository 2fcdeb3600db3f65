// Module hooks that run the project's TypeScript in Node without a build:
// `./x.js` imports resolve to `./x.ts` where only the source exists, and each
// source is transpiled once (types stripped, no checks: tsc checks them) and
// kept by content hash, so a test process starts in a fraction of a second
// instead of compiling every file it imports again.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cacheDir = join(root, 'node_modules', '.cache', 'loa-ts');
// The TypeScript version is part of every key: a new compiler, new output.
const tsVersion = (() => {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', 'typescript', 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
})();
let ts;
const options = () => ({
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  inlineSourceMap: true,
  esModuleInterop: true,
});

export async function resolve(specifier, context, next) {
  if (specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('file:')) && context.parentURL?.endsWith('.ts')) {
    const url = new URL(specifier, context.parentURL);
    if (!existsSync(url)) {
      const ts = new URL(url.href.slice(0, -3) + '.ts');
      if (existsSync(ts)) return { url: ts.href, format: 'module', shortCircuit: true };
    }
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts') || url.endsWith('.d.ts')) return next(url, context);
  const file = fileURLToPath(url);
  const source = readFileSync(file, 'utf8');
  const key = createHash('sha256').update(`${tsVersion}\n${file}\n`).update(source).digest('hex');
  const cached = join(cacheDir, `${key}.js`);
  let out;
  try {
    out = readFileSync(cached, 'utf8');
  } catch {
    ts ??= createRequire(import.meta.url)('typescript');
    out = ts.transpileModule(source, { compilerOptions: options(), fileName: file }).outputText;
    try {
      mkdirSync(cacheDir, { recursive: true });
      const tmp = `${cached}.${process.pid}.tmp`;
      writeFileSync(tmp, out);
      renameSync(tmp, cached);
    } catch {
      // A read-only checkout still runs, only slower.
    }
  }
  return { format: 'module', source: out, shortCircuit: true };
}
