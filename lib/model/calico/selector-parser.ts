import { ValidationError, formatValue } from '../errors';
import { CompareOperator, Selector, SelectorNode } from './selector';

/**
 * A selector that does not parse. `position` is the 0-based character offset where the
 * parser stopped; the message is one line naming the field, the text, the position and
 * what was expected there.
 */
export class SelectorSyntaxError extends ValidationError {
  constructor(field: string, public readonly text: string, public readonly position: number, expected: string) {
    super(field, text, `${expected} at position ${position}`);
    this.name = 'SelectorSyntaxError';
    this.message = `${field}: ${formatValue(text)} is not a valid selector; expected ${expected} at position ${position}`;
  }
}

/**
 * Parses Calico's selector syntax (the grammar of `libcalico-go/lib/selector/parser`):
 *
 *   expr    := and ('||' and)*
 *   and     := unary ('&&' unary)*
 *   unary   := '!' unary | '(' expr ')' | 'all()' | 'global()' | 'has(' key ')'
 *            | key ('=='|'!='|'contains'|'starts with'|'ends with') string
 *            | key ('in'|'not in') '{' [string (',' string)*] '}'
 *   string  := '...' | "..."
 *
 * Pure: no I/O, no global state; the policy engine of the dataplane reuses it.
 * An empty (or all-blank) selector means `all()`, as in Calico.
 */
export function parseSelector(text: string, field = 'selector'): Selector {
  if (typeof text !== 'string') throw new SelectorSyntaxError(field, String(text), 0, 'a selector string');
  if (text.trim() === '') return Selector.all();
  const parser = new Parser(text, field);
  const result = parser.parseExpression();
  parser.skipSpace();
  if (!parser.atEnd()) parser.fail('"&&", "||" or the end of the selector');
  return result;
}

/** True when `text` parses. */
export function isValidSelector(text: string): boolean {
  try {
    parseSelector(text);
    return true;
  } catch {
    return false;
  }
}

const KEY_CHAR = /[a-zA-Z0-9_.\-/]/;
const WORD_OPERATORS: ReadonlyArray<[string, CompareOperator | 'in' | 'not in']> = [
  ['==', '=='], ['!=', '!='], ['contains', 'contains'], ['starts with', 'starts with'],
  ['ends with', 'ends with'], ['not in', 'not in'], ['in', 'in'],
];

class Parser {
  private pos = 0;

  constructor(private readonly text: string, private readonly field: string) {}

  public atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  public fail(expected: string): never {
    throw new SelectorSyntaxError(this.field, this.text, this.pos, expected);
  }

  public skipSpace(): void {
    while (!this.atEnd() && /\s/.test(this.text[this.pos])) this.pos++;
  }

  public parseExpression(): Selector {
    const operands = [this.parseAnd()];
    while (this.accept('||')) operands.push(this.parseAnd());
    return Selector.or(...operands);
  }

  private parseAnd(): Selector {
    const operands = [this.parseUnary()];
    while (this.accept('&&')) operands.push(this.parseUnary());
    return Selector.and(...operands);
  }

  private parseUnary(): Selector {
    this.skipSpace();
    if (this.atEnd()) this.fail('a label, "!", "(", "has(", "all()" or "global()"');
    if (this.text[this.pos] === '!' && this.text[this.pos + 1] !== '=') {
      this.pos++;
      return Selector.not(this.parseUnary());
    }
    if (this.accept('(')) {
      const inner = this.parseExpression();
      this.expect(')', '")"');
      return inner;
    }
    if (this.acceptWord('all')) return this.emptyCall('all', Selector.all());
    if (this.acceptWord('global')) return this.emptyCall('global', Selector.global());
    if (this.acceptWord('has')) {
      this.expect('(', '"(" after has');
      this.skipSpace();
      const key = this.parseKey();
      this.expect(')', '")" after the label in has()');
      return Selector.has(key);
    }
    const key = this.parseKey();
    return this.parseComparison(key);
  }

  private emptyCall(name: string, value: Selector): Selector {
    this.expect('(', `"(" after ${name}`);
    this.expect(')', `")" after ${name}(`);
    return value;
  }

  private parseComparison(key: string): Selector {
    this.skipSpace();
    const op = WORD_OPERATORS.find(([token]) => this.acceptOperator(token));
    if (op === undefined) return this.fail('an operator (==, !=, in, not in, contains, starts with, ends with)');
    const operator = op[1];
    if (operator === 'in' || operator === 'not in') {
      const values = this.parseSet();
      return operator === 'in' ? Selector.label(key).in(values) : Selector.label(key).notIn(values);
    }
    const node: SelectorNode = { kind: 'compare', op: operator, key, value: this.parseString() };
    return Selector.fromNode(node);
  }

  private parseSet(): string[] {
    this.expect('{', '"{" starting a set of values');
    const values: string[] = [];
    this.skipSpace();
    if (this.accept('}')) return values;
    do {
      values.push(this.parseString());
    } while (this.accept(','));
    this.expect('}', '"," or "}" closing the set');
    return values;
  }

  private parseString(): string {
    this.skipSpace();
    const q = this.text[this.pos];
    if (q !== "'" && q !== '"') this.fail('a quoted value');
    const end = this.text.indexOf(q, this.pos + 1);
    if (end < 0) this.fail(`a closing ${q}`);
    const value = this.text.slice(this.pos + 1, end);
    this.pos = end + 1;
    return value;
  }

  private parseKey(): string {
    const start = this.pos;
    while (!this.atEnd() && KEY_CHAR.test(this.text[this.pos])) this.pos++;
    if (this.pos === start) this.fail('a label key');
    return this.text.slice(start, this.pos);
  }

  /** Accepts a punctuation token after optional whitespace. */
  private accept(token: string): boolean {
    this.skipSpace();
    if (this.text.startsWith(token, this.pos)) {
      this.pos += token.length;
      return true;
    }
    return false;
  }

  private expect(token: string, what: string): void {
    if (!this.accept(token)) this.fail(what);
  }

  /** Accepts a keyword (all, global, has) only when it is followed by "(" so `hasty == 'x'` stays a label. */
  private acceptWord(word: string): boolean {
    if (!this.text.startsWith(word, this.pos)) return false;
    let next = this.pos + word.length;
    while (next < this.text.length && /\s/.test(this.text[next])) next++;
    if (this.text[next] !== '(') return false;
    this.pos += word.length;
    return true;
  }

  /** Accepts an operator; word operators must end at a word boundary (`in` is not the start of `inside`). */
  private acceptOperator(token: string): boolean {
    const words = token.split(' ');
    let p = this.pos;
    for (let i = 0; i < words.length; i++) {
      if (i > 0) {
        const spaceStart = p;
        while (p < this.text.length && /\s/.test(this.text[p])) p++;
        if (p === spaceStart) return false;
      }
      if (!this.text.startsWith(words[i], p)) return false;
      p += words[i].length;
    }
    if (/^[a-z]/.test(token) && p < this.text.length && KEY_CHAR.test(this.text[p])) return false;
    this.pos = p;
    return true;
  }
}
