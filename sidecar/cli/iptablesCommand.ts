import { parseArgs } from 'node:util';
import { Iptables, IptablesError, systemRunner, type Runner } from '../interception/iptables.js';
import { cidrFamily, DEFAULT_INBOUND_PORT, DEFAULT_OUTBOUND_PORT, DEFAULT_PROXY_UID, type InterceptionOptions } from '../interception/iptablesRules.js';
import { ExitCode } from './exitCodes.js';

export const IPTABLES_USAGE = `Usage: tandem iptables install|uninstall [options]

Redirects a pod's TCP to its Tandem (nat table, chains TANDEM_INBOUND and TANDEM_OUTPUT, in the
network namespace it runs in): the app's outbound connections to the outbound port, inbound ones
to the inbound port; Tandem's own traffic (by UID/GID), loopback and what is excluded are left
alone. Both commands are idempotent and print every iptables command they run. Needs NET_ADMIN.

Options:
  -c, --config FILE                ports from a sidecar configuration: inbound.port,
                                   outbound.http_proxy_port, and admin.port excluded from inbound
  --inbound-port N                 default ${DEFAULT_INBOUND_PORT}; 0: leave inbound traffic alone
  --outbound-port N                default ${DEFAULT_OUTBOUND_PORT}
  --proxy-uid UID                  the UID Tandem runs as (default ${DEFAULT_PROXY_UID})
  --proxy-gid GID                  also exempt this GID
  --exclude-inbound-ports LIST     comma-separated ports not redirected inbound
  --exclude-outbound-ports LIST    comma-separated destination ports not redirected
  --exclude-outbound-cidrs LIST    comma-separated destination CIDRs not redirected (IPv4 and IPv6)
  --ipv6 auto|on|off               IPv6 rules too: auto when ip6tables' nat table works (default)
  --dry-run                        print the commands without running them
`;

/** `tandem iptables install|uninstall`. The runner is injectable for tests of the plans. */
export async function iptablesCommand(argv: readonly string[], run: Runner = systemRunner): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'inbound-port': { type: 'string' },
        'outbound-port': { type: 'string' },
        'proxy-uid': { type: 'string' },
        'proxy-gid': { type: 'string' },
        'exclude-inbound-ports': { type: 'string' },
        'exclude-outbound-ports': { type: 'string' },
        'exclude-outbound-cidrs': { type: 'string' },
        ipv6: { type: 'string' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(IPTABLES_USAGE);
    return ExitCode.Ok;
  }
  const action = positionals[0];
  if (action !== 'install' && action !== 'uninstall') return usage(action === undefined ? 'install or uninstall?' : `unknown command "${action}"`);
  const ipv6 = values.ipv6 ?? 'auto';
  if (ipv6 !== 'auto' && ipv6 !== 'on' && ipv6 !== 'off') return usage(`--ipv6: expected auto, on or off, got "${ipv6}"`);

  let options: InterceptionOptions;
  try {
    options = await interceptionOptions(values);
  } catch (error) {
    if (error instanceof UsageError) return usage(error.message);
    throw error;
  }
  const print = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    for (const family of [4, 6] as const) {
      const tables = new Iptables(family, run, print, values['dry-run'] === true);
      if (family === 6 && !wanted(ipv6, tables)) {
        print(`# ip6tables: skipped (${ipv6 === 'off' ? '--ipv6 off' : 'no IPv6 nat table here'})`);
        continue;
      }
      if (action === 'install') tables.install(options);
      else tables.uninstall();
    }
  } catch (error) {
    if (!(error instanceof IptablesError)) throw error;
    process.stderr.write(`tandem iptables ${action}: ${error.message}\n`);
    return ExitCode.Failure;
  }
  return ExitCode.Ok;
}

function wanted(ipv6: 'auto' | 'on' | 'off', tables: Iptables): boolean {
  if (ipv6 === 'off') return false;
  return ipv6 === 'on' || tables.available();
}

class UsageError extends Error {}

interface Flags {
  readonly config?: string | undefined;
  readonly 'inbound-port'?: string | undefined;
  readonly 'outbound-port'?: string | undefined;
  readonly 'proxy-uid'?: string | undefined;
  readonly 'proxy-gid'?: string | undefined;
  readonly 'exclude-inbound-ports'?: string | undefined;
  readonly 'exclude-outbound-ports'?: string | undefined;
  readonly 'exclude-outbound-cidrs'?: string | undefined;
}

/** Flags over the configuration file's ports over the defaults. */
async function interceptionOptions(flags: Flags): Promise<InterceptionOptions> {
  let fromConfig: { inbound?: number; outbound?: number; admin?: number } = {};
  if (flags.config !== undefined) {
    const { loadChecked } = await import('./commands.js');
    const loaded = loadChecked(flags.config);
    if (loaded === undefined) throw new UsageError(`${flags.config}: not a valid configuration (above)`);
    const { config } = loaded;
    if (config.outbound.http_proxy_port === undefined) throw new UsageError(`${flags.config}: outbound.http_proxy_port: required to redirect outbound traffic to`);
    fromConfig = { outbound: config.outbound.http_proxy_port, admin: config.admin.port, ...(config.inbound === undefined ? {} : { inbound: config.inbound.port }) };
  }
  const inboundPort = port(flags['inbound-port'], '--inbound-port', true) ?? (flags.config === undefined ? DEFAULT_INBOUND_PORT : fromConfig.inbound);
  const excludeInbound = ports(flags['exclude-inbound-ports'], '--exclude-inbound-ports');
  if (fromConfig.admin !== undefined && !excludeInbound.includes(fromConfig.admin)) excludeInbound.unshift(fromConfig.admin);
  const cidrs = list(flags['exclude-outbound-cidrs']);
  for (const cidr of cidrs) if (cidrFamily(cidr) === undefined) throw new UsageError(`--exclude-outbound-cidrs: "${cidr}" is not an IPv4 or IPv6 CIDR`);
  return {
    inboundPort: inboundPort === 0 ? undefined : inboundPort,
    outboundPort: port(flags['outbound-port'], '--outbound-port') ?? fromConfig.outbound ?? DEFAULT_OUTBOUND_PORT,
    proxyUid: id(flags['proxy-uid'], '--proxy-uid') ?? DEFAULT_PROXY_UID,
    proxyGid: id(flags['proxy-gid'], '--proxy-gid'),
    excludeInboundPorts: excludeInbound,
    excludeOutboundPorts: ports(flags['exclude-outbound-ports'], '--exclude-outbound-ports'),
    excludeOutboundCidrs: cidrs,
  };
}

function list(text: string | undefined): string[] {
  return (text ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
}

function port(text: string | undefined, flag: string, zeroAllowed = false): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65535 || (value === 0 && !zeroAllowed)) throw new UsageError(`${flag}: expected a port ${zeroAllowed ? '0' : '1'}-65535, got "${text}"`);
  return value;
}

function ports(text: string | undefined, flag: string): number[] {
  return list(text).map((item) => port(item, flag) as number);
}

function id(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) > 2 ** 32 - 2) throw new UsageError(`${flag}: expected a numeric id, got "${text}"`);
  return Number(text);
}

function usage(message: string): number {
  process.stderr.write(`tandem iptables: ${message}\n\n${IPTABLES_USAGE}`);
  return ExitCode.Usage;
}
