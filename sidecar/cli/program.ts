import { tandemVersion } from '../core/version.js';
import { parseArgs } from 'node:util';
import { parseDurationMs } from '../core/duration.js';
import { setup } from '../setup.js';
import { ExitCode } from './exitCodes.js';

const USAGE = `Usage: tandem <command> [options]

Commands:
  sidecar -c FILE        run a sidecar with the configuration in FILE (YAML or JSON);
                         SIGTERM, SIGINT or POST /drain drain it and it exits 0
    --replace            take over from the Tandem running with FILE (in-place upgrade): bind
                         the same ports beside it, become ready, then have it drain and exit
  validate -c FILE       check FILE (and files it refers to) and exit
  stat [--admin URL] [--endpoints] [--window 10s] [--json]
                         a live table per upstream (and endpoint): requests/s, success, latency
                         quantiles, endpoints, ejections, retries, overflows; --json: one snapshot
  wait-ready [--admin URL] [--timeout D]
                         exit 0 once the sidecar's /ready answers 200 (default admin
                         http://127.0.0.1:9901, timeout 60s), 1 with the reason on timeout
  drain [--admin URL]    start the sidecar's drain (POST /drain), as SIGTERM does; for preStop hooks
  iptables install|uninstall [-c FILE] [options]
                         redirect a pod's TCP to its Tandem, or stop (\`tandem iptables --help\`)
  demo [--duration D]    run a demo mesh on this machine (what \`npm start\` runs); D like 30s
  ca <command> --dir DIR the built-in certificate authority (\`tandem ca --help\` lists its commands)
  injector serve -c FILE the Kubernetes sidecar injector, a mutating admission webhook (docs/kubernetes.md)

Options:
  -c, --config FILE      configuration file
  -h, --help             show this help
  -v, --version          show the version

Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.
`;

function version(): string {
  return tandemVersion();
}

async function main(argv: readonly string[]): Promise<number> {
  // The CA has options of its own: a separate program sharing the binary, loaded only when run
  // (without the sidecar's modules, which take most of a start).
  if (argv[0] === 'ca') return (await import('./caCommand.js')).caCommand(argv.slice(1));
  if (argv[0] === 'iptables') return (await import('./iptablesCommand.js')).iptablesCommand(argv.slice(1));
  if (argv[0] === 'injector') return (await import('./injectorCommand.js')).injectorCommand(argv.slice(1));
  setup();
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        duration: { type: 'string' },
        replace: { type: 'boolean' },
        endpoints: { type: 'boolean' },
        json: { type: 'boolean' },
        window: { type: 'string' },
        admin: { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return ExitCode.Usage;
  }
  const { values, positionals } = parsed;
  if (values.version === true) {
    process.stdout.write(`${version()}\n`);
    return ExitCode.Ok;
  }
  const command = positionals[0];
  if (values.help === true || command === 'help') {
    process.stdout.write(USAGE);
    return ExitCode.Ok;
  }
  switch (command) {
    case 'sidecar':
    case 'validate': {
      if (values.config === undefined) {
        process.stderr.write(`tandem ${command}: -c FILE is required\n\n${USAGE}`);
        return ExitCode.Usage;
      }
      const { sidecarCommand, validateCommand } = await import('./commands.js');
      return command === 'sidecar' ? sidecarCommand(values.config, { replace: values.replace === true }) : validateCommand(values.config);
    }
    case 'stat': {
      const windowMs = parseDurationMs(values.window ?? '10s');
      if (windowMs === undefined || windowMs < 1_000 || windowMs > 60_000) {
        process.stderr.write(`tandem stat: --window: expected a duration from 1s to 60s, got "${values.window}"\n`);
        return ExitCode.Usage;
      }
      const { statCommand } = await import('./statCommand.js');
      return statCommand({ admin: values.admin ?? 'http://127.0.0.1:9901', windowS: Math.floor(windowMs / 1_000), endpoints: values.endpoints === true, json: values.json === true });
    }
    case 'wait-ready': {
      const timeoutMs = parseDurationMs(values.timeout ?? '60s');
      if (timeoutMs === undefined) {
        process.stderr.write(`tandem wait-ready: --timeout: expected a duration such as "60s", got "${values.timeout}"\n`);
        return ExitCode.Usage;
      }
      const { waitReadyCommand } = await import('./waitReady.js');
      return waitReadyCommand(values.admin ?? 'http://127.0.0.1:9901', timeoutMs);
    }
    case 'drain': {
      const { drainCommand } = await import('./drainCommand.js');
      return drainCommand(values.admin ?? 'http://127.0.0.1:9901');
    }
    case 'demo': {
      const durationMs = values.duration === undefined ? undefined : parseDurationMs(values.duration);
      if (values.duration !== undefined && durationMs === undefined) {
        process.stderr.write(`tandem demo: --duration: expected a duration such as "30s", got "${values.duration}"\n`);
        return ExitCode.Usage;
      }
      // The demo lives with the examples; only this command loads it.
      const { runDemo } = await import('../../examples/demo/demo.js');
      return runDemo(durationMs === undefined ? {} : { durationMs });
    }
    default:
      process.stderr.write(command === undefined ? USAGE : `tandem: unknown command "${command}"\n\n${USAGE}`);
      return ExitCode.Usage;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`tandem: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(ExitCode.Failure);
  },
);
