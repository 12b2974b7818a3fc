/**
 * How Oar's command-line programs fail. A person's mistake (a flag, a file, a
 * directory) is a `UsageError`, or one of the libraries' errors that already
 * name the file at fault, and prints as one line. An error thrown by
 * JavaScript itself (TypeError, RangeError, ...) is a bug in Oar and prints
 * its stack.
 */
import * as fs from "node:fs";

/** A mistake in the command line or in a file the user named; its message is one line for a person. */
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
    // JSON.parse throws SyntaxError on a user's file; those are caught and rethrown as UsageError where files are read.
    if (BUG_CLASSES.some((c) => e instanceof c)) return true;
  }
  return false;
}

/**
 * What to print on stderr for an error that ends the program: one line
 * `<program>: <message>` (whitespace and newlines collapsed), or for a bug,
 * or with `debug` (OAR_DEBUG=1), the stack with every cause.
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
  return `${program}: ${oneLine(message)}\n`;
}

/** Collapses a message onto one line. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * The `fail` of a program's main module: prints `formatFatal` on stderr and
 * exits 1. OAR_DEBUG=1 in the environment prints stacks for everything.
 */
export function failer(program: string): (error: unknown) => never {
  const debug = process.env["OAR_DEBUG"] === "1";
  return (error) => {
    process.stderr.write(formatFatal(program, error, debug));
    process.exit(1);
  };
}

/** The message yargs hands its `.fail` handler, as one Error (yargs gives a string, an Error, or both). */
export function yargsError(message: string | undefined, error: Error | undefined): Error {
  return new UsageError(oneLine(error?.message ?? message ?? "invalid arguments (see --help)"));
}

/**
 * Checks that `--model_name_or_path` (or another flag's) `dir` is an existing
 * directory: a UsageError naming the flag otherwise. Models are local
 * directories, never downloaded, so a missing one says so.
 */
export function requireModelDirectory(dir: string, flag = "--model_name_or_path"): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new UsageError(`${flag} ${dir}: no such directory (a model is a local directory; download it first)`);
  }
  if (!stat.isDirectory()) throw new UsageError(`${flag} ${dir}: not a directory`);
}
