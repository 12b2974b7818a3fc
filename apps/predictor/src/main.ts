/**
 * predictor: PaddleNLP's predictor.py in TypeScript.
 *
 *   predictor --model_name_or_path DIR [--mode dynamic|static] [--data_file F] [--output_file F] ...
 *
 * Every user mistake prints one line on stderr and exits 1; OAR_DEBUG=1
 * prints stacks for everything.
 */
import { failer, yargsError } from "@oar/cli";
import { checkPredictorFlags, predictorCli, type PredictorFlags } from "./flags.js";
import { runPredictor } from "./predict.js";

const fail: (error: unknown) => never = failer("predictor");

let flags: PredictorFlags;
try {
  // yargs prints --help itself and exits; every other outcome comes back here.
  const argv = predictorCli(process.argv.slice(2))
    .fail((message, error) => fail(yargsError(message, error)))
    .parseSync();
  flags = checkPredictorFlags(argv);
} catch (e) {
  fail(e);
}

// `predictor ... | head` closes stdout early; that ends the run quietly, as it does for other programs.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  fail(e);
});

process.once("SIGINT", () => {
  process.stderr.write(`\npredictor: interrupted; ${flags.benchmark ? "no results are written in a benchmark" : `${flags.outputFile} keeps every result finished so far (--resume continues)`}\n`);
  process.exit(130);
});

try {
  await runPredictor(flags, { stdout: process.stdout, stderr: process.stderr });
} catch (e) {
  fail(e);
}
