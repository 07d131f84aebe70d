/* kernels_avx2.c - the AVX2 + FMA level: the kernels of kernels_simd.h and
 * dense_simd.h over 8-float vectors.  Compiled with -mavx2 -mfma; runs only
 * after cpu.c has checked the CPU and OS support both. */
#include "simd_avx2.h"
#include "simd_math.h"

/* 3 x 4 accumulators + 3 x vectors + 1 weight vector = all 16 ymm. */
#define SL_K_DOT_MB 3

#include "kernels_simd.h"
#include "dense_simd.h"

/* No outer-product GEMM at this level: with 16 registers its tile (8 x 1
 * vector) loses to the dot-product kernel at every batch size measured. */

#define SL_K_TABLE_NAME sl_k_table_avx2
#define SL_K_TABLE_ISA SL_ISA_AVX2
#include "table_simd.h"
