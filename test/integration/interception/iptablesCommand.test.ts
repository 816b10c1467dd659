import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createNetns, type Netns } from '../../helpers/netns.js';
import { runCliIn, writeConfig } from '../../helpers/processes.js';

/**
 * `tandem iptables install|uninstall` for real, on the nat tables of a network namespace made for
 * each test: what the rules are, that running either twice changes nothing, and that uninstall
 * leaves the tables as they were.
 */

function nat(ns: Netns, family: 4 | 6): string {
  const save = family === 4 ? 'iptables-save' : 'ip6tables-save';
  return execFileSync('ip', ['netns', 'exec', ns.name, save, '-t', 'nat'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n');
}

function rules(ns: Netns, family: 4 | 6): string[] {
  return nat(ns, family)
    .split('\n')
    .filter((line) => line.startsWith('-A'));
}

/** The nat rules of the first test's install, for one family: its loopback and its excluded CIDR. */
function expectedRules(loopback: string, cidr: string): string[] {
  return [
    '-A PREROUTING -p tcp -j TANDEM_INBOUND',
    '-A OUTPUT -p tcp -j TANDEM_OUTPUT',
    '-A TANDEM_INBOUND -p tcp -m tcp --dport 9901 -j RETURN',
    '-A TANDEM_INBOUND -p tcp -m tcp --dport 8443 -j RETURN',
    '-A TANDEM_INBOUND -p tcp -j REDIRECT --to-ports 15006',
    '-A TANDEM_OUTPUT -m owner --uid-owner 1337 -j RETURN',
    '-A TANDEM_OUTPUT -m owner --gid-owner 1337 -j RETURN',
    `-A TANDEM_OUTPUT -d ${loopback} -j RETURN`,
    '-A TANDEM_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN',
    `-A TANDEM_OUTPUT -d ${cidr} -j RETURN`,
    '-A TANDEM_OUTPUT -p tcp -j REDIRECT --to-ports 15001',
  ];
}

describe('tandem iptables', () => {
  it('install redirects inbound TCP to the inbound port and the app\'s outbound TCP to the outbound port, leaving Tandem\'s UID, loopback and exclusions alone — for IPv4 and IPv6', async () => {
    const ns = createNetns();
    const run = await runCliIn(ns.name, [
      'iptables', 'install', '--inbound-port', '15006', '--outbound-port', '15001', '--proxy-uid', '1337', '--proxy-gid', '1337',
      '--exclude-inbound-ports', '9901,8443', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '169.254.169.254/32,fd00:ec2::254/128', '--ipv6', 'on',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('iptables -t nat -A OUTPUT -p tcp -j TANDEM_OUTPUT');
    expect(run.stdout).toContain('ip6tables -t nat -A PREROUTING -p tcp -j TANDEM_INBOUND');
    expect(rules(ns, 4)).toEqual(expectedRules('127.0.0.1/32', '169.254.169.254/32'));
    expect(rules(ns, 6)).toEqual(expectedRules('::1/128', 'fd00:ec2::254/128'));
  });

  it('install is idempotent: a second run leaves the same tables, and a run with other ports replaces the rules without a second jump', async () => {
    const ns = createNetns();
    const install = ['iptables', 'install', '--ipv6', 'on'];
    expect((await runCliIn(ns.name, install)).code).toBe(0);
    const once = [nat(ns, 4), nat(ns, 6)];
    const again = await runCliIn(ns.name, install);
    expect(again.code, again.stderr).toBe(0);
    expect([nat(ns, 4), nat(ns, 6)]).toEqual(once);

    expect((await runCliIn(ns.name, ['iptables', 'install', '--ipv6', 'on', '--outbound-port', '4140', '--inbound-port', '4143'])).code).toBe(0);
    for (const family of [4, 6] as const) {
      const now = rules(ns, family);
      expect(now.filter((rule) => rule.includes('-j TANDEM_'))).toEqual(['-A PREROUTING -p tcp -j TANDEM_INBOUND', '-A OUTPUT -p tcp -j TANDEM_OUTPUT']);
      expect(now).toContain('-A TANDEM_OUTPUT -p tcp -j REDIRECT --to-ports 4140');
      expect(now).toContain('-A TANDEM_INBOUND -p tcp -j REDIRECT --to-ports 4143');
      expect(now.join('\n')).not.toMatch(/1500[16]/);
    }
  });

  it('uninstall leaves no rule or chain behind, and a second uninstall is a no-op', async () => {
    const ns = createNetns();
    const pristine = [nat(ns, 4), nat(ns, 6)];
    expect((await runCliIn(ns.name, ['iptables', 'install', '--ipv6', 'on', '--exclude-inbound-ports', '9901'])).code).toBe(0);
    expect(nat(ns, 4)).toContain('TANDEM_');
    const uninstall = await runCliIn(ns.name, ['iptables', 'uninstall', '--ipv6', 'on']);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    expect(uninstall.stdout).toContain('iptables -t nat -X TANDEM_OUTPUT');
    expect([nat(ns, 4), nat(ns, 6)]).toEqual(pristine);
    expect(nat(ns, 4)).not.toContain('TANDEM');
    const again = await runCliIn(ns.name, ['iptables', 'uninstall', '--ipv6', 'on']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).not.toContain('-X');
    expect([nat(ns, 4), nat(ns, 6)]).toEqual(pristine);
  });

  it('-c FILE takes the ports from a sidecar configuration and keeps the admin port out of the inbound redirect', async () => {
    const ns = createNetns();
    const { file } = writeConfig({
      service: { name: 'web', port: 8080 },
      inbound: { address: '0.0.0.0', port: 4143 },
      outbound: { http_proxy_port: 4140, transparent: {} },
      admin: { port: 4191 },
    });
    const run = await runCliIn(ns.name, ['iptables', 'install', '-c', file, '--ipv6', 'off']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('# ip6tables: skipped (--ipv6 off)');
    const now = rules(ns, 4);
    expect(now).toContain('-A TANDEM_INBOUND -p tcp -m tcp --dport 4191 -j RETURN');
    expect(now).toContain('-A TANDEM_INBOUND -p tcp -j REDIRECT --to-ports 4143');
    expect(now).toContain('-A TANDEM_OUTPUT -p tcp -j REDIRECT --to-ports 4140');
    expect(rules(ns, 6)).toEqual([]);
  });

  it('refuses bad flags with exit 2, naming the flag, and changes nothing', async () => {
    const ns = createNetns();
    const pristine = nat(ns, 4);
    const cases: Array<[string[], RegExp]> = [
      [['iptables', 'install', '--outbound-port', '70000'], /--outbound-port: expected a port 1-65535, got "70000"/],
      [['iptables', 'install', '--exclude-outbound-cidrs', '10.0.0.0/33'], /--exclude-outbound-cidrs: "10.0.0.0\/33" is not an IPv4 or IPv6 CIDR/],
      [['iptables', 'install', '--ipv6', 'maybe'], /--ipv6: expected auto, on or off/],
      [['iptables', 'reinstall'], /unknown command "reinstall"/],
    ];
    for (const [args, message] of cases) {
      const run = await runCliIn(ns.name, args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(message);
    }
    expect(nat(ns, 4)).toBe(pristine);
  });
});
