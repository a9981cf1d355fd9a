// The BGP speaker, layer by layer: wire codec · session FSM · RIB and policy · glue.
export * as wire from './wire';
export * from './session/fsm';
export * from './session/connection';
export * from './session/clock';
export * from './session/md5';
export * from './rib/rib';
export * from './rib/export';
export * from './rib/filter';
export * from './speaker';
export * from './peers';
export * from './node-service';
export * from './datastore-config';
export * from './config';
export { runSpeakerCli, SPEAKER_USAGE } from './cli';
