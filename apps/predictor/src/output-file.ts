/**
 * The output file: JSON lines `{"src", "tgt", "output"}`, one per prompt,
 * in input order, written as results complete. Results that finish out of
 * order wait in memory until every earlier one is written, so the file is
 * always a prefix of the input. Each write appends whole lines and is
 * synced, so an interrupted run keeps what finished, and `--resume` (which
 * drops a torn last line, should a crash ever leave one) continues it.
 */
import * as fs from "node:fs";
import type { PromptSource, Prompt } from "./data-file.js";
import { UsageError } from "@oar/cli";

/** One line of the output file. */
export interface OutputRecord {
  /** The prompt as the data file gave it, untemplated. */
  readonly src: PromptSource;
  readonly tgt: unknown;
  readonly output: string;
}

/** The line for a record: JSON with non-ASCII characters as they are (PaddleNLP's ensure_ascii=False). */
export function formatRecord(record: OutputRecord): string {
  return `${JSON.stringify({ src: record.src, tgt: record.tgt, output: record.output })}\n`;
}

/** What an earlier run left in an output file. */
export interface ResumePoint {
  /** Prompts already answered: the first `done` of the input. */
  readonly done: number;
  /** Bytes of whole lines to keep. */
  readonly keepBytes: number;
  /** A last line without its newline was found (and will be dropped). */
  readonly tornTail: boolean;
}

/**
 * Reads an earlier run's output file for `--resume`. Each whole line must be
 * a record whose `src` is the prompt at that position of the input; anything
 * else means the file belongs to another run, and is an error rather than
 * something to append to. A missing file resumes from the start.
 */
export function readResumePoint(file: string, prompts: readonly Prompt[]): ResumePoint {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { done: 0, keepBytes: 0, tornTail: false };
    throw new UsageError(`--output_file ${file}: cannot read it to resume: ${(e as Error).message}`);
  }
  let done = 0;
  let start = 0;
  for (let end = bytes.indexOf(0x0a, start); end >= 0; end = bytes.indexOf(0x0a, start)) {
    const line = done + 1;
    const at = `--output_file ${file} line ${line}`;
    let record: unknown;
    try {
      record = JSON.parse(bytes.subarray(start, end).toString("utf8"));
    } catch {
      throw new UsageError(`${at}: not a predictor result (not JSON); --resume continues a file this program wrote. Remove the file or drop --resume`);
    }
    if (done >= prompts.length) {
      throw new UsageError(`${at}: the output file has more lines than the input has prompts (${prompts.length}); it belongs to another data file`);
    }
    const src = typeof record === "object" && record !== null ? (record as Record<string, unknown>)["src"] : undefined;
    if (JSON.stringify(src) !== JSON.stringify(prompts[done]!.src)) {
      throw new UsageError(`${at}: its "src" is not prompt ${done + 1} of the input; the output file belongs to another data file. Remove it or drop --resume`);
    }
    done++;
    start = end + 1;
  }
  return { done, keepBytes: start, tornTail: start < bytes.length };
}

/** Appends records in input order, holding back those that finish early. */
export class OutputWriter {
  private readonly pending = new Map<number, string>();
  private next: number;
  private fd: number | null;

  private constructor(
    readonly file: string,
    fd: number,
    first: number,
  ) {
    this.fd = fd;
    this.next = first;
  }

  /**
   * Opens `file`: emptied for a fresh run, or cut to the whole lines of
   * `resume` and appended to. The first record expected is index
   * `resume.done` (0 for a fresh run).
   */
  static open(file: string, resume: ResumePoint | null): OutputWriter {
    try {
      if (resume === null) return new OutputWriter(file, fs.openSync(file, "w"), 0);
      if (fs.existsSync(file)) fs.truncateSync(file, resume.keepBytes);
      return new OutputWriter(file, fs.openSync(file, "a"), resume.done);
    } catch (e) {
      throw new UsageError(`--output_file ${file}: cannot write: ${(e as Error).message}`);
    }
  }

  /** Index of the next record the file needs. */
  get nextIndex(): number {
    return this.next;
  }

  /** Records `record` as the result of prompt `index`; writes it and any it unblocks. Returns the indices written. */
  put(index: number, record: OutputRecord): number[] {
    if (index < this.next || this.pending.has(index)) throw new Error(`output record ${index} given twice`);
    this.pending.set(index, formatRecord(record));
    const written: number[] = [];
    let text = "";
    for (let line = this.pending.get(this.next); line !== undefined; line = this.pending.get(this.next)) {
      this.pending.delete(this.next);
      written.push(this.next);
      text += line;
      this.next++;
    }
    if (text !== "") this.append(text);
    return written;
  }

  close(): void {
    if (this.fd === null) return;
    fs.closeSync(this.fd);
    this.fd = null;
  }

  private append(text: string): void {
    if (this.fd === null) throw new Error(`${this.file} is closed`);
    const bytes = Buffer.from(text, "utf8");
    for (let offset = 0; offset < bytes.length; ) offset += fs.writeSync(this.fd, bytes, offset);
    fs.fsyncSync(this.fd);
  }
}
