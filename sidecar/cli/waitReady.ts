import { adminRequest } from '../admin/adminClient.js';
import { sleep } from '../core/sleep.js';
import { ExitCode } from './exitCodes.js';

const POLL_MS = 200;
const REQUEST_TIMEOUT_MS = 2_000;

/**
 * `tandem wait-ready`: polls `GET /ready` on the admin port until it answers 200 (exit 0), or
 * `timeoutMs` passes (exit 1, with the last reason). For app entry points and start-up ordering:
 * `tandem wait-ready && exec my-app`.
 */
export async function waitReadyCommand(adminUrl: string, timeoutMs: number): Promise<number> {
  let url: URL;
  try {
    url = new URL('/ready', adminUrl);
    if (url.protocol !== 'http:') throw new Error('expected an http:// URL');
  } catch (error) {
    process.stderr.write(`tandem wait-ready: --admin: ${(error as Error).message} (got "${adminUrl}")\n`);
    return ExitCode.Usage;
  }
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const answer = await probe(url);
    if (answer.status === 200) {
      process.stdout.write(`ready (${url.origin})\n`);
      return ExitCode.Ok;
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      process.stderr.write(`tandem wait-ready: not ready after ${Math.round(timeoutMs / 1000)}s at ${url.origin}: ${answer.reason}\n`);
      return ExitCode.Failure;
    }
    await sleep(Math.min(POLL_MS, left));
  }
}

async function probe(url: URL): Promise<{ status: number; reason: string }> {
  try {
    const answer = await adminRequest(url, { timeoutMs: REQUEST_TIMEOUT_MS });
    return { status: answer.status, reason: `${answer.status} ${answer.body.trim().replace(/\n+/g, ' ')}` };
  } catch (error) {
    return { status: 0, reason: (error as NodeJS.ErrnoException).code ?? (error as Error).message };
  }
}
