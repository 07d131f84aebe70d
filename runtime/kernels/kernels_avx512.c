/* kernels_avx512.c - the AVX-512 level: the kernels of kernels_simd.h and
 * dense_simd.h over 16-float vectors.  Compiled with -mavx512f -mavx512vl
 * -mavx512dq -mavx512bw -mfma; runs only after cpu.c has checked the CPU
 * and OS support for all of them. */
#include "simd_avx512.h"
#include "simd_math.h"

/* 4 x 4 accumulators + 4 x vectors + 1 weight vector, of 32 zmm. */
#define SL_K_DOT_MB 4

#include "kernels_simd.h"
#include "dense_simd.h"

/* The GEMM's register tile: 8 rows of w by SL_K_GEMM_NV vectors of batch
 * rows; 16 accumulators + 2 x vectors + 1 broadcast. */
#define SL_K_GEMM_NV 2
#include "gemm_simd.h"

#define SL_K_TABLE_NAME sl_k_table_avx512
#define SL_K_TABLE_ISA SL_ISA_AVX512
#include "table_simd.h"
