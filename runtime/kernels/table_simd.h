/* table_simd.h - the kernel table of one SIMD level: the last include of
 * kernels_avx2.c and kernels_avx512.c, after every kernel is defined.  The
 * includer names it (SL_K_TABLE_NAME) and its level (SL_K_TABLE_ISA). */
#ifndef SLUICE_TABLE_SIMD_H
#define SLUICE_TABLE_SIMD_H

#define SL_K_DENSE_NV sl_k_dense_nv
#define SL_K_VW SL_VW
const sl_k_table SL_K_TABLE_NAME = SL_K_TABLE_INIT(SL_K_TABLE_ISA);

#endif
