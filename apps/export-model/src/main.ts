/**
 * export-model: PaddleNLP's export_model.py in TypeScript.
 *
 *   export-model --model_name_or_path DIR [--output_path ./inference] [--dtype float32] [--quant_type ...] ...
 *
 * Progress goes to stderr, the report to stdout. Every user mistake prints
 * one line on stderr and exits 1; OAR_DEBUG=1 prints stacks for everything.
 */
import { exportModel, type ExportOptions } from "@oar/export";
import { failer, yargsError } from "@oar/cli";
import { checkExportFlags, exportCli } from "./flags.js";
import { formatExportReport } from "./report.js";

const fail: (error: unknown) => never = failer("export-model");

let options: ExportOptions;
try {
  // yargs prints --help itself and exits; every other outcome comes back here.
  const argv = exportCli(process.argv.slice(2))
    .fail((message, error) => fail(yargsError(message, error)))
    .parseSync();
  options = checkExportFlags(argv);
} catch (e) {
  fail(e);
}

try {
  const report = await exportModel({ ...options, onProgress: (line) => process.stderr.write(`export-model: ${line}\n`) });
  process.stdout.write(formatExportReport(report));
} catch (e) {
  fail(e);
}
