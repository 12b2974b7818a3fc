/** Versions of the engines measured, read from their installed package.json. */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGES = ["onnxruntime-node", "@huggingface/transformers", "node-llama-cpp"] as const;

/** The nearest package.json above a resolved entry point whose name is `name`. */
function installedVersion(name: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === name) return pkg.version ?? "unknown";
    }
    const up = path.dirname(dir);
    if (up === dir) return "unknown";
    dir = up;
  }
}

export function packageVersions(): Record<string, string> {
  return Object.fromEntries([["node", process.version], ...PACKAGES.map((p) => [p, installedVersion(p)])]);
}
