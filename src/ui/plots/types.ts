/** What a line plot draws. */
export interface XY {
  x: number;
  y: number;
  lo?: number;
  hi?: number;
}
export interface Series {
  id: string;
  label: string;
  color: string;
  points: XY[];
  /** Draw the lo/hi band (several seeds). */
  band: boolean;
  /** A dash pattern (e.g. the fresh-set line beside its benchmark line). */
  dash?: string;
  /** A marker shape drawn along the line and in the legend (runs apart without colour). */
  marker?: import('../colors').Marker;
}
export interface RefLine {
  label: string;
  y: number;
  color: string;
  dash?: string;
}
/** A vertical marker, e.g. where a run's next pipeline stage starts. */
export interface XMark {
  x: number;
  label: string;
  color: string;
  /** Draw the line only: the same label already stands at an earlier mark (a stage in every generation). */
  quiet?: boolean;
}
