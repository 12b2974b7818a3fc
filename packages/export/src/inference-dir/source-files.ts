import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { type CheckpointFormat, type TensorSource, describingBytes } from "@oar/tensor";

/** The model files copied beside the graph, when the source has them. */
export const MODEL_FILES: readonly string[] = ["config.json", "generation_config.json"];

/**
 * Tokenizer files copied beside the graph, when the source has them:
 * tokenizer.json and tokenizer_config.json, which the runtime reads, and the
 * files other tokenizer loaders look for.
 */
export const TOKENIZER_FILES: readonly string[] = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "added_tokens.json",
  "chat_template.jinja",
  "chat_template.json",
  "vocab.json",
  "merges.txt",
  "tokenizer.model",
];

/** Copies the files of `names` that `from` has into `to`; returns the ones copied. */
export function copyPresent(from: string, to: string, names: readonly string[]): string[] {
  const copied: string[] = [];
  for (const name of names) {
    const src = path.join(from, name);
    if (!fs.existsSync(src)) continue;
    fs.copyFileSync(src, path.join(to, name));
    copied.push(name);
  }
  return copied;
}

/** sha256 of a whole file, read in 1 MiB pieces (for small files: configs, adapters). */
export function sha256File(file: string): string {
  const h = crypto.createHash("sha256");
  const fd = fs.openSync(file, "r");
  try {
    const buf = new Uint8Array(1 << 20);
    for (let at = 0; ; ) {
      const n = fs.readSync(fd, buf, 0, buf.length, at);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      at += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}

/** A weight file of the source, identified without hashing all of its data. */
export interface WeightFileDigest {
  /** Relative to the model directory. */
  readonly file: string;
  readonly bytes: number;
  /**
   * sha256 of the bytes that describe the file's tensors (describingBytes):
   * a safetensors file's first 8 + header-length bytes; a torch zip's
   * central directory (with every entry's CRC-32); all of a .pdparams file.
   */
  readonly header_sha256: string;
}

/**
 * Digests of the checkpoint's weight files: size and header hash.
 * Hashing the data of a multi-GB checkpoint would cost more than the export;
 * the header pins names, shapes and layout, and the size the rest.
 */
export function weightFileDigests(modelDir: string, checkpoint: TensorSource, format: CheckpointFormat): WeightFileDigest[] {
  const files = [...new Set(checkpoint.names.map((n) => checkpoint.info(n).file))].sort();
  return files.map((file) => {
    const span = describingBytes(file, format);
    const fd = fs.openSync(file, "r");
    try {
      const h = crypto.createHash("sha256");
      const buf = new Uint8Array(Math.min(1 << 20, span.end - span.start));
      for (let at = span.start; at < span.end; ) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, span.end - at), at);
        if (n === 0) throw new Error(`${file}: ended at byte ${at} while it was being hashed (was it truncated?)`);
        h.update(buf.subarray(0, n));
        at += n;
      }
      return { file: path.relative(modelDir, file), bytes: fs.fstatSync(fd).size, header_sha256: h.digest("hex") };
    } finally {
      fs.closeSync(fd);
    }
  });
}
