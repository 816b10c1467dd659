import { formatMs, formatRate, formatShare, setText } from './display.js';

/** The table's columns, in the order of its `<thead>`: each a name and how to show an endpoint in it. */
const COLUMNS = [
  ['health', (e) => (e.gone_away ? `${e.health} (going away)` : e.health)],
  ['eligible', (e) => (e.eligible ? 'yes' : 'no')],
  ['ejected', ejection],
  ['weight', (e) => `${e.weight} / ${e.effective_weight}`],
  ['active_requests', (e) => String(e.active_requests)],
  ['requests_per_second', (e) => (e.stats === undefined ? '—' : formatRate(e.stats.requests_per_second))],
  ['success_rate', (e) => (e.stats === undefined ? '—' : formatShare(e.stats.success_rate))],
  // Only some policies keep a latency estimate per endpoint (peak_ewma's ewma_ms).
  ['ewma', (e) => (typeof e.ewma_ms === 'number' ? formatMs(e.ewma_ms) : '—')],
];

function ejection(endpoint) {
  if (!endpoint.ejected) return 'no';
  const outlier = endpoint.outlier;
  if (outlier?.ejection_reason == null) return 'yes';
  const secondsLeft = Math.ceil((outlier.ejection_remaining_ms ?? 0) / 1000);
  return `yes: ${outlier.ejection_reason}, ${secondsLeft} s left`;
}

/** The `address:port` an endpoint goes by in `/stats` (IPv6 addresses bracketed). */
export function endpointId(endpoint) {
  return endpoint.address.includes(':') ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

/**
 * Brings `tbody` to one row per endpoint of `endpoints` (`/clusters` entries, each with its `/stats`
 * entry as `stats`), in their order. Rows are kept and updated in place, keyed by `data-endpoint`, so
 * a selection or a screen reader's place survives the update every second.
 */
export function renderEndpointRows(tbody, endpoints) {
  const rows = new Map([...tbody.rows].map((row) => [row.dataset.endpoint, row]));
  let previous = null;
  for (const endpoint of endpoints) {
    const id = endpointId(endpoint);
    const row = rows.get(id) ?? newRow(id);
    rows.delete(id);
    row.dataset.state = endpoint.ejected ? 'ejected' : endpoint.eligible ? 'eligible' : 'ineligible';
    for (const [name, show] of COLUMNS) setText(row.querySelector(`[data-column="${name}"]`), show(endpoint));
    const next = previous === null ? tbody.firstElementChild : previous.nextElementSibling;
    if (next !== row) tbody.insertBefore(row, next);
    previous = row;
  }
  for (const gone of rows.values()) gone.remove();
}

function newRow(id) {
  const row = document.createElement('tr');
  row.dataset.endpoint = id;
  const header = document.createElement('th');
  header.scope = 'row';
  header.textContent = id;
  row.append(header);
  for (const [name] of COLUMNS) {
    const cell = document.createElement('td');
    cell.dataset.column = name;
    row.append(cell);
  }
  return row;
}
