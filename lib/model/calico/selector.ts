import { ValidationError } from '../errors';

/**
 * Calico's label selector language as a typed value (`libcalico-go/lib/selector`).
 *
 * A selector is an immutable syntax tree. Build one with the static factories
 * (`Selector.label('app').eq('web')`, `Selector.and(...)`), render it with `toString()`,
 * read one with `parseSelector()` (selector-parser.ts) and evaluate it with `matches()`.
 * The tree is normalised as it is built (nested `&&`/`||` are flattened) so that
 * build → render → parse gives back an equal tree.
 */
export type SelectorNode =
  | { readonly kind: 'all' }
  | { readonly kind: 'global' }
  | { readonly kind: 'has'; readonly key: string }
  | { readonly kind: 'compare'; readonly op: CompareOperator; readonly key: string; readonly value: string }
  | { readonly kind: 'set'; readonly op: SetOperator; readonly key: string; readonly values: readonly string[] }
  | { readonly kind: 'not'; readonly operand: SelectorNode }
  | { readonly kind: 'and' | 'or'; readonly operands: readonly SelectorNode[] };

/** The binary operators between a label and one quoted value. */
export type CompareOperator = '==' | '!=' | 'contains' | 'starts with' | 'ends with';
/** The operators between a label and a `{...}` set of quoted values. */
export type SetOperator = 'in' | 'not in';

/** Label keys: Kubernetes label names, optionally prefixed (`projectcalico.org/namespace`). */
const LABEL_KEY = /^[a-zA-Z0-9_.\-/]+$/;

export function isLabelKey(key: string): boolean {
  return typeof key === 'string' && LABEL_KEY.test(key);
}

export class Selector {
  /** Matches every endpoint: `all()`. */
  public static all(): Selector {
    return new Selector({ kind: 'all' });
  }

  /** Matches global (non-namespaced) resources such as GlobalNetworkSets: `global()`. */
  public static global(): Selector {
    return new Selector({ kind: 'global' });
  }

  /** Matches when the label is present: `has(key)`. */
  public static has(key: string): Selector {
    return new Selector({ kind: 'has', key: checkKey(key) });
  }

  /** Starts a comparison on a label: `Selector.label('app').eq('web')` → `app == 'web'`. */
  public static label(key: string): LabelSelectorBuilder {
    return new LabelSelectorBuilder(checkKey(key));
  }

  /** Every operand must match: `a && b`. */
  public static and(...operands: Selector[]): Selector {
    return Selector.combine('and', operands);
  }

  /** At least one operand must match: `a || b`. */
  public static or(...operands: Selector[]): Selector {
    return Selector.combine('or', operands);
  }

  /** Negation: `!a`. */
  public static not(operand: Selector): Selector {
    return new Selector({ kind: 'not', operand: operand.node });
  }

  /** Equality on every given label, joined by `&&` (the usual `matchLabels` translation). */
  public static matchLabels(labels: Readonly<Record<string, string>>): Selector {
    const parts = Object.entries(labels).map(([k, v]) => Selector.label(k).eq(v));
    return parts.length === 0 ? Selector.all() : Selector.and(...parts);
  }

  /** Wraps an already built syntax tree (as returned by the parser). */
  public static fromNode(node: SelectorNode): Selector {
    return new Selector(node);
  }

  private static combine(kind: 'and' | 'or', operands: Selector[]): Selector {
    if (operands.length === 0) throw new ValidationError('selector', kind, 'at least one operand');
    if (operands.length === 1) return operands[0];
    const flat: SelectorNode[] = [];
    for (const o of operands) {
      if (o.node.kind === kind) flat.push(...o.node.operands);
      else flat.push(o.node);
    }
    return new Selector({ kind, operands: flat });
  }

  private constructor(public readonly node: SelectorNode) {}

  /** Renders Calico's selector syntax, e.g. `app == 'web' && has(tier)`. */
  public toString(): string {
    return render(this.node);
  }

  /** Structural equality of the two syntax trees. */
  public equals(other: Selector): boolean {
    return render(this.node) === render(other.node) && JSON.stringify(this.node) === JSON.stringify(other.node);
  }

