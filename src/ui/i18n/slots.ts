/** Messages whose values a component draws apart (as code, in bold), in any language's word order. */

/** A piece of a message: plain text, or a placeholder's value the component draws apart (code, bold). */
export interface Slot {
  text: string;
  /** The placeholder's name, when this piece is one's value. */
  slot?: string;
}

/**
 * A message template (t(key) without params) cut at its placeholders, each filled from `params`, so
 * a component can draw some values as <code> or <b> in whatever word order the language has. Values
 * are never read as templates themselves; unknown placeholders stay visible.
 */
export function slots(template: string, params: Record<string, string | number>): Slot[] {
  const out: Slot[] = [];
  let last = 0;
  for (const m of template.matchAll(/\{(\w+)\}/g)) {
    if (m.index > last) out.push({ text: template.slice(last, m.index) });
    out.push(m[1] in params ? { text: String(params[m[1]]), slot: m[1] } : { text: m[0] });
    last = m.index + m[0].length;
  }
  if (last < template.length) out.push({ text: template.slice(last) });
  return out;
}
