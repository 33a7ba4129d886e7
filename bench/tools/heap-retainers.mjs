// The objects one heap snapshot has and an earlier one of the same process had not (node ids are
// stable within a process), grouped by what holds them: "name <- holder .edge <- its holder .edge",
// bytes and count per held item. Where heap-per-poll.mjs says which kinds of objects a held poll
// adds, this says whose they are (the handler's query arguments, the response's headers, …).
//   HEAP_KEEP=1 node bench/tools/heap-per-poll.mjs dist/main.js '/chat/messages?after=0' 2000
//   node bench/tools/heap-retainers.mjs DIR/first.heapsnapshot DIR/second.heapsnapshot 2000 [rows]
import { readFileSync } from 'node:fs';

const [firstFile, secondFile, n = '1', top = '60'] = process.argv.slice(2);
if (secondFile === undefined) {
  process.stderr.write('usage: heap-retainers.mjs <before> <after> [items] [rows]\n');
  process.exit(2);
}
const count = Number(n);

function load(file) {
  const s = JSON.parse(readFileSync(file, 'utf8'));
  const meta = s.snapshot.meta;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const [iType, iName, iId, iSize, iEdges] = ['type', 'name', 'id', 'self_size', 'edge_count'].map(
    (f) => meta.node_fields.indexOf(f),
  );
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) =>
    meta.edge_fields.indexOf(f),
  );
  const nodes = s.nodes.length / nf;
  const holder = new Int32Array(nodes).fill(-1);
  const via = new Array(nodes);
  for (let i = 0, e = 0; i < nodes; i++) {
    const end = e + s.nodes[i * nf + iEdges] * ef;
    for (; e < end; e += ef) {
      const type = edgeTypes[s.edges[e + eType]];
      if (type === 'weak') continue;
      const to = s.edges[e + eTo] / nf;
      if (holder[to] !== -1 && nodeTypes[s.nodes[holder[to] * nf + iType]] !== 'synthetic')
        continue;
      holder[to] = i;
      const name = s.edges[e + eName];
      via[to] = type === 'element' || type === 'hidden' ? `[${name}]` : s.strings[name];
    }
  }
  const label = (i) => {
    const type = nodeTypes[s.nodes[i * nf + iType]];
    const name = s.strings[s.nodes[i * nf + iName]].slice(0, 50);
    if (type === 'object') return name;
    if (type === 'closure') return `fn ${name}`;
    return type === 'hidden' || type === 'array' ? `(${type}) ${name}` : `(${type})`;
  };
  const id = (i) => s.nodes[i * nf + iId];
  const size = (i) => s.nodes[i * nf + iSize];
  return { nodes, holder, via, label, id, size };
}

const before = load(firstFile);
const old = new Set();
for (let i = 0; i < before.nodes; i++) old.add(before.id(i));
const after = load(secondFile);
const groups = new Map();
let total = 0;
for (let i = 0; i < after.nodes; i++) {
  if (old.has(after.id(i))) continue;
  const h = after.holder[i];
  const h2 = h >= 0 ? after.holder[h] : -1;
  const key =
    `${after.label(i)}  <-  ${h >= 0 ? after.label(h) : '-'} .${after.via[i]}` +
    (h2 >= 0 ? `  <-  ${after.label(h2)} .${after.via[h]}` : '');
  const g = groups.get(key) ?? { count: 0, bytes: 0 };
  g.count++;
  g.bytes += after.size(i);
  total += after.size(i);
  groups.set(key, g);
}
console.log(`new objects: ${(total / count).toFixed(0)} B per item`);
const rows = [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(top));
for (const [key, g] of rows) {
  console.log(
    `${(g.bytes / count).toFixed(0).padStart(6)} B ${(g.count / count).toFixed(2).padStart(5)} × ${key}`,
  );
}
