/* simd_math.h - vector exp, log, tanh, sigmoid and the two GELUs, written
 * once over the sl_v vocabulary (include a simd_*.h mapping first).
 *
 * Polynomials are Cephes' single-precision ones (S. Moshier) except the
 * erfc in GELU (Numerical Recipes' erfcc, fractional error < 1.2e-7).  NaN
 * in gives NaN out.  Measured errors against double-precision libm are in
 * docs/kernels.md; test/runtime-kernels checks them. */
#ifndef SLUICE_SIMD_MATH_H
#define SLUICE_SIMD_MATH_H

#define SL_K_LOG2E 1.44269504088896341f
#define SL_K_LN2_HI 0.693359375f        /* 9 bits: n * LN2_HI is exact */
#define SL_K_LN2_LO -2.12194440e-4f     /* ln 2 - LN2_HI */

/* e^r for |r| <= ln2/2 (Cephes expf). */
static inline sl_v sl_v_exp_poly(sl_v r)
{
    sl_v p = sl_v_set1(1.9875691500e-4f);
    p = sl_v_fmadd(p, r, sl_v_set1(1.3981999507e-3f));
    p = sl_v_fmadd(p, r, sl_v_set1(8.3334519073e-3f));
    p = sl_v_fmadd(p, r, sl_v_set1(4.1665795894e-2f));
    p = sl_v_fmadd(p, r, sl_v_set1(1.6666665459e-1f));
    p = sl_v_fmadd(p, r, sl_v_set1(5.0000001201e-1f));
    p = sl_v_fmadd(p, sl_v_mul(r, r), r);
    return sl_v_add(p, sl_v_set1(1.0f));
}

/* e^x = 2^n e^r, r = x - n ln2.  Clamping to [-104, 89] keeps n in
 * sl_v_scale2's range; results past it round to 0 or overflow to inf there.
 * max(c, x)/min(c, x) return a NaN x unchanged. */
static inline sl_v sl_v_exp(sl_v x)
{
    x = sl_v_min(sl_v_set1(89.0f), x);
    x = sl_v_max(sl_v_set1(-104.0f), x);
    sl_v n = sl_v_round(sl_v_mul(x, sl_v_set1(SL_K_LOG2E)));
    sl_v r = sl_v_fnmadd(n, sl_v_set1(SL_K_LN2_HI), x);
    r = sl_v_fnmadd(n, sl_v_set1(SL_K_LN2_LO), r);
    return sl_v_scale2(sl_v_exp_poly(r), n);
}

/* e^(a + b) for a float a of any size and a small correction b (|b| < ~2),
 * without rounding a + b: a - n ln2_hi is exact, and b joins the reduced
 * argument.  0 when a + b < -104. */
static inline sl_v sl_v_exp2(sl_v a, sl_v b)
{
    sl_v s = sl_v_max(sl_v_set1(-104.0f), sl_v_min(sl_v_set1(89.0f), sl_v_add(a, b)));
    sl_v n = sl_v_round(sl_v_mul(s, sl_v_set1(SL_K_LOG2E)));
    sl_v r = sl_v_add(sl_v_fnmadd(n, sl_v_set1(SL_K_LN2_HI), a), b);
    r = sl_v_fnmadd(n, sl_v_set1(SL_K_LN2_LO), r);
    sl_v e = sl_v_scale2(sl_v_exp_poly(r), n);
    return sl_v_select(sl_v_lt(sl_v_add(a, b), sl_v_set1(-104.0f)), sl_v_zero(), e);
}

/* e^(a + b) 2^k for a <= 0 and integral k in [0, 64]: a result that would
 * be subnormal stays normal, to be scaled back after further products. */
static inline sl_v sl_v_exp2_up(sl_v a, sl_v b, sl_v k)
{
    sl_v s = sl_v_max(sl_v_set1(-104.0f), sl_v_min(sl_v_zero(), sl_v_add(a, b)));
    sl_v n = sl_v_round(sl_v_mul(s, sl_v_set1(SL_K_LOG2E)));
    sl_v r = sl_v_add(sl_v_fnmadd(n, sl_v_set1(SL_K_LN2_HI), a), b);
    r = sl_v_fnmadd(n, sl_v_set1(SL_K_LN2_LO), r);
    sl_v e = sl_v_scale2(sl_v_exp_poly(r), sl_v_add(n, k));
    return sl_v_select(sl_v_lt(sl_v_add(a, b), sl_v_set1(-104.0f)), sl_v_zero(), e);
}

