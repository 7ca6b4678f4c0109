;; Distance kernels for the HNSW index (workers/vectors/src/hnsw.ts), in WebAssembly SIMD.
;; The vectors live in this module's memory; JavaScript walks the graph and asks for the
;; distances of a whole neighbour list in one call.
;;
;; Source of distance.wasm: `npm run build:wasm` (scripts/build-wasm.mjs, wabt) compiles it,
;; and `npm run build` fails when the committed distance.wasm is not this file's output.
;;
;; Metrics (internal distances, see hnsw.ts): 0 = 1 − dot(a, b) (cosine on normalised
;; vectors, and dot), 1 = squared Euclidean distance.
;;
;; Two storage forms: float32 vectors (dim f32s each), and int8 records for quantised
;; indexes: [scale f32 | norm² f32 | 8 bytes padding | codes: dim i8 zero-padded to 16],
;; where component i ≈ scale · code[i] and norm² is that of the dequantised vector.
(module
  (memory (export "memory") 1)

  ;; dot(a, b) over dim f32s: 16 lanes per step in four accumulators, then a scalar tail.
  (func $dot (export "dot") (param $a i32) (param $b i32) (param $dim i32) (result f32)
    (local $end i32) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $r f32)
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $dim) (i32.const -16)) (i32.const 2))))
    (block $done16
      (loop $step16
        (br_if $done16 (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (v128.load (local.get $a)) (v128.load (local.get $b)))))
        (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $b)))))
        (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (v128.load offset=32 (local.get $a)) (v128.load offset=32 (local.get $b)))))
        (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (v128.load offset=48 (local.get $a)) (v128.load offset=48 (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (i32.const 64)))
        (local.set $b (i32.add (local.get $b) (i32.const 64)))
        (br $step16)))
    (local.set $s0 (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $dim) (i32.const 15)) (i32.const 2))))
    (block $done1
      (loop $step1
        (br_if $done1 (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $r (f32.add (local.get $r) (f32.mul (f32.load (local.get $a)) (f32.load (local.get $b)))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $step1)))
    (f32.add (local.get $r)
      (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
        (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0))))))

  ;; Squared Euclidean distance between a and b over dim f32s.
  (func $l2 (export "l2") (param $a i32) (param $b i32) (param $dim i32) (result f32)
    (local $end i32) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $t v128) (local $r f32) (local $x f32)
    (local.set $end (i32.add (local.get $a) (i32.shl (i32.and (local.get $dim) (i32.const -16)) (i32.const 2))))
    (block $done16
      (loop $step16
        (br_if $done16 (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $t (f32x4.sub (v128.load (local.get $a)) (v128.load (local.get $b))))
        (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $t) (local.get $t))))
        (local.set $t (f32x4.sub (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $b))))
        (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $t) (local.get $t))))
        (local.set $t (f32x4.sub (v128.load offset=32 (local.get $a)) (v128.load offset=32 (local.get $b))))
        (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $t) (local.get $t))))
        (local.set $t (f32x4.sub (v128.load offset=48 (local.get $a)) (v128.load offset=48 (local.get $b))))
        (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $t) (local.get $t))))
        (local.set $a (i32.add (local.get $a) (i32.const 64)))
        (local.set $b (i32.add (local.get $b) (i32.const 64)))
        (br $step16)))
    (local.set $s0 (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $dim) (i32.const 15)) (i32.const 2))))
    (block $done1
      (loop $step1
        (br_if $done1 (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $x (f32.sub (f32.load (local.get $a)) (f32.load (local.get $b))))
        (local.set $r (f32.add (local.get $r) (f32.mul (local.get $x) (local.get $x))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (br $step1)))
    (f32.add (local.get $r)
      (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
        (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0))))))

  ;; The internal distance between the vectors at a and b.
  (func $distance (export "distance") (param $metric i32) (param $a i32) (param $b i32) (param $dim i32) (result f32)
    (if (result f32) (local.get $metric)
      (then (call $l2 (local.get $a) (local.get $b) (local.get $dim)))
      (else (f32.sub (f32.const 1) (call $dot (local.get $a) (local.get $b) (local.get $dim))))))

  ;; out[i] = distance(q, node ids[i]) for i < n, where node v is stored at base + v·dim·4.
  (func (export "distances") (param $metric i32) (param $q i32) (param $ids i32) (param $n i32)
        (param $base i32) (param $dim i32) (param $out i32)
    (local $stride i32) (local $end i32)
    (local.set $stride (i32.shl (local.get $dim) (i32.const 2)))
    (local.set $end (i32.add (local.get $ids) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $ids) (local.get $end)))
        (f32.store (local.get $out)
          (call $distance (local.get $metric) (local.get $q)
            (i32.add (local.get $base) (i32.mul (i32.load (local.get $ids)) (local.get $stride)))
            (local.get $dim)))
        (local.set $ids (i32.add (local.get $ids) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $next))))

  ;; out[i] = distance(q, node first + i) for i < n (exact scans over a run of nodes).
  (func (export "distances_run") (param $metric i32) (param $q i32) (param $first i32) (param $n i32)
        (param $base i32) (param $dim i32) (param $out i32)
    (local $stride i32) (local $v i32) (local $end i32)
    (local.set $stride (i32.shl (local.get $dim) (i32.const 2)))
    (local.set $v (i32.add (local.get $base) (i32.mul (local.get $first) (local.get $stride))))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (f32.store (local.get $out) (call $distance (local.get $metric) (local.get $q) (local.get $v) (local.get $dim)))
        (local.set $v (i32.add (local.get $v) (local.get $stride)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $next))))
