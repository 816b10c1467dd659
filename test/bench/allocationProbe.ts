/**
 * A development aid beside runtimeProbe.ts: preloaded (`node --import …/allocationProbe.js`), the
 * first SIGUSR2 starts V8's sampling heap profiler counting every allocation,
 * including objects already collected (which `--heap-prof` leaves out), and the second writes the
 * profile to $ALLOCATION_PROFILE (default allocation.heapprofile) and prints the heaviest allocation
 * sites by self size. For finding what a request allocates: start the load, signal, wait, signal.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const session = new Session();
session.connect();
let sampling = false;

async function toggle(): Promise<void> {
  if (!sampling) {
    await session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    sampling = true;
    process.stderr.write('allocation-probe started\n');
    return;
  }
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: ProfileNode } };
  sampling = false;
  writeFileSync(process.env['ALLOCATION_PROFILE'] ?? 'allocation.heapprofile', JSON.stringify(profile));
  const bySite = new Map<string, number>();
  const walk = (node: ProfileNode): void => {
    const frame = node.callFrame;
    const site = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${frame.lineNumber + 1}`;
    bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    node.children.forEach(walk);
  };
  walk(profile.head);
  const total = [...bySite.values()].reduce((a, b) => a + b, 0);
  const top = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 40);
  process.stderr.write(`allocation-probe total ${(total / 2 ** 20).toFixed(1)} MiB\n${top.map(([site, bytes]) => `${(bytes / 2 ** 20).toFixed(2).padStart(8)} MiB ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${site}`).join('\n')}\n`);
}

process.on('SIGUSR2', () => void toggle());
