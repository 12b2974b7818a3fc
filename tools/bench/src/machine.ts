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

/** Busy and total jiffies over all CPUs, from /proc/stat's first line; null without /proc. */
function cpuTimes(): { busy: number; total: number } | null {
  let line: string;
  try {
    line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  } catch {
    return null;
  }
  // cpu user nice system idle iowait irq softirq steal ...
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/**
 * How many CPUs other processes kept busy over the last `ms`
 * milliseconds (0 to the core count), from /proc/stat. Called while the
 * bench itself is idle (between measurements), so what it counts is
 * someone else's work; the load average cannot tell, as it still holds the
 * bench's own last minute. null where /proc/stat does not exist.
 */
export async function othersBusyCores(ms = 1000): Promise<number | null> {
  const a = cpuTimes();
  await sleep(ms);
  const b = cpuTimes();
  if (a === null || b === null || b.total === a.total) return null;
  return ((b.busy - a.busy) / (b.total - a.total)) * os.availableParallelism();
}
