import type { ErrorObject, ValidateFunction } from 'ajv';
import { formatValue } from '../../model/errors';
import { KeyValue } from './types';

/**
 * A datastore record that cannot be used: not JSON, not what its schema says, or inconsistent.
 * Its message is one line, `<key>: <field> <bad value> is not valid; expected <what>`.
 *
 * Readers refuse such a record: they never write it back, never allocate from or release into
 * it, and carry on with the other records. Where nothing else can serve a request (e.g. an IPAM
 * assignment whose only candidate block is bad, a corrupt IPAMConfig or IPAM handle) it is thrown;
 * `key` and `field` say which record and which field.
 */
export class BadRecordError extends Error {
  constructor(
    public readonly key: string,
    public readonly field: string,
    public readonly value: unknown,
    public readonly expected: string,
  ) {
    super(`${key}: ${field} ${formatValue(value)} is not valid; expected ${expected}`);
    this.name = 'BadRecordError';
  }
}

export function isBadRecord(error: unknown): error is BadRecordError {
  return error instanceof BadRecordError;
}

/** The longest excerpt of a non-JSON value quoted in the error. */
const EXCERPT = 40;

/** Parses a record's value; anything but a JSON object is a BadRecordError. */
export function decodeJsonObject(kv: Pick<KeyValue, 'key' | 'value'>): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(kv.value);
  } catch {
    const excerpt = kv.value.length > EXCERPT ? `${kv.value.slice(0, EXCERPT)}…` : kv.value;
    throw new BadRecordError(kv.key, 'value', excerpt, 'a JSON object');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadRecordError(kv.key, 'value', parsed, 'a JSON object');
  return parsed as Record<string, unknown>;
}

/**
 * Checks `value` with a schema validator (ajv's; the records' are compiled ahead of time, see
 * record-validators.generated.ts) as the API server would check it against the CRD; the first
 * violation is a BadRecordError naming `key` and the field's path (`allocations[3]`).
 */
export function checkSchema(key: string, value: unknown, validate: ValidateFunction): void {
  if (validate(value)) return;
  const error = validate.errors?.[validate.errors.length - 1];
  if (!error) throw new BadRecordError(key, 'value', value, 'a value matching its schema');
  throw describe(key, value, error);
}

function describe(key: string, root: unknown, error: ErrorObject): BadRecordError {
  const path = error.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (error.keyword === 'required') path.push(String((error.params as { missingProperty: string }).missingProperty));
  const value = path.reduce<unknown>((v, p) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined), root);
  const field = path.length ? path.reduce((f, p, i) => (/^\d+$/.test(p) ? `${f}[${p}]`
    : !/^[A-Za-z_][\w-]*$/.test(p) ? `${f}[${JSON.stringify(p)}]` : i ? `${f}.${p}` : p), '') : 'value';
  return new BadRecordError(key, field, value, expectation(error));
}

const ARTICLE: Readonly<Record<string, string>> = {
  array: 'an array', object: 'an object', string: 'a string', integer: 'an integer', number: 'a number', boolean: 'a boolean', null: 'null',
};

function expectation(error: ErrorObject): string {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required': return 'a value (the field is required)';
    case 'type': return String(p.type).split(',').map((t) => ARTICLE[t] ?? t).join(' or ');
    case 'enum': return `one of ${(p.allowedValues as unknown[]).map((v) => formatValue(v)).join(', ')}`;
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum': return `a number ${String(p.comparison)} ${String(p.limit)}`;
    case 'pattern': return `a string matching ${String(p.pattern)}`;
    case 'format': return `a ${String(p.format)} value`;
    case 'anyOf': return 'an integer or a string';
    default: return (error.message ?? 'a valid value').replace(/^must (be )?/, '');
  }
}

/**
 * Reads records for a long-running agent: decodes each item, reports a bad one once per revision
 * (not on every pass), and — so that a record corrupted in place does not withdraw what its good
 * version programmed — stands in its last good version, itself re-checked with the current decoder.
 * A key that is deleted is forgotten.
 */
export class RecordReader {
  private readonly lastGood = new Map<string, KeyValue>();
  private readonly reported = new Map<string, string>();

  constructor(private readonly report: (error: BadRecordError, standIn: boolean) => void) {}

  /**
   * Decodes every item of a list of `prefix`. With `standIn`, a bad item is replaced by its last
   * good version when that still decodes; without, it is left out. Keys under `prefix` missing
   * from the list are forgotten.
   */
  read<T>(prefix: string, items: readonly KeyValue[], decode: (kv: KeyValue) => T, standIn = true): T[] {
    const out: T[] = [];
    for (const kv of items) {
      const value = this.decode(kv, decode, standIn);
      if (value !== undefined) out.push(value);
    }
    const present = new Set(items.map((kv) => kv.key));
    for (const key of [...this.lastGood.keys(), ...this.reported.keys()]) {
      if (key.startsWith(prefix) && !present.has(key)) {
        this.lastGood.delete(key);
        this.reported.delete(key);
      }
    }
    return out;
  }

  /** One record: its value, or undefined when it is bad (reported once per revision). */
  decode<T>(kv: KeyValue, decode: (kv: KeyValue) => T, standIn = false): T | undefined {
    try {
      const value = decode(kv);
      this.lastGood.set(kv.key, kv);
      this.reported.delete(kv.key);
      return value;
    } catch (error) {
      if (!isBadRecord(error)) throw error;
      const previous = standIn ? this.lastGood.get(kv.key) : undefined;
      let replacement: T | undefined;
      if (previous) {
        try {
          replacement = decode(previous);
        } catch (e) {
          if (!isBadRecord(e)) throw e;
        }
      }
      this.refuse(kv, error, replacement !== undefined);
      return replacement;
    }
  }

  /** Forgets a deleted key: a later bad version of it has no last good version to stand in. */
  forget(key: string): void {
    this.lastGood.delete(key);
    this.reported.delete(key);
  }

  /** Reports a refusal of `kv` unless this revision was reported already. */
  refuse(kv: KeyValue, error: BadRecordError, standIn = false): void {
    if (this.reported.get(kv.key) === kv.revision) return;
    this.reported.set(kv.key, kv.revision);
    this.report(error, standIn);
  }
}
