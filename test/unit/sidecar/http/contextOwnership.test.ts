import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Who may write each part of a RequestContext (see its field comments). Found with the type checker,
 * not by text, so a write through any name or alias counts: an assignment to a field of a value whose
 * type is RequestContext, or a call of one of its writing methods.
 */
const WRITERS: Readonly<Record<string, readonly string[]>> = {
  attemptCancellation: ['sidecar/layers/retry.ts'],
  upstream: ['sidecar/stack/router.ts', 'sidecar/gateway/gatewayRouter.ts'],
  hashKey: ['sidecar/layers/hashKey.ts'],
  pinnedEndpoint: ['sidecar/layers/statefulSession.ts'],
  unforwardable: ['sidecar/listener/serve.ts'],
  responseBytes: ['sidecar/listener/http1Downstream.ts', 'sidecar/listener/leanHttp1Downstream.ts', 'sidecar/listener/http2Downstream.ts'],
  trace: ['sidecar/layers/traceRequest.ts'],
  attemptTrace: ['sidecar/layers/balance.ts'],
  retryReason: ['sidecar/layers/retry.ts'],
  limitDeadline: ['sidecar/layers/timeout.ts'],
  setHeadDeadline: ['sidecar/layers/timeout.ts'],
  beginAttempt: ['sidecar/layers/balance.ts'],
};

/** The project's own source, where layers live (tests may set up contexts as they please). */
const SOURCE = /^(sidecar|discovery|ca|examples)\//;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Every write to a RequestContext in the project's source, as `member ← file`. */
function contextWrites(): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(resolve(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  if (config === undefined) throw new Error('cannot read tsconfig.json');
  const sources = config.fileNames.filter((file) => SOURCE.test(relative(root, file)));
  const program = ts.createProgram(sources, { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  const isContext = (node: ts.Expression): boolean => checker.getTypeAtLocation(node).getSymbol()?.getName() === 'RequestContext';
  const writes: string[] = [];
  for (const file of program.getSourceFiles()) {
    const path = relative(root, file.fileName);
    // The class itself keeps its private state; everyone else goes through the members above.
    if (!SOURCE.test(path) || path === 'sidecar/http/context.ts') continue;
    const visit = (node: ts.Node): void => {
      if (
        ts.isBinaryExpression(node) &&
        node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
        node.operatorToken.kind <= ts.SyntaxKind.LastAssignment &&
        ts.isPropertyAccessExpression(node.left) &&
        isContext(node.left.expression)
      ) {
        writes.push(`${node.left.name.text} ← ${path}`);
      }
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && isContext(node.expression.expression)) {
        const name = node.expression.name.text;
        if (name in WRITERS) writes.push(`${name} ← ${path}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(file);
  }
  return writes;
}

describe('RequestContext ownership', () => {
  it('is written only by the layer that owns each field', () => {
    const writes = contextWrites();
    const stray = writes.filter((write) => {
      const [member, file] = write.split(' ← ') as [string, string];
      return !(WRITERS[member] ?? []).includes(file);
    });
    expect(stray).toEqual([]);
    // The scan sees the writes that exist, so it would see a stray one too.
    expect(writes).toContain('hashKey ← sidecar/layers/hashKey.ts');
    expect(writes).toContain('beginAttempt ← sidecar/layers/balance.ts');
  }, 30_000);
});
