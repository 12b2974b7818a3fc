;; Oar's CPU matmul kernels in 128-bit WebAssembly SIMD.
;;
;;   out[m, n] = sum_k x[m, k] * W[n, k]  (+ bias[n])
;;
;; W is row-major [N, K] (Hugging Face [out, in]) in one of four formats:
;;   f32   4-byte floats.
;;   bf16  raw bfloat16 bits: an f32 is the 16 bits shifted into the top half.
;;   f16   raw IEEE half bits, widened with integer ops and one multiply by a
;;         power of two (exact for zero, subnormals and both signs; inf/NaN are
;;         not special-cased: weights hold none). The host has scaled the data
;;         by 2^d so that no f16 is subnormal (see f16.ts); the kernels undo it.
;;   q8    int8 with one f32 scale per block of `bs` along K (W ~ q * scale). x is
;;         first quantized per row to int16 with one f32 scale by $quantize_rows;
;;         the products are summed exactly in i32 by i32x4.dot_i16x8_s and turned
;;         into f32 with the block's scale every `sub` elements (see gemv_q8).
;;
;; Every pointer is a byte offset into the imported memory. Offset 0 never holds
;; a tensor, so a bias pointer of 0 means "no bias". The host splits rows [0, N)
;; into chunks and calls one kernel per chunk on every thread; a kernel computes
;; the rows [n0, n1) of its chunk.
;;
;; Two kernels per format:
;;   gemv_*  one x row against 4 W rows (decode, M = 1; bf16 and q8: 8 rows,
;;           measured faster there, see gemv_bf16). The rows stream from
;;           memory side by side into one accumulator each, and each x vector
;;           loaded serves all of them, so the loop is one W load per
;;           multiply-add.
;;   gemm_*  4 x rows against 2 W rows (prefill, M > 1): 8 accumulators. Each W
;;           vector loaded (and widened) is used by 4 x rows and each x vector by
;;           2 W rows (f32: 6 vector loads per 8 vector multiply-adds),
;;           and the loop is bound by arithmetic. A pair of W rows comes from
;;           memory once and from L1 for the next blocks of x rows (the outer
;;           loop is over W). 8 accumulators + 2 W + 1 x vector
;;           stay within the 16 xmm registers V8 allocates from (q8, which needs
;;           i32 and f32 accumulators, blocks 4 x rows by 1 W row). The host
;;           keeps the x rows of one call small enough to stay in L2.
;; Rows past the end of a block are clamped to the last real row (read again,
;; from cache) and their results are not stored, so there is no separate kernel
;; for N % 4 or M % 4.
;;
;; Every multiply-add is f32x4.relaxed_madd: one rounding where the CPU has a
;; fused multiply-add, two where the engine lowers it to a multiply and an add,
;; and scripts/build-wasm.mjs also assembles a build for engines without
;; relaxed SIMD in which it is always the latter (see wasm.ts). Measured here,
;; fusing made bf16 and q8 decoding 5-15% faster (the multiplies and adds had
;; saturated the two vector ports the loads did not).
;;
;; Both kernels of a format give every (m, n) the same sequence of f32
;; operations: one 4-lane accumulator over k in steps of 4 (f32) or 8 (16-bit:
;; low half, then high half), its lanes summed as (l0 + l1) + (l2 + l3), the K
;; tail added one element at a time, then the bias. For q8 the i32 sums are
;; exact and the f32 steps are the same per block. So a row's output depends
;; neither on M nor on the blocking: a batch and a single row agree bit for bit.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; ---- helpers: row pointers, lane sums, scalar widening, stores ----------

  ;; Address of row min(r, last) of a matrix at `base` with rows `stride` bytes apart.
  (func $row (param $base i32) (param $r i32) (param $last i32) (param $stride i32) (result i32)
    (i32.add (local.get $base)
      (i32.mul (select (local.get $r) (local.get $last) (i32.lt_s (local.get $r) (local.get $last)))
               (local.get $stride))))

  ;; (l0 + l1) + (l2 + l3): the one order every kernel sums an accumulator in.
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; One f16 (low 16 bits of h) as f32, times pow. Put the half in the top 16
  ;; bits, shift right by 3 arithmetically and keep the sign and the 15 bits of
  ;; exponent and mantissa, which now sit where an f32 keeps them: that f32 is
  ;; the half's value times 2^-112 (f16 subnormals become f32 subnormals), and
  ;; a multiply by pow = 2^(112 - d) is exact.
  (func $f16 (param $h i32) (param $pow f32) (result f32)
    (f32.mul
      (f32.reinterpret_i32
        (i32.and (i32.shr_s (i32.shl (local.get $h) (i32.const 16)) (i32.const 3))
                 (i32.const 0x8fffe000)))
      (local.get $pow)))

  ;; 2^(112 - d) in every lane: what undoes both the bit move of $f16 and the
  ;; host's scaling of the data by 2^d.
  (func $f16_pow (param $d i32) (result v128)
    (f32x4.splat (f32.reinterpret_i32 (i32.shl (i32.sub (i32.const 239) (local.get $d)) (i32.const 23)))))

  ;; Writes v (+ bias[n] when there is a bias) to dst.
  (func $put (param $dst i32) (param $v f32) (param $bias i32) (param $n i32)
    (if (local.get $bias)
      (then (local.set $v (f32.add (local.get $v)
        (f32.load (i32.add (local.get $bias) (i32.shl (local.get $n) (i32.const 2))))))))
    (f32.store (local.get $dst) (local.get $v)))

  ;; Lanes c < cols of v are out[n + c] of one row (a gemv block); the rest are
  ;; clamped duplicates.
  (func $put_cols (param $dst i32) (param $cols i32) (param $bias i32) (param $n i32) (param $v v128)
    (call $put (local.get $dst) (f32x4.extract_lane 0 (local.get $v)) (local.get $bias) (local.get $n))
    (if (i32.gt_s (local.get $cols) (i32.const 1)) (then
      (call $put (i32.add (local.get $dst) (i32.const 4)) (f32x4.extract_lane 1 (local.get $v))
        (local.get $bias) (i32.add (local.get $n) (i32.const 1)))))
    (if (i32.gt_s (local.get $cols) (i32.const 2)) (then
      (call $put (i32.add (local.get $dst) (i32.const 8)) (f32x4.extract_lane 2 (local.get $v))
        (local.get $bias) (i32.add (local.get $n) (i32.const 2)))))
    (if (i32.gt_s (local.get $cols) (i32.const 3)) (then
      (call $put (i32.add (local.get $dst) (i32.const 12)) (f32x4.extract_lane 3 (local.get $v))
        (local.get $bias) (i32.add (local.get $n) (i32.const 3))))))

  ;; Lanes j < rows of v are out[m + j, n] of one column (a gemm block): rows are
  ;; `ldob` bytes apart.
  (func $put_rows (param $dst i32) (param $ldob i32) (param $rows i32) (param $bias i32) (param $n i32) (param $v v128)
    (call $put (local.get $dst) (f32x4.extract_lane 0 (local.get $v)) (local.get $bias) (local.get $n))
    (if (i32.gt_s (local.get $rows) (i32.const 1)) (then
      (call $put (i32.add (local.get $dst) (local.get $ldob))
        (f32x4.extract_lane 1 (local.get $v)) (local.get $bias) (local.get $n))))
    (if (i32.gt_s (local.get $rows) (i32.const 2)) (then
      (call $put (i32.add (local.get $dst) (i32.shl (local.get $ldob) (i32.const 1)))
        (f32x4.extract_lane 2 (local.get $v)) (local.get $bias) (local.get $n))))
    (if (i32.gt_s (local.get $rows) (i32.const 3)) (then
      (call $put (i32.add (local.get $dst) (i32.mul (local.get $ldob) (i32.const 3)))
        (f32x4.extract_lane 3 (local.get $v)) (local.get $bias) (local.get $n)))))

  (func $vec4 (param $a f32) (param $b f32) (param $c f32) (param $d f32) (result v128)
    (f32x4.replace_lane 3
      (f32x4.replace_lane 2
        (f32x4.replace_lane 1 (f32x4.splat (local.get $a)) (local.get $b))
        (local.get $c))
      (local.get $d)))

  ;; ---- finishing one dot product: lane sum, then the K tail ---------------
  ;; $from is the first element the vector loop did not cover.

  (func $finish_f32 (param $acc v128) (param $x i32) (param $w i32) (param $from i32) (param $k i32) (result f32)
    (local $s f32) (local $i i32)
    (local.set $s (call $hsum (local.get $acc)))
    (local.set $i (local.get $from))
    (block $done (loop $tail
      (br_if $done (i32.ge_u (local.get $i) (local.get $k)))
      (local.set $s (f32.add (local.get $s)
        (f32.mul (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))
                 (f32.load (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 2)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tail)))
    (local.get $s))

  (func $finish_bf16 (param $acc v128) (param $x i32) (param $w i32) (param $from i32) (param $k i32) (result f32)
    (local $s f32) (local $i i32)
    (local.set $s (call $hsum (local.get $acc)))
    (local.set $i (local.get $from))
    (block $done (loop $tail
      (br_if $done (i32.ge_u (local.get $i) (local.get $k)))
      (local.set $s (f32.add (local.get $s)
        (f32.mul (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))
                 (f32.reinterpret_i32 (i32.shl
                   (i32.load16_u (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 1))))
                   (i32.const 16))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tail)))
    (local.get $s))

  (func $finish_f16 (param $acc v128) (param $x i32) (param $w i32) (param $from i32) (param $k i32) (param $pow f32) (result f32)
    (local $s f32) (local $i i32)
    (local.set $s (call $hsum (local.get $acc)))
    (local.set $i (local.get $from))
    (block $done (loop $tail
      (br_if $done (i32.ge_u (local.get $i) (local.get $k)))
      (local.set $s (f32.add (local.get $s)
        (f32.mul (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2))))
                 (call $f16 (i32.load16_u (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 1))))
                   (local.get $pow)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tail)))
    (local.get $s))

  ;; ---- f32 ------------------------------------------------------------------

  ;; out[n] for n in [n0, n1); x [k] f32, w [N, k] f32, out [N].
  (func (export "gemv_f32")
    (param $x i32) (param $w i32) (param $k i32) (param $n0 i32) (param $n1 i32) (param $out i32) (param $bias i32)
    (local $kb i32) (local $kv i32) (local $last i32) (local $n i32) (local $i i32)
    (local $w0 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32)
    (local $xv v128) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $kb (i32.shl (local.get $k) (i32.const 2)))
    ;; bytes covered 4 elements at a time
    (local.set $kv (i32.shl (i32.and (local.get $k) (i32.const -4)) (i32.const 2)))
    (local.set $last (i32.sub (local.get $n1) (i32.const 1)))
    (local.set $n (local.get $n0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $n) (local.get $n1)))
      (local.set $w0 (call $row (local.get $w) (local.get $n) (local.get $last) (local.get $kb)))
      (local.set $w1 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 1)) (local.get $last) (local.get $kb)))
      (local.set $w2 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 2)) (local.get $last) (local.get $kb)))
      (local.set $w3 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 3)) (local.get $last) (local.get $kb)))
      (local.set $a0 (v128.const i32x4 0 0 0 0))
      (local.set $a1 (v128.const i32x4 0 0 0 0))
      (local.set $a2 (v128.const i32x4 0 0 0 0))
      (local.set $a3 (v128.const i32x4 0 0 0 0))
      (local.set $i (i32.const 0))
      (block $k_done (loop $k_loop
        (br_if $k_done (i32.ge_u (local.get $i) (local.get $kv)))
        ;; 1 x vector feeds 4 W rows
        (local.set $xv (v128.load (i32.add (local.get $x) (local.get $i))))
        (local.set $a0 (f32x4.relaxed_madd (local.get $xv) (v128.load (i32.add (local.get $w0) (local.get $i))) (local.get $a0)))
        (local.set $a1 (f32x4.relaxed_madd (local.get $xv) (v128.load (i32.add (local.get $w1) (local.get $i))) (local.get $a1)))
        (local.set $a2 (f32x4.relaxed_madd (local.get $xv) (v128.load (i32.add (local.get $w2) (local.get $i))) (local.get $a2)))
        (local.set $a3 (f32x4.relaxed_madd (local.get $xv) (v128.load (i32.add (local.get $w3) (local.get $i))) (local.get $a3)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $k_loop)))
      (local.set $i (i32.shr_u (local.get $kv) (i32.const 2)))
      (call $put_cols
        (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2)))
        (i32.sub (local.get $n1) (local.get $n)) (local.get $bias) (local.get $n)
        (call $vec4
          (call $finish_f32 (local.get $a0) (local.get $x) (local.get $w0) (local.get $i) (local.get $k))
          (call $finish_f32 (local.get $a1) (local.get $x) (local.get $w1) (local.get $i) (local.get $k))
          (call $finish_f32 (local.get $a2) (local.get $x) (local.get $w2) (local.get $i) (local.get $k))
          (call $finish_f32 (local.get $a3) (local.get $x) (local.get $w3) (local.get $i) (local.get $k))))
      (local.set $n (i32.add (local.get $n) (i32.const 4)))
      (br $rows))))

  ;; out[m', n] for m' in [0, m), n in [n0, n1); x [m, k] f32, w [N, k] f32,
  ;; out rows `ldo` floats apart.
  (func (export "gemm_f32")
    (param $x i32) (param $m i32) (param $w i32) (param $k i32) (param $n0 i32) (param $n1 i32)
    (param $out i32) (param $ldo i32) (param $bias i32)
    (local $kb i32) (local $kv i32) (local $lastn i32) (local $lastm i32) (local $ldob i32)
    (local $n i32) (local $mi i32) (local $i i32) (local $o i32)
    (local $w0 i32) (local $w1 i32) (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $wv0 v128) (local $wv1 v128) (local $xv v128)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local.set $kb (i32.shl (local.get $k) (i32.const 2)))
    (local.set $kv (i32.shl (i32.and (local.get $k) (i32.const -4)) (i32.const 2)))
    (local.set $lastn (i32.sub (local.get $n1) (i32.const 1)))
    (local.set $lastm (i32.sub (local.get $m) (i32.const 1)))
    (local.set $ldob (i32.shl (local.get $ldo) (i32.const 2)))
    (local.set $n (local.get $n0))
    (block $cols_done (loop $cols
      (br_if $cols_done (i32.ge_s (local.get $n) (local.get $n1)))
      (local.set $w0 (call $row (local.get $w) (local.get $n) (local.get $lastn) (local.get $kb)))
      (local.set $w1 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 1)) (local.get $lastn) (local.get $kb)))
      (local.set $mi (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $mi) (local.get $m)))
        (local.set $x0 (call $row (local.get $x) (local.get $mi) (local.get $lastm) (local.get $kb)))
        (local.set $x1 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 1)) (local.get $lastm) (local.get $kb)))
        (local.set $x2 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 2)) (local.get $lastm) (local.get $kb)))
        (local.set $x3 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 3)) (local.get $lastm) (local.get $kb)))
        (local.set $a00 (v128.const i32x4 0 0 0 0)) (local.set $a01 (v128.const i32x4 0 0 0 0))
        (local.set $a10 (v128.const i32x4 0 0 0 0)) (local.set $a11 (v128.const i32x4 0 0 0 0))
        (local.set $a20 (v128.const i32x4 0 0 0 0)) (local.set $a21 (v128.const i32x4 0 0 0 0))
        (local.set $a30 (v128.const i32x4 0 0 0 0)) (local.set $a31 (v128.const i32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $k_done (loop $k_loop
          (br_if $k_done (i32.ge_u (local.get $i) (local.get $kv)))
          ;; 2 W vectors, each used by the 4 x rows below
          (local.set $wv0 (v128.load (i32.add (local.get $w0) (local.get $i))))
          (local.set $wv1 (v128.load (i32.add (local.get $w1) (local.get $i))))
          (local.set $xv (v128.load (i32.add (local.get $x0) (local.get $i))))
          (local.set $a00 (f32x4.relaxed_madd (local.get $xv) (local.get $wv0) (local.get $a00)))
          (local.set $a01 (f32x4.relaxed_madd (local.get $xv) (local.get $wv1) (local.get $a01)))
          (local.set $xv (v128.load (i32.add (local.get $x1) (local.get $i))))
          (local.set $a10 (f32x4.relaxed_madd (local.get $xv) (local.get $wv0) (local.get $a10)))
          (local.set $a11 (f32x4.relaxed_madd (local.get $xv) (local.get $wv1) (local.get $a11)))
          (local.set $xv (v128.load (i32.add (local.get $x2) (local.get $i))))
          (local.set $a20 (f32x4.relaxed_madd (local.get $xv) (local.get $wv0) (local.get $a20)))
          (local.set $a21 (f32x4.relaxed_madd (local.get $xv) (local.get $wv1) (local.get $a21)))
          (local.set $xv (v128.load (i32.add (local.get $x3) (local.get $i))))
          (local.set $a30 (f32x4.relaxed_madd (local.get $xv) (local.get $wv0) (local.get $a30)))
          (local.set $a31 (f32x4.relaxed_madd (local.get $xv) (local.get $wv1) (local.get $a31)))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br $k_loop)))
        (local.set $i (i32.shr_u (local.get $kv) (i32.const 2)))
        (local.set $o (i32.add (local.get $out)
          (i32.shl (i32.add (i32.mul (local.get $mi) (local.get $ldo)) (local.get $n)) (i32.const 2))))
        (call $put_rows (local.get $o) (local.get $ldob) (i32.sub (local.get $m) (local.get $mi))
          (local.get $bias) (local.get $n)
          (call $vec4
            (call $finish_f32 (local.get $a00) (local.get $x0) (local.get $w0) (local.get $i) (local.get $k))
            (call $finish_f32 (local.get $a10) (local.get $x1) (local.get $w0) (local.get $i) (local.get $k))
            (call $finish_f32 (local.get $a20) (local.get $x2) (local.get $w0) (local.get $i) (local.get $k))
            (call $finish_f32 (local.get $a30) (local.get $x3) (local.get $w0) (local.get $i) (local.get $k))))
        (if (i32.lt_s (i32.add (local.get $n) (i32.const 1)) (local.get $n1)) (then
          (call $put_rows (i32.add (local.get $o) (i32.const 4)) (local.get $ldob)
            (i32.sub (local.get $m) (local.get $mi)) (local.get $bias) (i32.add (local.get $n) (i32.const 1))
            (call $vec4
              (call $finish_f32 (local.get $a01) (local.get $x0) (local.get $w1) (local.get $i) (local.get $k))
              (call $finish_f32 (local.get $a11) (local.get $x1) (local.get $w1) (local.get $i) (local.get $k))
              (call $finish_f32 (local.get $a21) (local.get $x2) (local.get $w1) (local.get $i) (local.get $k))
              (call $finish_f32 (local.get $a31) (local.get $x3) (local.get $w1) (local.get $i) (local.get $k))))))
        (local.set $mi (i32.add (local.get $mi) (i32.const 4)))
        (br $rows)))
      (local.set $n (i32.add (local.get $n) (i32.const 2)))
      (br $cols))))

  ;; ---- bf16 -----------------------------------------------------------------
  ;; 8 weights per 16-byte load. Interleaving them with zeros (the shuffles
  ;; below, one punpcklwd/punpckhwd each) yields elements 0-3 and 4-7 as f32.

  ;; 8 W rows at a time (not 4 as the other gemv kernels): measured on the
  ;; Qwen2 lm_head, twice the rows in flight stream 20% faster, and 8
  ;; accumulators, x's two halves, the raw vector and zero fit the 16 xmm
  ;; registers. Rows n + 4 .. n + 7 past n1 are clamped like the others.
  (func (export "gemv_bf16")
    (param $x i32) (param $w i32) (param $k i32) (param $n0 i32) (param $n1 i32) (param $out i32) (param $bias i32)
    (local $kb i32) (local $kv i32) (local $last i32) (local $n i32) (local $i i32) (local $j i32)
    (local $w0 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32) (local $w4 i32) (local $w5 i32) (local $w6 i32) (local $w7 i32)
    (local $zero v128) (local $raw v128) (local $xl v128) (local $xh v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $kb (i32.shl (local.get $k) (i32.const 1)))
    ;; W bytes covered 8 elements at a time
    (local.set $kv (i32.shl (i32.and (local.get $k) (i32.const -8)) (i32.const 1)))
    (local.set $last (i32.sub (local.get $n1) (i32.const 1)))
    (local.set $zero (v128.const i32x4 0 0 0 0))
    (local.set $n (local.get $n0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $n) (local.get $n1)))
      (local.set $w0 (call $row (local.get $w) (local.get $n) (local.get $last) (local.get $kb)))
      (local.set $w1 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 1)) (local.get $last) (local.get $kb)))
      (local.set $w2 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 2)) (local.get $last) (local.get $kb)))
      (local.set $w3 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 3)) (local.get $last) (local.get $kb)))
      (local.set $w4 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 4)) (local.get $last) (local.get $kb)))
      (local.set $w5 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 5)) (local.get $last) (local.get $kb)))
      (local.set $w6 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 6)) (local.get $last) (local.get $kb)))
      (local.set $w7 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 7)) (local.get $last) (local.get $kb)))
      (local.set $a0 (local.get $zero)) (local.set $a1 (local.get $zero))
      (local.set $a2 (local.get $zero)) (local.set $a3 (local.get $zero))
      (local.set $a4 (local.get $zero)) (local.set $a5 (local.get $zero))
      (local.set $a6 (local.get $zero)) (local.set $a7 (local.get $zero))
      ;; i: byte offset in W rows, j = 2 i: byte offset in x
      (local.set $i (i32.const 0))
      (block $k_done (loop $k_loop
        (br_if $k_done (i32.ge_u (local.get $i) (local.get $kv)))
        (local.set $j (i32.shl (local.get $i) (i32.const 1)))
        (local.set $xl (v128.load (i32.add (local.get $x) (local.get $j))))
        (local.set $xh (v128.load offset=16 (i32.add (local.get $x) (local.get $j))))
        (local.set $raw (v128.load (i32.add (local.get $w0) (local.get $i))))
        (local.set $a0 (f32x4.relaxed_madd (local.get $xl)
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (local.get $a0)))
        (local.set $a0 (f32x4.relaxed_madd (local.get $xh)
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (local.get $a0)))
        (local.set $raw (v128.load (i32.add (local.get $w1) (local.get $i))))
        (local.set $a1 (f32x4.relaxed_madd (local.get $xl)
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (local.get $a1)))
        (local.set $a1 (f32x4.relaxed_madd (local.get $xh)
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (local.get $a1)))
        (local.set $raw (v128.load (i32.add (local.get $w2) (local.get $i))))
        (local.set $a2 (f32x4.relaxed_madd (local.get $xl)
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (local.get $a2)))
        (local.set $a2 (f32x4.relaxed_madd (local.get $xh)
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (local.get $a2)))
        (local.set $raw (v128.load (i32.add (local.get $w3) (local.get $i))))
        (local.set $a3 (f32x4.relaxed_madd (local.get $xl)
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (local.get $a3)))
        (local.set $a3 (f32x4.relaxed_madd (local.get $xh)
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (local.get $a3)))
        (local.set $raw (v128.load (i32.add (local.get $w4) (local.get $i))))
        (local.set $a4 (f32x4.relaxed_madd (local.get $xl)
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (local.get $a4)))
        (local.set $a4 (f32x4.relaxed_madd (local.get $xh)
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (local.get $a4)))
        (local.set $raw (v128.load (i32.add (local.get $w5) (local.get $i))))
        (local.set $a5 (f32x4.relaxed_madd (local.get $xl)
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (local.get $a5)))
        (local.set $a5 (f32x4.relaxed_madd (local.get $xh)
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (local.get $a5)))
        (local.set $raw (v128.load (i32.add (local.get $w6) (local.get $i))))
        (local.set $a6 (f32x4.relaxed_madd (local.get $xl)
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (local.get $a6)))
        (local.set $a6 (f32x4.relaxed_madd (local.get $xh)
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (local.get $a6)))
        (local.set $raw (v128.load (i32.add (local.get $w7) (local.get $i))))
        (local.set $a7 (f32x4.relaxed_madd (local.get $xl)
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (local.get $a7)))
        (local.set $a7 (f32x4.relaxed_madd (local.get $xh)
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (local.get $a7)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $k_loop)))
      (local.set $i (i32.shr_u (local.get $kv) (i32.const 1)))
      (call $put_cols
        (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2)))
        (i32.sub (local.get $n1) (local.get $n)) (local.get $bias) (local.get $n)
        (call $vec4
          (call $finish_bf16 (local.get $a0) (local.get $x) (local.get $w0) (local.get $i) (local.get $k))
          (call $finish_bf16 (local.get $a1) (local.get $x) (local.get $w1) (local.get $i) (local.get $k))
          (call $finish_bf16 (local.get $a2) (local.get $x) (local.get $w2) (local.get $i) (local.get $k))
          (call $finish_bf16 (local.get $a3) (local.get $x) (local.get $w3) (local.get $i) (local.get $k))))
      (if (i32.lt_s (i32.add (local.get $n) (i32.const 4)) (local.get $n1)) (then
        (call $put_cols
          (i32.add (local.get $out) (i32.shl (i32.add (local.get $n) (i32.const 4)) (i32.const 2)))
          (i32.sub (local.get $n1) (i32.add (local.get $n) (i32.const 4))) (local.get $bias) (i32.add (local.get $n) (i32.const 4))
          (call $vec4
          (call $finish_bf16 (local.get $a4) (local.get $x) (local.get $w4) (local.get $i) (local.get $k))
          (call $finish_bf16 (local.get $a5) (local.get $x) (local.get $w5) (local.get $i) (local.get $k))
          (call $finish_bf16 (local.get $a6) (local.get $x) (local.get $w6) (local.get $i) (local.get $k))
          (call $finish_bf16 (local.get $a7) (local.get $x) (local.get $w7) (local.get $i) (local.get $k))))))
      (local.set $n (i32.add (local.get $n) (i32.const 8)))
      (br $rows))))

  (func (export "gemm_bf16")
    (param $x i32) (param $m i32) (param $w i32) (param $k i32) (param $n0 i32) (param $n1 i32)
    (param $out i32) (param $ldo i32) (param $bias i32)
    (local $kb i32) (local $xb i32) (local $kv i32) (local $lastn i32) (local $lastm i32) (local $ldob i32)
    (local $n i32) (local $mi i32) (local $i i32) (local $j i32) (local $o i32)
    (local $w0 i32) (local $w1 i32) (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $zero v128) (local $raw v128) (local $wl0 v128) (local $wh0 v128) (local $wl1 v128) (local $wh1 v128) (local $xv v128)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local.set $kb (i32.shl (local.get $k) (i32.const 1)))
    (local.set $xb (i32.shl (local.get $k) (i32.const 2)))
    (local.set $kv (i32.shl (i32.and (local.get $k) (i32.const -8)) (i32.const 1)))
    (local.set $lastn (i32.sub (local.get $n1) (i32.const 1)))
    (local.set $lastm (i32.sub (local.get $m) (i32.const 1)))
    (local.set $ldob (i32.shl (local.get $ldo) (i32.const 2)))
    (local.set $zero (v128.const i32x4 0 0 0 0))
    (local.set $n (local.get $n0))
    (block $cols_done (loop $cols
      (br_if $cols_done (i32.ge_s (local.get $n) (local.get $n1)))
      (local.set $w0 (call $row (local.get $w) (local.get $n) (local.get $lastn) (local.get $kb)))
      (local.set $w1 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 1)) (local.get $lastn) (local.get $kb)))
      (local.set $mi (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $mi) (local.get $m)))
        (local.set $x0 (call $row (local.get $x) (local.get $mi) (local.get $lastm) (local.get $xb)))
        (local.set $x1 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 1)) (local.get $lastm) (local.get $xb)))
        (local.set $x2 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 2)) (local.get $lastm) (local.get $xb)))
        (local.set $x3 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 3)) (local.get $lastm) (local.get $xb)))
        (local.set $a00 (local.get $zero)) (local.set $a01 (local.get $zero))
        (local.set $a10 (local.get $zero)) (local.set $a11 (local.get $zero))
        (local.set $a20 (local.get $zero)) (local.set $a21 (local.get $zero))
        (local.set $a30 (local.get $zero)) (local.set $a31 (local.get $zero))
        (local.set $i (i32.const 0))
        (block $k_done (loop $k_loop
          (br_if $k_done (i32.ge_u (local.get $i) (local.get $kv)))
          (local.set $j (i32.shl (local.get $i) (i32.const 1)))
          ;; widen 8 elements of each of the 2 W rows; the 4 vectors serve 4 x rows
          (local.set $raw (v128.load (i32.add (local.get $w0) (local.get $i))))
          (local.set $wl0 (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)))
          (local.set $wh0 (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)))
          (local.set $raw (v128.load (i32.add (local.get $w1) (local.get $i))))
          (local.set $wl1 (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)))
          (local.set $wh1 (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)))
          (local.set $xv (v128.load (i32.add (local.get $x0) (local.get $j))))
          (local.set $a00 (f32x4.relaxed_madd (local.get $xv) (local.get $wl0) (local.get $a00)))
          (local.set $a01 (f32x4.relaxed_madd (local.get $xv) (local.get $wl1) (local.get $a01)))
          (local.set $xv (v128.load offset=16 (i32.add (local.get $x0) (local.get $j))))
          (local.set $a00 (f32x4.relaxed_madd (local.get $xv) (local.get $wh0) (local.get $a00)))
          (local.set $a01 (f32x4.relaxed_madd (local.get $xv) (local.get $wh1) (local.get $a01)))
          (local.set $xv (v128.load (i32.add (local.get $x1) (local.get $j))))
          (local.set $a10 (f32x4.relaxed_madd (local.get $xv) (local.get $wl0) (local.get $a10)))
          (local.set $a11 (f32x4.relaxed_madd (local.get $xv) (local.get $wl1) (local.get $a11)))
          (local.set $xv (v128.load offset=16 (i32.add (local.get $x1) (local.get $j))))
          (local.set $a10 (f32x4.relaxed_madd (local.get $xv) (local.get $wh0) (local.get $a10)))
          (local.set $a11 (f32x4.relaxed_madd (local.get $xv) (local.get $wh1) (local.get $a11)))
          (local.set $xv (v128.load (i32.add (local.get $x2) (local.get $j))))
          (local.set $a20 (f32x4.relaxed_madd (local.get $xv) (local.get $wl0) (local.get $a20)))
          (local.set $a21 (f32x4.relaxed_madd (local.get $xv) (local.get $wl1) (local.get $a21)))
          (local.set $xv (v128.load offset=16 (i32.add (local.get $x2) (local.get $j))))
          (local.set $a20 (f32x4.relaxed_madd (local.get $xv) (local.get $wh0) (local.get $a20)))
          (local.set $a21 (f32x4.relaxed_madd (local.get $xv) (local.get $wh1) (local.get $a21)))
          (local.set $xv (v128.load (i32.add (local.get $x3) (local.get $j))))
          (local.set $a30 (f32x4.relaxed_madd (local.get $xv) (local.get $wl0) (local.get $a30)))
          (local.set $a31 (f32x4.relaxed_madd (local.get $xv) (local.get $wl1) (local.get $a31)))
          (local.set $xv (v128.load offset=16 (i32.add (local.get $x3) (local.get $j))))
          (local.set $a30 (f32x4.relaxed_madd (local.get $xv) (local.get $wh0) (local.get $a30)))
          (local.set $a31 (f32x4.relaxed_madd (local.get $xv) (local.get $wh1) (local.get $a31)))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br $k_loop)))
        (local.set $i (i32.shr_u (local.get $kv) (i32.const 1)))
        (local.set $o (i32.add (local.get $out)
          (i32.shl (i32.add (i32.mul (local.get $mi) (local.get $ldo)) (local.get $n)) (i32.const 2))))
        (call $put_rows (local.get $o) (local.get $ldob) (i32.sub (local.get $m) (local.get $mi))
          (local.get $bias) (local.get $n)
          (call $vec4
            (call $finish_bf16 (local.get $a00) (local.get $x0) (local.get $w0) (local.get $i) (local.get $k))
            (call $finish_bf16 (local.get $a10) (local.get $x1) (local.get $w0) (local.get $i) (local.get $k))
            (call $finish_bf16 (local.get $a20) (local.get $x2) (local.get $w0) (local.get $i) (local.get $k))
            (call $finish_bf16 (local.get $a30) (local.get $x3) (local.get $w0) (local.get $i) (local.get $k))))
        (if (i32.lt_s (i32.add (local.get $n) (i32.const 1)) (local.get $n1)) (then
          (call $put_rows (i32.add (local.get $o) (i32.const 4)) (local.get $ldob)
            (i32.sub (local.get $m) (local.get $mi)) (local.get $bias) (i32.add (local.get $n) (i32.const 1))
            (call $vec4
              (call $finish_bf16 (local.get $a01) (local.get $x0) (local.get $w1) (local.get $i) (local.get $k))
              (call $finish_bf16 (local.get $a11) (local.get $x1) (local.get $w1) (local.get $i) (local.get $k))
              (call $finish_bf16 (local.get $a21) (local.get $x2) (local.get $w1) (local.get $i) (local.get $k))
              (call $finish_bf16 (local.get $a31) (local.get $x3) (local.get $w1) (local.get $i) (local.get $k))))))
        (local.set $mi (i32.add (local.get $mi) (i32.const 4)))
        (br $rows)))
      (local.set $n (i32.add (local.get $n) (i32.const 2)))
      (br $cols))))

  ;; ---- f16 ------------------------------------------------------------------
  ;; As bf16, then each lane v (the half in the top 16 bits) becomes
  ;; f32(((v >>s 3) & 0x8fffe000)) * 2^(112 - d), as in $f16: 3 ops per 4
  ;; weights. d is the power of two the host scaled the data by.

  (func (export "gemv_f16")
    (param $x i32) (param $w i32) (param $k i32) (param $n0 i32) (param $n1 i32) (param $out i32) (param $bias i32)
    (param $d i32)
    (local $kb i32) (local $kv i32) (local $last i32) (local $n i32) (local $i i32) (local $j i32)
    (local $w0 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32)
    (local $zero v128) (local $mask v128) (local $pow v128) (local $raw v128) (local $xl v128) (local $xh v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $kb (i32.shl (local.get $k) (i32.const 1)))
    (local.set $kv (i32.shl (i32.and (local.get $k) (i32.const -8)) (i32.const 1)))
    (local.set $last (i32.sub (local.get $n1) (i32.const 1)))
    (local.set $zero (v128.const i32x4 0 0 0 0))
    (local.set $mask (v128.const i32x4 0x8fffe000 0x8fffe000 0x8fffe000 0x8fffe000))
    (local.set $pow (call $f16_pow (local.get $d)))
    (local.set $n (local.get $n0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $n) (local.get $n1)))
      (local.set $w0 (call $row (local.get $w) (local.get $n) (local.get $last) (local.get $kb)))
      (local.set $w1 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 1)) (local.get $last) (local.get $kb)))
      (local.set $w2 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 2)) (local.get $last) (local.get $kb)))
      (local.set $w3 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 3)) (local.get $last) (local.get $kb)))
      (local.set $a0 (local.get $zero)) (local.set $a1 (local.get $zero))
      (local.set $a2 (local.get $zero)) (local.set $a3 (local.get $zero))
      (local.set $i (i32.const 0))
      (block $k_done (loop $k_loop
        (br_if $k_done (i32.ge_u (local.get $i) (local.get $kv)))
        (local.set $j (i32.shl (local.get $i) (i32.const 1)))
        (local.set $xl (v128.load (i32.add (local.get $x) (local.get $j))))
        (local.set $xh (v128.load offset=16 (i32.add (local.get $x) (local.get $j))))
        (local.set $raw (v128.load (i32.add (local.get $w0) (local.get $i))))
        (local.set $a0 (f32x4.relaxed_madd (local.get $xl)
          (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (i32.const 3)))) (local.get $a0)))
        (local.set $a0 (f32x4.relaxed_madd (local.get $xh)
          (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (i32.const 3)))) (local.get $a0)))
        (local.set $raw (v128.load (i32.add (local.get $w1) (local.get $i))))
        (local.set $a1 (f32x4.relaxed_madd (local.get $xl)
          (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (i32.const 3)))) (local.get $a1)))
        (local.set $a1 (f32x4.relaxed_madd (local.get $xh)
          (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (i32.const 3)))) (local.get $a1)))
        (local.set $raw (v128.load (i32.add (local.get $w2) (local.get $i))))
        (local.set $a2 (f32x4.relaxed_madd (local.get $xl)
          (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (i32.const 3)))) (local.get $a2)))
        (local.set $a2 (f32x4.relaxed_madd (local.get $xh)
          (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (i32.const 3)))) (local.get $a2)))
        (local.set $raw (v128.load (i32.add (local.get $w3) (local.get $i))))
        (local.set $a3 (f32x4.relaxed_madd (local.get $xl)
          (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (i32.const 3)))) (local.get $a3)))
        (local.set $a3 (f32x4.relaxed_madd (local.get $xh)
          (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (i32.const 3)))) (local.get $a3)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $k_loop)))
      (local.set $i (i32.shr_u (local.get $kv) (i32.const 1)))
      (call $put_cols
        (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2)))
        (i32.sub (local.get $n1) (local.get $n)) (local.get $bias) (local.get $n)
        (call $vec4
          (call $finish_f16 (local.get $a0) (local.get $x) (local.get $w0) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))
          (call $finish_f16 (local.get $a1) (local.get $x) (local.get $w1) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))
          (call $finish_f16 (local.get $a2) (local.get $x) (local.get $w2) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))
          (call $finish_f16 (local.get $a3) (local.get $x) (local.get $w3) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))))
      (local.set $n (i32.add (local.get $n) (i32.const 4)))
      (br $rows))))

  (func (export "gemm_f16")
    (param $x i32) (param $m i32) (param $w i32) (param $k i32) (param $n0 i32) (param $n1 i32)
    (param $out i32) (param $ldo i32) (param $bias i32) (param $d i32)
    (local $kb i32) (local $xb i32) (local $kv i32) (local $lastn i32) (local $lastm i32) (local $ldob i32)
    (local $n i32) (local $mi i32) (local $i i32) (local $j i32) (local $o i32)
    (local $w0 i32) (local $w1 i32) (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $zero v128) (local $mask v128) (local $pow v128)
    (local $raw v128) (local $wl0 v128) (local $wh0 v128) (local $wl1 v128) (local $wh1 v128) (local $xv v128)
    (local $a00 v128) (local $a01 v128) (local $a10 v128) (local $a11 v128)
    (local $a20 v128) (local $a21 v128) (local $a30 v128) (local $a31 v128)
    (local.set $kb (i32.shl (local.get $k) (i32.const 1)))
    (local.set $xb (i32.shl (local.get $k) (i32.const 2)))
    (local.set $kv (i32.shl (i32.and (local.get $k) (i32.const -8)) (i32.const 1)))
    (local.set $lastn (i32.sub (local.get $n1) (i32.const 1)))
    (local.set $lastm (i32.sub (local.get $m) (i32.const 1)))
    (local.set $ldob (i32.shl (local.get $ldo) (i32.const 2)))
    (local.set $zero (v128.const i32x4 0 0 0 0))
    (local.set $mask (v128.const i32x4 0x8fffe000 0x8fffe000 0x8fffe000 0x8fffe000))
    (local.set $pow (call $f16_pow (local.get $d)))
    (local.set $n (local.get $n0))
    (block $cols_done (loop $cols
      (br_if $cols_done (i32.ge_s (local.get $n) (local.get $n1)))
      (local.set $w0 (call $row (local.get $w) (local.get $n) (local.get $lastn) (local.get $kb)))
      (local.set $w1 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 1)) (local.get $lastn) (local.get $kb)))
      (local.set $mi (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $mi) (local.get $m)))
        (local.set $x0 (call $row (local.get $x) (local.get $mi) (local.get $lastm) (local.get $xb)))
        (local.set $x1 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 1)) (local.get $lastm) (local.get $xb)))
        (local.set $x2 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 2)) (local.get $lastm) (local.get $xb)))
        (local.set $x3 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 3)) (local.get $lastm) (local.get $xb)))
        (local.set $a00 (local.get $zero)) (local.set $a01 (local.get $zero))
        (local.set $a10 (local.get $zero)) (local.set $a11 (local.get $zero))
        (local.set $a20 (local.get $zero)) (local.set $a21 (local.get $zero))
        (local.set $a30 (local.get $zero)) (local.set $a31 (local.get $zero))
        (local.set $i (i32.const 0))
        (block $k_done (loop $k_loop
          (br_if $k_done (i32.ge_u (local.get $i) (local.get $kv)))
          (local.set $j (i32.shl (local.get $i) (i32.const 1)))
          ;; widen 8 elements of each of the 2 W rows; the 4 vectors serve 4 x rows
          (local.set $raw (v128.load (i32.add (local.get $w0) (local.get $i))))
          (local.set $wl0 (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (i32.const 3)))))
          (local.set $wh0 (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (i32.const 3)))))
          (local.set $raw (v128.load (i32.add (local.get $w1) (local.get $i))))
          (local.set $wl1 (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $zero) (local.get $raw)) (i32.const 3)))))
          (local.set $wh1 (f32x4.mul (local.get $pow) (v128.and (local.get $mask) (i32x4.shr_s
            (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $zero) (local.get $raw)) (i32.const 3)))))
          (local.set $xv (v128.load (i32.add (local.get $x0) (local.get $j))))
          (local.set $a00 (f32x4.relaxed_madd (local.get $xv) (local.get $wl0) (local.get $a00)))
          (local.set $a01 (f32x4.relaxed_madd (local.get $xv) (local.get $wl1) (local.get $a01)))
          (local.set $xv (v128.load offset=16 (i32.add (local.get $x0) (local.get $j))))
          (local.set $a00 (f32x4.relaxed_madd (local.get $xv) (local.get $wh0) (local.get $a00)))
          (local.set $a01 (f32x4.relaxed_madd (local.get $xv) (local.get $wh1) (local.get $a01)))
          (local.set $xv (v128.load (i32.add (local.get $x1) (local.get $j))))
          (local.set $a10 (f32x4.relaxed_madd (local.get $xv) (local.get $wl0) (local.get $a10)))
          (local.set $a11 (f32x4.relaxed_madd (local.get $xv) (local.get $wl1) (local.get $a11)))
          (local.set $xv (v128.load offset=16 (i32.add (local.get $x1) (local.get $j))))
          (local.set $a10 (f32x4.relaxed_madd (local.get $xv) (local.get $wh0) (local.get $a10)))
          (local.set $a11 (f32x4.relaxed_madd (local.get $xv) (local.get $wh1) (local.get $a11)))
          (local.set $xv (v128.load (i32.add (local.get $x2) (local.get $j))))
          (local.set $a20 (f32x4.relaxed_madd (local.get $xv) (local.get $wl0) (local.get $a20)))
          (local.set $a21 (f32x4.relaxed_madd (local.get $xv) (local.get $wl1) (local.get $a21)))
          (local.set $xv (v128.load offset=16 (i32.add (local.get $x2) (local.get $j))))
          (local.set $a20 (f32x4.relaxed_madd (local.get $xv) (local.get $wh0) (local.get $a20)))
          (local.set $a21 (f32x4.relaxed_madd (local.get $xv) (local.get $wh1) (local.get $a21)))
          (local.set $xv (v128.load (i32.add (local.get $x3) (local.get $j))))
          (local.set $a30 (f32x4.relaxed_madd (local.get $xv) (local.get $wl0) (local.get $a30)))
          (local.set $a31 (f32x4.relaxed_madd (local.get $xv) (local.get $wl1) (local.get $a31)))
          (local.set $xv (v128.load offset=16 (i32.add (local.get $x3) (local.get $j))))
          (local.set $a30 (f32x4.relaxed_madd (local.get $xv) (local.get $wh0) (local.get $a30)))
          (local.set $a31 (f32x4.relaxed_madd (local.get $xv) (local.get $wh1) (local.get $a31)))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br $k_loop)))
        (local.set $i (i32.shr_u (local.get $kv) (i32.const 1)))
        (local.set $o (i32.add (local.get $out)
          (i32.shl (i32.add (i32.mul (local.get $mi) (local.get $ldo)) (local.get $n)) (i32.const 2))))
        (call $put_rows (local.get $o) (local.get $ldob) (i32.sub (local.get $m) (local.get $mi))
          (local.get $bias) (local.get $n)
          (call $vec4
            (call $finish_f16 (local.get $a00) (local.get $x0) (local.get $w0) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))
            (call $finish_f16 (local.get $a10) (local.get $x1) (local.get $w0) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))
            (call $finish_f16 (local.get $a20) (local.get $x2) (local.get $w0) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))
            (call $finish_f16 (local.get $a30) (local.get $x3) (local.get $w0) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))))
        (if (i32.lt_s (i32.add (local.get $n) (i32.const 1)) (local.get $n1)) (then
          (call $put_rows (i32.add (local.get $o) (i32.const 4)) (local.get $ldob)
            (i32.sub (local.get $m) (local.get $mi)) (local.get $bias) (i32.add (local.get $n) (i32.const 1))
            (call $vec4
              (call $finish_f16 (local.get $a01) (local.get $x0) (local.get $w1) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))
              (call $finish_f16 (local.get $a11) (local.get $x1) (local.get $w1) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))
              (call $finish_f16 (local.get $a21) (local.get $x2) (local.get $w1) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))
              (call $finish_f16 (local.get $a31) (local.get $x3) (local.get $w1) (local.get $i) (local.get $k) (f32x4.extract_lane 0 (local.get $pow)))))))
        (local.set $mi (i32.add (local.get $mi) (i32.const 4)))
        (br $rows)))
      (local.set $n (i32.add (local.get $n) (i32.const 2)))
      (br $cols))))

  ;; ---- q8 -------------------------------------------------------------------
  ;; x arrives as int16 [m, k] with one f32 scale per row (from $quantize_rows);
  ;; W is int8 [N, k] with f32 scales [N, k / bs]. v128.load8x8_s loads 8
  ;; weights widened to int16, and i32x4.dot_i16x8_s adds 8 products pairwise
  ;; into 4 i32 lanes. Every `sub` elements (the host picks sub <= 512
  ;; dividing bs, so a lane, at most sub / 4 * 128 * 32767, stays below 2^31)
  ;; the i32 lanes become f32, times the block's scale, into f32 lane
  ;; accumulators that are summed once at the end of the row. Requires
  ;; k % bs == 0 and bs % 8 == 0, so there is no K tail.

  ;; Quantizes `m` rows of f32 x [m, k] (k % 8 == 0) to int16 dst [m, k] with
  ;; scales[r] = max |x[r, :]| / 32767, rounding to nearest even.
  (func (export "quantize_rows") (param $src i32) (param $m i32) (param $k i32) (param $dst i32) (param $scales i32)
    (local $r i32) (local $i i32) (local $s i32) (local $d i32) (local $kb i32)
    (local $amax v128) (local $inv v128) (local $a f32)
    (local.set $kb (i32.shl (local.get $k) (i32.const 2)))
    (local.set $r (i32.const 0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $r) (local.get $m)))
      (local.set $s (i32.add (local.get $src) (i32.mul (local.get $r) (local.get $kb))))
      (local.set $d (i32.add (local.get $dst) (i32.mul (local.get $r) (i32.shl (local.get $k) (i32.const 1)))))
      (local.set $amax (v128.const i32x4 0 0 0 0))
      (local.set $i (i32.const 0))
      (block $max_done (loop $max
        (br_if $max_done (i32.ge_u (local.get $i) (local.get $kb)))
        (local.set $amax (f32x4.max (local.get $amax) (f32x4.abs (v128.load (i32.add (local.get $s) (local.get $i))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $max)))
      (local.set $a (f32.max
        (f32.max (f32x4.extract_lane 0 (local.get $amax)) (f32x4.extract_lane 1 (local.get $amax)))
        (f32.max (f32x4.extract_lane 2 (local.get $amax)) (f32x4.extract_lane 3 (local.get $amax)))))
      (f32.store (i32.add (local.get $scales) (i32.shl (local.get $r) (i32.const 2)))
        (f32.div (local.get $a) (f32.const 32767)))
      ;; an all-zero row quantizes to zeros with scale 0
      (local.set $inv (f32x4.splat
        (select (f32.div (f32.const 32767) (local.get $a)) (f32.const 0) (f32.gt (local.get $a) (f32.const 0)))))
      (local.set $i (i32.const 0))
      (block $q_done (loop $q
        (br_if $q_done (i32.ge_u (local.get $i) (local.get $kb)))
        (v128.store (i32.add (local.get $d) (i32.shr_u (local.get $i) (i32.const 1)))
          (i16x8.narrow_i32x4_s
            (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $inv)
              (v128.load (i32.add (local.get $s) (local.get $i))))))
            (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $inv)
              (v128.load offset=16 (i32.add (local.get $s) (local.get $i))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 32)))
        (br $q)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))

  ;; Quantizes one f32 weight row src [k] to int8 dst [k] with scales [k / bs]:
  ;; per block, scale = max |w| / 127 and q = nearest-even(w * (127 / max |w|))
  ;; in f32 (an all-zero block gets scale 0). bs % 8 == 0. quantizeRowQ8 in
  ;; reference.ts computes the same bits.
  (func (export "quantize_q8_row") (param $src i32) (param $k i32) (param $bs i32) (param $dst i32) (param $scales i32)
    (local $e i32) (local $be i32) (local $i i32) (local $amax v128) (local $inv v128) (local $a f32) (local $q v128)
    (local.set $e (i32.const 0))
    (block $blocks_done (loop $blocks
      (br_if $blocks_done (i32.ge_u (local.get $e) (local.get $k)))
      (local.set $be (i32.add (local.get $e) (local.get $bs)))
      (local.set $amax (v128.const i32x4 0 0 0 0))
      (local.set $i (local.get $e))
      (loop $max
        (local.set $amax (f32x4.max (local.get $amax)
          (f32x4.abs (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br_if $max (i32.lt_u (local.get $i) (local.get $be))))
      (local.set $a (f32.max
        (f32.max (f32x4.extract_lane 0 (local.get $amax)) (f32x4.extract_lane 1 (local.get $amax)))
        (f32.max (f32x4.extract_lane 2 (local.get $amax)) (f32x4.extract_lane 3 (local.get $amax)))))
      (f32.store (local.get $scales) (f32.div (local.get $a) (f32.const 127)))
      (local.set $inv (f32x4.splat
        (select (f32.div (f32.const 127) (local.get $a)) (f32.const 0) (f32.gt (local.get $a) (f32.const 0)))))
      (local.set $i (local.get $e))
      (loop $quantize
        ;; 8 floats -> 2 x i32x4 -> i16x8 -> the low 8 bytes of an i8x16
        (local.set $q (i16x8.narrow_i32x4_s
          (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $inv)
            (v128.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))))
          (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (local.get $inv)
            (v128.load offset=16 (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))))))
        (v128.store64_lane 0 (i32.add (local.get $dst) (local.get $i))
          (i8x16.narrow_i16x8_s (local.get $q) (local.get $q)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br_if $quantize (i32.lt_u (local.get $i) (local.get $be))))
      (local.set $scales (i32.add (local.get $scales) (i32.const 4)))
      (local.set $e (local.get $be))
      (br $blocks))))

  ;; out[n] for n in [n0, n1); x int16 [k] with scale f32 at xs, w int8 [N, k],
  ;; s f32 [N, k / bs]. 8 W rows at a time, like gemv_bf16 (the f32
  ;; accumulators, touched once per `sub` elements, may live on the stack).
  (func (export "gemv_q8")
    (param $x i32) (param $xs i32) (param $w i32) (param $s i32) (param $k i32) (param $bs i32) (param $sub i32)
    (param $n0 i32) (param $n1 i32) (param $out i32) (param $bias i32)
    (local $sb i32) (local $last i32) (local $n i32) (local $e i32) (local $be i32) (local $se i32) (local $so i32)
    (local $w0 i32) (local $w1 i32) (local $w2 i32) (local $w3 i32) (local $w4 i32) (local $w5 i32) (local $w6 i32) (local $w7 i32)
    (local $s0 i32) (local $s1 i32) (local $s2 i32) (local $s3 i32) (local $s4 i32) (local $s5 i32) (local $s6 i32) (local $s7 i32)
    (local $xv v128) (local $i0 v128) (local $i1 v128) (local $i2 v128) (local $i3 v128)
    (local $i4 v128) (local $i5 v128) (local $i6 v128) (local $i7 v128)
    (local $f0 v128) (local $f1 v128) (local $f2 v128) (local $f3 v128)
    (local $f4 v128) (local $f5 v128) (local $f6 v128) (local $f7 v128)
    ;; bytes per row of scales
    (local.set $sb (i32.shl (i32.div_u (local.get $k) (local.get $bs)) (i32.const 2)))
    (local.set $last (i32.sub (local.get $n1) (i32.const 1)))
    (local.set $n (local.get $n0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $n) (local.get $n1)))
      (local.set $w0 (call $row (local.get $w) (local.get $n) (local.get $last) (local.get $k)))
      (local.set $w1 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 1)) (local.get $last) (local.get $k)))
      (local.set $w2 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 2)) (local.get $last) (local.get $k)))
      (local.set $w3 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 3)) (local.get $last) (local.get $k)))
      (local.set $w4 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 4)) (local.get $last) (local.get $k)))
      (local.set $w5 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 5)) (local.get $last) (local.get $k)))
      (local.set $w6 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 6)) (local.get $last) (local.get $k)))
      (local.set $w7 (call $row (local.get $w) (i32.add (local.get $n) (i32.const 7)) (local.get $last) (local.get $k)))
      (local.set $s0 (call $row (local.get $s) (local.get $n) (local.get $last) (local.get $sb)))
      (local.set $s1 (call $row (local.get $s) (i32.add (local.get $n) (i32.const 1)) (local.get $last) (local.get $sb)))
      (local.set $s2 (call $row (local.get $s) (i32.add (local.get $n) (i32.const 2)) (local.get $last) (local.get $sb)))
      (local.set $s3 (call $row (local.get $s) (i32.add (local.get $n) (i32.const 3)) (local.get $last) (local.get $sb)))
      (local.set $s4 (call $row (local.get $s) (i32.add (local.get $n) (i32.const 4)) (local.get $last) (local.get $sb)))
      (local.set $s5 (call $row (local.get $s) (i32.add (local.get $n) (i32.const 5)) (local.get $last) (local.get $sb)))
      (local.set $s6 (call $row (local.get $s) (i32.add (local.get $n) (i32.const 6)) (local.get $last) (local.get $sb)))
      (local.set $s7 (call $row (local.get $s) (i32.add (local.get $n) (i32.const 7)) (local.get $last) (local.get $sb)))
      (local.set $f0 (v128.const i32x4 0 0 0 0)) (local.set $f1 (v128.const i32x4 0 0 0 0))
      (local.set $f2 (v128.const i32x4 0 0 0 0)) (local.set $f3 (v128.const i32x4 0 0 0 0))
      (local.set $f4 (v128.const i32x4 0 0 0 0)) (local.set $f5 (v128.const i32x4 0 0 0 0))
      (local.set $f6 (v128.const i32x4 0 0 0 0)) (local.set $f7 (v128.const i32x4 0 0 0 0))
      ;; e: element index (= byte offset in W rows); so: byte offset of the block's scale
      (local.set $e (i32.const 0))
      (local.set $so (i32.const 0))
      (block $blocks_done (loop $blocks
        (br_if $blocks_done (i32.ge_u (local.get $e) (local.get $k)))
        (local.set $be (i32.add (local.get $e) (local.get $bs)))
        (loop $subs
          (local.set $se (i32.add (local.get $e) (local.get $sub)))
          (local.set $i0 (v128.const i32x4 0 0 0 0)) (local.set $i1 (v128.const i32x4 0 0 0 0))
          (local.set $i2 (v128.const i32x4 0 0 0 0)) (local.set $i3 (v128.const i32x4 0 0 0 0))
          (local.set $i4 (v128.const i32x4 0 0 0 0)) (local.set $i5 (v128.const i32x4 0 0 0 0))
          (local.set $i6 (v128.const i32x4 0 0 0 0)) (local.set $i7 (v128.const i32x4 0 0 0 0))
          (loop $elems
            ;; 8 int16 of x against 8 int8 of each of the 8 rows
            (local.set $xv (v128.load (i32.add (local.get $x) (i32.shl (local.get $e) (i32.const 1)))))
            (local.set $i0 (i32x4.add (local.get $i0)
              (i32x4.dot_i16x8_s (local.get $xv) (v128.load8x8_s (i32.add (local.get $w0) (local.get $e))))))
            (local.set $i1 (i32x4.add (local.get $i1)
              (i32x4.dot_i16x8_s (local.get $xv) (v128.load8x8_s (i32.add (local.get $w1) (local.get $e))))))
            (local.set $i2 (i32x4.add (local.get $i2)
              (i32x4.dot_i16x8_s (local.get $xv) (v128.load8x8_s (i32.add (local.get $w2) (local.get $e))))))
            (local.set $i3 (i32x4.add (local.get $i3)
              (i32x4.dot_i16x8_s (local.get $xv) (v128.load8x8_s (i32.add (local.get $w3) (local.get $e))))))
            (local.set $i4 (i32x4.add (local.get $i4)
              (i32x4.dot_i16x8_s (local.get $xv) (v128.load8x8_s (i32.add (local.get $w4) (local.get $e))))))
            (local.set $i5 (i32x4.add (local.get $i5)
              (i32x4.dot_i16x8_s (local.get $xv) (v128.load8x8_s (i32.add (local.get $w5) (local.get $e))))))
            (local.set $i6 (i32x4.add (local.get $i6)
              (i32x4.dot_i16x8_s (local.get $xv) (v128.load8x8_s (i32.add (local.get $w6) (local.get $e))))))
            (local.set $i7 (i32x4.add (local.get $i7)
              (i32x4.dot_i16x8_s (local.get $xv) (v128.load8x8_s (i32.add (local.get $w7) (local.get $e))))))
            (local.set $e (i32.add (local.get $e) (i32.const 8)))
            (br_if $elems (i32.lt_u (local.get $e) (local.get $se))))
          ;; lane by lane into f32, times the block's scale
          (local.set $f0 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i0))
            (v128.load32_splat (i32.add (local.get $s0) (local.get $so))) (local.get $f0)))
          (local.set $f1 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i1))
            (v128.load32_splat (i32.add (local.get $s1) (local.get $so))) (local.get $f1)))
          (local.set $f2 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i2))
            (v128.load32_splat (i32.add (local.get $s2) (local.get $so))) (local.get $f2)))
          (local.set $f3 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i3))
            (v128.load32_splat (i32.add (local.get $s3) (local.get $so))) (local.get $f3)))
          (local.set $f4 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i4))
            (v128.load32_splat (i32.add (local.get $s4) (local.get $so))) (local.get $f4)))
          (local.set $f5 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i5))
            (v128.load32_splat (i32.add (local.get $s5) (local.get $so))) (local.get $f5)))
          (local.set $f6 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i6))
            (v128.load32_splat (i32.add (local.get $s6) (local.get $so))) (local.get $f6)))
          (local.set $f7 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i7))
            (v128.load32_splat (i32.add (local.get $s7) (local.get $so))) (local.get $f7)))
          (br_if $subs (i32.lt_u (local.get $e) (local.get $be))))
        (local.set $so (i32.add (local.get $so) (i32.const 4)))
        (br $blocks)))
      (call $put_cols
        (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2)))
        (i32.sub (local.get $n1) (local.get $n)) (local.get $bias) (local.get $n)
        (f32x4.mul
          (call $vec4 (call $hsum (local.get $f0)) (call $hsum (local.get $f1))
                      (call $hsum (local.get $f2)) (call $hsum (local.get $f3)))
          (v128.load32_splat (local.get $xs))))
      (if (i32.lt_s (i32.add (local.get $n) (i32.const 4)) (local.get $n1)) (then
        (call $put_cols
          (i32.add (local.get $out) (i32.shl (i32.add (local.get $n) (i32.const 4)) (i32.const 2)))
          (i32.sub (local.get $n1) (i32.add (local.get $n) (i32.const 4))) (local.get $bias) (i32.add (local.get $n) (i32.const 4))
          (f32x4.mul
          (call $vec4 (call $hsum (local.get $f4)) (call $hsum (local.get $f5))
                      (call $hsum (local.get $f6)) (call $hsum (local.get $f7)))
          (v128.load32_splat (local.get $xs))))))
      (local.set $n (i32.add (local.get $n) (i32.const 8)))
      (br $rows))))

  ;; out[m', n] for m' in [0, m), n in [n0, n1); x int16 [m, k] with scales f32
  ;; xs [m]; w, s as in gemv_q8; out rows `ldo` floats apart.
  ;; Blocked 4 x rows by 1 W row (not 2): the 4 i32 and 4 f32 accumulators,
  ;; the W, x and scale vectors already take 11 registers. A W row (k bytes)
  ;; stays in L1 while the 4-row blocks of x pass it.
  (func (export "gemm_q8")
    (param $x i32) (param $xs i32) (param $m i32) (param $w i32) (param $s i32) (param $k i32) (param $bs i32) (param $sub i32)
    (param $n0 i32) (param $n1 i32) (param $out i32) (param $ldo i32) (param $bias i32)
    (local $sb i32) (local $xb i32) (local $lastm i32) (local $ldob i32)
    (local $n i32) (local $mi i32) (local $e i32) (local $be i32) (local $se i32) (local $so i32)
    (local $wr i32) (local $sr i32) (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $wv v128) (local $sc v128)
    (local $i0 v128) (local $i1 v128) (local $i2 v128) (local $i3 v128)
    (local $f0 v128) (local $f1 v128) (local $f2 v128) (local $f3 v128)
    (local.set $sb (i32.shl (i32.div_u (local.get $k) (local.get $bs)) (i32.const 2)))
    (local.set $xb (i32.shl (local.get $k) (i32.const 1)))
    (local.set $lastm (i32.sub (local.get $m) (i32.const 1)))
    (local.set $ldob (i32.shl (local.get $ldo) (i32.const 2)))
    (local.set $n (local.get $n0))
    (block $cols_done (loop $cols
      (br_if $cols_done (i32.ge_s (local.get $n) (local.get $n1)))
      (local.set $wr (i32.add (local.get $w) (i32.mul (local.get $n) (local.get $k))))
      (local.set $sr (i32.add (local.get $s) (i32.mul (local.get $n) (local.get $sb))))
      (local.set $mi (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $mi) (local.get $m)))
        (local.set $x0 (call $row (local.get $x) (local.get $mi) (local.get $lastm) (local.get $xb)))
        (local.set $x1 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 1)) (local.get $lastm) (local.get $xb)))
        (local.set $x2 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 2)) (local.get $lastm) (local.get $xb)))
        (local.set $x3 (call $row (local.get $x) (i32.add (local.get $mi) (i32.const 3)) (local.get $lastm) (local.get $xb)))
        (local.set $f0 (v128.const i32x4 0 0 0 0)) (local.set $f1 (v128.const i32x4 0 0 0 0))
        (local.set $f2 (v128.const i32x4 0 0 0 0)) (local.set $f3 (v128.const i32x4 0 0 0 0))
        (local.set $e (i32.const 0))
        (local.set $so (i32.const 0))
        (block $blocks_done (loop $blocks
          (br_if $blocks_done (i32.ge_u (local.get $e) (local.get $k)))
          (local.set $be (i32.add (local.get $e) (local.get $bs)))
          (local.set $sc (v128.load32_splat (i32.add (local.get $sr) (local.get $so))))
          (loop $subs
            (local.set $se (i32.add (local.get $e) (local.get $sub)))
            (local.set $i0 (v128.const i32x4 0 0 0 0)) (local.set $i1 (v128.const i32x4 0 0 0 0))
            (local.set $i2 (v128.const i32x4 0 0 0 0)) (local.set $i3 (v128.const i32x4 0 0 0 0))
            (loop $elems
              ;; 8 int8 of the W row, used by the 4 x rows
              (local.set $wv (v128.load8x8_s (i32.add (local.get $wr) (local.get $e))))
              (local.set $i0 (i32x4.add (local.get $i0) (i32x4.dot_i16x8_s (local.get $wv)
                (v128.load (i32.add (local.get $x0) (i32.shl (local.get $e) (i32.const 1)))))))
              (local.set $i1 (i32x4.add (local.get $i1) (i32x4.dot_i16x8_s (local.get $wv)
                (v128.load (i32.add (local.get $x1) (i32.shl (local.get $e) (i32.const 1)))))))
              (local.set $i2 (i32x4.add (local.get $i2) (i32x4.dot_i16x8_s (local.get $wv)
                (v128.load (i32.add (local.get $x2) (i32.shl (local.get $e) (i32.const 1)))))))
              (local.set $i3 (i32x4.add (local.get $i3) (i32x4.dot_i16x8_s (local.get $wv)
                (v128.load (i32.add (local.get $x3) (i32.shl (local.get $e) (i32.const 1)))))))
              (local.set $e (i32.add (local.get $e) (i32.const 8)))
              (br_if $elems (i32.lt_u (local.get $e) (local.get $se))))
            (local.set $f0 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i0)) (local.get $sc) (local.get $f0)))
            (local.set $f1 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i1)) (local.get $sc) (local.get $f1)))
            (local.set $f2 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i2)) (local.get $sc) (local.get $f2)))
            (local.set $f3 (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $i3)) (local.get $sc) (local.get $f3)))
            (br_if $subs (i32.lt_u (local.get $e) (local.get $be))))
          (local.set $so (i32.add (local.get $so) (i32.const 4)))
          (br $blocks)))
        ;; lane j: x row mi + j, times its scale (clamped like the rows themselves)
        (call $put_rows
          (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $mi) (local.get $ldo)) (local.get $n)) (i32.const 2)))
          (local.get $ldob) (i32.sub (local.get $m) (local.get $mi)) (local.get $bias) (local.get $n)
          (f32x4.mul
            (call $vec4 (call $hsum (local.get $f0)) (call $hsum (local.get $f1))
                        (call $hsum (local.get $f2)) (call $hsum (local.get $f3)))
            (call $vec4
              (f32.load (call $row (local.get $xs) (local.get $mi) (local.get $lastm) (i32.const 4)))
              (f32.load (call $row (local.get $xs) (i32.add (local.get $mi) (i32.const 1)) (local.get $lastm) (i32.const 4)))
              (f32.load (call $row (local.get $xs) (i32.add (local.get $mi) (i32.const 2)) (local.get $lastm) (i32.const 4)))
              (f32.load (call $row (local.get $xs) (i32.add (local.get $mi) (i32.const 3)) (local.get $lastm) (i32.const 4))))))
        (local.set $mi (i32.add (local.get $mi) (i32.const 4)))
        (br $rows)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $cols))))

  ;; ---- attention ------------------------------------------------------------
  ;;
  ;; Causal attention of one query head over its sequence's cached keys and
  ;; values, which lie in the memory as runs of consecutive positions
  ;; ("segments": the whole cache of a dense sequence, or one block of a paged
  ;; one, read in place). Rows of the cache hold every KV head of a position,
  ;; `stride` bytes apart; a query head reads the columns of its KV head
  ;; (`kvoff` bytes into each row). One task is one (query, head):
  ;;   1. s[p] = scale * q . k[p] for the positions p < end, and their max;
  ;;   2. s[p] = exp(s[p] - max), and their sum;
  ;;   3. out = (sum over p of s[p] * v[p]) / sum.
  ;; s[p] lives in the calling thread's `scores` area (end floats). Every step
  ;; depends on the task alone, in the same order for every position whatever
  ;; the segments (a dense and a paged cache give the same bits), so a query's
  ;; output is the same alone or in a batch, on any thread.
  ;;
  ;; A task record (32 bytes): q, out (addresses of this query's head_dim
  ;; floats), end, segs (address of the sequence's segment table), nsegs,
  ;; kvoff. A segment (16 bytes): keys, values (addresses of the row of
  ;; position `start`), start, count.

  (func $min (param $a i32) (param $b i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.lt_s (local.get $a) (local.get $b))))

  ;; exp of every lane, after clamping x to [-87.34, 88] (exp(-87.34) is about
  ;; the smallest normal f32, exp(88) is finite). Cephes' expf: x = n ln2 + r
  ;; with n = nearest(x / ln2) and |r| <= ln2 / 2 (ln2 in two parts, so that
  ;; n ln2 loses nothing), exp(r) by its polynomial, 2^n by building the
  ;; exponent bits. About 2 ulps.
  (func $exp4 (param $x v128) (result v128)
    (local $n v128) (local $r v128) (local $p v128)
    (local.set $x (f32x4.min (f32x4.splat (f32.const 88))
      (f32x4.max (f32x4.splat (f32.const -87.3365)) (local.get $x))))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504088896)))))
    (local.set $r (f32x4.sub
      (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) (f32x4.splat (f32.const 0.693359375))))
      (f32x4.mul (local.get $n) (f32x4.splat (f32.const -2.12194440e-4)))))
    (local.set $p (f32x4.splat (f32.const 1.9875691500e-4)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1.3981999507e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 8.3334519073e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 4.1665795894e-2))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 1.6666665459e-1))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (f32x4.splat (f32.const 5.0000001201e-1))))
    (local.set $p (f32x4.add
      (f32x4.add (f32x4.mul (local.get $p) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r))
      (f32x4.splat (f32.const 1))))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (i32x4.splat (i32.const 127))) (i32.const 23))))

  ;; [sum a0, sum a1, sum a2, sum a3], each summed as (l0 + l2) + (l1 + l3):
  ;; four dot products finished with 4 shuffles and 3 adds.
  (func $hsum4 (param $a0 v128) (param $a1 v128) (param $a2 v128) (param $a3 v128) (result v128)
    (local $u v128) (local $w v128)
    ;; u = [a0.0 + a0.2, a0.1 + a0.3, a1.0 + a1.2, a1.1 + a1.3], w likewise for a2, a3
    (local.set $u (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a0) (local.get $a1))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a0) (local.get $a1))))
    (local.set $w (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a2) (local.get $a3))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a2) (local.get $a3))))
    (f32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $u) (local.get $w))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $u) (local.get $w))))

  ;; Pass 1 of a task: the scores of positions [0, end) into sc, scaled;
  ;; returns their maximum. 4 positions at a time share each q vector; the
  ;; rest of a segment goes one position at a time, summed in the same order.
  (func $scores (param $q i32) (param $end i32) (param $segs i32) (param $nsegs i32) (param $kvoff i32)
    (param $hb i32) (param $stride i32) (param $scale v128) (param $sc i32) (result f32)
    (local $s i32) (local $sp i32) (local $start i32) (local $n i32) (local $j i32) (local $d i32) (local $dst i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $qv v128) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $vmax v128)
    (local.set $vmax (f32x4.splat (f32.const -inf)))
    (local.set $s (i32.const 0))
    (block $segs_done (loop $segs_loop
      (br_if $segs_done (i32.ge_u (local.get $s) (local.get $nsegs)))
      (local.set $sp (i32.add (local.get $segs) (i32.shl (local.get $s) (i32.const 4))))
      (local.set $start (i32.load offset=8 (local.get $sp)))
      (local.set $n (call $min (i32.load offset=12 (local.get $sp)) (i32.sub (local.get $end) (local.get $start))))
      (br_if $segs_done (i32.le_s (local.get $n) (i32.const 0)))
      ;; r0: this head's columns of the key row of position start + j
      (local.set $r0 (i32.add (i32.load (local.get $sp)) (local.get $kvoff)))
      (local.set $dst (i32.add (local.get $sc) (i32.shl (local.get $start) (i32.const 2))))
      (local.set $j (i32.const 0))
      (block $quads_done (loop $quads
        (br_if $quads_done (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
        (local.set $r1 (i32.add (local.get $r0) (local.get $stride)))
        (local.set $r2 (i32.add (local.get $r1) (local.get $stride)))
        (local.set $r3 (i32.add (local.get $r2) (local.get $stride)))
        (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $d (i32.const 0))
        (loop $dims
          (local.set $qv (v128.load (i32.add (local.get $q) (local.get $d))))
          (local.set $a0 (f32x4.relaxed_madd (local.get $qv) (v128.load (i32.add (local.get $r0) (local.get $d))) (local.get $a0)))
          (local.set $a1 (f32x4.relaxed_madd (local.get $qv) (v128.load (i32.add (local.get $r1) (local.get $d))) (local.get $a1)))
          (local.set $a2 (f32x4.relaxed_madd (local.get $qv) (v128.load (i32.add (local.get $r2) (local.get $d))) (local.get $a2)))
          (local.set $a3 (f32x4.relaxed_madd (local.get $qv) (v128.load (i32.add (local.get $r3) (local.get $d))) (local.get $a3)))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br_if $dims (i32.lt_u (local.get $d) (local.get $hb))))
        (local.set $a0 (f32x4.mul (call $hsum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)) (local.get $scale)))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))) (local.get $a0))
        (local.set $vmax (f32x4.max (local.get $vmax) (local.get $a0)))
        (local.set $r0 (i32.add (local.get $r3) (local.get $stride)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $quads)))
      (block $ones_done (loop $ones
        (br_if $ones_done (i32.ge_s (local.get $j) (local.get $n)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $d (i32.const 0))
        (loop $dims
          (local.set $a0 (f32x4.relaxed_madd
            (v128.load (i32.add (local.get $q) (local.get $d))) (v128.load (i32.add (local.get $r0) (local.get $d))) (local.get $a0)))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br_if $dims (i32.lt_u (local.get $d) (local.get $hb))))
        ;; every lane holds the score
        (local.set $a0 (f32x4.mul (call $hsum4 (local.get $a0) (local.get $a0) (local.get $a0) (local.get $a0)) (local.get $scale)))
        (f32.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))) (f32x4.extract_lane 0 (local.get $a0)))
        (local.set $vmax (f32x4.max (local.get $vmax) (local.get $a0)))
        (local.set $r0 (i32.add (local.get $r0) (local.get $stride)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $ones)))
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br $segs_loop)))
    (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $vmax)) (f32x4.extract_lane 1 (local.get $vmax)))
      (f32.max (f32x4.extract_lane 2 (local.get $vmax)) (f32x4.extract_lane 3 (local.get $vmax)))))

  ;; Pass 2: sc[p] = exp(sc[p] - max) for p < end; returns 1 / their sum.
  (func $softmax (param $sc i32) (param $end i32) (param $max f32) (result f32)
    (local $p i32) (local $pend i32) (local $vm v128) (local $e v128) (local $vsum v128) (local $sum f32)
    (local.set $vm (f32x4.splat (local.get $max)))
    (local.set $vsum (v128.const i32x4 0 0 0 0))
    (local.set $pend (i32.add (local.get $sc) (i32.shl (local.get $end) (i32.const 2))))
    (local.set $p (local.get $sc))
    (block $quads_done (loop $quads
      (br_if $quads_done (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $pend)))
      (local.set $e (call $exp4 (f32x4.sub (v128.load (local.get $p)) (local.get $vm))))
      (v128.store (local.get $p) (local.get $e))
      (local.set $vsum (f32x4.add (local.get $vsum) (local.get $e)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $quads)))
    (local.set $sum (call $hsum (local.get $vsum)))
    (block $ones_done (loop $ones
      (br_if $ones_done (i32.ge_u (local.get $p) (local.get $pend)))
      (local.set $e (call $exp4 (f32x4.sub (v128.load32_splat (local.get $p)) (local.get $vm))))
      (f32.store (local.get $p) (f32x4.extract_lane 0 (local.get $e)))
      (local.set $sum (f32.add (local.get $sum) (f32x4.extract_lane 0 (local.get $e))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $ones)))
    (f32.div (f32.const 1) (local.get $sum)))

  ;; Pass 3 for 32 columns of the head, `col` bytes into the cache rows:
  ;; out[0, 32) = inv * sum over p of sc[p] * v[p][col..]. 8 accumulators
  ;; (wasm locals start at zero), two cache lines of each value row.
  (func $weigh8 (param $out i32) (param $end i32) (param $segs i32) (param $nsegs i32) (param $col i32)
    (param $stride i32) (param $sc i32) (param $inv v128)
    (local $s i32) (local $sp i32) (local $start i32) (local $n i32) (local $r i32) (local $p i32) (local $pend i32)
    (local $pv v128) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local.set $s (i32.const 0))
    (block $segs_done (loop $segs_loop
      (br_if $segs_done (i32.ge_u (local.get $s) (local.get $nsegs)))
      (local.set $sp (i32.add (local.get $segs) (i32.shl (local.get $s) (i32.const 4))))
      (local.set $start (i32.load offset=8 (local.get $sp)))
      (local.set $n (call $min (i32.load offset=12 (local.get $sp)) (i32.sub (local.get $end) (local.get $start))))
      (br_if $segs_done (i32.le_s (local.get $n) (i32.const 0)))
      (local.set $r (i32.add (i32.load offset=4 (local.get $sp)) (local.get $col)))
      (local.set $p (i32.add (local.get $sc) (i32.shl (local.get $start) (i32.const 2))))
      (local.set $pend (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
      (loop $positions
        (local.set $pv (v128.load32_splat (local.get $p)))
        (local.set $a0 (f32x4.relaxed_madd (local.get $pv) (v128.load (local.get $r)) (local.get $a0)))
        (local.set $a1 (f32x4.relaxed_madd (local.get $pv) (v128.load offset=16 (local.get $r)) (local.get $a1)))
        (local.set $a2 (f32x4.relaxed_madd (local.get $pv) (v128.load offset=32 (local.get $r)) (local.get $a2)))
        (local.set $a3 (f32x4.relaxed_madd (local.get $pv) (v128.load offset=48 (local.get $r)) (local.get $a3)))
        (local.set $a4 (f32x4.relaxed_madd (local.get $pv) (v128.load offset=64 (local.get $r)) (local.get $a4)))
        (local.set $a5 (f32x4.relaxed_madd (local.get $pv) (v128.load offset=80 (local.get $r)) (local.get $a5)))
        (local.set $a6 (f32x4.relaxed_madd (local.get $pv) (v128.load offset=96 (local.get $r)) (local.get $a6)))
        (local.set $a7 (f32x4.relaxed_madd (local.get $pv) (v128.load offset=112 (local.get $r)) (local.get $a7)))
        (local.set $r (i32.add (local.get $r) (local.get $stride)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $positions (i32.lt_u (local.get $p) (local.get $pend))))
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br $segs_loop)))
    (v128.store (local.get $out) (f32x4.mul (local.get $a0) (local.get $inv)))
    (v128.store offset=16 (local.get $out) (f32x4.mul (local.get $a1) (local.get $inv)))
    (v128.store offset=32 (local.get $out) (f32x4.mul (local.get $a2) (local.get $inv)))
    (v128.store offset=48 (local.get $out) (f32x4.mul (local.get $a3) (local.get $inv)))
    (v128.store offset=64 (local.get $out) (f32x4.mul (local.get $a4) (local.get $inv)))
    (v128.store offset=80 (local.get $out) (f32x4.mul (local.get $a5) (local.get $inv)))
    (v128.store offset=96 (local.get $out) (f32x4.mul (local.get $a6) (local.get $inv)))
    (v128.store offset=112 (local.get $out) (f32x4.mul (local.get $a7) (local.get $inv))))

  ;; Pass 3 for 4 columns (what is left of a head after the 32-column blocks).
  (func $weigh1 (param $out i32) (param $end i32) (param $segs i32) (param $nsegs i32) (param $col i32)
    (param $stride i32) (param $sc i32) (param $inv v128)
    (local $s i32) (local $sp i32) (local $start i32) (local $n i32) (local $r i32) (local $p i32) (local $pend i32)
    (local $a0 v128)
    (local.set $s (i32.const 0))
    (block $segs_done (loop $segs_loop
      (br_if $segs_done (i32.ge_u (local.get $s) (local.get $nsegs)))
      (local.set $sp (i32.add (local.get $segs) (i32.shl (local.get $s) (i32.const 4))))
      (local.set $start (i32.load offset=8 (local.get $sp)))
      (local.set $n (call $min (i32.load offset=12 (local.get $sp)) (i32.sub (local.get $end) (local.get $start))))
      (br_if $segs_done (i32.le_s (local.get $n) (i32.const 0)))
      (local.set $r (i32.add (i32.load offset=4 (local.get $sp)) (local.get $col)))
      (local.set $p (i32.add (local.get $sc) (i32.shl (local.get $start) (i32.const 2))))
      (local.set $pend (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
      (loop $positions
        (local.set $a0 (f32x4.relaxed_madd (v128.load32_splat (local.get $p)) (v128.load (local.get $r)) (local.get $a0)))
        (local.set $r (i32.add (local.get $r) (local.get $stride)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $positions (i32.lt_u (local.get $p) (local.get $pend))))
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br $segs_loop)))
    (v128.store (local.get $out) (f32x4.mul (local.get $a0) (local.get $inv))))

  ;; Tasks [t0, t1) of the task table; head_dim = hd (a multiple of 4), cache
  ;; rows `stride` bytes apart, scale as its f32 bits, scores: this thread's
  ;; area of at least `end` floats for every task.
  (func (export "attend") (param $table i32) (param $t0 i32) (param $t1 i32) (param $hd i32) (param $stride i32)
    (param $scale i32) (param $scores i32)
    (local $task i32) (local $end i32) (local $segs i32) (local $nsegs i32) (local $kvoff i32) (local $out i32)
    (local $hb i32) (local $d i32) (local $inv v128)
    (local.set $hb (i32.shl (local.get $hd) (i32.const 2)))
    (block $tasks_done (loop $tasks
      (br_if $tasks_done (i32.ge_u (local.get $t0) (local.get $t1)))
      (local.set $task (i32.add (local.get $table) (i32.shl (local.get $t0) (i32.const 5))))
      (local.set $out (i32.load offset=4 (local.get $task)))
      (local.set $end (i32.load offset=8 (local.get $task)))
      (local.set $segs (i32.load offset=12 (local.get $task)))
      (local.set $nsegs (i32.load offset=16 (local.get $task)))
      (local.set $kvoff (i32.load offset=20 (local.get $task)))
      (local.set $inv (f32x4.splat (call $softmax (local.get $scores) (local.get $end)
        (call $scores (i32.load (local.get $task)) (local.get $end) (local.get $segs) (local.get $nsegs) (local.get $kvoff)
          (local.get $hb) (local.get $stride) (f32x4.splat (f32.reinterpret_i32 (local.get $scale))) (local.get $scores)))))
      (local.set $d (i32.const 0))
      (block $wide_done (loop $wide
        (br_if $wide_done (i32.gt_u (i32.add (local.get $d) (i32.const 128)) (local.get $hb)))
        (call $weigh8 (i32.add (local.get $out) (local.get $d)) (local.get $end) (local.get $segs) (local.get $nsegs)
          (i32.add (local.get $kvoff) (local.get $d)) (local.get $stride) (local.get $scores) (local.get $inv))
        (local.set $d (i32.add (local.get $d) (i32.const 128)))
        (br $wide)))
      (block $narrow_done (loop $narrow
        (br_if $narrow_done (i32.ge_u (local.get $d) (local.get $hb)))
        (call $weigh1 (i32.add (local.get $out) (local.get $d)) (local.get $end) (local.get $segs) (local.get $nsegs)
          (i32.add (local.get $kvoff) (local.get $d)) (local.get $stride) (local.get $scores) (local.get $inv))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (br $narrow)))
      (local.set $t0 (i32.add (local.get $t0) (i32.const 1)))
      (br $tasks))))

  ;; ---- elementwise, on the calling thread -----------------------------------

  ;; out[i] = x[i] * sigmoid(x[i]) = x[i] / (1 + exp(-x[i])) for i < n; out may be x.
  (func (export "silu") (param $x i32) (param $out i32) (param $n i32)
    (local $i i32) (local $end i32) (local $v v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $quads_done (loop $quads
      (br_if $quads_done (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $end)))
      (local.set $v (v128.load (i32.add (local.get $x) (local.get $i))))
      (v128.store (i32.add (local.get $out) (local.get $i))
        (f32x4.div (local.get $v) (f32x4.add (f32x4.splat (f32.const 1)) (call $exp4 (f32x4.neg (local.get $v))))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $quads)))
    (block $ones_done (loop $ones
      (br_if $ones_done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $v (v128.load32_splat (i32.add (local.get $x) (local.get $i))))
      (f32.store (i32.add (local.get $out) (local.get $i)) (f32x4.extract_lane 0
        (f32x4.div (local.get $v) (f32x4.add (f32x4.splat (f32.const 1)) (call $exp4 (f32x4.neg (local.get $v)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $ones))))
)
