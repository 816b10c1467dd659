import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RequestBody, type BodyTarget } from '../../../../sidecar/http/requestBody.js';

/** An upstream request that records what it was sent and can say it is full. */
class FakeTarget extends EventEmitter implements BodyTarget {
  readonly chunks: string[] = [];
  ended = false;
  full = false;
  write(chunk: Buffer): boolean {
    this.chunks.push(chunk.toString());
    return !this.full;
  }
  end(): void {
    this.ended = true;
  }
  drain(): void {
    this.full = false;
    this.emit('drain');
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('request body', () => {
  it('forwards chunks and the end to its target', async () => {
    const source = new PassThrough();
    const body = new RequestBody(source, false);
    const target = new FakeTarget();
    body.sendTo(target);
    source.write('a');
    source.end('b');
    await flush();
    expect(target.chunks).toEqual(['a', 'b']);
    expect(target.ended).toBe(true);
  });

  it('pauses the source while the target is full and resumes on drain', async () => {
    const source = new PassThrough();
    const body = new RequestBody(source, false);
    const target = new FakeTarget();
    target.full = true;
    body.sendTo(target);
    source.write('a');
    await flush();
    expect(source.isPaused()).toBe(true);
    target.drain();
    expect(source.isPaused()).toBe(false);
  });

  it('replays what an earlier attempt consumed to the next target', async () => {
    const source = new PassThrough();
    const body = new RequestBody(source, false);
    const first = new FakeTarget();
    body.sendTo(first);
    source.write('a');
    source.write('b');
    await flush();
    body.detach();
    const second = new FakeTarget();
    body.sendTo(second);
    source.end('c');
    await flush();
    expect(second.chunks).toEqual(['a', 'b', 'c']);
    expect(second.ended).toBe(true);
    expect(body.replayable).toBe(true);
  });

  it('stops being replayable past its limit', async () => {
    const source = new PassThrough();
    const body = new RequestBody(source, false, 4);
    body.sendTo(new FakeTarget());
    source.write('abc');
    await flush();
    expect(body.replayable).toBe(true);
    source.write('de');
    await flush();
    expect(body.replayable).toBe(false);
  });

  it('stops keeping a copy once the response has started', async () => {
    const source = new PassThrough();
    const body = new RequestBody(source, false);
    body.sendTo(new FakeTarget());
    body.commit();
    expect(body.replayable).toBe(false);
    source.write('a');
    await flush();
    expect(body.replayable).toBe(false);
  });

  it('ends a target at once for a request without a body', () => {
    const body = RequestBody.none();
    const target = new FakeTarget();
    body.sendTo(target);
    expect(body.empty).toBe(true);
    expect(target.ended).toBe(true);
    expect(target.chunks).toEqual([]);
  });

  it('holds data that arrives between attempts for the next one', async () => {
    const source = new PassThrough();
    const body = new RequestBody(source, false);
    body.sendTo(new FakeTarget());
    body.detach();
    source.write('late');
    await flush();
    const next = new FakeTarget();
    body.sendTo(next);
    await flush();
    expect(next.chunks).toEqual(['late']);
  });
});
