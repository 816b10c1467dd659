/** `value` with exactly `digits` decimals and thousands separators (en-US), or `n/a` when it is not a finite number. */
export function fmt(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
