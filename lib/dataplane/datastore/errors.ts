/** Why a compare-and-swap write was refused. */
export type ConflictReason = 'exists' | 'changed' | 'missing';

/**
 * A compare-and-swap write lost: someone else created, changed or deleted the key first.
 * Callers re-read and retry (or give up after a bounded number of attempts).
 */
export class RevisionConflictError extends Error {
  constructor(
    public readonly key: string,
    public readonly reason: ConflictReason,
    public readonly expectedRevision?: string,
  ) {
    super(reason === 'exists' ? `datastore: ${key} already exists`
      : reason === 'missing' ? `datastore: ${key} does not exist (expected revision ${expectedRevision ?? '?'})`
        : `datastore: ${key} changed since revision ${expectedRevision ?? '?'}`);
    this.name = 'RevisionConflictError';
  }
}

/** The datastore cannot do what was asked (e.g. a TTL on the Kubernetes API); a programming or configuration error. */
export class UnsupportedOperationError extends Error {
  constructor(kind: string, operation: string, hint: string) {
    super(`datastore ${kind}: ${operation} is not supported; ${hint}`);
    this.name = 'UnsupportedOperationError';
  }
}

export function isRevisionConflict(error: unknown): error is RevisionConflictError {
  return error instanceof RevisionConflictError;
}
