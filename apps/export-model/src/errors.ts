/**
 * How export-model fails: a person's mistake (a flag, a directory, an
 * adapter) prints as one line; an error JavaScript throws on a programming
 * mistake (TypeError, RangeError, ...) is a bug and prints its stack.
 */

/** A mistake in the command line or in a directory the user named; its message is one line for a person. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const BUG_CLASSES = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];

/** True when `error`, or an error it wraps as its cause, is one JavaScript throws on a programming mistake. */
export function isBug(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof UsageError) return false;
    if (BUG_CLASSES.some((c) => e instanceof c)) return true;
  }
  return false;
}

/**
 * What to print on stderr for an error that ends the program: one line
 * `<program>: <message>`, or for a bug, or with `debug` (OAR_DEBUG=1), the
 * stack with every cause.
 */
export function formatFatal(program: string, error: unknown, debug: boolean): string {
  if (debug || isBug(error)) {
    const parts: string[] = [];
    for (let e = error, depth = 0; depth < 8 && e !== undefined; depth++) {
      parts.push(e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e));
      e = e instanceof Error ? e.cause : undefined;
      if (e !== undefined) parts.push("caused by:");
    }
    const hint = debug ? "" : `\n${program}: this looks like a bug in Oar; please report it with the command that caused it`;
    return `${program}: ${parts.join("\n")}${hint}\n`;
  }
  const message = error instanceof Error ? error.message : String(error);
  return `${program}: ${message.replace(/\s*\n\s*/g, " ").trim()}\n`;
}
