/**
 * @oar/export-model: the `export-model` program's parts, usable as a
 * library: its flags (checked into @oar/export's ExportOptions) and its
 * report of what an export did.
 */
export { EXPORT_DEFAULTS, EXPORT_DTYPES, EXPORT_QUANT_TYPES, checkExportFlags, exportCli, parseExportFlags } from "./flags.js";
export { formatBytes, formatExportReport } from "./report.js";
