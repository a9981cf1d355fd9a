import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { arr, int, map, obj, oneOf, str } from '../../../lib/crds/schema';
import { RECORD_AJV_OPTIONS } from '../../../lib/dataplane/datastore/record-schemas';
import { RECORD_VALIDATORS_PATH, recordValidatorsSource } from '../../../scripts/generate-record-validators';
import { BadRecordError, RecordReader, checkSchema, decodeJsonObject } from '../../../lib/dataplane/datastore/records';
import { KeyValue } from '../../../lib/dataplane/datastore/types';

const kv = (key: string, value: string, revision = '1'): KeyValue => ({ key, value, revision, expires: false });

describe('decodeJsonObject', () => {
  it.each([
    ['not JSON', '{"a": 1', 'things/x: value "{\\"a\\": 1" is not valid; expected a JSON object'],
    ['an array', '[1]', 'things/x: value [1] is not valid; expected a JSON object'],
    ['null', 'null', 'things/x: value null is not valid; expected a JSON object'],
    ['a number', '7', 'things/x: value 7 is not valid; expected a JSON object'],
  ])('refuses %s with one line naming the key', (_what, value, message) => {
    expect(() => decodeJsonObject(kv('things/x', value))).toThrow(BadRecordError);
    expect(() => decodeJsonObject(kv('things/x', value))).toThrow(message);
  });

  it('quotes at most 40 characters of a long non-JSON value', () => {
    expect(() => decodeJsonObject(kv('k', 'x'.repeat(10_000)))).toThrow(`k: value "${'x'.repeat(40)}…" is not valid; expected a JSON object`);
  });
});

describe('checkSchema', () => {
  const schema = new Ajv(RECORD_AJV_OPTIONS).compile(obj({
    mode: oneOf(['Never', 'Always']),
    size: int(undefined, 20, 32),
    items: arr(obj({ name: str(), tags: map(str()) }, ['name'])),
  }, ['mode']) as object);
  const fail = (value: unknown): BadRecordError => {
    try {
      checkSchema('things/x', value, schema);
    } catch (e) {
      return e as BadRecordError;
    }
    throw new Error('no error');
  };

  it('passes a valid value and unknown fields (the API server prunes them, it does not refuse)', () => {
    expect(() => checkSchema('things/x', { mode: 'Never', extra: 1 }, schema)).not.toThrow();
  });

  it.each([
    [{}, 'mode', undefined, 'things/x: mode (unset) is not valid; expected a value (the field is required)'],
    [{ mode: 'Sometimes' }, 'mode', 'Sometimes', 'things/x: mode "Sometimes" is not valid; expected one of "Never", "Always"'],
    [{ mode: 'Never', size: 33 }, 'size', 33, 'things/x: size 33 is not valid; expected a number <= 32'],
    [{ mode: 'Never', size: 1.5 }, 'size', 1.5, 'things/x: size 1.5 is not valid; expected an integer'],
    [{ mode: 'Never', items: 'x' }, 'items', 'x', 'things/x: items "x" is not valid; expected an array'],
    [{ mode: 'Never', items: [{ name: 'a' }, {}] }, 'items[1].name', undefined, 'things/x: items[1].name (unset) is not valid; expected a value (the field is required)'],
    [{ mode: 'Never', items: [{ name: 'a', tags: { t: 1 } }] }, 'items[0].tags.t', 1, 'things/x: items[0].tags.t 1 is not valid; expected a string'],
  ])('refuses %j naming the field path', (value, field, bad, message) => {
    const error = fail(value);
    expect(error).toBeInstanceOf(BadRecordError);
    expect(error).toMatchObject({ key: 'things/x', field, value: bad, message });
  });
});

describe('RecordReader', () => {
  const decode = (k: KeyValue): number => {
    const v = decodeJsonObject(k);
    if (typeof v.n !== 'number') throw new BadRecordError(k.key, 'n', v.n, 'a number');
    return v.n;
  };

  it('reports a bad record once per revision, not on every read', () => {
    const reports: string[] = [];
    const reader = new RecordReader((e) => reports.push(e.message));
    const items = [kv('p/a', '{"n": 1}'), kv('p/b', 'nope', '5')];
    expect(reader.read('p/', items, decode)).toEqual([1]);
    expect(reader.read('p/', items, decode)).toEqual([1]);
    expect(reports).toEqual(['p/b: value "nope" is not valid; expected a JSON object']);
    reader.read('p/', [items[0], kv('p/b', '{"n": "x"}', '6')], decode);
    expect(reports).toHaveLength(2);
    expect(reports[1]).toBe('p/b: n "x" is not valid; expected a number');
  });

  it('stands in the last good version of a record corrupted in place, and says so', () => {
    const reports: [string, boolean][] = [];
    const reader = new RecordReader((e, standIn) => reports.push([e.key, standIn]));
    expect(reader.read('p/', [kv('p/a', '{"n": 1}', '1')], decode)).toEqual([1]);
    expect(reader.read('p/', [kv('p/a', '{"n": true}', '2')], decode)).toEqual([1]);
    expect(reports).toEqual([['p/a', true]]);
    // Without stand-ins (what allocation uses), the bad record is simply left out.
    expect(reader.read('p/', [kv('p/a', '{"n": true}', '2')], decode, false)).toEqual([]);
  });

  it('re-checks the stand-in with the decoder of now', () => {
    const reader = new RecordReader(() => undefined);
    let limit = 10;
    const bounded = (k: KeyValue) => {
      const n = decode(k);
      if (n > limit) throw new BadRecordError(k.key, 'n', n, `at most ${limit}`);
      return n;
    };
    reader.read('p/', [kv('p/a', '{"n": 5}', '1')], bounded);
    limit = 4;
    expect(reader.read('p/', [kv('p/a', 'bad', '2')], bounded)).toEqual([]);
  });

  it('forgets a deleted key: it has no stand-in when it comes back bad, and is reported again', () => {
    const reports: string[] = [];
    const reader = new RecordReader((e) => reports.push(e.key));
    reader.read('p/', [kv('p/a', '{"n": 1}', '1')], decode);
    reader.read('p/', [kv('p/a', 'bad', '2')], decode);
    reader.read('p/', [], decode);
    expect(reader.read('p/', [kv('p/a', 'bad', '2')], decode)).toEqual([]);
    expect(reports).toEqual(['p/a', 'p/a']);
  });

  it('a list of one prefix leaves what it knows of other prefixes alone', () => {
    const reader = new RecordReader(() => undefined);
    reader.read('p/', [kv('p/a', '{"n": 1}', '1')], decode);
    reader.read('q/', [], decode);
    expect(reader.read('p/', [kv('p/a', 'bad', '2')], decode)).toEqual([1]);
  });

  it('passes other errors through (a bug is not a bad record)', () => {
    const reader = new RecordReader(() => undefined);
    expect(() => reader.read('p/', [kv('p/a', '{}')], () => {
      throw new TypeError('boom');
    })).toThrow('boom');
  });
});

test(`${RECORD_VALIDATORS_PATH} is what ajv compiles of the schemas now (run \`npm run gen:record-validators\`)`, () => {
  expect(readFileSync(join(__dirname, '..', '..', '..', RECORD_VALIDATORS_PATH), 'utf8')).toBe(recordValidatorsSource());
});
