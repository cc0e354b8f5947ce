// Structured JSON logs, one object per line: level, workload, ISA-95 level name, message.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function createLogger(workload: string, levelName: string, minLevel: LogLevel = (process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info'): Logger {
  const write = (severity: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[severity] < (ORDER[minLevel] ?? 20)) return;
    const line = JSON.stringify({ time: new Date().toISOString(), severity, workload, level: levelName, msg, ...fields });
    (severity === 'error' || severity === 'warn' ? process.stderr : process.stdout).write(line + '\n');
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}
