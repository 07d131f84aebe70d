/* kernels_avx2.c - the AVX2 + FMA level: the kernels of kernels_simd.h,
 * dense_simd.h and attention_simd.h over 8-float vectors.  Compiled with
 * -mavx2 -mfma; runs only after cpu.c has checked the CPU and OS support
 * both. */
#include "simd_avx2.h"
#include "simd_math.h"

/* A register tile of 6 rows by 2 vectors: 12 accumulators, 2 weight
 * vectors and a broadcast, of 16 ymm. */
#define SL_K_NV_MAX 2

#include "kernels_simd.h"
#include "dense_simd.h"
#include "attention_simd.h"

#define SL_K_TABLE_NAME sl_k_table_avx2
#define SL_K_TABLE_ISA SL_ISA_AVX2
#include "table_simd.h"
