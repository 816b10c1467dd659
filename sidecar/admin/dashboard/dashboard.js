import { drawSeries, niceTop } from './charts.js';
import { formatMs, formatRate, formatShare, setText } from './display.js';
import { endpointId, renderEndpointRows } from './endpointTable.js';

/**
 * The live view of one sidecar's upstreams, from its own admin API: `/stats` for the traffic (rates
 * and quantiles Tandem computes in one-second slots) and `/clusters` for the endpoints' state.
 */

/**
 * `/stats` leaves out the second in progress, so it changes only as a second ends: each poll goes out
 * just after a whole second of the clock (this machine's; the sidecar's when they share one), and new
 * traffic shows within about a second. Over 5 s, one second's jitter is smoothed without lagging much.
 */
const STATS_WINDOW_S = 5;
const POLL_AFTER_SECOND_MS = 50;
/** An answer slower than this counts as none: the sidecar may be stopped rather than gone. */
const REQUEST_TIMEOUT_MS = 2_500;
const HISTORY_MS = 60_000;

/** This module is served from `<admin>/dashboard/`, whatever host and port the admin API has. */
const ADMIN = new URL('../', import.meta.url);

/** Per upstream: its section of the page and its samples of the last minute. */
const views = new Map();

async function getJson(path) {
  const response = await fetch(new URL(path, ADMIN), { cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (!response.ok) throw new Error(`/${path.split('?')[0]} answered ${response.status}`);
  return response.json();
}

async function refresh() {
  let stats;
  let clusters;
  try {
    [stats, clusters] = await Promise.all([getJson(`stats?window=${STATS_WINDOW_S}s&endpoints=true`), getJson('clusters')]);
  } catch (error) {
    showUnanswered(error);
    return;
  }
  const at = Date.now();
  showAnswered(at);
  render(stats.upstreams, clusters.clusters, at);
}

function showAnswered(at) {
  document.getElementById('unreachable').hidden = true;
  document.body.classList.remove('stale');
  setText(document.getElementById('status'), `Sidecar admin API at ${ADMIN.host}, updated ${new Date(at).toLocaleTimeString()}`);
}

function showUnanswered(error) {
  const reason = error.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : error.message;
  setText(document.getElementById('unreachable-reason'), reason);
  document.getElementById('unreachable').hidden = false;
  document.body.classList.add('stale');
}

function render(upstreams, clusters, at) {
  const names = new Set(upstreams.map((upstream) => upstream.upstream));
  for (const [name, view] of views) {
    if (names.has(name)) continue;
    view.section.remove();
    views.delete(name);
  }
  for (const upstream of upstreams) {
    const view = views.get(upstream.upstream) ?? addView(upstream.upstream);
    renderUpstream(view, upstream, clusters.find((cluster) => cluster.name === upstream.upstream), at);
  }
  document.getElementById('no-upstreams').hidden = upstreams.length > 0;
}

function addView(name) {
  const section = document.getElementById('upstream-template').content.firstElementChild.cloneNode(true);
  section.dataset.upstream = name;
  const heading = section.querySelector('.upstream-name');
  heading.id = `upstream-${name}`;
  heading.textContent = name;
  section.setAttribute('aria-labelledby', heading.id);
  document.getElementById('upstreams').append(section);
  const view = { section, history: [] };
  views.set(name, view);
  return view;
}

function renderUpstream({ section, history }, upstream, cluster, at) {
  const { p50, p99 } = upstream.latency_ms;
  history.push({ at, requests_per_second: upstream.requests_per_second, success_percent: upstream.success_rate === null ? null : upstream.success_rate * 100, p50, p99 });
  while (history[0].at < at - HISTORY_MS) history.shift();

  showStat(section, 'requests_per_second', formatRate(upstream.requests_per_second), upstream.requests_per_second);
  showStat(section, 'success_rate', formatShare(upstream.success_rate), upstream.success_rate);
  showStat(section, 'p50', formatMs(p50), p50);
  showStat(section, 'p99', formatMs(p99), p99);
  showStat(section, 'active_requests', String(upstream.active_requests), upstream.active_requests);
  showStat(section, 'endpoints', `${upstream.endpoints_healthy} of ${upstream.endpoints_total}`, upstream.endpoints_healthy);
  showStat(section, 'endpoints_ejected', String(upstream.endpoints_ejected), upstream.endpoints_ejected);
  showStat(section, 'retries_per_second', formatRate(upstream.retries_per_second), upstream.retries_per_second);
  showStat(section, 'overflows_per_second', formatRate(upstream.overflows_per_second), upstream.overflows_per_second);
  showStat(section, 'lb_policy', cluster?.lb_policy ?? '—', cluster?.lb_policy ?? null);
  renderNotes(section.querySelector('.upstream-notes'), cluster);

  const span = { from: at - HISTORY_MS, to: at };
  const series = (key) => history.map((sample) => ({ at: sample.at, value: sample[key] }));
  const peak = (key) => Math.max(0, ...history.map((sample) => sample[key] ?? 0));
  drawChart(section, 'requests', { requests_per_second: series('requests_per_second') }, { ...span, top: niceTop(peak('requests_per_second'), 1) }, 'Requests per second');
  drawChart(section, 'success', { success_percent: series('success_percent') }, { ...span, top: 100 }, 'Success percentage');
  drawChart(section, 'latency', { p50: series('p50'), p99: series('p99') }, { ...span, top: niceTop(peak('p99'), 1) }, 'Latency p50 and p99 in milliseconds');

  const statsById = new Map((upstream.endpoints ?? []).map((endpoint) => [endpoint.endpoint, endpoint]));
  const endpoints = (cluster?.endpoints ?? []).map((endpoint) => ({ ...endpoint, stats: statsById.get(endpointId(endpoint)) }));
  renderEndpointRows(section.querySelector('tbody'), endpoints);
}

/** A figure's text, and its raw value in `data-value` (empty for none) for whatever reads the page. */
function showStat(section, name, text, value) {
  const element = section.querySelector(`[data-stat="${name}"]`);
  setText(element, text);
  element.dataset.value = value === null ? '' : String(value);
}

function renderNotes(element, cluster) {
  const notes = [];
  if (cluster === undefined) notes.push('Not in /clusters.');
  else {
    if (!cluster.synced) notes.push('Waiting for discovery to answer.');
    if (cluster.discovery_error !== null) notes.push(`Discovery failing: ${cluster.discovery_error}`);
    if (cluster.panic) notes.push('Panic: too few endpoints are healthy, so requests go to every endpoint.');
  }
  setText(element, notes.join(' '));
  element.hidden = notes.length === 0;
}

function drawChart(section, name, series, scale, label) {
  const figure = section.querySelector(`[data-chart="${name}"]`);
  drawSeries(figure.querySelector('svg'), series, scale);
  setText(figure.querySelector('.scale'), `(0–${scale.top})`);
  figure.querySelector('svg').setAttribute('aria-label', `${label} over the last minute, on a scale of 0 to ${scale.top}`);
}

async function pollForever() {
  setText(document.getElementById('window'), String(STATS_WINDOW_S));
  for (;;) {
    try {
      await refresh();
    } catch (error) {
      // A fault of this page, not of the sidecar: reported, and the next poll tries again.
      reportError(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000 - (Date.now() % 1_000) + POLL_AFTER_SECOND_MS));
  }
}

void pollForever();