/* Cephes logf: x = m 2^e with m in [sqrt(1/2), sqrt 2), log x = e ln2 +
 * log1p(m - 1) by a polynomial.  log 0 = -inf, log inf = inf, log(<0) = NaN. */
static inline sl_v sl_v_log(sl_v x)
{
    sl_v e;
    sl_v m = sl_v_frexp(x, &e);
    sl_m small = sl_v_lt(m, sl_v_set1(0.707106781186547524f));
    /* m < sqrt(1/2): use 2m - 1 and e - 1. */
    e = sl_v_select(small, sl_v_sub(e, sl_v_set1(1.0f)), e);
    m = sl_v_sub(sl_v_select(small, sl_v_add(m, m), m), sl_v_set1(1.0f));
    sl_v z = sl_v_mul(m, m);
    sl_v p = sl_v_set1(7.0376836292e-2f);
    p = sl_v_fmadd(p, m, sl_v_set1(-1.1514610310e-1f));
    p = sl_v_fmadd(p, m, sl_v_set1(1.1676998740e-1f));
    p = sl_v_fmadd(p, m, sl_v_set1(-1.2420140846e-1f));
    p = sl_v_fmadd(p, m, sl_v_set1(1.4249322787e-1f));
    p = sl_v_fmadd(p, m, sl_v_set1(-1.6668057665e-1f));
    p = sl_v_fmadd(p, m, sl_v_set1(2.0000714765e-1f));
    p = sl_v_fmadd(p, m, sl_v_set1(-2.4999993993e-1f));
    p = sl_v_fmadd(p, m, sl_v_set1(3.3333331174e-1f));
    sl_v y = sl_v_mul(sl_v_mul(p, m), z);
    y = sl_v_fmadd(e, sl_v_set1(SL_K_LN2_LO), y);
    y = sl_v_fnmadd(sl_v_set1(0.5f), z, y);
    sl_v r = sl_v_add(m, y);
    r = sl_v_fmadd(e, sl_v_set1(SL_K_LN2_HI), r);
    /* The special cases, last so they override whatever the lanes held. */
    r = sl_v_select(sl_v_eq(x, sl_v_set1(__builtin_inff())), x, r);
    r = sl_v_select(sl_v_eq(x, sl_v_zero()), sl_v_set1(-__builtin_inff()), r);
    r = sl_v_select(sl_v_lt(x, sl_v_zero()), sl_v_set1(__builtin_nanf("")), r);
    return sl_v_select(sl_v_isnan(x), x, r);
}

/* Cephes tanhf: an odd polynomial below 0.625, else 1 - 2 / (e^2|x| + 1). */
static inline sl_v sl_v_tanh(sl_v x)
{
    sl_v a = sl_v_abs(x);
    sl_v s = sl_v_mul(x, x);
    sl_v p = sl_v_set1(-5.70498872745e-3f);
    p = sl_v_fmadd(p, s, sl_v_set1(2.06390887954e-2f));
    p = sl_v_fmadd(p, s, sl_v_set1(-5.37397155531e-2f));
    p = sl_v_fmadd(p, s, sl_v_set1(1.33314422036e-1f));
    p = sl_v_fmadd(p, s, sl_v_set1(-3.33332819422e-1f));
    sl_v small = sl_v_fmadd(sl_v_mul(p, s), x, x);
    sl_v e = sl_v_exp(sl_v_add(a, a));
    sl_v big = sl_v_sub(sl_v_set1(1.0f),
                        sl_v_div(sl_v_set1(2.0f), sl_v_add(e, sl_v_set1(1.0f))));
    big = sl_v_copysign(big, x);
    return sl_v_select(sl_v_lt(a, sl_v_set1(0.625f)), small, big);
}

/* 1 / (1 + e^-x), as e^x / (1 + e^x) for x < 0 so e^-|x| never overflows
 * and tiny results keep their precision. */
