/**
 * The x-range every plot of the page shows: drag across one plot to zoom all of them to that range,
 * double-click (or Reset zoom, or Escape) for the whole range again. A range belongs to one x-axis
 * (`key`: steps, FLOPs, ...): switching the axis shows everything.
 */
export const zoom = $state<{ key: string | null; range: [number, number] | null }>({ key: null, range: null });

export function zoomTo(key: string, a: number, b: number): void {
  if (!(Number.isFinite(a) && Number.isFinite(b)) || a === b) return;
  zoom.key = key;
  zoom.range = a < b ? [a, b] : [b, a];
}

export function resetZoom(): void {
  zoom.key = null;
  zoom.range = null;
}

/** The range a plot on x-axis `key` shows, or null for all of it. */
export const zoomOf = (key: string | undefined): [number, number] | null => (key !== undefined && zoom.key === key ? zoom.range : null);
