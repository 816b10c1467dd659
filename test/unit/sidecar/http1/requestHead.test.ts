import { describe, expect, it } from 'vitest';
import { http1EngineFrom } from '../../../../sidecar/http1/engine.js';
import { RequestHeadError, serializeRequestHead } from '../../../../sidecar/http1/requestHead.js';

function refusal(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(RequestHeadError);
    return (error as RequestHeadError).code;
  }
}

describe('serializeRequestHead', () => {
  it('writes the request line, every value of a repeated field, and keep-alive', () => {
    expect(serializeRequestHead('GET', '/a?b', { host: 'web', accept: ['a', 'b'], skipped: undefined }, false)).toBe(
      'GET /a?b HTTP/1.1\r\nhost: web\r\naccept: a\r\naccept: b\r\nconnection: keep-alive\r\n\r\n',
    );
  });

  it('frames an empty body as Node does: Content-Length 0 for POST, nothing for GET, HEAD, DELETE', () => {
    expect(serializeRequestHead('POST', '/', { host: 'web' }, false)).toContain('content-length: 0\r\n');
    for (const method of ['GET', 'HEAD', 'DELETE']) expect(serializeRequestHead(method, '/', { host: 'web' }, false)).not.toContain('content-length');
    expect(serializeRequestHead('POST', '/', { host: 'web', 'transfer-encoding': 'chunked' }, true)).not.toContain('content-length');
  });

  it('refuses what http.request refuses: a bad method or name, a control character in a value, a space in the path', () => {
    expect(refusal(() => serializeRequestHead('GE T', '/', {}, false))).toBe('ERR_INVALID_HTTP_TOKEN');
    expect(refusal(() => serializeRequestHead('GET', '/', { 'x y': '1' }, false))).toBe('ERR_INVALID_HTTP_TOKEN');
    expect(refusal(() => serializeRequestHead('GET', '/', { 'x-a': 'a\r\nx-smuggled: 1' }, false))).toBe('ERR_INVALID_CHAR');
    expect(refusal(() => serializeRequestHead('GET', '/a b', {}, false))).toBe('ERR_UNESCAPED_CHARACTERS');
  });
});

describe('TANDEM_HTTP1_ENGINE', () => {
  it('is lean unless it says node, and refuses anything else', () => {
    expect([undefined, '', 'lean'].map(http1EngineFrom)).toEqual(['lean', 'lean', 'lean']);
    expect(http1EngineFrom('node')).toBe('node');
    expect(() => http1EngineFrom('llhttp')).toThrow(/must be "node" or "lean"/);
  });
});
