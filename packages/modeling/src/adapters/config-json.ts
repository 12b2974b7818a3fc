import * as fs from "node:fs";
import { AdapterError } from "./errors.js";

/**
 * Typed reads of an adapter's JSON config (adapter_config.json,
 * lora_config.json, prefix_config.json). Every error names the file and the
 * key.
 */
export class AdapterJson {
  constructor(
    private readonly json: Readonly<Record<string, unknown>>,
    /** The file it came from, for messages. */
    readonly file: string,
  ) {}

  /** Reads and parses `file`, which must hold a JSON object. */
  static read(file: string): AdapterJson {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      throw new AdapterError(`${file}: cannot be read: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new AdapterError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new AdapterError(`${file}: must hold a JSON object`);
    return new AdapterJson(json as Record<string, unknown>, file);
  }

  /** Whether the key is present and not null. */
  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  raw(key: string): unknown {
    return this.json[key];
  }

  keys(): string[] {
    return Object.keys(this.json);
  }

  positiveInt(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) throw this.error(key, `must be a positive integer, got ${show(v)}`);
    return v;
  }

  /** A finite number (lora_alpha may be a float, and 0 or negative in principle). */
  number(key: string, fallback?: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) throw this.error(key, `must be a number, got ${show(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.json[key] ?? fallback;
    if (typeof v !== "boolean") throw this.error(key, `must be true or false, got ${show(v)}`);
    return v;
  }

  /** A string or a list of strings (target_modules), or null when absent. */
  stringOrList(key: string): string | string[] | null {
    const v = this.json[key];
    if (v === undefined || v === null) return null;
    if (typeof v === "string") return v;
    if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v as string[];
    throw this.error(key, `must be a string or a list of strings, got ${show(v)}`);
  }

  /** An object of name -> number (rank_pattern, alpha_pattern); empty when absent. */
  numberMap(key: string): Map<string, number> {
    const v = this.json[key];
    if (v === undefined || v === null) return new Map();
    if (typeof v !== "object" || Array.isArray(v)) throw this.error(key, `must be an object of module pattern -> number, got ${show(v)}`);
    const out = new Map<string, number>();
    for (const [k, n] of Object.entries(v as Record<string, unknown>)) {
      if (typeof n !== "number" || !Number.isFinite(n)) throw this.error(key, `maps "${k}" to ${show(n)}, not a number`);
      out.set(k, n);
    }
    return out;
  }

  /**
   * Checks every key against what this reader knows: `used` keys are read
   * elsewhere, `ignored` keys do not change what the adapter computes
   * (training settings, provenance), and `refused` keys name a feature Oar
   * does not implement, an error when set to anything but an empty value.
   * Any other key must be empty too, since Oar cannot know what it means.
   */
  checkKeys(options: { used: readonly string[]; ignored: readonly string[]; refused: Readonly<Record<string, string>> }): void {
    const known = new Set([...options.used, ...options.ignored]);
    for (const key of this.keys()) {
      if (known.has(key)) continue;
      const v = this.json[key];
      if (isEmpty(v)) continue;
      const reason = options.refused[key];
      if (reason !== undefined) throw this.error(key, `is ${show(v)}: ${reason}`);
      throw this.error(key, `is ${show(v)}, a setting Oar does not understand (only empty values are accepted for unknown keys)`);
    }
  }

  error(key: string, what: string): AdapterError {
    return new AdapterError(`${this.file}: "${key}" ${what}`);
  }
}

/** null, false, 0, "", [] and {}: the values that leave a feature switched off. */
function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === "") return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === "object") return Object.keys(v).length === 0;
  return false;
}

function show(v: unknown): string {
  return v === undefined ? "nothing" : JSON.stringify(v);
}
