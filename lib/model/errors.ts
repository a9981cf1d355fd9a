/**
 * The one error type of the model. Its message is a single line that names the field,
 * the value that was given and what is expected, e.g.
 * `flannel.podNetwork: "10.244.0.0/33" is not valid; expected an IPv4 CIDR such as 10.244.0.0/16`.
 */
export class ValidationError extends Error {
  public readonly field: string;
  public readonly value: unknown;
  public readonly expected: string;

  constructor(field: string, value: unknown, expected: string) {
    super(`${field}: ${formatValue(value)} is not valid; expected ${expected}`);
    this.name = 'ValidationError';
    this.field = field;
    this.value = value;
    this.expected = expected;
  }
}

/** A validation error whose cause is the combination of several fields rather than one bad value. */
export class ConflictError extends ValidationError {
  constructor(field: string, value: unknown, reason: string) {
    super(field, value, reason);
    this.name = 'ConflictError';
    this.message = `${field}: ${formatValue(value)} ${reason}`;
  }
}

export function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return '(unset)';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
