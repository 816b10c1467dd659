import type { Headers } from '../http/message.js';

/**
 * Field rules shared by the lean HTTP/1.1 engine's parsers (RFC 9110 §5, RFC 9112 §5), and the
 * error they fail with. Codes are llhttp's (`HPE_*`), so the rest of Tandem tells a lean engine's
 * verdict from Node's by nothing but the message.
 */

/** A message the engine refuses to parse; `code` is llhttp's name for the same fault. */
export class Http1ParseError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'Http1ParseError';
  }
}

const CR = 0x0d;
const LF = 0x0a;

/** tchar (RFC 9110 §5.6.2): the bytes a field name or method may hold. */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let b = 0x30; b <= 0x39; b++) TOKEN[b] = 1;
for (let b = 0x41; b <= 0x5a; b++) TOKEN[b] = 1;
for (let b = 0x61; b <= 0x7a; b++) TOKEN[b] = 1;

/** field-vchar / SP / HTAB, obs-text included (RFC 9110 §5.5): everything but controls and DEL. */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[0x09] = 1;
for (let b = 0x20; b <= 0xff; b++) if (b !== 0x7f) FIELD_VALUE[b] = 1;

/** Whether `text` is a token (RFC 9110 §5.6.2): a method, a field name. */
export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || TOKEN[c] !== 1) return false;
  }
  return true;
}

/** Whether `text` may be a field value as it is sent (RFC 9110 §5.5: no CR, LF, NUL or other controls but HTAB). */
export function isFieldValue(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] !== 1) return false;
  }
  return true;
}

/**
 * Fields whose duplicates Node drops (keeping the first) when it builds `message.headers`
 * (`matchKnownFields` in `_http_incoming.js`): Tandem consumes heads in Node's shape, so the lean
 * engine builds the same object.
 */
const FIRST_WINS = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

/** Adds one field to a head in Node's shape: lower-case names, `set-cookie` an array, duplicates joined. */
export function addField(headers: Headers, name: string, value: string): void {
  // Node drops a `__proto__` field; `constructor`, `toString`… are fields like any other.
  if (name === '__proto__') return;
  const existing = headers[name];
  if (existing === undefined || !Object.hasOwn(headers, name)) {
    headers[name] = name === 'set-cookie' ? [value] : value;
    return;
  }
  if (name === 'set-cookie') (existing as string[]).push(value);
  else if (FIRST_WINS.has(name)) return;
  else headers[name] = `${existing as string}${name === 'cookie' ? '; ' : ', '}${value}`;
}

/** Where the line starting at `start` ends (the index of its CR), or -1 if no CRLF is in `buf` yet. */
export function lineEnd(buf: Buffer, start: number, end: number): number {
  const lf = buf.indexOf(LF, start);
  if (lf < 0 || lf >= end) return -1;
  if (lf === start || buf[lf - 1] !== CR) throw new Http1ParseError('HPE_LF_EXPECTED', 'bare LF: a line must end with CRLF');
  return lf - 1;
}

export interface FieldSection {
  /** The index just past the section's empty line. */
  readonly next: number;
  /** Field lines read (those past `maxFields` are counted, not kept, as Node does). */
  readonly count: number;
  /** Content-Length lines: Node's shape keeps only the first, and a second is a framing fault. */
  readonly contentLengths: number;
}

/**
 * Parses the field lines of a head (or a trailer section) from `start` up to the empty line, into
 * `headers`. `buf[start..]` must hold the whole section, its final empty line included; returns the
 * index just past that line and what was counted. Refuses what RFC 9112 §5 lets a recipient refuse
 * and a proxy must: obs-fold, whitespace before the colon, an empty or non-token name, a CR, LF or NUL
 * in a value.
 */
export function parseFields(buf: Buffer, start: number, end: number, headers: Headers, maxFields: number): FieldSection {
  let pos = start;
  let count = 0;
  let contentLengths = 0;
  for (;;) {
    const cr = lineEnd(buf, pos, end);
    if (cr < 0) throw new Http1ParseError('HPE_INVALID_EOF_STATE', 'the head ended inside a field line');
    if (cr === pos) return { next: cr + 2, count, contentLengths };
    const first = buf[pos] as number;
    if (first === 0x20 || first === 0x09) throw new Http1ParseError('HPE_INVALID_HEADER_TOKEN', 'obs-fold (a field line starting with whitespace)');
    let colon = pos;
    while (colon < cr && TOKEN[buf[colon] as number] === 1) colon++;
    if (colon === pos || buf[colon] !== 0x3a) throw new Http1ParseError('HPE_INVALID_HEADER_TOKEN', 'invalid field name');
    let from = colon + 1;
    while (from < cr && (buf[from] === 0x20 || buf[from] === 0x09)) from++;
    let to = cr;
    while (to > from && (buf[to - 1] === 0x20 || buf[to - 1] === 0x09)) to--;
    for (let i = from; i < to; i++) {
      if (FIELD_VALUE[buf[i] as number] !== 1) throw new Http1ParseError('HPE_INVALID_HEADER_TOKEN', 'invalid character in a field value');
    }
    const name = lowerLatin1(buf, pos, colon);
    if (name === 'content-length') contentLengths++;
    if (++count <= maxFields) addField(headers, name, buf.toString('latin1', from, to));
    pos = cr + 2;
  }
}

/** Field names are tokens: ASCII, so lower-casing byte by byte is exact. */
function lowerLatin1(buf: Buffer, start: number, end: number): string {
  const name = buf.toString('latin1', start, end);
  for (let i = start; i < end; i++) {
    const b = buf[i] as number;
    if (b >= 0x41 && b <= 0x5a) return name.toLowerCase();
  }
  return name;
}

/** A Content-Length value (RFC 9110 §8.6): digits only, no sign, no list; else the message is refused. */
export function parseContentLength(value: string): number {
  if (value.length === 0 || value.length > 15) throw new Http1ParseError('HPE_INVALID_CONTENT_LENGTH', `invalid Content-Length "${value}"`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) throw new Http1ParseError('HPE_INVALID_CONTENT_LENGTH', `invalid Content-Length "${value}"`);
  }
  return Number(value);
}
