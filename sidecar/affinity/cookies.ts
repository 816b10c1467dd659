import type { Headers } from '../http/message.js';

/** The value of cookie `name` in a request's Cookie header(s), or undefined (RFC 6265 §5.4). */
export function requestCookie(headers: Readonly<Headers>, name: string): string | undefined {
  const header = headers['cookie'];
  if (header === undefined) return undefined;
  for (const line of Array.isArray(header) ? header : [header]) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value;
    }
  }
  return undefined;
}

export interface SetCookieOptions {
  readonly path: string;
  /** Seconds until the client drops the cookie; undefined for a session cookie. */
  readonly maxAgeSeconds: number | undefined;
}

/** A Set-Cookie value: HttpOnly (scripts never need it), with Path and, if given, Max-Age. */
export function setCookie(name: string, value: string, options: SetCookieOptions): string {
  const maxAge = options.maxAgeSeconds === undefined ? '' : `; Max-Age=${options.maxAgeSeconds}`;
  return `${name}=${value}; Path=${options.path}${maxAge}; HttpOnly`;
}

/** Cookie names are HTTP tokens (RFC 6265 §4.1.1). */
export const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
