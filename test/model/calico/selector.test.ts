import { Selector } from '../../../lib/model/calico/selector';
import { SelectorSyntaxError, isValidSelector, parseSelector } from '../../../lib/model/calico/selector-parser';

const S = Selector;

describe('Selector builder renders Calico syntax', () => {
  test.each<[string, Selector, string]>([
    ['==', S.label('app').eq('web'), "app == 'web'"],
    ['!=', S.label('app').notEq('web'), "app != 'web'"],
    ['in', S.label('tier').in(['a', 'b']), "tier in {'a', 'b'}"],
    ['not in', S.label('tier').notIn(['a']), "tier not in {'a'}"],
    ['has', S.has('projectcalico.org/namespace'), 'has(projectcalico.org/namespace)'],
    ['!', S.not(S.has('x')), '!has(x)'],
    ['&&', S.and(S.label('a').eq('1'), S.has('b')), "a == '1' && has(b)"],
    ['||', S.or(S.label('a').eq('1'), S.has('b')), "a == '1' || has(b)"],
    ['all()', S.all(), 'all()'],
    ['global()', S.global(), 'global()'],
    ['contains', S.label('name').contains('db'), "name contains 'db'"],
    ['starts with', S.label('name').startsWith('db'), "name starts with 'db'"],
    ['ends with', S.label('name').endsWith('-0'), "name ends with '-0'"],
    ['quote choice', S.label('q').eq("it's"), `q == "it's"`],
    ['|| inside && is bracketed', S.and(S.or(S.has('a'), S.has('b')), S.has('c')), '(has(a) || has(b)) && has(c)'],
    ['&& inside || is not', S.or(S.and(S.has('a'), S.has('b')), S.has('c')), 'has(a) && has(b) || has(c)'],
    ['! of a compound', S.not(S.and(S.has('a'), S.has('b'))), '!(has(a) && has(b))'],
    ['matchLabels', S.matchLabels({ app: 'web', tier: 'front' }), "app == 'web' && tier == 'front'"],
  ])('%s', (_name, selector, text) => {
    expect(selector.toString()).toBe(text);
  });

  test('nested && and || are flattened', () => {
    const a = S.has('a'); const b = S.has('b'); const c = S.has('c');
    expect(S.and(S.and(a, b), c).node).toEqual(S.and(a, b, c).node);
  });

  test('fails on a bad label key or a value holding both quotes', () => {
    expect(() => S.label('bad key')).toThrow('selector.label: "bad key" is not valid; expected a label key');
    expect(() => S.label('k').eq(`'"`)).toThrow(/selector.value: .* is not valid/);
  });
});

describe('round trip: build → render → parse → equal', () => {
  const samples: Selector[] = [
    S.all(),
    S.global(),
    S.label('app').eq('web'),
    S.and(S.label('app').eq('mysql'), S.label('projectcalico.org/namespace').eq('db')),
    S.or(S.and(S.has('a'), S.not(S.label('b').in(['x', 'y', 'z']))), S.label('c').notIn([])),
    S.and(S.or(S.has('a'), S.has('b')), S.not(S.or(S.label('c').startsWith('x'), S.label('d').endsWith('y')))),
    S.not(S.not(S.label('e').contains('mid'))),
    S.label('q').notEq("it's"),
    S.and(S.global(), S.label('role').eq('dns')),
  ];
  test.each(samples.map((s) => [s.toString(), s] as const))('%s', (text, selector) => {
    const parsed = parseSelector(text);
    expect(parsed.node).toEqual(selector.node);
    expect(parsed.equals(selector)).toBe(true);
    expect(parsed.toString()).toBe(text);
  });
});

