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
