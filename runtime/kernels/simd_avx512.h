/* simd_avx512.h - the vector vocabulary of the kernels, mapped to AVX-512
 * (F, with DQ for 256-bit extracts).  Same names as simd_avx2.h; only
 * kernels_avx512.c, compiled with -mavx512f -mavx512vl -mavx512dq
 * -mavx512bw -mfma, includes this file. */
#ifndef SLUICE_SIMD_AVX512_H
#define SLUICE_SIMD_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define SL_VW 16 /* floats per vector */

typedef __m512 sl_v;
typedef __mmask16 sl_m; /* bit i set where lane i is true */

static inline sl_v sl_v_zero(void) { return _mm512_setzero_ps(); }
static inline sl_v sl_v_set1(float s) { return _mm512_set1_ps(s); }
static inline sl_v sl_v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void sl_v_store(float *p, sl_v v) { _mm512_storeu_ps(p, v); }

static inline __mmask16 sl_v_tail_mask(int64_t n)
{
    return (__mmask16)((1u << n) - 1u);
}

/* The first n < SL_VW floats; masked lanes are not read (no fault). */
static inline sl_v sl_v_load_n(const float *p, int64_t n)
{
    return _mm512_maskz_loadu_ps(sl_v_tail_mask(n), p);
}

static inline sl_v sl_v_load_n_or(const float *p, int64_t n, float fill)
{
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), sl_v_tail_mask(n), p);
}

static inline void sl_v_store_n(float *p, sl_v v, int64_t n)
{
    _mm512_mask_storeu_ps(p, sl_v_tail_mask(n), v);
}

static inline sl_v sl_v_add(sl_v a, sl_v b) { return _mm512_add_ps(a, b); }
static inline sl_v sl_v_sub(sl_v a, sl_v b) { return _mm512_sub_ps(a, b); }
static inline sl_v sl_v_mul(sl_v a, sl_v b) { return _mm512_mul_ps(a, b); }
static inline sl_v sl_v_div(sl_v a, sl_v b) { return _mm512_div_ps(a, b); }
static inline sl_v sl_v_sqrt(sl_v a) { return _mm512_sqrt_ps(a); }
static inline sl_v sl_v_fmadd(sl_v a, sl_v b, sl_v c) { return _mm512_fmadd_ps(a, b, c); }
static inline sl_v sl_v_fnmadd(sl_v a, sl_v b, sl_v c) { return _mm512_fnmadd_ps(a, b, c); }
static inline sl_v sl_v_fmsub(sl_v a, sl_v b, sl_v c) { return _mm512_fmsub_ps(a, b, c); }
/* As AVX2: b when either is NaN. */
static inline sl_v sl_v_max(sl_v a, sl_v b) { return _mm512_max_ps(a, b); }
static inline sl_v sl_v_min(sl_v a, sl_v b) { return _mm512_min_ps(a, b); }
static inline sl_v sl_v_abs(sl_v a) { return _mm512_abs_ps(a); }
static inline sl_v sl_v_copysign(sl_v a, sl_v b)
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    /* ternary logic 0xca: (sign mask) ? b : a, bit by bit. */
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
        sign, _mm512_castps_si512(b), _mm512_castps_si512(a), 0xca));
}
static inline sl_v sl_v_round(sl_v a)
{
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static inline sl_m sl_v_lt(sl_v a, sl_v b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline sl_m sl_v_le(sl_v a, sl_v b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
static inline sl_m sl_v_gt(sl_v a, sl_v b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline sl_m sl_v_eq(sl_v a, sl_v b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
static inline sl_m sl_v_isnan(sl_v a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
static inline sl_m sl_v_gt_or_nan(sl_v a, sl_v b) { return _mm512_cmp_ps_mask(a, b, _CMP_NLE_UQ); }
static inline sl_m sl_m_none(void) { return 0; }
static inline sl_m sl_m_or(sl_m a, sl_m b) { return (sl_m)(a | b); }
static inline unsigned sl_m_bits(sl_m m) { return m; }
static inline sl_v sl_v_select(sl_m m, sl_v a, sl_v b) { return _mm512_mask_blend_ps(m, b, a); }

/* Lanes [8h, 8h + 8) as an AVX vector, h 0 or 1. */
static inline __m256 sl_v_half(sl_v v, int h)
{
    return h ? _mm512_extractf32x8_ps(v, 1) : _mm512_castps512_ps256(v);
}

/* 512 -> 256 bits by adding the halves. */
static inline __m256 sl_v_fold256(sl_v v)
{
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

static inline float sl_v_hsum(sl_v v)
{
    __m256 h = sl_v_fold256(v);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float sl_v_hmax(sl_v v) { return _mm512_reduce_max_ps(v); }
static inline float sl_v_hmin(sl_v v) { return _mm512_reduce_min_ps(v); }

static inline __m128 sl_v_hsum4(sl_v a, sl_v b, sl_v c, sl_v d)
{
    __m256 ab = _mm256_hadd_ps(sl_v_fold256(a), sl_v_fold256(b));
    __m256 cd = _mm256_hadd_ps(sl_v_fold256(c), sl_v_fold256(d));
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* p * 2^n, n integral: vscalefps rounds once, subnormal or overflowing. */
static inline sl_v sl_v_scale2(sl_v p, sl_v n) { return _mm512_scalef_ps(p, n); }

/* x = m * 2^e, m in [0.5, 1), for finite x > 0 (getexp/getmant handle
 * subnormals). */
static inline sl_v sl_v_frexp(sl_v x, sl_v *e)
{
    *e = _mm512_add_ps(_mm512_getexp_ps(x), _mm512_set1_ps(1.0f));
    return _mm512_getmant_ps(x, _MM_MANT_NORM_p5_1, _MM_MANT_SIGN_zero);
}

#endif
