import type { BalancerEndpoint, PickContext, PickExplanation } from '../balancer.js';

/**
 * Draws the candidates for a power-of-d-choices pick (Mitzenmacher, "The Power of Two Choices in
 * Randomized Load Balancing", 2001): `count` distinct random indexes below `n` (all of them when
 * n ≤ count), written into `out`, skipping indexes `isTried` reports while others remain.
 *
 * Candidates are distinct, as in Linkerd's p2c: Envoy draws with replacement, which in a small
 * cluster sometimes compares an endpoint with itself and so sends it a request whatever its load.
 *
 * @returns how many indexes were written.
 */
export function drawCandidates(
  n: number,
  count: number,
  random: () => number,
  out: Int32Array,
  isTried: ((index: number) => boolean) | undefined,
): number {
  const want = Math.min(count, n);
  let written = 0;
  // Rejection sampling: cheap because `want` is tiny next to `n` in the cases that matter; the
  // attempt cap keeps it bounded when most indexes are taken or tried.
  for (let attempts = 0; written < want && attempts < 4 * n + 8; attempts++) {
    const index = Math.floor(random() * n);
    if (contains(out, written, index)) continue;
    if (isTried !== undefined && isTried(index) && attempts < 2 * n) continue;
    out[written++] = index;
  }
  // Still short (everything tried, or unlucky draws): fill with the lowest unused indexes.
  for (let index = 0; written < want && index < n; index++) if (!contains(out, written, index)) out[written++] = index;
  return written;
}

function contains(values: Int32Array, length: number, value: number): boolean {
  for (let i = 0; i < length; i++) if (values[i] === value) return true;
  return false;
}

/**
 * The first endpoint from `start` on (wrapping) that `isTried` does not report, or `start` if all
 * are tried. The deterministic fallback when random draws keep landing on tried endpoints.
 */
export function firstUntried(n: number, start: number, isTried: (index: number) => boolean): number {
  for (let offset = 0; offset < n; offset++) {
    const index = (start + offset) % n;
    if (!isTried(index)) return index;
  }
  return start;
}

/**
 * Whether the endpoint at an index was tried by this request. Built only on retries: a closure created
 * inside a hot `pick` would make V8 allocate its context on every call, tried or not.
 */
export function triedTest(endpoints: readonly BalancerEndpoint[], ctx: PickContext): (index: number) => boolean {
  return (index) => ctx.tried.has((endpoints[index] as BalancerEndpoint).id);
}

/** Writes down a power-of-d-choices pick's candidates, with what the policy compares them by. */
export function explainCandidates<E extends BalancerEndpoint>(
  explain: PickExplanation,
  endpoints: readonly E[],
  candidates: Int32Array,
  drawn: number,
  isTried: ((index: number) => boolean) | undefined,
  facts: (endpoint: E) => Readonly<Record<string, unknown>>,
): void {
  explain.note('choices', drawn);
  for (let i = 0; i < drawn; i++) {
    const endpoint = endpoints[candidates[i] as number] as E;
    explain.considered(endpoint, { ...facts(endpoint), ...(isTried === undefined ? {} : { tried: isTried(candidates[i] as number) }) });
  }
}
