/**
 * Where the bench keeps what it makes: checkpoints (through
 * @oar/make-tiny-model's cache), exported inference directories and GGUF
 * files, all under one root outside the repository (OAR_MODEL_CACHE, or
 * oar-model-cache in the system's temporary directory). Each artifact is
 * made in a private path and renamed into place, so a run that stops half
 * way never leaves a partial one to be reused.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** The cache root @oar/make-tiny-model also uses. */
export function cacheRoot(): string {
  return process.env["OAR_MODEL_CACHE"] ?? path.join(os.tmpdir(), "oar-model-cache");
}

/**
 * A digest of the compiled code of the packages an artifact is made with
 * (every .js under each package's dist, tests excepted): a change to the
 * exporter or the model definition never reuses an export made before it.
 */
export function codeDigest(packageNames: readonly string[]): string {
  const h = createHash("sha256");
  for (const name of packageNames) {
    const dist = path.dirname(fileURLToPath(import.meta.resolve(name)));
    for (const file of listJs(dist)) h.update(path.relative(dist, file)).update(fs.readFileSync(file));
  }
  return h.digest("hex").slice(0, 12);
}

function listJs(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listJs(p));
    else if (e.name.endsWith(".js") && !e.name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

/** sha256 of a small file (a script), first 12 hex digits. */
export function fileDigest(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex").slice(0, 12);
}

/**
 * `target` if it exists; otherwise `make(work)` writes it at a private path
 * beside it (a file or a directory, as `make` chooses), which is then
 * renamed to `target`. A failed `make` leaves nothing behind.
 */
export async function cachedPath(target: string, make: (work: string) => Promise<void>): Promise<string> {
  if (fs.existsSync(target)) return target;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const work = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.partial`);
  fs.rmSync(work, { recursive: true, force: true });
  try {
    await make(work);
    if (!fs.existsSync(target)) fs.renameSync(work, target);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return target;
}

/** Total bytes of the files and directories given (recursively). */
export function diskBytes(paths: readonly string[]): number {
  let total = 0;
  for (const p of paths) {
    const st = fs.statSync(p);
    if (st.isDirectory()) total += diskBytes(fs.readdirSync(p).map((n) => path.join(p, n)));
    else total += st.size;
  }
  return total;
}
