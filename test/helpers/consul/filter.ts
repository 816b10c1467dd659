/**
 * A subset of go-bexpr, Consul's `?filter=` language: `==`, `!=`, `in`, `not in`, `contains`,
 * `not contains`, `is empty`, `is not empty`, joined by `and`, `or`, `not` and parentheses. Anything
 * else (`matches`, selectors the server does not model) is refused with the 400 Consul gives an
 * expression it cannot compile, so a test can never pass on a filter that was silently ignored.
 */

/** The selectors one endpoint's entries offer, by the kind of value found there. */
export interface FilterFields {
  readonly strings: readonly string[];
  readonly numbers: readonly string[];
  readonly lists: readonly string[];
  readonly maps: readonly string[];
  /** Valid in Consul but not modelled here (e.g. `Checks`): refused with a message saying so. */
  readonly unsupported: readonly string[];
}

export type EntryFilter = (entry: unknown) => boolean;

/** The message follows Consul's `Failed to create boolean expression evaluator: ...` prefix. */
export class FilterError extends Error {}

export function compileFilter(expression: string, fields: FilterFields): EntryFilter {
  const parser = new Parser(tokenize(expression), fields);
  const filter = parser.parseOr();
  parser.expectEnd();
  return filter;
}

type Token = { readonly kind: 'word' | 'string' | 'op' | '(' | ')'; readonly text: string };

const WORD = /^[A-Za-z0-9_.\-/:]+/;

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let rest = expression;
  while ((rest = rest.trimStart()) !== '') {
    const first = rest[0] as string;
    if (first === '(' || first === ')') {
      tokens.push({ kind: first, text: first });
      rest = rest.slice(1);
    } else if (rest.startsWith('==') || rest.startsWith('!=')) {
      tokens.push({ kind: 'op', text: rest.slice(0, 2) });
      rest = rest.slice(2);
    } else if (first === '"' || first === '`') {
      const [text, length] = readQuoted(rest);
      tokens.push({ kind: 'string', text });
      rest = rest.slice(length);
    } else {
      const word = WORD.exec(rest)?.[0];
      if (word === undefined) throw new FilterError(`unexpected ${JSON.stringify(first)}`);
      tokens.push({ kind: 'word', text: word });
      rest = rest.slice(word.length);
    }
  }
  return tokens;
}

/** A `"..."` string with backslash escapes, or a raw `` `...` `` one; returns the value and the length consumed. */
function readQuoted(text: string): [string, number] {
  const quote = text[0] as string;
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const char = text[i] as string;
    if (char === quote) return [value, i + 1];
    if (char === '\\' && quote === '"' && i + 1 < text.length) {
      const escaped = text[++i] as string;
      value += escaped === 'n' ? '\n' : escaped === 't' ? '\t' : escaped;
    } else {
      value += char;
    }
  }
  throw new FilterError('unterminated string');
}

type SelectorKind = 'string' | 'number' | 'list' | 'map' | 'mapValue';

