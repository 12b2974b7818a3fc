import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * An inference directory being written: everything goes into a temporary
 * directory beside the output, which replaces the output only when it is
 * complete. A failure at any point removes the temporary directory and
 * leaves the output as it was.
 */
export interface StagedDir {
  /** Where files are written meanwhile. */
  readonly dir: string;
  /** Moves the staged directory into place (replacing the old output, if any). */
  commit(): void;
  /** Removes the staged directory. */
  abort(): void;
}

/** Why an output directory cannot be written; thrown before anything is touched. */
export class OutputDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutputDirError";
  }
}

/**
 * Checks `output` and stages a directory beside it. Refuses, touching
 * nothing, an output that is a file, a non-empty directory without
 * `overwrite`, and an output that holds (or is) one of `keep`: the model
 * and adapter directories the export reads, which replacing the output
 * would delete.
 */
export function stageOutputDir(output: string, options: { readonly overwrite: boolean; readonly keep: readonly string[] }): StagedDir {
  const out = path.resolve(output);
  for (const k of options.keep) {
    const rel = path.relative(out, path.resolve(k));
    if (rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel))) {
      throw new OutputDirError(`${output}: the output directory would hold ${k}, which the export reads; choose another output path`);
    }
  }
  let stat: fs.Stats | null = null;
  try {
    stat = fs.statSync(out);
  } catch {
    stat = null;
  }
  if (stat !== null && !stat.isDirectory()) throw new OutputDirError(`${output}: exists and is not a directory`);
  if (stat !== null && !options.overwrite && fs.readdirSync(out).length > 0) {
    throw new OutputDirError(`${output}: the directory is not empty; pass overwrite (--overwrite) to replace it`);
  }
  const parent = path.dirname(out);
  fs.mkdirSync(parent, { recursive: true });
  const dir = fs.mkdtempSync(path.join(parent, `.${path.basename(out)}.oar-export-`));
  let done = false;
  return {
    dir,
    commit() {
      if (done) throw new Error(`${dir}: already committed or aborted`);
      done = true;
      if (!fs.existsSync(out)) {
        fs.renameSync(dir, out);
        return;
      }
      const old = path.join(parent, `.${path.basename(out)}.oar-old-${crypto.randomBytes(4).toString("hex")}`);
      fs.renameSync(out, old);
      try {
        fs.renameSync(dir, out);
      } catch (e) {
        fs.renameSync(old, out);
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
      }
      fs.rmSync(old, { recursive: true, force: true });
    },
    abort() {
      if (done) return;
      done = true;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
