#!/usr/bin/env node
// The entry point imports nothing that loads `node:http` itself: its ES-module face must be built
// first without undici (core/httpFacade.ts), then the program is loaded.
import { importHttpWithoutUndici } from '../core/httpFacade.js';
import { restartWithSidecarHeap } from './sidecarHeap.js';

// A long-running sidecar gets a smaller young generation (sidecarHeap.ts); this may replace the process.
if (process.argv.slice(2).includes('sidecar')) restartWithSidecarHeap();
await importHttpWithoutUndici();
await import('./program.js');
