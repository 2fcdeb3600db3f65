import { z } from 'zod';
import { DOCUMENTED_SCHEMAS } from './protocol.js';

/**
 * docs/schemas/<name>.schema.json, generated from the zod schemas in
 * protocol.ts. The sync-schemas test fails when the committed files differ;
 * `LOA_WRITE_SCHEMAS=1 npx tap agent/test/sync-schemas.test.ts` or
 * `scripts/province schemas docs/schemas` rewrites them.
 */
export function renderJsonSchemas(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, schema] of Object.entries(DOCUMENTED_SCHEMAS)) {
    // "input": what a sender must produce (fields with defaults may be left out).
    const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
    const doc = { $id: `https://loa.invalid/schemas/v1/${name}.schema.json`, title: name, ...json };
    out.set(`${name}.schema.json`, JSON.stringify(doc, null, 2) + '\n');
  }
  return out;
}
