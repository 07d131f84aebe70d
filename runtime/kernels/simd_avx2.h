/* simd_avx2.h - the vector vocabulary of the kernels, mapped to AVX2 + FMA.
 *
 * kernels_simd.h and simd_math.h are written once against these names
 * (sl_v: SL_VW floats; sl_m: a per-lane mask); simd_avx512.h maps the same
 * names to AVX-512.  Only kernels_avx2.c, compiled with -mavx2 -mfma,
 * includes this file. */
#ifndef SLUICE_SIMD_AVX2_H
#define SLUICE_SIMD_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#define SL_VW 8 /* floats per vector */

typedef __m256 sl_v;
typedef __m256 sl_m; /* all-ones lanes where true */

static inline sl_v sl_v_zero(void) { return _mm256_setzero_ps(); }
static inline sl_v sl_v_set1(float s) { return _mm256_set1_ps(s); }
static inline sl_v sl_v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void sl_v_store(float *p, sl_v v) { _mm256_storeu_ps(p, v); }

/* Lanes [0, n) for 0 < n < SL_VW: the mask maskload/maskstore take. */
static inline __m256i sl_v_tail_mask(int64_t n)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), iota);
}

/* The first n < SL_VW floats; lanes past n are 0 and are never read, so a
 * tail at the end of a page cannot fault. */
static inline sl_v sl_v_load_n(const float *p, int64_t n)
{
    return _mm256_maskload_ps(p, sl_v_tail_mask(n));
}

static inline sl_v sl_v_load_n_or(const float *p, int64_t n, float fill)
{
    __m256i m = sl_v_tail_mask(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m),
                            _mm256_castsi256_ps(m));
}

static inline void sl_v_store_n(float *p, sl_v v, int64_t n)
{
    _mm256_maskstore_ps(p, sl_v_tail_mask(n), v);
}

static inline sl_v sl_v_add(sl_v a, sl_v b) { return _mm256_add_ps(a, b); }
static inline sl_v sl_v_sub(sl_v a, sl_v b) { return _mm256_sub_ps(a, b); }
static inline sl_v sl_v_mul(sl_v a, sl_v b) { return _mm256_mul_ps(a, b); }
static inline sl_v sl_v_div(sl_v a, sl_v b) { return _mm256_div_ps(a, b); }
static inline sl_v sl_v_sqrt(sl_v a) { return _mm256_sqrt_ps(a); }
/* a * b + c and c - a * b, one rounding. */
static inline sl_v sl_v_fmadd(sl_v a, sl_v b, sl_v c) { return _mm256_fmadd_ps(a, b, c); }
static inline sl_v sl_v_fnmadd(sl_v a, sl_v b, sl_v c) { return _mm256_fnmadd_ps(a, b, c); }
static inline sl_v sl_v_fmsub(sl_v a, sl_v b, sl_v c) { return _mm256_fmsub_ps(a, b, c); }
/* x86 max/min: b when either is NaN, so max(c, x) keeps a NaN x. */
static inline sl_v sl_v_max(sl_v a, sl_v b) { return _mm256_max_ps(a, b); }
static inline sl_v sl_v_min(sl_v a, sl_v b) { return _mm256_min_ps(a, b); }
static inline sl_v sl_v_abs(sl_v a)
{
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a);
}
/* |a| with b's sign. */
static inline sl_v sl_v_copysign(sl_v a, sl_v b)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign, a), _mm256_and_ps(sign, b));
}
static inline sl_v sl_v_round(sl_v a)
{
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

static inline sl_m sl_v_lt(sl_v a, sl_v b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline sl_m sl_v_le(sl_v a, sl_v b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
static inline sl_m sl_v_gt(sl_v a, sl_v b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline sl_m sl_v_eq(sl_v a, sl_v b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline sl_m sl_v_isnan(sl_v a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
/* a > b, or either is NaN. */
static inline sl_m sl_v_gt_or_nan(sl_v a, sl_v b) { return _mm256_cmp_ps(a, b, _CMP_NLE_UQ); }
static inline sl_m sl_m_none(void) { return _mm256_setzero_ps(); }
static inline sl_m sl_m_or(sl_m a, sl_m b) { return _mm256_or_ps(a, b); }
static inline unsigned sl_m_bits(sl_m m) { return (unsigned)_mm256_movemask_ps(m); }
/* m ? a : b, lane by lane. */
static inline sl_v sl_v_select(sl_m m, sl_v a, sl_v b) { return _mm256_blendv_ps(b, a, m); }

/* Lanes [8h, 8h + 8) as an AVX vector (AVX2: h is 0). */
static inline __m256 sl_v_half(sl_v v, int h)
{
    (void)h;
    return v;
}

static inline float sl_v_hsum(sl_v v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lane-wise max/min of the lanes (no NaN in v: the callers check first). */
static inline float sl_v_hmax(sl_v v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float sl_v_hmin(sl_v v)
{
    __m128 s = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_min_ps(s, _mm_movehl_ps(s, s));
    s = _mm_min_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The lane sums of a, b, c, d: {sum a, sum b, sum c, sum d}. */
static inline __m128 sl_v_hsum4(sl_v a, sl_v b, sl_v c, sl_v d)
{
    __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* p * 2^n for integral n in [-150, 128]: two factors, each a normal power of
 * two, so the product rounds once even when it is subnormal or overflows. */
static inline sl_v sl_v_scale2(sl_v p, sl_v n)
{
    __m256i ni = _mm256_cvttps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* x = m * 2^e with m in [0.5, 1), for finite x > 0 (subnormals too). */
static inline sl_v sl_v_frexp(sl_v x, sl_v *e)
{
    /* Scale subnormals into the normal range first. */
    __m256 sub = _mm256_cmp_ps(x, _mm256_set1_ps(0x1p-126f), _CMP_LT_OQ);
    x = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(0x1p23f)), sub);
    __m256i bits = _mm256_castps_si256(x);
    __m256i ei = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126));
    *e = _mm256_sub_ps(_mm256_cvtepi32_ps(ei),
                       _mm256_and_ps(sub, _mm256_set1_ps(23.0f)));
    bits = _mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff));
    return _mm256_castsi256_ps(_mm256_or_si256(bits, _mm256_set1_epi32(0x3f000000)));
}

#endif
