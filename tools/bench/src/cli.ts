/** The bench's command line. */
import { parseArgs } from "node:util";

export interface CliOptions {
  readonly quick: boolean;
  readonly presets: readonly string[] | null;
  readonly only: readonly string[] | null;
  readonly runs: number | null;
  readonly tokens: number | null;
  readonly out: string | null;
  readonly maxWaitS: number | null;
  readonly list: boolean;
  readonly help: boolean;
}

export const USAGE = `npm run bench [-- options]     (or: cd tools/bench && node dist/main.js [options])

Measures Oar (dynamic and static mode) against transformers.js, llama.cpp and
the memory-bandwidth roofline on the qwen2-0.5b and qwen2-1.5b presets.

  --quick              a few minutes: 5 configurations of qwen2-0.5b, 3 runs, fewer tokens
  --preset LIST        only these presets (qwen2-0.5b, qwen2-1.5b; comma-separated)
  --only PATTERNS      only configurations whose id matches one of these (comma-separated;
                       a pattern is a substring, * matches anything: 0.5b/static-*-fused)
  --runs N             measurements per configuration (default 5; --quick 3)
  --tokens N           new tokens of the batch-1 decode (default 128, as issue 5 measures; --quick 16)
  --out DIR            where results.md, results.json, decode.svg and README-section.md go
                       (default: docs/bench for a full run, else a directory in the cache)
  --max-wait S         seconds to wait for other processes to leave the CPUs before each
                       measurement (default 120; --quick 30)
  --list               print the configurations that would run, and exit
  --help               this text

Checkpoints, exports and GGUF files are cached under $OAR_MODEL_CACHE
(default: oar-model-cache in the system's temporary directory).`;

function positiveInt(flag: string, v: string | undefined, min: number): number | null {
  if (v === undefined) return null;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${flag} must be an integer of at least ${min}, got ${JSON.stringify(v)}`);
  return n;
}

const list = (v: string | undefined): string[] | null =>
  v === undefined
    ? null
    : v
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");

export function parseCli(argv: readonly string[]): CliOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: "boolean", default: false },
      preset: { type: "string" },
      only: { type: "string" },
      runs: { type: "string" },
      tokens: { type: "string" },
      out: { type: "string" },
      "max-wait": { type: "string" },
      list: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  return {
    quick: values.quick,
    presets: list(values.preset),
    only: list(values.only),
    runs: positiveInt("--runs", values.runs, 1),
    tokens: positiveInt("--tokens", values.tokens, 2),
    out: values.out ?? null,
    maxWaitS: positiveInt("--max-wait", values["max-wait"], 0),
    list: values.list,
    help: values.help,
  };
}
