import { HTTP1_ENGINE, type Http1Engine } from '../http1/engine.js';
import type { Http1EngineOptions, Http1ServerEngine } from './http1ServerEngine.js';
import { LeanHttp1Engine } from './leanHttp1Engine.js';
import { NodeHttp1Engine } from './nodeHttp1Engine.js';

const ENGINES: Readonly<Record<Http1Engine, (options: Http1EngineOptions) => Http1ServerEngine>> = {
  node: (options) => new NodeHttp1Engine(options),
  lean: (options) => new LeanHttp1Engine(options),
};

/** A listener's HTTP/1.1 server side on `engine` (the process's `TANDEM_HTTP1_ENGINE` unless given). */
export function createHttp1ServerEngine(options: Http1EngineOptions, engine: Http1Engine = HTTP1_ENGINE): Http1ServerEngine {
  return ENGINES[engine](options);
}
