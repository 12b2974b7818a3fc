/** Number formats shared by the reports. */

export const fixed = (x: number | null, digits: number): string => (x === null ? "-" : x.toFixed(digits));
export const mib = (bytes: number | null): string => (bytes === null ? "-" : (bytes / 2 ** 20).toFixed(0));
export const gbps = (bytesPerS: number): string => `${(bytesPerS / 1e9).toFixed(1)} GB/s`;
export const percent = (x: number | null): string => (x === null ? "-" : `${(x * 100).toFixed(0)}%`);
/** Tokens per second with a precision that suits its size. */
export const rate = (x: number | null): string => (x === null ? "-" : x >= 100 ? x.toFixed(0) : x.toFixed(1));
