import t from 'tap';
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { renderJsonSchemas } from '../src/sync/json-schemas.js';

// The committed JSON Schemas are the generated ones: the protocol document cannot drift from the code.
const dir = join(import.meta.dirname, '../../docs/schemas');

t.test('docs/schemas matches the zod schemas', async (t) => {
  const rendered = renderJsonSchemas();
  if (process.env.LOA_WRITE_SCHEMAS === '1') {
    mkdirSync(dir, { recursive: true });
    for (const [name, text] of rendered) writeFileSync(join(dir, name), text);
  }
  const committed = readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort();
  t.same(committed, [...rendered.keys()].sort(), 'one file per documented schema, no stale ones');
  for (const [name, text] of rendered) {
    t.equal(readFileSync(join(dir, name), 'utf8'), text, `${name} is up to date (LOA_WRITE_SCHEMAS=1 rewrites it)`);
  }
});

t.test('every schema is a JSON Schema document with a title', async (t) => {
  for (const [name, text] of renderJsonSchemas()) {
    const doc = JSON.parse(text) as { $schema?: string; title?: string };
    t.match(doc.$schema, /json-schema\.org/, name);
    t.ok(doc.title, name);
  }
});
