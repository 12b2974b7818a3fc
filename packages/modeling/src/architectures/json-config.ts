import { ConfigError } from "../config.js";

/**
 * Typed reads of config.json keys. Every error names the file and the key,
 * so a user sees which line of which file to fix.
 */
export class JsonConfig {
  constructor(
    private readonly json: Readonly<Record<string, unknown>>,
    /** Where the JSON came from, for messages ("./qwen2/config.json"). */
    readonly file: string,
  ) {}

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  raw(key: string): unknown {
    return this.json[key];
  }

  /** A positive integer (a size or count). */
  positiveInt(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw this.error(key, `must be a positive integer, got ${show(v)}`);
    }
    return v;
  }

  positiveNumber(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw this.error(key, `must be a positive number, got ${show(v)}`);
    }
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "boolean") throw this.error(key, `must be true or false, got ${show(v)}`);
    return v;
  }

  /** A token id or null. */
  optionalId(key: string): number | null {
    const v = this.json[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw this.error(key, `must be a token id, got ${show(v)}`);
    }
    return v;
  }

  /** A token id or a list of them (eos_token_id is either). */
  ids(key: string): number[] {
    const v = this.json[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    for (const id of list) {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0) {
        throw this.error(key, `must be a token id or a list of them, got ${show(v)}`);
      }
    }
    return list as number[];
  }

  optionalString(key: string): string | null {
    const v = this.json[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== "string") throw this.error(key, `must be a string, got ${show(v)}`);
    return v;
  }

  error(key: string, what: string): ConfigError {
    return new ConfigError(`${this.file}: "${key}" ${what}`);
  }
}

function show(v: unknown): string {
  return v === undefined ? "nothing" : JSON.stringify(v);
}
