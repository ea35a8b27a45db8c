/**
 * A WebAssembly module's own memory turned into a shared one it imports, so that other threads can
 * run code on the same memory. tfjs-wasm's single-threaded build defines its memory (its threaded
 * build imports a shared one, but starts its own threads from blob: URLs, which Node refuses and the
 * page's CSP forbids). Rewriting the binary's memory section into an import of `env.memory`
 * (shared, the module's own initial size, maximum `maxPages`) leaves every instruction, function
 * index and export as it was: the module still exports that memory, now the shared one.
 * Measured by `npm run bench -- --only threads` (issue 14's threads lever); not used by the app yet.
 */
function leb(bytes: Uint8Array, p: number): [number, number] {
  let r = 0;
  let s = 0;
  let b: number;
  do {
    b = bytes[p++];
    r += (b & 0x7f) * 2 ** s;
    s += 7;
  } while (b & 0x80);
  return [r, p];
}

function uleb(n: number): number[] {
  const o: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    o.push(b);
  } while (n);
  return o;
}

const text = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];

/** The module's bytes with its memory imported as a shared env.memory, and that memory. Throws if the module has no memory of its own. */
export function shareModuleMemory(bytes: Uint8Array, maxPages = 65536): { bytes: Uint8Array; memory: WebAssembly.Memory } {
  if (bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) throw new Error('not a WebAssembly module');
  const sections: { id: number; body: Uint8Array }[] = [];
  for (let p = 8; p < bytes.length; ) {
    const id = bytes[p++];
    const [size, q] = leb(bytes, p);
    sections.push({ id, body: bytes.subarray(q, q + size) });
    p = q + size;
  }
  const mem = sections.find((s) => s.id === 5);
  if (!mem) throw new Error('the module defines no memory');
  const [count, q0] = leb(mem.body, 0);
  if (count !== 1) throw new Error(`the module defines ${count} memories`);
  const flags = mem.body[q0];
  if (flags > 1) throw new Error(`the module's memory is already shared or 64-bit (limits flags ${flags})`);
  const [initial] = leb(mem.body, q0 + 1);
  if (initial > maxPages) throw new Error(`the module needs ${initial} pages, more than ${maxPages}`);
  const memory = new WebAssembly.Memory({ initial, maximum: maxPages, shared: true });
  // An import: module "env", name "memory", kind 2 (memory), limits 3 (shared, with a maximum).
  const entry = [...text('env'), ...text('memory'), 2, 3, ...uleb(initial), ...uleb(maxPages)];
  const chunks: Uint8Array[] = [bytes.subarray(0, 8)];
  const put = (id: number, body: Uint8Array) => chunks.push(new Uint8Array([id, ...uleb(body.length)]), body);
  let imported = false;
  for (const s of sections) {
    if (s.id === 5) continue;
    if (s.id === 2) {
      const [n, q] = leb(s.body, 0);
      const rest = s.body.subarray(q);
      const body = new Uint8Array(uleb(n + 1).length + rest.length + entry.length);
      body.set(uleb(n + 1));
      body.set(rest, uleb(n + 1).length);
      body.set(entry, uleb(n + 1).length + rest.length);
      put(2, body);
      imported = true;
      continue;
    }
    // No import section: one goes before the first section that must follow it (custom sections, id 0, may sit anywhere).
    if (!imported && s.id > 2) {
      put(2, new Uint8Array([1, ...entry]));
      imported = true;
    }
    put(s.id, s.body);
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return { bytes: out, memory };
}
