// Logging at [log].level: debug < info < warn < error. A message below the configured level
// is dropped; an error is always written. Lines start with the service in brackets, as
// `wrangler tail` and the dev console show them. A config that cannot be read logs at "info".
import { lakehouseConfig } from "./lakehouse-config";

export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const SINK: Record<LogLevel, (...args: unknown[]) => void> = {
  debug: (...a) => console.debug(...a),
  info: (...a) => console.log(...a),
  warn: (...a) => console.warn(...a),
  error: (...a) => console.error(...a),
};

export type Logger = Record<LogLevel, (message: string, ...extra: unknown[]) => void>;

function configuredLevel(env: object): LogLevel {
  try {
    return lakehouseConfig(env).log.level as LogLevel;
  } catch {
    return "info";
  }
}

/** A logger for `service` that writes what [log].level lets through. */
export function logger(env: object, service: string): Logger {
  const min = RANK[configuredLevel(env)];
  const at =
    (level: LogLevel) =>
    (message: string, ...extra: unknown[]) => {
      if (level === "error" || RANK[level] >= min) SINK[level](`[${service}] ${message}`, ...extra);
    };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
