import { spawnSync } from 'node:child_process';
import { chainRules, INBOUND_CHAIN, jumpRules, OUTBOUND_CHAIN, type Family, type InterceptionOptions, type Rule } from './iptablesRules.js';

/** What one iptables invocation did: its exit status and what it printed on error. */
export interface RunResult {
  readonly status: number;
  readonly stderr: string;
}

/** Runs `binary` (`iptables` or `ip6tables`) with `args`; injectable so the plans are tested without a kernel. */
export type Runner = (binary: string, args: readonly string[]) => RunResult;

export class IptablesError extends Error {
  override readonly name = 'IptablesError';
}

const BINARY: Record<Family, string> = { 4: 'iptables', 6: 'ip6tables' };

/** Runs the real binary, waiting for the xtables lock rather than failing on it. */
export const systemRunner: Runner = (binary, args) => {
  const result = spawnSync(binary, ['-w', ...args], { encoding: 'utf8' });
  if (result.error !== undefined) {
    const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new IptablesError(missing ? `${binary} not found: install iptables (Debian: apt-get install iptables)` : `${binary}: ${result.error.message}`);
  }
  return { status: result.status ?? 1, stderr: result.stderr };
};

/**
 * Installs or removes the interception rules for one address family, printing each command it runs.
 * Both are idempotent: install empties Tandem's chains and refills them (a second run with other
 * ports replaces the first), adds a jump only where none is, and uninstall removes every jump and
 * both chains, whatever is left of them.
 */
export class Iptables {
  constructor(
    private readonly family: Family,
    private readonly run: Runner,
    private readonly print: (line: string) => void,
    private readonly dryRun = false,
  ) {}

  /** Whether this family's nat table can be used here (an IPv6-less kernel has none). */
  available(): boolean {
    return this.run(BINARY[this.family], ['-t', 'nat', '-S', 'OUTPUT']).status === 0;
  }

  install(options: InterceptionOptions): void {
    for (const chain of [INBOUND_CHAIN, OUTBOUND_CHAIN]) {
      if (!this.exists(chain)) this.apply(['-N', chain]);
      this.apply(['-F', chain]);
    }
    for (const rule of chainRules(options, this.family)) this.apply(rule);
    for (const jump of jumpRules(options)) {
      if (!this.check(jump)) this.apply(['-A', ...jump]);
    }
    // An inbound chain left from an earlier install with an inbound port stays empty and unreferenced.
    if (options.inboundPort === undefined) this.removeJumps([INBOUND_CHAIN]);
  }

  uninstall(): void {
    this.removeJumps([INBOUND_CHAIN, OUTBOUND_CHAIN]);
    for (const chain of [INBOUND_CHAIN, OUTBOUND_CHAIN]) {
      if (!this.exists(chain)) continue;
      this.apply(['-F', chain]);
      this.apply(['-X', chain]);
    }
  }

  private removeJumps(chains: readonly string[]): void {
    for (const jump of jumpRules({ inboundPort: 0 })) {
      if (!chains.includes(jump[jump.length - 1] as string)) continue;
      while (this.check(jump)) {
        this.apply(['-D', ...jump]);
        if (this.dryRun) break;
      }
    }
  }

  private exists(chain: string): boolean {
    return this.run(BINARY[this.family], ['-t', 'nat', '-S', chain]).status === 0;
  }

  private check(jump: Rule): boolean {
    return this.run(BINARY[this.family], ['-t', 'nat', '-C', ...jump]).status === 0;
  }

  private apply(rule: Rule): void {
    const binary = BINARY[this.family];
    this.print(`${binary} -t nat ${rule.join(' ')}`);
    if (this.dryRun) return;
    const result = this.run(binary, ['-t', 'nat', ...rule]);
    if (result.status !== 0) throw new IptablesError(`${binary} -t nat ${rule.join(' ')}: ${result.stderr.trim() || `exit ${result.status}`}`);
  }
}
