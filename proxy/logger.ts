// The logger the site's parts write to. Console-shaped on purpose: `console` itself fits, and so
// does any structured logger with info/warn/error(message, fields).

export interface SiteLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** One JSON line per entry on stderr: what the `zeo` commands use when given nothing else. */
export const jsonLineLogger: SiteLogger = {
  info: (message, fields) => writeLine('info', message, fields),
  warn: (message, fields) => writeLine('warn', message, fields),
  error: (message, fields) => writeLine('error', message, fields),
};

/** Drops everything; for tests that assert on behaviour, not on log lines. */
export const silentLogger: SiteLogger = { info() {}, warn() {}, error() {} };

function writeLine(level: string, message: string, fields?: Record<string, unknown>): void {
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }) + '\n');
}
