import { execFile } from 'node:child_process';

/** One sample as the reference parser read it. */
export interface OpenMetricsSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** A number, or "inf" / "nan" for the values JSON cannot carry. */
  readonly value: number | string;
  readonly exemplar: { readonly labels: Readonly<Record<string, string>>; readonly value: number } | null;
}

export interface OpenMetricsFamily {
  readonly name: string;
  readonly type: string;
  readonly samples: readonly OpenMetricsSample[];
}

/**
 * Parses an OpenMetrics exposition with the Prometheus project's own Python client
 * (`prometheus_client.openmetrics.parser`, Debian's python3-prometheus-client, installed by
 * scripts/system-deps.sh): a strict, independent reader, so a malformed line fails the test.
 */
const READER = `
import json, math, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
def value(v):
    return v if math.isfinite(v) else str(v)
families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({"name": family.name, "type": family.type, "samples": [
        {"name": s.name, "labels": s.labels, "value": value(s.value),
         "exemplar": None if s.exemplar is None else {"labels": s.exemplar.labels, "value": s.exemplar.value}}
        for s in family.samples]})
print(json.dumps(families))
`;

export function parseOpenMetrics(text: string): Promise<OpenMetricsFamily[]> {
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/bin/python3', ['-c', READER], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`the OpenMetrics reference parser refused the exposition: ${stderr.trim() || error.message}`));
      else resolve(JSON.parse(stdout) as OpenMetricsFamily[]);
    });
    child.stdin?.end(text);
  });
}