static inline sl_v sl_v_sigmoid(sl_v x)
{
    sl_v e = sl_v_exp(sl_v_sub(sl_v_zero(), sl_v_abs(x)));
    sl_v s = sl_v_div(sl_v_set1(1.0f), sl_v_add(sl_v_set1(1.0f), e));
    return sl_v_select(sl_v_lt(x, sl_v_zero()), sl_v_mul(e, s), s);
}

/* GELU, erf form: x Phi(x), Phi(x) = (1 + erf(x/sqrt2)) / 2 = erfc(-x/sqrt2) / 2.
 *   |x| < 0.5:  Phi = 1/2 + x h(x^2) / 2, h(w) = erf(sqrt(w/2)) / sqrt(w);
 *   |x| >= 0.5: E = erfc(|x|/sqrt2) = t g(t) e^(-x^2/2), t = 1 / (1 + |x|/2),
 *               Phi = E/2 for x < 0 and 1 - E/2 for x > 0 (no cancellation).
 * h and g are Chebyshev interpolants fitted for this file (h on x^2 in
 * [0, 0.25], g on t in [0.121, 0.8], i.e. |x| in [0.5, 14.5]; both below
 * 2^-24 relative error before rounding).  x^2/2 enters the exponential as
 * hi + lo, so large |x| loses nothing to its rounding.  docs/kernels.md. */
static inline sl_v sl_v_gelu(sl_v x)
{
    sl_v half = sl_v_set1(0.5f);
    sl_v w = sl_v_mul(x, x);
    sl_v h = sl_v_set1(2.193948167e-04f);
    h = sl_v_fmadd(h, w, sl_v_set1(-2.372169169e-03f));
    h = sl_v_fmadd(h, w, sl_v_set1(1.994689368e-02f));
    h = sl_v_fmadd(h, w, sl_v_set1(-1.329807490e-01f));
    h = sl_v_fmadd(h, w, sl_v_set1(7.978845835e-01f));
    sl_v hx = sl_v_mul(half, x);
    sl_v near0 = sl_v_fmadd(hx, sl_v_mul(x, h), hx);

    sl_v xc = sl_v_max(sl_v_set1(-20.0f), sl_v_min(sl_v_set1(20.0f), x));
    sl_v a = sl_v_abs(xc), ha = sl_v_mul(half, a);
    /* t = 1/(1 + a/2) rounds twice; G = t g(t) magnifies that error up to
     * ~2.5x, so its first-order effect is put back below: 1 + a/2 = d +
     * d_lo exactly, and t (1 + delta) = 1/(d + d_lo). */
    sl_v d = sl_v_add(ha, sl_v_set1(1.0f));
    sl_v d_lo = sl_v_sub(ha, sl_v_sub(d, sl_v_set1(1.0f)));
    sl_v t = sl_v_div(sl_v_set1(1.0f), d);
    sl_v delta = sl_v_fnmadd(d_lo, t, sl_v_fnmadd(t, d, sl_v_set1(1.0f)));
    sl_v u = sl_v_sub(t, sl_v_set1(4.606060684e-01f));
    sl_v g = sl_v_set1(4.116727412e-02f);
    g = sl_v_fmadd(g, u, sl_v_set1(1.661762744e-01f));
    g = sl_v_fmadd(g, u, sl_v_set1(-1.790182590e-01f));
    g = sl_v_fmadd(g, u, sl_v_set1(-8.028373867e-02f));
    g = sl_v_fmadd(g, u, sl_v_set1(2.409570068e-01f));
    g = sl_v_fmadd(g, u, sl_v_set1(-5.285041034e-02f));
    g = sl_v_fmadd(g, u, sl_v_set1(-2.890841365e-01f));
    g = sl_v_fmadd(g, u, sl_v_set1(1.497033983e-01f));
    g = sl_v_fmadd(g, u, sl_v_set1(6.523702741e-01f));
    g = sl_v_fmadd(g, u, sl_v_set1(6.464940310e-01f));
    sl_v sq = sl_v_mul(xc, xc);
    sl_v sq_lo = sl_v_fmsub(xc, xc, sq); /* xc^2 = sq + sq_lo exactly */
    sl_v e = sl_v_exp2(sl_v_mul(sl_v_sub(sl_v_zero(), sq), half),
                       sl_v_mul(sl_v_sub(sl_v_zero(), sq_lo), half));
    /* G(a) = erfcx(a/sqrt2): d ln G / da = a - sqrt(2/pi) / G, and the true
     * a is the computed one plus -2 delta / t = -2 delta d.  (An exact
     * division, not a reciprocal estimate: those differ between ISAs, and
     * the levels should agree bit for bit.) */
    sl_v G = sl_v_mul(t, g);
    sl_v slope = sl_v_sub(a, sl_v_div(sl_v_set1(0.797884561f), G));
    sl_v corr = sl_v_mul(slope, sl_v_mul(sl_v_set1(-2.0f), sl_v_mul(delta, d)));
    /* e last where the result is tiny, so no factor goes subnormal early. */
    sl_v htg = sl_v_mul(sl_v_fmadd(G, corr, G), half);
    sl_v far = sl_v_select(sl_v_lt(xc, sl_v_zero()), sl_v_mul(sl_v_mul(x, htg), e),
                           sl_v_mul(x, sl_v_fnmadd(htg, e, sl_v_set1(1.0f))));
    return sl_v_select(sl_v_lt(sl_v_abs(x), half), near0, far);
}

