export * from './types';
export * from './address';
export { decodeMessage, encodeMessage, readHeader, MessageFramer } from './message';
export { endOfRib, endOfRibFamily, isTreatAsWithdraw } from './update';
export { asPathLength } from './attributes';
export { encodedPrefixSize } from './nlri';
export { myAsField } from './open';
