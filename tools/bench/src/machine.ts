/** The machine a run measures on, and whether anything else is using its CPUs. */
import * as fs from "node:fs";
import * as os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";

export interface Machine {
  /** /proc/cpuinfo's model name (os.cpus() where there is none). */
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly platform: string;
}

export function describeMachine(): Machine {
  let cpuModel = os.cpus()[0]?.model ?? "unknown";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync("/proc/cpuinfo", "utf8"));
    if (m !== null) cpuModel = m[1]!.trim();
  } catch {
    // No /proc (not Linux): os.cpus()'s model stands.
  }
  return { cpuModel, cores: os.availableParallelism(), memoryBytes: os.totalmem(), node: process.version, platform: `${os.platform()} ${os.release()}` };
}

/** 1, 5 and 15-minute load averages. */
export function loadAverage(): readonly [number, number, number] {
  const [a, b, c] = os.loadavg();
  return [a!, b!, c!];
}

/**
 * Threads of other processes running or ready to run right now: the median,
 * over `samples` looks `intervalMs` apart, of /proc/loadavg's running count
 * minus this process's own reading thread. Called while the bench itself is
 * idle (between measurements), so whatever it counts is someone else's work;
 * the load average cannot tell, as it still holds the bench's own last
 * minute. null where /proc/loadavg does not exist.
 */
export async function othersRunning(samples = 9, intervalMs = 100): Promise<number | null> {
  const counts: number[] = [];
  for (let i = 0; i < samples; i++) {
    let text: string;
    try {
      text = fs.readFileSync("/proc/loadavg", "utf8");
    } catch {
      return null;
    }
    const running = Number(/ (\d+)\/\d+ /.exec(text)?.[1] ?? NaN);
    if (!Number.isFinite(running)) return null;
    counts.push(Math.max(0, running - 1));
    await sleep(intervalMs);
  }
  counts.sort((a, b) => a - b);
  return counts[Math.floor(counts.length / 2)]!;
}
