import { parseArgs } from 'node:util';
import { CaStoreError } from '../../ca/store.js';
import { InjectorConfigError, InjectorServer, loadInjectorConfig } from '../../injector/index.js';
import { ExitCode } from './exitCodes.js';

export const INJECTOR_USAGE = `Usage: tandem injector serve -c FILE

  serve -c FILE          run the Kubernetes sidecar injector (a mutating admission webhook over
                         HTTPS) with the configuration in FILE (injector.yaml); SIGTERM or SIGINT
                         stop it once the reviews in flight are answered

See docs/kubernetes.md.
`;

/** `tandem injector …`. Returns the exit code; `serve` returns only when the server stops. */
export async function injectorCommand(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help === true) {
    process.stdout.write(INJECTOR_USAGE);
    return ExitCode.Ok;
  }
  if (command !== 'serve' || positionals.length > 1) return usage(command === undefined ? 'tandem injector: a command is required' : `tandem injector: unknown command "${positionals.join(' ')}"`);
  if (values.config === undefined) return usage('tandem injector serve: -c FILE is required');
  let server: InjectorServer;
  try {
    server = await InjectorServer.start(loadInjectorConfig(values.config));
  } catch (error) {
    if (error instanceof InjectorConfigError) {
      process.stderr.write(`tandem injector serve: ${error.message}\n`);
      return ExitCode.Usage;
    }
    if (error instanceof CaStoreError) {
      process.stderr.write(`tandem injector serve: tls.ca_dir: ${error.message}\n`);
      return ExitCode.Usage;
    }
    throw error;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return ExitCode.Ok;
}

function usage(message: string): number {
  process.stderr.write(`${message}\n\n${INJECTOR_USAGE}`);
  return ExitCode.Usage;
}
