import { isIP } from 'node:net';

/**
 * The port and CIDR lists `tandem iptables install` takes (`--exclude-outbound-ports 5432,6379`), as
 * they arrive from injector.yaml (arrays) and from pod annotations (comma-separated text).
 */

/** A TCP port a rule can name: 1 to 65535 (0 means "any" to the kernel, never a port to skip). */
export function isPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** An IPv4 or IPv6 CIDR (`10.0.0.0/8`, `fd00::/8`) or a bare address, as iptables' `-d` takes it. */
export function isCidr(text: string): boolean {
  const [address, prefix, ...rest] = text.split('/');
  if (address === undefined || rest.length > 0) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** The items of a comma-separated list, trimmed, empty items dropped (`"80, 443,"` → `["80", "443"]`). */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** `values` without repeats, first occurrence kept, as the comma-separated text iptables' flags take. */
export function joinUnique(values: ReadonlyArray<string | number>): string {
  return [...new Set(values.map(String))].join(',');
}
