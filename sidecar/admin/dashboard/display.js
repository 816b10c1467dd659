/** How the dashboard writes numbers, and writes them into the page. */

/** A rate per second: `/stats` rounds to 0.01. */
export function formatRate(perSecond) {
  return perSecond.toFixed(perSecond >= 100 ? 0 : perSecond >= 10 ? 1 : 2);
}

/** A share 0–1 as a percentage; `—` when there was no request to judge. */
export function formatShare(share) {
  return share === null ? '—' : `${(share * 100).toFixed(share === 1 ? 0 : 2)} %`;
}

/** A latency in milliseconds; `—` when there was no request. */
export function formatMs(ms) {
  return ms === null ? '—' : `${ms.toFixed(ms >= 100 ? 0 : ms >= 10 ? 1 : 2)} ms`;
}

/** Sets `element`'s text only when it changed: an unchanged node keeps a reader's selection and place. */
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}
