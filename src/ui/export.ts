/** Downloads: metrics as CSV and JSON, plots as SVG and PNG. */
import type { MetricRow } from '../core/metrics';

export function download(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export interface ExportRun {
  id: string;
  pipeline: string;
  seeds: { seed: number; rows: MetricRow[] }[];
  error?: string | null;
}

/** One line per (run, seed, eval point); columns: run, pipeline, seed, then every metric seen. */
export function toCsv(runs: ExportRun[]): string {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const r of runs) for (const s of r.seeds) for (const row of s.rows) for (const k of Object.keys(row)) if (!seen.has(k)) (seen.add(k), keys.push(k));
  const cell = (v: unknown) => {
    const t = v === undefined ? '' : String(v);
    return /[",\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  const lines = [['run', 'pipeline', 'seed', ...keys].map(cell).join(',')];
  for (const r of runs) {
    for (const s of r.seeds) {
      for (const row of s.rows) {
        const rec = row as Record<string, number | undefined>;
        lines.push([r.id, r.pipeline, s.seed, ...keys.map((k) => rec[k])].map(cell).join(','));
      }
    }
  }
  return lines.join('\n') + '\n';
}

/** A standalone SVG document of a plot (its styles are attributes, so it renders the same) on `background`. */
export function svgText(svg: SVGSVGElement, background = '#ffffff'): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  const { w, h } = svgSize(svg);
  clone.setAttribute('width', String(w));
  clone.setAttribute('height', String(h));
  clone.setAttribute('viewBox', `0 0 ${w} ${h}`);
  const bg = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
  bg.setAttribute('width', '100%');
  bg.setAttribute('height', '100%');
  bg.setAttribute('fill', background);
  clone.insertBefore(bg, clone.firstChild);
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(clone);
}

export function svgSize(svg: SVGSVGElement): { w: number; h: number } {
  return { w: svg.width.baseVal.value || svg.getBoundingClientRect().width, h: svg.height.baseVal.value || svg.getBoundingClientRect().height };
}

/** Rasterise an SVG document of size w x h at `scale` x its size (2: sharp on slides). */
export async function svgPng(text: string, w: number, h: number, scale = 2): Promise<Blob> {
  const url = URL.createObjectURL(new Blob([text], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    const ctx = canvas.getContext('2d')!;
    ctx.scale(scale, scale);
    ctx.drawImage(img, 0, 0, w, h);
    return await new Promise<Blob>((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('PNG export failed'))), 'image/png'));
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** A file-name-safe slug. */
export const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9\u4e00-\u9fff]+/g, '-').replace(/^-|-$/g, '') || 'plot';
