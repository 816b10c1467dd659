import { describe, expect, it } from 'vitest';
import { Iptables, IptablesError, type Runner } from '../../../../sidecar/interception/iptables.js';
import { chainRules, cidrFamily, type InterceptionOptions } from '../../../../sidecar/interception/iptablesRules.js';

const OPTIONS: InterceptionOptions = {
  inboundPort: 15006,
  outboundPort: 15001,
  proxyUid: 1337,
  proxyGid: undefined,
  excludeInboundPorts: [9901],
  excludeOutboundPorts: [],
  excludeOutboundCidrs: ['10.0.0.0/8', 'fd00::/8'],
};

/** A nat table in memory that answers -S, -C, -N, -F, -X, -A and -D as iptables does. */
function fakeTable(): { run: Runner; chains: Map<string, string[]> } {
  const chains = new Map<string, string[]>([['PREROUTING', []], ['OUTPUT', []]]);
  const run: Runner = (_binary, args) => {
    const [, , op, chain, ...rest] = args as [string, string, string, string, ...string[]];
    const rule = rest.join(' ');
    const rules = chains.get(chain);
    const answer = (ok: boolean, stderr = ''): { status: number; stderr: string } => ({ status: ok ? 0 : 1, stderr });
    switch (op) {
      case '-S': return answer(rules !== undefined);
      case '-C': return answer(rules?.includes(rule) === true);
      case '-N': if (rules !== undefined) return answer(false, 'Chain already exists.'); chains.set(chain, []); return answer(true);
      case '-F': if (rules === undefined) return answer(false); rules.length = 0; return answer(true);
      case '-X': return answer(chains.delete(chain));
      case '-A': if (rules === undefined) return answer(false, `Couldn't load target '${chain}'`); rules.push(rule); return answer(true);
      case '-D': { const at = rules?.indexOf(rule) ?? -1; if (at < 0) return answer(false); rules?.splice(at, 1); return answer(true); }
      default: return answer(false, `unknown ${op}`);
    }
  };
  return { run, chains };
}

describe('interception rules', () => {
  it('put each excluded CIDR in the family it belongs to', () => {
    expect(chainRules(OPTIONS, 4).map((rule) => rule.join(' '))).toContain('-A TANDEM_OUTPUT -d 10.0.0.0/8 -j RETURN');
    expect(chainRules(OPTIONS, 4).map((rule) => rule.join(' '))).not.toContain('-A TANDEM_OUTPUT -d fd00::/8 -j RETURN');
    expect(chainRules(OPTIONS, 6).map((rule) => rule.join(' '))).toContain('-A TANDEM_OUTPUT -d fd00::/8 -j RETURN');
  });

  it('end each chain with its redirect, after every exemption', () => {
    const rules = chainRules(OPTIONS, 4).map((rule) => rule.join(' '));
    expect(rules.at(-1)).toBe('-A TANDEM_OUTPUT -p tcp -j REDIRECT --to-ports 15001');
    expect(rules.indexOf('-A TANDEM_INBOUND -p tcp -j REDIRECT --to-ports 15006')).toBeGreaterThan(rules.indexOf('-A TANDEM_INBOUND -p tcp --dport 9901 -j RETURN'));
    expect(rules[rules.indexOf('-A TANDEM_INBOUND -p tcp -j REDIRECT --to-ports 15006') + 1]).toBe('-A TANDEM_OUTPUT -m owner --uid-owner 1337 -j RETURN');
  });

  it('leave inbound traffic alone without an inbound port', () => {
    expect(chainRules({ ...OPTIONS, inboundPort: undefined }, 4).some((rule) => rule.includes('TANDEM_INBOUND'))).toBe(false);
  });

  it.each([
    ['10.0.0.0/8', 4],
    ['169.254.169.254', 4],
    ['fd00::/8', 6],
    ['::1/128', 6],
    ['10.0.0.0/33', undefined],
    ['fd00::/129', undefined],
    ['example.com/8', undefined],
    ['10.0.0.0/x', undefined],
  ])('CIDR %s is IPv%s', (cidr, family) => {
    expect(cidrFamily(cidr)).toBe(family);
  });
});

describe('installing and removing the rules', () => {
  const quiet = (): void => undefined;

  it('install twice leaves one jump per built-in chain and the chains as one install makes them', () => {
    const { run, chains } = fakeTable();
    new Iptables(4, run, quiet).install(OPTIONS);
    const once = structuredClone([...chains]);
    new Iptables(4, run, quiet).install(OPTIONS);
    expect([...chains]).toEqual(once);
    expect(chains.get('OUTPUT')).toEqual(['-p tcp -j TANDEM_OUTPUT']);
    expect(chains.get('PREROUTING')).toEqual(['-p tcp -j TANDEM_INBOUND']);
  });

  it('install without an inbound port removes an earlier install\'s inbound jump', () => {
    const { run, chains } = fakeTable();
    new Iptables(4, run, quiet).install(OPTIONS);
    new Iptables(4, run, quiet).install({ ...OPTIONS, inboundPort: undefined });
    expect(chains.get('PREROUTING')).toEqual([]);
    expect(chains.get('TANDEM_INBOUND')).toEqual([]);
  });

  it('uninstall removes every jump, duplicated ones too, and both chains', () => {
    const { run, chains } = fakeTable();
    new Iptables(4, run, quiet).install(OPTIONS);
    chains.get('OUTPUT')?.push('-p tcp -j TANDEM_OUTPUT'); // as a hand-made second jump would be
    new Iptables(4, run, quiet).uninstall();
    expect([...chains.keys()]).toEqual(['PREROUTING', 'OUTPUT']);
    expect(chains.get('OUTPUT')).toEqual([]);
    expect(chains.get('PREROUTING')).toEqual([]);
  });

  it('dry-run prints the plan and changes nothing', () => {
    const { run, chains } = fakeTable();
    const printed: string[] = [];
    new Iptables(6, run, (line) => printed.push(line), true).install(OPTIONS);
    expect(printed[0]).toBe('ip6tables -t nat -N TANDEM_INBOUND');
    expect(printed.at(-1)).toBe('ip6tables -t nat -A OUTPUT -p tcp -j TANDEM_OUTPUT');
    expect([...chains.keys()]).toEqual(['PREROUTING', 'OUTPUT']);
  });

  it('stops at the first refused command, saying which and why', () => {
    const refusing: Runner = (_binary, args) => ({ status: args.includes('-N') ? 4 : 1, stderr: args.includes('-N') ? 'Permission denied (you must be root)' : '' });
    expect(() => new Iptables(4, refusing, quiet).install(OPTIONS)).toThrow(new IptablesError('iptables -t nat -N TANDEM_INBOUND: Permission denied (you must be root)'));
  });
});
