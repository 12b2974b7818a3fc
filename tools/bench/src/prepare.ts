/**
 * Readies each configuration of a plan before anything is timed: its
 * checkpoint, export or GGUF made or found in the cache, its size on disk
 * and the weight bytes it reads per decoded token. A configuration that
 * cannot be readied (no python3 for GGUFs, an export that fails) keeps the
 * reason and is left out of the measurements.
 */
import * as fs from "node:fs";
import { assertNever } from "@oar/tensor";
import { checkpointBytes, checkpointDir, exportDir, ggufFile, ggufUnavailable, graphBytes } from "./artifacts.js";
import type { Configuration } from "./configs.js";
import { eagerWeightBytesPerToken, ggufWeightBytesPerToken, graphWeightBytesPerToken } from "./weight-bytes.js";

export interface Prepared {
  readonly configuration: Configuration;
  readonly path: string;
  readonly bytes: number;
  readonly weightBytesPerToken: number;
}

export interface Unprepared {
  readonly configuration: Configuration;
  readonly problem: string;
}

export async function prepare(configurations: readonly Configuration[], log: (line: string) => void): Promise<(Prepared | Unprepared)[]> {
  const graphWeights = new Map<string, number>();
  let noGguf: string | null | undefined;
  const out: (Prepared | Unprepared)[] = [];
  for (const configuration of configurations) {
    const e = configuration.engine;
    try {
      switch (e.kind) {
        case "dynamic": {
          const dir = checkpointDir(configuration.preset);
          out.push({ configuration, path: dir, bytes: checkpointBytes(dir), weightBytesPerToken: eagerWeightBytesPerToken(dir, e.storage) });
          break;
        }
        case "static":
        case "transformers.js": {
          const dir = await exportDir(configuration.preset, { weights: e.weights, fused: e.fused, onProgress: log });
          let weights = graphWeights.get(dir);
          if (weights === undefined) {
            weights = graphWeightBytesPerToken(dir);
            graphWeights.set(dir, weights);
          }
          out.push({ configuration, path: dir, bytes: graphBytes(dir), weightBytesPerToken: weights });
          break;
        }
        case "llama.cpp": {
          if (noGguf === undefined) noGguf = ggufUnavailable();
          if (noGguf !== null) {
            out.push({ configuration, problem: `llama.cpp skipped: ${noGguf}` });
            break;
          }
          const file = await ggufFile(configuration.preset, e.type, log);
          out.push({ configuration, path: file, bytes: fs.statSync(file).size, weightBytesPerToken: await ggufWeightBytesPerToken(file) });
          break;
        }
        default:
          assertNever(e);
      }
    } catch (error) {
      out.push({ configuration, problem: `could not prepare ${configuration.id}: ${(error as Error).message}` });
    }
  }
  return out;
}

export function isPrepared(p: Prepared | Unprepared): p is Prepared {
  return "path" in p;
}