/* a + b = s + err exactly (Knuth's TwoSum, any magnitudes). */
static inline sl_v sl_v_two_sum(sl_v a, sl_v b, sl_v *err)
{
    sl_v s = sl_v_add(a, b);
    sl_v bv = sl_v_sub(s, a), av = sl_v_sub(s, bv);
    *err = sl_v_add(sl_v_sub(a, av), sl_v_sub(b, bv));
    return s;
}

/* GELU, tanh form: 0.5 x (1 + tanh u) = x sigmoid(2u), with 2u = x (c1 +
 * c2 x^2), c1 = 2 sqrt(2/pi), c2 = 0.044715 c1.  The sigmoid form does not
 * cancel for x << 0; there the result is about e^2u, whose relative error
 * is |2u| times that of 2u, so 2u is carried as hi + lo (constants too)
 * into the exponential. */
static inline sl_v sl_v_gelu_tanh(sl_v x)
{
    const float c1 = 1.59576916695f, c1_lo = -4.53406805e-08f;
    const float c2 = 0.0713548138738f, c2_lo = 2.39883247e-09f;
    sl_v xc = sl_v_max(sl_v_set1(-20.0f), sl_v_min(sl_v_set1(20.0f), x));
    sl_v p = sl_v_mul(xc, xc);
    sl_v p_lo = sl_v_fmsub(xc, xc, p);
    sl_v m = sl_v_mul(sl_v_set1(c2), p);
    sl_v m_lo = sl_v_fmsub(sl_v_set1(c2), p, m);
    sl_v v_lo;
    sl_v v = sl_v_two_sum(sl_v_set1(c1), m, &v_lo);
    v_lo = sl_v_add(v_lo, sl_v_add(m_lo, sl_v_set1(c1_lo)));
    v_lo = sl_v_fmadd(sl_v_set1(c2), p_lo, v_lo);
    v_lo = sl_v_fmadd(sl_v_set1(c2_lo), p, v_lo);
    sl_v u = sl_v_mul(xc, v);
    sl_v u_lo = sl_v_fmadd(xc, v_lo, sl_v_fmsub(xc, v, u));
    /* e = e^(-|u + u_lo|), then sigmoid as in sl_v_sigmoid.  For u < 0 the
     * result is x e s, which can be normal while e is not: e is made 2^64
     * too large there, and the last product scales it back (one rounding). */
    sl_m neg = sl_v_lt(u, sl_v_zero());
    sl_v up = sl_v_select(neg, sl_v_set1(64.0f), sl_v_zero());
    sl_v eu = sl_v_exp2_up(sl_v_sub(sl_v_zero(), sl_v_abs(u)),
                           sl_v_select(neg, u_lo, sl_v_sub(sl_v_zero(), u_lo)), up);
    sl_v e = sl_v_mul(eu, sl_v_select(neg, sl_v_set1(0x1p-64f), sl_v_set1(1.0f)));
    sl_v s = sl_v_div(sl_v_set1(1.0f), sl_v_add(sl_v_set1(1.0f), e));
    sl_v xs = sl_v_mul(x, s);
    return sl_v_select(neg, sl_v_mul(sl_v_mul(xs, eu), sl_v_set1(0x1p-64f)), xs);
}

#endif
