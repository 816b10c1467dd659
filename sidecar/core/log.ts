/**
 * Structured logging in logfmt (`time=… level=info component=static msg="…" key=value`), one line per
 * event on stderr. Nothing on the request path logs by default: logging is for lifecycle and faults.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(component: string): Logger;
}

export type LogSink = (line: string) => void;

interface LogState {
  threshold: number;
  sink: LogSink;
}

const state: LogState = {
  threshold: LEVEL_RANK[(process.env['TANDEM_LOG_LEVEL'] as LogLevel | undefined) ?? 'info'] ?? LEVEL_RANK.info,
  sink: (line) => process.stderr.write(line + '\n'),
};

export function setLogLevel(level: LogLevel): void {
  state.threshold = LEVEL_RANK[level];
}

/** Redirects log output; returns a function restoring the previous sink (used by tests). */
export function setLogSink(sink: LogSink): () => void {
  const previous = state.sink;
  state.sink = sink;
  return () => {
    state.sink = previous;
  };
}

export function createLogger(component: string): Logger {
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LEVEL_RANK[level] < state.threshold) return;
    let line = `time=${new Date().toISOString()} level=${level} component=${component} msg=${quote(msg)}`;
    if (fields !== undefined) {
      for (const key of Object.keys(fields)) line += ` ${key}=${formatValue(fields[key])}`;
    }
    state.sink(line);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (sub) => createLogger(`${component}.${sub}`),
  };
}

function formatValue(value: unknown): string {
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return quote(typeof code === 'string' ? `${code}: ${value.message}` : value.message);
  }
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return quote(JSON.stringify(value));
}

function quote(text: string): string {
  return /^[\w.:/@+-]+$/.test(text) ? text : JSON.stringify(text);
}
