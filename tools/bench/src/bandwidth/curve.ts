/**
 * Bandwidth by buffer size, probed in a child process (./child.ts), and the
 * roofline rate for a number of weight bytes: the best rate seen at the
 * probed size nearest to it (on a log scale). Sizes above the largest probe
 * (a 32-bit WebAssembly memory holds 4 GiB) take the largest probe's rate:
 * far past the caches, the rate no longer changes with size.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Bandwidth } from "./probe.js";

const MIB = 2 ** 20;
/** The probed sizes: from about the smallest weights measured (a 0.5B int4 graph) to past the caches. */
export const PROBE_SIZES: readonly number[] = [256 * MIB, 512 * MIB, 1024 * MIB, 2048 * MIB, 3072 * MIB];

/** Best and median rate per probed size, bytes per second. */
export interface BandwidthPoint {
  readonly bytes: number;
  readonly bestBytesPerS: number;
  readonly medianBytesPerS: number;
}

export function probeBandwidth(sizes: readonly number[] = PROBE_SIZES): Bandwidth[] {
  const script = fileURLToPath(new URL("./child.js", import.meta.url));
  const r = spawnSync(process.execPath, ["--no-liftoff", script, ...sizes.map(String)], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0) throw new Error(`the bandwidth probe failed (exit ${r.status ?? r.signal}): ${r.stderr.trim().slice(-1000)}`);
  return JSON.parse(r.stdout) as Bandwidth[];
}

/** Points of several probes merged: per size, the best best and the lowest median. */
export function mergeProbes(probes: readonly (readonly Bandwidth[])[]): BandwidthPoint[] {
  const bySize = new Map<number, BandwidthPoint>();
  for (const b of probes.flat()) {
    const old = bySize.get(b.bufferBytes);
    bySize.set(b.bufferBytes, {
      bytes: b.bufferBytes,
      bestBytesPerS: Math.max(old?.bestBytesPerS ?? 0, b.bestBytesPerS),
      medianBytesPerS: Math.min(old?.medianBytesPerS ?? Infinity, b.medianBytesPerS),
    });
  }
  return [...bySize.values()].sort((a, b) => a.bytes - b.bytes);
}

/** The best rate at the probed size nearest `bytes` (log scale). */
export function bandwidthFor(curve: readonly BandwidthPoint[], bytes: number): number {
  if (curve.length === 0) throw new Error("no bandwidth probe to set a roofline from");
  let best = curve[0]!;
  for (const p of curve) if (Math.abs(Math.log(p.bytes / bytes)) < Math.abs(Math.log(best.bytes / bytes))) best = p;
  return best.bestBytesPerS;
}
