/* kernels_avx512.c - the AVX-512 level: the kernels of kernels_simd.h,
 * dense_simd.h and attention_simd.h over 16-float vectors.  Compiled with
 * -mavx512f -mavx512vl -mavx512dq -mavx512bw -mfma; runs only after cpu.c
 * has checked the CPU and OS support for all of them. */
#include "simd_avx512.h"
#include "simd_math.h"

/* A register tile of 6 rows by 4 vectors: 24 accumulators, 4 weight
 * vectors and a broadcast, of 32 zmm. */
#define SL_K_NV_MAX 4

#include "kernels_simd.h"
#include "dense_simd.h"
#include "attention_simd.h"

#define SL_K_TABLE_NAME sl_k_table_avx512
#define SL_K_TABLE_ISA SL_ISA_AVX512
#include "table_simd.h"
