/** Small dense f32 helpers for adapter tensors (small enough that plain loops do). */

/** x [rows, cols] -> x^T [cols, rows]. */
export function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols); // [cols, rows]
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
  }
  return out;
}

/** x [m, k] @ w [k, n] + bias [n], summed in double precision: Paddle's nn.Linear. */
export function linearPaddle(x: Float32Array, w: Float32Array, bias: Float32Array, m: number, k: number, n: number): Float32Array {
  const out = new Float32Array(m * n); // [m, n]
  const row = new Float64Array(n); // [n]
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) row[j] = bias[j]!;
    for (let t = 0; t < k; t++) {
      const xv = x[i * k + t]!;
      if (xv === 0) continue;
      const wr = t * n;
      for (let j = 0; j < n; j++) row[j]! += xv * w[wr + j]!;
    }
    for (let j = 0; j < n; j++) out[i * n + j] = row[j]!;
  }
  return out;
}
