/* test_f16.c - every F16 and BF16 bit pattern converts to the exact F32:
 * checked against an independent formula (ldexp of the integer
 * significand), with NaN payloads kept. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "f16.h"

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* IEEE binary16 by the definition: (-1)^s * 2^(e-15) * 1.m, or 2^-14 * 0.m. */
static uint32_t f16_reference(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f)
        return (uint32_t)sign << 31 | 0x7f800000u | (uint32_t)man << 13; /* inf, NaN payload */
    double v = exp == 0 ? ldexp(man, -24) : ldexp(1024 + man, exp - 25);
    return bits((float)(sign ? -v : v));
}

int main(void)
{
    int wrong16 = 0, wrongbf = 0;
    for (uint32_t h = 0; h <= 0xffff; h++) {
        if (bits(sl_f16_to_f32((uint16_t)h)) != f16_reference((uint16_t)h)) {
            if (wrong16++ < 10)
                printf("F16 0x%04x: got 0x%08x, want 0x%08x\n", h,
                       bits(sl_f16_to_f32((uint16_t)h)), f16_reference((uint16_t)h));
        }
        if (bits(sl_bf16_to_f32((uint16_t)h)) != h << 16)
            wrongbf++;
    }
    CHECK(wrong16 == 0);
    CHECK(wrongbf == 0);
    /* A few by value, to be sure the reference itself is right. */
    CHECK(sl_f16_to_f32(0x3c00) == 1.0f);
    CHECK(sl_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(sl_f16_to_f32(0x03ff) == 0x3ffp-24f);
    CHECK(sl_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(sl_f16_to_f32(0xfc00) == -INFINITY);
    CHECK(isnan(sl_f16_to_f32(0x7e00)));
    CHECK(sl_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(signbit(sl_f16_to_f32(0x8000)) && sl_f16_to_f32(0x8000) == 0);
    return check_report("test_f16");
}
