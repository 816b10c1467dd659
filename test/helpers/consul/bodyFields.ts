import { parseGoDuration } from './goDuration.js';
import { HttpError } from './http.js';

/**
 * A JSON object read the way Consul's decoder reads it: key lookup ignores case and underscores
 * (`lib.TranslateKeys` plus mapstructure), so `EnableTagOverride`, `enable_tag_override` and
 * `enableTagOverride` are one field. A value of the wrong type is a 400, as Go's decoder makes it.
 */
export class BodyFields {
  private readonly values = new Map<string, unknown>();

  constructor(
    value: unknown,
    private readonly path: string,
  ) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw decodeError(path, 'an object');
    for (const [name, inner] of Object.entries(value)) this.values.set(fold(name), inner);
  }

  /** Go's zero-value test (`CheckType.Empty()`): nothing set to anything but null, '', 0, false or an empty collection. */
  isZero(): boolean {
    return [...this.values.values()].every(
      (value) =>
        value === null ||
        value === '' ||
        value === 0 ||
        value === false ||
        (Array.isArray(value) ? value.length === 0 : typeof value === 'object' && Object.keys(value).length === 0),
    );
  }

  has(name: string): boolean {
    const value = this.values.get(fold(name));
    return value !== undefined && value !== null;
  }

  raw(name: string): unknown {
    return this.values.get(fold(name)) ?? undefined;
  }

  object(name: string): BodyFields | undefined {
    return this.has(name) ? new BodyFields(this.raw(name), this.at(name)) : undefined;
  }

  /** A map of objects under the user's own keys (e.g. `TaggedAddresses`), keys kept verbatim. */
  objectMap(name: string): Map<string, BodyFields> {
    const entries = new Map<string, BodyFields>();
    if (!this.has(name)) return entries;
    const value = this.raw(name);
    if (typeof value !== 'object' || Array.isArray(value)) throw decodeError(this.at(name), 'an object');
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) entries.set(key, new BodyFields(inner, `${this.at(name)}.${key}`));
    return entries;
  }

  objects(name: string): BodyFields[] {
    if (!this.has(name)) return [];
    const list = this.raw(name);
    if (!Array.isArray(list)) throw decodeError(this.at(name), 'an array');
    return list.map((item, i) => new BodyFields(item, `${this.at(name)}[${i}]`));
  }

  string(name: string): string {
    const value = this.raw(name);
    if (value === undefined || value === null) return '';
    if (typeof value !== 'string') throw decodeError(this.at(name), 'a string');
    return value;
  }

  integer(name: string): number {
    const value = this.raw(name);
    if (value === undefined || value === null) return 0;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw decodeError(this.at(name), 'an integer');
    return value;
  }

  boolean(name: string): boolean {
    const value = this.raw(name);
    if (value === undefined || value === null) return false;
    if (typeof value !== 'boolean') throw decodeError(this.at(name), 'a boolean');
    return value;
  }

  strings(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw decodeError(this.at(name), 'an array of strings');
    return [...value];
  }

  /** A string map kept verbatim (its keys are the user's), or null when absent, as Go leaves a nil map. */
  stringMap(name: string): Record<string, string> | null {
    const value = this.raw(name);
    if (value === undefined || value === null) return null;
    if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((item) => typeof item === 'string')) {
      throw decodeError(this.at(name), 'an object of strings');
    }
    return { ...(value as Record<string, string>) };
  }

  /** Nanoseconds from a Go duration string, or from a number (mapstructure takes it as nanoseconds). */
  duration(name: string): number {
    const value = this.raw(name);
    if (value === undefined || value === null || value === '') return 0;
    if (typeof value === 'number') return value;
    const nanos = typeof value === 'string' ? parseGoDuration(value) : undefined;
    if (nanos === undefined) throw decodeError(this.at(name), `a duration, got ${JSON.stringify(value)}`);
    return nanos;
  }

  private at(name: string): string {
    return this.path === '' ? name : `${this.path}.${name}`;
  }
}

function fold(name: string): string {
  return name.replaceAll('_', '').toLowerCase();
}

function decodeError(path: string, expected: string): HttpError {
  return new HttpError(400, `Request decode failed: ${path === '' ? 'body' : path}: expected ${expected}`);
}
