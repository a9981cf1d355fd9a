import { ValidationError } from './errors';

// Small checks every model shares. Each throws a ValidationError naming the field, the value and
// what was expected, or returns the checked value with its type narrowed.

/** An integer in [min, max]. */
export function checkInteger(field: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(field, value, `an integer from ${min} to ${max}${unit ? ` ${unit}` : ''}`);
  }
  return value;
}

/** A TCP/UDP port number. */
export function checkPort(field: string, value: unknown): number {
  return checkInteger(field, value, 1, 65535);
}

export function checkBoolean(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ValidationError(field, value, 'true or false');
  return value;
}

/** One of the values of a string enum. */
export function checkEnum<T extends string>(field: string, value: unknown, values: readonly T[]): T {
  if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
    throw new ValidationError(field, value, `one of ${values.join(', ')}`);
  }
  return value as T;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A Kubernetes object name that must be a DNS-1123 label (Namespace, Service). */
export function checkDnsLabel(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > 63 || !DNS_LABEL.test(value)) {
    throw new ValidationError(field, value, 'a DNS-1123 label (lower-case letters, digits and "-", at most 63 characters)');
  }
  return value;
}

/** A Kubernetes object name that must be a DNS-1123 subdomain (ConfigMap, Secret, most kinds). */
export function checkDnsSubdomain(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > 253 || !DNS_SUBDOMAIN.test(value)) {
    throw new ValidationError(field, value, 'a DNS-1123 subdomain (lower-case letters, digits, "-" and ".", at most 253 characters)');
  }
  return value;
}

/**
 * The keys of an options object are all known. Guards JavaScript callers (and object spreads) that
 * TypeScript's excess-property check does not see.
 */
export function checkKnownKeys(field: string, options: object, known: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const expected = known.length === 0 ? `no options for ${what}` : `an option of ${what}: ${known.join(', ')}`;
      throw new ValidationError(`${field}.${key}`, key, expected);
    }
  }
}
