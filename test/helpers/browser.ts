import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { onCleanup } from './cleanup.js';

/**
 * Headless Chromium for the tests of pages Tandem serves, driven by playwright-core: Debian's
 * `chromium` (scripts/system-deps.sh installs it), since Playwright's own browser download needs a
 * host this workplace cannot reach. TANDEM_CHROMIUM names another binary.
 */
export function chromiumPath(): string {
  const configured = process.env['TANDEM_CHROMIUM'];
  if (configured !== undefined && configured !== '') return configured;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, 'chromium');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('no `chromium` on PATH: scripts/system-deps.sh installs it (as root), or set TANDEM_CHROMIUM to a Chromium binary');
}

export function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
  return chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

export interface WatchedPage {
  readonly page: Page;
  /** Console errors, uncaught page errors, failed requests and answers of 400 or more, as they happened. */
  readonly problems: string[];
}

/** A fresh page (its own context) that records every problem from its first request on; closed after the test. */
export async function watchedPage(browser: Browser): Promise<WatchedPage> {
  const context = await browser.newContext();
  onCleanup(() => context.close());
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()} (${request.failure()?.errorText ?? 'no reason'})`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  return { page, problems };
}
