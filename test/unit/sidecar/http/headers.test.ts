import { describe, expect, it } from 'vitest';
import { downstreamResponseHeaders, forwardableTrailers, upstreamRequestHeaders } from '../../../../sidecar/http/headers.js';

const from = { remoteAddress: '10.1.2.3', scheme: 'http' };

describe('request headers for the upstream', () => {
  it('drops hop-by-hop headers, pseudo-headers and Host', () => {
    const out = upstreamRequestHeaders(
      {
        ':path': '/',
        host: 'orders',
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        'proxy-authorization': 'Basic x',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        'http2-settings': 'AAA',
        'x-app': '1',
      },
      from,
    );
    expect(Object.keys(out).sort()).toEqual(['x-app', 'x-forwarded-for', 'x-forwarded-proto']);
  });

  it('drops the headers Connection names, in any case and list form', () => {
    const out = upstreamRequestHeaders({ connection: 'X-Foo, close , x-bar', 'x-foo': '1', 'x-bar': '2', 'x-keep': '3' }, from);
    expect(out['x-foo']).toBeUndefined();
    expect(out['x-bar']).toBeUndefined();
    expect(out['x-keep']).toBe('3');
  });

  it('keeps TE only as "trailers"', () => {
    expect(upstreamRequestHeaders({ te: 'trailers' }, from)['te']).toBe('trailers');
    expect(upstreamRequestHeaders({ te: 'gzip, trailers;q=0.5' }, from)['te']).toBe('trailers');
    expect(upstreamRequestHeaders({ te: 'gzip' }, from)['te']).toBeUndefined();
  });

  it('keeps TE: trailers when Connection names TE, as compliant HTTP/1.1 clients send it', () => {
    expect(upstreamRequestHeaders({ connection: 'TE', te: 'trailers' }, from)['te']).toBe('trailers');
  });

  it('drops Expect, which Tandem answers itself', () => {
    expect(upstreamRequestHeaders({ expect: '100-continue' }, from)['expect']).toBeUndefined();
  });

  it('appends the peer to x-forwarded-for and keeps the first hop scheme in x-forwarded-proto', () => {
    expect(upstreamRequestHeaders({}, from)).toMatchObject({ 'x-forwarded-for': '10.1.2.3', 'x-forwarded-proto': 'http' });
    expect(upstreamRequestHeaders({ 'x-forwarded-for': '1.1.1.1', 'x-forwarded-proto': 'https' }, from)).toMatchObject({
      'x-forwarded-for': '1.1.1.1, 10.1.2.3',
      'x-forwarded-proto': 'https',
    });
  });

  it('at the edge, says in x-forwarded-proto the scheme the client really used, whatever it sent', () => {
    expect(upstreamRequestHeaders({ 'x-forwarded-proto': 'https' }, { ...from, edge: true })).toMatchObject({ 'x-forwarded-proto': 'http' });
    expect(upstreamRequestHeaders({ 'x-forwarded-proto': 'http' }, { ...from, scheme: 'https', edge: true })).toMatchObject({ 'x-forwarded-proto': 'https' });
  });

  it('keeps the first hop host in x-forwarded-host, and at the edge says the host the client asked for', () => {
    expect(upstreamRequestHeaders({}, { ...from, authority: 'orders:8080' })['x-forwarded-host']).toBe('orders:8080');
    expect(upstreamRequestHeaders({ 'x-forwarded-host': 'shop.example.com' }, { ...from, authority: 'orders' })['x-forwarded-host']).toBe('shop.example.com');
    expect(upstreamRequestHeaders({ 'x-forwarded-host': 'evil.example' }, { ...from, authority: 'shop.example.com', edge: true })['x-forwarded-host']).toBe('shop.example.com');
    expect(upstreamRequestHeaders({}, { ...from, authority: '' })['x-forwarded-host']).toBeUndefined();
  });

  it('leaves end-to-end headers, including repeated ones, untouched', () => {
    const out = upstreamRequestHeaders({ cookie: 'a=1; b=2', accept: ['a', 'b'], 'grpc-timeout': '1S' }, from);
    expect(out).toMatchObject({ cookie: 'a=1; b=2', accept: ['a', 'b'], 'grpc-timeout': '1S' });
  });
});

describe('response headers for the downstream', () => {
  it('drops :status, hop-by-hop headers and headers Connection names; keeps set-cookie lists', () => {
    const out = downstreamResponseHeaders({
      ':status': '200',
      connection: 'x-hop',
      'x-hop': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'proxy-authenticate': 'Basic',
      'set-cookie': ['a=1', 'b=2'],
      'content-length': '5',
    });
    expect(out).toEqual({ 'set-cookie': ['a=1', 'b=2'], 'content-length': '5' });
  });

  it('passes trailers through and drops ones that are not plain fields', () => {
    expect(forwardableTrailers({ 'grpc-status': '0', 'grpc-message': 'ok', connection: 'close' })).toEqual({ 'grpc-status': '0', 'grpc-message': 'ok' });
    expect(forwardableTrailers(undefined)).toBeUndefined();
    expect(forwardableTrailers({ connection: 'close' })).toBeUndefined();
  });
});
