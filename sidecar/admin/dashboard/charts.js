/**
 * Line charts drawn as SVG paths: a handful of series of a minute each need no chart library, and a
 * path keeps the page free of canvas redraw code. The SVG's viewBox is 600 × 100 and stretches to its
 * box (preserveAspectRatio="none"; the strokes keep their width with vector-effect).
 */

const WIDTH = 600;
const HEIGHT = 100;
/** Room above the top and below zero, so a line at either is not half cut off by the edge. */
const MARGIN = 4;

/**
 * Sets the `d` of each `<path data-series=NAME>` in `svg` to that series' points (`{ at, value }`, at
 * in ms; a null value breaks the line, as a minute without requests has no success rate), over the
 * time span `from`–`to` and the values 0–`top`.
 */
export function drawSeries(svg, series, { from, to, top }) {
  for (const path of svg.querySelectorAll('path[data-series]')) {
    const points = series[path.dataset.series] ?? [];
    const commands = [];
    let drawing = false;
    for (const { at, value } of points) {
      if (value === null || at < from) {
        drawing = false;
        continue;
      }
      const x = ((at - from) / (to - from)) * WIDTH;
      const y = HEIGHT - MARGIN - (Math.min(value, top) / top) * (HEIGHT - 2 * MARGIN);
      commands.push(`${drawing ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`);
      drawing = true;
    }
    path.setAttribute('d', commands.join(''));
  }
}

/** A round top for the value axis at or above `max` (1, 2 or 5 times a power of ten), at least `floor`. */
export function niceTop(max, floor) {
  const value = Math.max(max, floor);
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * magnitude).find((top) => top >= value);
}