  /**
   * Evaluates the selector against a label set with Calico's semantics: `!=` and `not in`
   * also match when the label is absent; `contains`/`starts with`/`ends with` need it present.
   */
  public matches(labels: Readonly<Record<string, string>>, isGlobal = false): boolean {
    return evaluate(this.node, labels, isGlobal);
  }
}

/** The second half of `Selector.label(key)`: picks the operator. */
export class LabelSelectorBuilder {
  constructor(private readonly key: string) {}
  public eq(value: string): Selector { return this.compare('==', value); }
  public notEq(value: string): Selector { return this.compare('!=', value); }
  public contains(value: string): Selector { return this.compare('contains', value); }
  public startsWith(value: string): Selector { return this.compare('starts with', value); }
  public endsWith(value: string): Selector { return this.compare('ends with', value); }
  public in(values: readonly string[]): Selector { return this.set('in', values); }
  public notIn(values: readonly string[]): Selector { return this.set('not in', values); }

  private compare(op: CompareOperator, value: string): Selector {
    return Selector.fromNode({ kind: 'compare', op, key: this.key, value: checkValue(value) });
  }

  private set(op: SetOperator, values: readonly string[]): Selector {
    return Selector.fromNode({ kind: 'set', op, key: this.key, values: values.map(checkValue) });
  }
}

function checkKey(key: string): string {
  if (!isLabelKey(key)) throw new ValidationError('selector.label', key, 'a label key of letters, digits, ".", "_", "-" and "/"');
  return key;
}

function checkValue(value: string): string {
  // Calico string literals have no escapes: a value may hold one kind of quote, not both.
  if (typeof value !== 'string' || (value.includes("'") && value.includes('"'))) {
    throw new ValidationError('selector.value', value, 'a string that does not contain both \' and " quotes');
  }
  return value;
}

function quote(value: string): string {
  return value.includes("'") ? `"${value}"` : `'${value}'`;
}

const PRECEDENCE: Record<SelectorNode['kind'], number> = { or: 1, and: 2, not: 3, all: 4, global: 4, has: 4, compare: 4, set: 4 };

function render(node: SelectorNode): string {
  switch (node.kind) {
    case 'all': return 'all()';
    case 'global': return 'global()';
    case 'has': return `has(${node.key})`;
    case 'compare': return `${node.key} ${node.op} ${quote(node.value)}`;
    case 'set': return `${node.key} ${node.op} {${node.values.map(quote).join(', ')}}`;
    case 'not': return `!${wrap(node.operand, PRECEDENCE.not + 1)}`;
    case 'and':
    case 'or': {
      // An operand of the same kind is bracketed: it was built that way on purpose (e.g. parsed from `(a && b) && c`).
      const min = PRECEDENCE[node.kind] + 1;
      return node.operands.map((o) => wrap(o, min)).join(node.kind === 'and' ? ' && ' : ' || ');
    }
  }
}

function wrap(node: SelectorNode, minPrecedence: number): string {
  const text = render(node);
  return PRECEDENCE[node.kind] < minPrecedence ? `(${text})` : text;
}

function evaluate(node: SelectorNode, labels: Readonly<Record<string, string>>, isGlobal: boolean): boolean {
  const has = (k: string) => Object.prototype.hasOwnProperty.call(labels, k);
  switch (node.kind) {
    case 'all': return true;
    case 'global': return isGlobal;
    case 'has': return has(node.key);
    case 'compare': {
      const v = has(node.key) ? labels[node.key] : undefined;
      switch (node.op) {
        case '==': return v === node.value;
        case '!=': return v !== node.value;
        case 'contains': return v !== undefined && v.includes(node.value);
        case 'starts with': return v !== undefined && v.startsWith(node.value);
        case 'ends with': return v !== undefined && v.endsWith(node.value);
      }
      return false;
    }
    case 'set': {
      const inSet = has(node.key) && node.values.includes(labels[node.key]);
      return node.op === 'in' ? inSet : !inSet;
    }
    case 'not': return !evaluate(node.operand, labels, isGlobal);
    case 'and': return node.operands.every((o) => evaluate(o, labels, isGlobal));
    case 'or': return node.operands.some((o) => evaluate(o, labels, isGlobal));
  }
}
