/*
 * yargs 18 ships no type declarations (and @types/yargs is not a dependency
 * here): these describe the part of its API main.ts uses. Parsed values come
 * back as unknown and are checked by the caller.
 */
declare module "yargs" {
  interface Options {
    type?: "string" | "number" | "boolean";
    choices?: readonly string[];
    default?: string | number | boolean;
    describe?: string;
    conflicts?: string | readonly string[];
  }
  interface Argv {
    scriptName(name: string): Argv;
    usage(message: string): Argv;
    example(command: string, description: string): Argv;
    option(key: string, options: Options): Argv;
    check(f: (argv: Record<string, unknown>) => true): Argv;
    strict(): Argv;
    fail(f: (message: string | undefined, error: Error | undefined) => void): Argv;
    help(): Argv;
    version(enabled: false): Argv;
    wrap(columns: number | null): Argv;
    parseSync(): Record<string, unknown>;
  }
  export default function yargs(args: readonly string[]): Argv;
}
