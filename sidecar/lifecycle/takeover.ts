import { adminRequest } from '../admin/adminClient.js';
import { createLogger } from '../core/log.js';
import { sleep } from '../core/sleep.js';
import type { Sidecar } from '../sidecar.js';

const log = createLogger('takeover');

/** How often the successor looks at its prerequisites, and tries the admin port again. */
const POLL_MS = 50;
/** The predecessor lets go of its admin port as soon as it has answered; this is plenty. */
const ADMIN_RELEASE_TIMEOUT_MS = 10_000;
const DRAIN_REQUEST_TIMEOUT_MS = 5_000;

export interface TakeoverOptions {
  /** The admin address both instances are configured with: loopback, or a wildcard (then asked over loopback). */
  readonly adminAddress: string;
  readonly adminPort: number;
  /** Longest wait for this instance's prerequisites (discovery, certificate). */
  readonly readyTimeoutMs: number;
  /** Aborted (a signal): the takeover stops before its next step; the predecessor, if not yet asked, goes on. */
  readonly signal?: AbortSignal;
}

/**
 * The successor's side of an in-place upgrade (`tandem sidecar --replace`), with the same
 * configuration as the running instance:
 *
 *   1. wait until this instance could serve (discovery answered, certificate obtained), binding nothing;
 *   2. bind the proxy listeners beside the predecessor's (SO_REUSEPORT): from now on the kernel spreads
 *      new connections over both, and this instance registers the same discovery entry;
 *   3. `POST /drain?handover` to the predecessor's admin port: it closes its admin port and its
 *      listening sockets (with `net.ipv4.tcp_migrate_req=1`, connections queued on them move here
 *      rather than being reset), asks its connections to go away and exits when they are done;
 *   4. bind the admin port.
 *
 * No predecessor answering is not an error: the successor then simply starts.
 */
export async function takeOver(sidecar: Sidecar, options: TakeoverOptions): Promise<void> {
  const deadline = performance.now() + options.readyTimeoutMs;
  const { signal } = options;
  while (sidecar.prerequisites().length > 0) {
    if (performance.now() > deadline) throw new Error(`not ready to take over within ${options.readyTimeoutMs} ms: ${sidecar.prerequisites().join('; ')}`);
    await sleep(POLL_MS, signal);
  }
  signal?.throwIfAborted();
  await sidecar.bindListeners();
  // POST /drain is served to loopback clients only: a wildcard admin address is asked over loopback.
  const host = options.adminAddress === '0.0.0.0' ? '127.0.0.1' : options.adminAddress === '::' ? '::1' : options.adminAddress;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${options.adminPort}`;
  const answer = await askToHandOver(origin);
  if (answer === 'none') log.info('no running Tandem answered on the admin port; starting without a handover', { admin: origin });
  else log.info('the running Tandem is handing over', { admin: origin });
  const adminDeadline = performance.now() + ADMIN_RELEASE_TIMEOUT_MS;
  for (;;) {
    try {
      await sidecar.bindAdmin();
      return;
    } catch (error) {
      const inUse = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE';
      if (!inUse || performance.now() > adminDeadline) throw error;
      await sleep(POLL_MS, signal);
    }
  }
}

/** `POST /drain?handover`; 'none' when nothing listens there. */
async function askToHandOver(origin: string): Promise<'handing over' | 'none'> {
  let answer;
  try {
    answer = await adminRequest(new URL('/drain?handover', origin), { method: 'POST', timeoutMs: DRAIN_REQUEST_TIMEOUT_MS });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED') return 'none';
    throw error;
  }
  if (answer.status !== 202) throw new Error(`the running Tandem refused the handover: ${answer.status} ${answer.body.trim()}`);
  return 'handing over';
}
