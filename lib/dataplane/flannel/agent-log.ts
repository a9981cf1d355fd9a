/** Structured logs: one JSON object per line, `{"ts","level","msg",...fields}`. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, string | number | boolean | undefined | readonly string[]>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** `level` may be a function: the level is then read per line (a setting that changes while running). */
export function jsonLogger(level: LogLevel | (() => LogLevel) = 'info', write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const current = typeof level === 'function' ? level : () => level;
  const emit = (at: LogLevel) => (msg: string, fields: LogFields = {}) => {
    if (RANK[at] < RANK[current()]) return;
    write(`${JSON.stringify({ ts: new Date().toISOString(), level: at, msg, ...fields })}\n`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}