class Parser {
  private position = 0;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly fields: FilterFields,
  ) {}

  parseOr(): EntryFilter {
    let left = this.parseAnd();
    while (this.acceptWord('or')) {
      const [a, b] = [left, this.parseAnd()];
      left = (entry) => a(entry) || b(entry);
    }
    return left;
  }

  expectEnd(): void {
    const extra = this.tokens[this.position];
    if (extra !== undefined) throw new FilterError(`unexpected ${JSON.stringify(extra.text)}`);
  }

  private parseAnd(): EntryFilter {
    let left = this.parseUnary();
    while (this.acceptWord('and')) {
      const [a, b] = [left, this.parseUnary()];
      left = (entry) => a(entry) && b(entry);
    }
    return left;
  }

  private parseUnary(): EntryFilter {
    if (this.acceptWord('not')) {
      const inner = this.parseUnary();
      return (entry) => !inner(entry);
    }
    if (this.peek()?.kind === '(') {
      this.position++;
      const inner = this.parseOr();
      if (this.next().kind !== ')') throw new FilterError('expected ")"');
      return inner;
    }
    return this.parseMatch();
  }

  private parseMatch(): EntryFilter {
    const first = this.next();
    const valueFirst = first.kind === 'string' || this.peekWord('in') || (this.peekWord('not') && this.peekWord('in', 1));
    if (valueFirst) {
      const negate = this.acceptWord('not');
      if (!this.acceptWord('in')) throw new FilterError(`expected "in" after ${JSON.stringify(first.text)}`);
      const selector = this.selector(this.next());
      if (selector.kind !== 'list' && selector.kind !== 'map') throw new FilterError(`"in" needs a list or map, not ${selector.path.join('.')}`);
      return negateIf(negate, (entry) => includes(lookup(entry, selector.path), first.text));
    }
    const selector = this.selector(first);
    const operator = this.next();
    if (operator.kind === 'op') return this.comparison(selector, operator.text === '!=', this.value());
    if (operator.text === 'is') {
      const negate = this.acceptWord('not');
      if (!this.acceptWord('empty')) throw new FilterError('expected "empty" after "is"');
      return negateIf(negate, (entry) => isEmpty(lookup(entry, selector.path)));
    }
    const negate = operator.text === 'not';
    if (negate ? this.acceptWord('contains') : operator.text === 'contains') {
      if (selector.kind !== 'list' && selector.kind !== 'map') throw new FilterError(`"contains" needs a list or map, not ${selector.path.join('.')}`);
      const value = this.value();
      return negateIf(negate, (entry) => includes(lookup(entry, selector.path), value));
    }
    throw new FilterError(`operator ${JSON.stringify(operator.text)} is not supported by the Consul test server`);
  }

  private comparison(selector: { kind: SelectorKind; path: string[] }, negate: boolean, literal: string): EntryFilter {
    if (selector.kind === 'list' || selector.kind === 'map') throw new FilterError(`cannot compare ${selector.path.join('.')} with ==/!=`);
    let expected: string | number = literal;
    if (selector.kind === 'number') {
      expected = Number(literal);
      if (literal.trim() === '' || !Number.isFinite(expected)) throw new FilterError(`${JSON.stringify(literal)} is not a number`);
    }
    // A struct field always has a value in Go, so an omitted (omitempty) string reads as ''.
    const fallback = selector.kind === 'string' ? '' : undefined;
    return negateIf(negate, (entry) => (lookup(entry, selector.path) ?? fallback) === expected);
  }

  private selector(token: Token): { kind: SelectorKind; path: string[] } {
    const name = token.text;
    if (token.kind !== 'word') throw new FilterError(`expected a selector, got ${JSON.stringify(name)}`);
    const path = name.split('.');
    const { strings, numbers, lists, maps, unsupported } = this.fields;
    if (strings.includes(name)) return { kind: 'string', path };
    if (numbers.includes(name)) return { kind: 'number', path };
    if (lists.includes(name)) return { kind: 'list', path };
    if (maps.includes(name)) return { kind: 'map', path };
    const map = maps.find((prefix) => name.startsWith(`${prefix}.`) && !name.slice(prefix.length + 1).includes('.'));
    if (map !== undefined) return { kind: 'mapValue', path: [...map.split('.'), name.slice(map.length + 1)] };
    if (unsupported.some((prefix) => name === prefix || name.startsWith(`${prefix}.`))) {
      throw new FilterError(`Selector ${JSON.stringify(name)} is not supported by the Consul test server`);
    }
    throw new FilterError(`Selector ${JSON.stringify(name)} is not valid`);
  }

  private value(): string {
    const token = this.next();
    if (token.kind !== 'string' && token.kind !== 'word') throw new FilterError(`expected a value, got ${JSON.stringify(token.text)}`);
    return token.text;
  }

  private next(): Token {
    const token = this.tokens[this.position++];
    if (token === undefined) throw new FilterError('unexpected end of expression');
    return token;
  }

  private peek(offset = 0): Token | undefined {
    return this.tokens[this.position + offset];
  }

  private peekWord(word: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token?.kind === 'word' && token.text === word;
  }

  private acceptWord(word: string): boolean {
    if (!this.peekWord(word)) return false;
    this.position++;
    return true;
  }
}

function negateIf(negate: boolean, filter: EntryFilter): EntryFilter {
  return negate ? (entry) => !filter(entry) : filter;
}

/** A missing key or null reads as absent: `==` is false and `!=` true on it, as in bexpr. */
function lookup(entry: unknown, path: readonly string[]): unknown {
  let value = entry;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value ?? undefined;
}

function includes(collection: unknown, value: string): boolean {
  if (Array.isArray(collection)) return collection.includes(value);
  if (collection !== undefined && typeof collection === 'object') return Object.hasOwn(collection as object, value);
  return false;
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object' && value !== null) return Object.keys(value).length === 0;
  return false;
}
