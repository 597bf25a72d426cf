import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export interface LoggerConfig {
  level: string;
  pretty: boolean;
}

/** Structured JSON logs (snake_case `event` keys); pretty only for people at a terminal. */
export function createLogger(config: LoggerConfig, name = 'twinlane'): Logger {
  const options: LoggerOptions = { name, level: config.level, base: { service: name } };
  if (config.pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  }
  return pino(options);
}

/** A logger that writes nothing, for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
