import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Address, DurationField } from '../sidecar/config/fields.js';
import { describeIssues } from '../sidecar/config/issues.js';
import { isCidr, isPort } from './networkLists.js';

/**
 * injector.yaml, the file `tandem injector serve -c` reads (the Helm chart renders it into a
 * ConfigMap). Its `sidecar` block is the default every injected pod gets; pod annotations override
 * parts of it (annotations.ts). Every key but `tls.dns_names` has a default.
 */

const Port = z.number().int().refine(isPort, 'expected a port from 1 to 65535');
/** A DNS name as the API server dials the Service (`tandem-injector.tandem.svc`): RFC 1123 labels. */
const DnsName = z.string().regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'expected a lowercase DNS name such as tandem-injector.tandem.svc');
/** Resource quantities (`100m`, `64Mi`, `1`) go to the pod as the strings Kubernetes prints them as. */
const Quantities = z.record(z.string(), z.union([z.string().min(1), z.number().nonnegative().transform(String)]));

const SidecarDefaults = z
  .strictObject({
    image: z.string().min(1).default('ghcr.io/tandem-mesh/tandem:0.1.0'),
    image_pull_policy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    /** Copied verbatim to the `tandem` and `tandem-init` containers. */
    resources: z.strictObject({ requests: Quantities.optional(), limits: Quantities.optional() }).default({ requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } }),
    /** Tandem runs as this UID and GID; the iptables rules let this UID's traffic through unredirected. Never root. */
    uid: z.number().int().min(1).max(2 ** 31 - 1).default(1337),
    ports: z
      .strictObject({ inbound: Port.default(15006), outbound: Port.default(15001), admin: Port.default(9901) })
      .prefault({})
      .refine((ports) => new Set([ports.inbound, ports.outbound, ports.admin]).size === 3, 'inbound, outbound and admin must be three different ports'),
    inbound_tls_mode: z.enum(['strict', 'permissive']).default('permissive'),
    log_level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    ca_address: z.url({ protocol: /^https$/, error: 'expected an https:// URL' }).default('https://tandem-ca.tandem.svc:8443'),
    consul_address: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).default('http://consul-server.consul.svc:8500'),
    join_token_ttl: DurationField.prefault('24h').refine((ttl) => ttl.ms >= 60_000, 'must be at least 1m (the sidecar needs time to start)'),
    drain: z.strictObject({ wait_before_drain: DurationField.prefault('5s'), timeout: DurationField.prefault('30s') }).prefault({}),
    /** false: the fallback for clusters before Kubernetes 1.29 (no `restartPolicy` on init containers). */
    native_sidecar: z.boolean().default(true),
    exclude_outbound_cidrs: z.array(z.string().refine(isCidr, 'expected a CIDR such as 169.254.169.254/32')).default([]),
    exclude_outbound_ports: z.array(Port).default([]),
    exclude_inbound_ports: z.array(Port).default([]),
  })
  .prefault({});

export const InjectorConfigSchema = z.strictObject({
  listen: z.strictObject({ address: Address.default('0.0.0.0'), port: z.number().int().min(0).max(65535).default(8443) }).prefault({}),
  tls: z.strictObject({
    /** The CA directory (`tandem ca init`), mounted from the CA Secret: the root signs the serving certificate, token.key the join tokens. */
    ca_dir: z.string().min(1).default('/var/lib/tandem-ca'),
    /** The names the API server reaches the injector's Service by: the serving certificate's DNS SANs. */
    dns_names: z.array(DnsName).min(1, 'must name at least one DNS name (the injector Service\'s)'),
  }),
  sidecar: SidecarDefaults,
});

export type InjectorConfig = z.output<typeof InjectorConfigSchema>;
export type SidecarDefaults = InjectorConfig['sidecar'];

/** injector.yaml failed to read or validate; `problems` name each bad field. The CLI exits 2. */
export class InjectorConfigError extends Error {
  override readonly name = 'InjectorConfigError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid injector configuration ${source}:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
  }
}

/** Validates an already-parsed injector.yaml. Throws InjectorConfigError. */
export function parseInjectorConfig(document: unknown, source = '(inline)'): InjectorConfig {
  const result = InjectorConfigSchema.safeParse(document ?? {});
  if (!result.success) throw new InjectorConfigError(source, describeIssues(result.error));
  return result.data;
}

/** Reads and validates injector.yaml. Throws InjectorConfigError. */
export function loadInjectorConfig(file: string): InjectorConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new InjectorConfigError(file, [`cannot read: ${(error as Error).message}`]);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new InjectorConfigError(file, [`not valid YAML: ${(error as Error).message.split('\n')[0]}`]);
  }
  return parseInjectorConfig(document, file);
}