;; dot of two int8 records' codes (dim rounded up to 16; the padding is zero), in i32.
  (func $dot_i8 (param $a i32) (param $b i32) (param $dim i32) (result i32)
    (local $end i32) (local $va v128) (local $vb v128) (local $s v128)
    (local.set $a (i32.add (local.get $a) (i32.const 16)))
    (local.set $b (i32.add (local.get $b) (i32.const 16)))
    (local.set $end (i32.add (local.get $a) (i32.and (i32.add (local.get $dim) (i32.const 15)) (i32.const -16))))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $va (v128.load (local.get $a)))
        (local.set $vb (v128.load (local.get $b)))
        (local.set $s (i32x4.add (local.get $s)
          (i32x4.add
            (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $va)) (i16x8.extend_low_i8x16_s (local.get $vb)))
            (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $va)) (i16x8.extend_high_i8x16_s (local.get $vb))))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (br $step)))
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $s)) (i32x4.extract_lane 1 (local.get $s)))
      (i32.add (i32x4.extract_lane 2 (local.get $s)) (i32x4.extract_lane 3 (local.get $s)))))

  ;; The internal distance between the int8 records at a and b.
  (func $distance_i8 (export "distance_i8") (param $metric i32) (param $a i32) (param $b i32) (param $dim i32) (result f32)
    (local $dot f32)
    (local.set $dot (f32.mul
      (f32.mul (f32.load (local.get $a)) (f32.load (local.get $b)))
      (f32.convert_i32_s (call $dot_i8 (local.get $a) (local.get $b) (local.get $dim)))))
    (if (result f32) (local.get $metric)
      (then (f32.sub
        (f32.add (f32.load offset=4 (local.get $a)) (f32.load offset=4 (local.get $b)))
        (f32.mul (f32.const 2) (local.get $dot))))
      (else (f32.sub (f32.const 1) (local.get $dot)))))

  ;; out[i] = distance_i8(q, record ids[i]) for i < n, where record v is at base + v·stride.
  (func (export "distances_i8") (param $metric i32) (param $q i32) (param $ids i32) (param $n i32)
        (param $base i32) (param $stride i32) (param $dim i32) (param $out i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $ids) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $ids) (local.get $end)))
        (f32.store (local.get $out)
          (call $distance_i8 (local.get $metric) (local.get $q)
            (i32.add (local.get $base) (i32.mul (i32.load (local.get $ids)) (local.get $stride)))
            (local.get $dim)))
        (local.set $ids (i32.add (local.get $ids) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $next))))

  ;; out[i] = distance_i8(q, record first + i) for i < n.
  (func (export "distances_run_i8") (param $metric i32) (param $q i32) (param $first i32) (param $n i32)
        (param $base i32) (param $stride i32) (param $dim i32) (param $out i32)
    (local $v i32) (local $end i32)
    (local.set $v (i32.add (local.get $base) (i32.mul (local.get $first) (local.get $stride))))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (f32.store (local.get $out) (call $distance_i8 (local.get $metric) (local.get $q) (local.get $v) (local.get $dim)))
        (local.set $v (i32.add (local.get $v) (local.get $stride)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $next))))
)
