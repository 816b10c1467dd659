export function runDemo(_options: { durationMs?: number }): Promise<number> {
  return Promise.resolve(0);
}
