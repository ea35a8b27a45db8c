/** Sizes of the transformer that tfjs-free code needs too (policy files are parsed on the page's main thread). */
import type { NetSpec } from './net';

/** Head width: the embedding split over the heads (rounded up, so any embed x heads works). */
export const headDim = (spec: Pick<NetSpec, 'embed' | 'heads'>) => Math.ceil(spec.embed / Math.max(1, spec.heads ?? 1));

/**
 * FLOPs (2 x multiply-adds) of one position's forward pass, attending to a context of `ctx`
 * positions (default: half the longest sequence, the mean context of a causal pass over it).
 * The embedding is a lookup (no FLOPs), as for the MLP's one-hot first layer.
 */
export function transformerFlops(spec: NetSpec, ctx = Math.ceil(spec.maxLen / 2)): number {
  const { embed: E, hidden: F, layers, outDim } = spec;
  const A = Math.max(1, spec.heads ?? 1) * headDim(spec);
  const m = spec.moe;
  // The MLP block: dense, or the router, the top-k and the shared experts of a mixture.
  const mlp = m && m.experts > 0 ? E * m.experts + (m.topK + m.shared) * 2 * E * m.expertHidden : 2 * E * F;
  const perLayer = 3 * E * A + 2 * ctx * A + A * E + mlp;
  return 2 * (layers * perLayer + E * outDim);
}
