#!/usr/bin/env node
// The entry point imports nothing that loads `node:http` itself: its ES-module face must be built
// first without undici (core/httpFacade.ts), then the program is loaded.
import { importHttpWithoutUndici } from '../core/httpFacade.js';

await importHttpWithoutUndici();
await import('./program.js');
