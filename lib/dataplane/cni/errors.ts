/** The spec's well-known error codes (SPEC.md "Error" section; 50/51 since 1.1.0). */
export const CNI_ERROR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  notAvailable: 50,
  notAvailableDegraded: 51,
  /** What libcni-based plugins return for any other failure (`types.ErrInternal`). */
  internal: 999,
} as const;

/** A failure the plugin reports as the spec's error object on stdout with a non-zero exit. */
export class CniError extends Error {
  constructor(public readonly code: number, message: string, public readonly details?: string) {
    super(message);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Error 7 naming the field, the bad value and what is expected. */
export function invalidConfig(field: string, value: unknown, expected: string): CniError {
  return new CniError(CNI_ERROR.invalidConfig, `${field}: ${JSON.stringify(value) ?? '(unset)'} is not valid; expected ${expected}`);
}

/** The network configuration on stdin as a JSON object, or error 6. */
export function parseConfObject(stdin: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (error) {
    throw new CniError(CNI_ERROR.decodeFailure, `network configuration on stdin is not valid JSON: ${(error as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CniError(CNI_ERROR.decodeFailure, 'network configuration on stdin must be a JSON object');
  return raw as Record<string, unknown>;
}

/** The most stdin a plugin reads: a network configuration is a few kB; 4 MiB leaves room for a large prevResult. */
export const MAX_CONF_BYTES = 4 * 1024 * 1024;

/** Error 6 for a configuration over MAX_CONF_BYTES: refused before it is read in full. */
export function oversizeConf(): CniError {
  return new CniError(CNI_ERROR.decodeFailure, `network configuration on stdin: more than ${MAX_CONF_BYTES} bytes is not valid; expected at most ${MAX_CONF_BYTES} bytes (4 MiB)`);
}
