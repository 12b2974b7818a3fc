/**
 * The measurements: `runs` rounds, each configuration once per round in
 * the plan's order (A B C A B C ...), so a slow spell on a shared machine
 * touches every configuration alike instead of one. Each measurement is a
 * fresh child process (./child.ts). Before each, the bench waits (up to
 * `maxWaitS`) for other processes to leave the CPUs and records how many
 * were running when it started. A configuration whose measurement fails is
 * dropped from the later rounds with the reason kept.
 */
import { spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { othersBusyCores } from "./machine.js";
import type { Prepared } from "./prepare.js";
import { type ChildSpec, SAMPLE_MARKER } from "./protocol.js";
import type { MeasuredSample } from "./results.js";
import type { Sample, Workload } from "./workload.js";

export interface RoundsOptions {
  readonly runs: number;
  readonly workload: Workload;
  readonly positions: number;
  /** Longest wait for an idle machine before a measurement, seconds. */
  readonly maxWaitS: number;
  /** Longest a measurement may take, seconds. */
  readonly timeoutS: number;
  readonly log: (line: string) => void;
  /** Run after every round but the last (the bench probes the bandwidth there). */
  readonly betweenRounds: () => Promise<void>;
}

export interface Measured {
  readonly samples: Map<string, MeasuredSample[]>;
  readonly problems: Map<string, string>;
}

export async function runRounds(configurations: readonly Prepared[], o: RoundsOptions): Promise<Measured> {
  const samples = new Map<string, MeasuredSample[]>(configurations.map((p) => [p.configuration.id, []]));
  const problems = new Map<string, string>();
  for (let round = 1; round <= o.runs; round++) {
    for (const p of configurations) {
      const id = p.configuration.id;
      if (problems.has(id)) continue;
      const others = await waitForIdle(o.maxWaitS, o.log);
      const spec: ChildSpec = { configuration: p.configuration, path: p.path, workload: o.workload, positions: o.positions };
      try {
        const t0 = performance.now();
        const sample = await runChild(spec, o.timeoutS);
        const took = ` [${((performance.now() - t0) / 1000).toFixed(0)} s]`;
        samples.get(id)!.push({ ...sample, othersBusyCores: others });
        const busy = others !== null && others >= BUSY_CORES ? `  (other processes kept ${others.toFixed(1)} cores busy before it)` : "";
        o.log(`[${round}/${o.runs}] ${id}: ${formatSample(sample)}${busy}${took}`);
      } catch (error) {
        problems.set(id, (error as Error).message);
        o.log(`[${round}/${o.runs}] ${id}: FAILED, left out of later rounds: ${(error as Error).message}`);
      }
    }
    if (round < o.runs) await o.betweenRounds();
  }
  return { samples, problems };
}

function formatSample(s: Sample): string {
  const parts = [
    `load ${(s.loadMs / 1000).toFixed(1)} s`,
    `ttft ${s.ttftMs.toFixed(0)} ms`,
    `prefill ${s.prefillShort.toFixed(0)}${s.prefillLong === null ? "" : ` / ${s.prefillLong.toFixed(0)}`} tok/s`,
    `decode ${s.decode.toFixed(1)}${s.batchDecode === null ? "" : ` / x8 ${s.batchDecode.toFixed(1)}`} tok/s`,
    `rss ${(s.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
  ];
  return parts.join(", ");
}

/** Other processes using this much of the CPUs (in cores) make the bench wait. */
const BUSY_CORES = 0.2;

/** Cores other processes keep busy, after waiting up to maxWaitS for them to go below BUSY_CORES. */
export async function waitForIdle(maxWaitS: number, log: (line: string) => void): Promise<number | null> {
  const deadline = performance.now() + maxWaitS * 1000;
  let others = await othersBusyCores();
  if (others !== null && others >= BUSY_CORES && maxWaitS > 0) {
    log(`  other processes keep ${others.toFixed(1)} cores busy; waiting up to ${maxWaitS} s for the CPUs to be free`);
    while (others !== null && others >= BUSY_CORES && performance.now() < deadline) {
      await sleep(4000);
      others = await othersBusyCores();
    }
  }
  return others;
}

/** One child process: its Sample, or an error carrying the end of its output. */
function runChild(spec: ChildSpec, timeoutS: number): Promise<Sample> {
  const script = fileURLToPath(new URL("./child.js", import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify(spec)], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutS * 1000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split("\n").find((l) => l.startsWith(SAMPLE_MARKER));
      if (code === 0 && line !== undefined) {
        resolve(JSON.parse(line.slice(SAMPLE_MARKER.length)) as Sample);
        return;
      }
      const why = signal === "SIGKILL" ? `took longer than ${timeoutS} s` : `exited with ${signal ?? `code ${code}`}`;
      const tail = (stderr + stdout).trim().split("\n").slice(-12).join("\n");
      reject(new Error(`the measuring process ${why}${tail === "" ? "" : `:\n${tail}`}`));
    });
  });
}
