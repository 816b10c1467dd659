import { adminRequest } from '../admin/adminClient.js';
import { ExitCode } from './exitCodes.js';

const REQUEST_TIMEOUT_MS = 5_000;

/**
 * `tandem drain`: `POST /drain` to the sidecar's admin port, which starts the drain SIGTERM starts
 * (readiness fails, Consul deregistration, GOAWAY) and exits when the drain is done. Returns at once;
 * for a container's preStop hook, where the kubelet sends SIGTERM next and the drain goes on.
 */
export async function drainCommand(adminUrl: string): Promise<number> {
  let url: URL;
  try {
    url = new URL('/drain', adminUrl);
    if (url.protocol !== 'http:') throw new Error('expected an http:// URL');
  } catch (error) {
    process.stderr.write(`tandem drain: --admin: ${(error as Error).message} (got "${adminUrl}")\n`);
    return ExitCode.Usage;
  }
  try {
    const answer = await adminRequest(url, { method: 'POST', timeoutMs: REQUEST_TIMEOUT_MS });
    const text = answer.body.trim();
    if (answer.status >= 200 && answer.status < 300) {
      process.stdout.write(`${text || 'draining'} (${url.origin})\n`);
      return ExitCode.Ok;
    }
    process.stderr.write(`tandem drain: ${url.origin} answered ${answer.status}: ${text}\n`);
  } catch (error) {
    process.stderr.write(`tandem drain: ${url.origin}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}\n`);
  }
  return ExitCode.Failure;
}
