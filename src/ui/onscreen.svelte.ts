/**
 * What is on screen. A plot off screen keeps what it drew and catches up when it comes within
 * 64 px of the viewport, or when the page is printed (four runs on two cores redrawing every plot,
 * most of them below the fold, dropped frames); the inspector off screen fetches no batches while
 * runs train.
 */
import { flushSync } from 'svelte';

/** True while the page is being printed: every plot draws what it has. */
export const printing = $state({ on: false });

const watchers = new Map<Element, (on: boolean) => void>();
let observer: IntersectionObserver | null = null;
let printHooked = false;

/** Call `set` with whether `el` is on (or within 64 px of) the viewport, now and on every change; returns the stop function. */
export function watchOnScreen(el: Element, set: (on: boolean) => void): () => void {
  if (typeof IntersectionObserver === 'undefined') return () => {};
  observer ??= new IntersectionObserver((entries) => {
    for (const e of entries) watchers.get(e.target)?.(e.isIntersecting);
  }, { rootMargin: '64px 0px' });
  if (!printHooked && typeof window !== 'undefined') {
    printHooked = true;
    window.addEventListener('beforeprint', () => flushSync(() => (printing.on = true)));
    window.addEventListener('afterprint', () => (printing.on = false));
  }
  watchers.set(el, set);
  observer.observe(el);
  return () => {
    observer?.unobserve(el);
    watchers.delete(el);
  };
}
