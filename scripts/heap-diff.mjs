// node scripts/heap-diff.mjs A.heapsnapshot B.heapsnapshot [N]: per (type, name) node count and self size in V8 heap snapshots, B minus A
// (what `scripts/bench board --snapshots DIR` writes).
import { readFileSync } from 'node:fs';
function load(path) {
  const snap = JSON.parse(readFileSync(path, 'utf8'));
  const f = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const n = f.length, iType = f.indexOf('type'), iName = f.indexOf('name'), iSize = f.indexOf('self_size');
  const nodes = snap.nodes, strings = snap.strings;
  const by = new Map();
  let total = 0;
  for (let i = 0; i < nodes.length; i += n) {
    const t = types[nodes[i + iType]];
    let name = strings[nodes[i + iName]];
    if (t === 'string' || t === 'concatenated string' || t === 'sliced string') name = '(string)';
    else if (t === 'number') name = '(number)';
    else if (t === 'code') name = '(code)';
    else if (name.length > 60) name = name.slice(0, 60);
    const k = `${t}\t${name}`;
    const e = by.get(k) ?? { count: 0, size: 0 };
    e.count++; e.size += nodes[i + iSize]; total += nodes[i + iSize];
    by.set(k, e);
  }
  return { by, total, count: nodes.length / n };
}
const [a, b] = [load(process.argv[2]), load(process.argv[3])];
const top = Number(process.argv[4] ?? 40);
console.log(`A: ${a.count} nodes ${(a.total / 1048576).toFixed(2)} MB; B: ${b.count} nodes ${(b.total / 1048576).toFixed(2)} MB`);
const rows = [];
for (const k of new Set([...a.by.keys(), ...b.by.keys()])) {
  const x = a.by.get(k) ?? { count: 0, size: 0 }, y = b.by.get(k) ?? { count: 0, size: 0 };
  rows.push({ k, dc: y.count - x.count, ds: y.size - x.size, c: y.count });
}
rows.sort((p, q) => q.ds - p.ds);
for (const r of rows.slice(0, top)) console.log(`${(r.ds / 1024).toFixed(1).padStart(10)} KB ${String(r.dc).padStart(8)} (now ${r.c})  ${r.k}`);
console.log('--- by count');
rows.sort((p, q) => q.dc - p.dc);
for (const r of rows.slice(0, 20)) console.log(`${(r.ds / 1024).toFixed(1).padStart(10)} KB ${String(r.dc).padStart(8)} (now ${r.c})  ${r.k}`);