describe('parser', () => {
  test('accepts Calico spellings: double quotes, no spaces, extra brackets', () => {
    expect(parseSelector('app=="web"&&(has(x))').toString()).toBe("app == 'web' && has(x)");
    expect(parseSelector('  all( )  ').toString()).toBe('all()');
    expect(parseSelector('k in {}').toString()).toBe('k in {}');
    expect(parseSelector('hasty == "x"').toString()).toBe("hasty == 'x'");
    expect(parseSelector('inside in {"a"}').toString()).toBe("inside in {'a'}");
    expect(parseSelector('').toString()).toBe('all()');
  });

  test.each<[string, number, string]>([
    ["app == 'web' &&", 15, 'a label'],
    ['app == web', 7, 'a quoted value'],
    ["app = 'web'", 4, 'an operator'],
    ["app == 'web", 7, "a closing '"],
    ["(app == 'web'", 13, '")"'],
    ["tier in {'a' 'b'}", 13, '"," or "}"'],
    ["app == 'a' b", 11, '"&&", "||" or the end'],
    ['has(app', 7, '")" after the label'],
    ['!= "x"', 0, 'a label key'],
    ['all(', 4, '")" after all('],
  ])('rejects %p at position %i', (text, position, expected) => {
    let error: unknown;
    try {
      parseSelector(text, 'policy.selector');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SelectorSyntaxError);
    const err = error as SelectorSyntaxError;
    expect(err.position).toBe(position);
    expect(err.message).toContain(`policy.selector: ${JSON.stringify(text)} is not a valid selector; expected ${expected}`);
    expect(err.message).toContain(`at position ${position}`);
    expect(err.message).not.toContain('\n');
  });

  test('isValidSelector', () => {
    expect(isValidSelector("a == 'b'")).toBe(true);
    expect(isValidSelector('a ==')).toBe(false);
  });
});

describe('matches() follows Calico semantics', () => {
  const labels = { app: 'web', tier: 'frontend', 'projectcalico.org/namespace': 'default' };
  test.each<[string, boolean]>([
    ["app == 'web'", true],
    ["app != 'web'", false],
    ["missing != 'x'", true],
    ["missing not in {'x'}", true],
    ["missing in {'x'}", false],
    ["tier in {'backend', 'frontend'}", true],
    ['has(app) && !has(db)', true],
    ["tier contains 'front'", true],
    ["tier starts with 'front' && tier ends with 'end'", true],
    ["missing starts with ''", false],
    ["app == 'db' || projectcalico.org/namespace == 'default'", true],
    ['all()', true],
    ['global()', false],
  ])('%s → %p', (text, expected) => {
    expect(parseSelector(text).matches(labels)).toBe(expected);
  });
});

describe('round trip over generated selectors', () => {
  // A small deterministic PRNG (mulberry32) so failures reproduce.
  function rng(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const keys = ['app', 'tier', 'projectcalico.org/namespace', 'a-b_c.d', 'in', 'has', 'all'];
  const values = ['web', '', 'it\'s', 'say "hi"', 'a b', '&&', '||', ')', '{x}'];

  function generate(next: () => number, depth: number): Selector {
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)];
    const leafOnly = depth <= 0;
    switch (Math.floor(next() * (leafOnly ? 6 : 9))) {
      case 0: return S.all();
      case 1: return S.has(pick(keys));
      case 2: return S.label(pick(keys))[pick(['eq', 'notEq', 'contains', 'startsWith', 'endsWith'] as const)](pick(values));
      case 3: return S.label(pick(keys)).in(values.slice(0, Math.floor(next() * 4)));
      case 4: return S.label(pick(keys)).notIn(values.slice(2, 2 + Math.floor(next() * 4)));
      case 5: return S.global();
      case 6: return S.not(generate(next, depth - 1));
      case 7: return S.and(generate(next, depth - 1), generate(next, depth - 1), generate(next, depth - 1));
      default: return S.or(generate(next, depth - 1), generate(next, depth - 1));
    }
  }

  test('300 random selectors: build → render → parse → equal, and evaluation agrees', () => {
    const next = rng(20261121);
    const labelSets: Record<string, string>[] = [{}, { app: 'web' }, { tier: 'it\'s', 'a-b_c.d': 'a b' }, { in: '&&', has: '', all: '{x}' }];
    for (let i = 0; i < 300; i++) {
      const built = generate(next, 4);
      const parsed = parseSelector(built.toString());
      expect(parsed.node).toEqual(built.node);
      for (const labels of labelSets) expect(parsed.matches(labels)).toBe(built.matches(labels));
    }
  });
});
