/* f16.h - IEEE half and bfloat16 to f32, exactly (subnormals, inf, NaN). */
#ifndef SLUICE_F16_H
#define SLUICE_F16_H

#include <stdint.h>
#include <string.h>

static inline float sl_bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float sl_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) /* inf, NaN (payload kept) */
        return sl_bits_to_f32(sign | 0x7f800000u | man << 13);
    if (exp == 0) {
        if (man == 0)
            return sl_bits_to_f32(sign);
        /* subnormal: man * 2^-24, exact in f32 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return sl_bits_to_f32(sign | (exp + 112) << 23 | man << 13);
}

/* bfloat16 is the top half of an f32. */
static inline float sl_bf16_to_f32(uint16_t b)
{
    return sl_bits_to_f32((uint32_t)b << 16);
}

#endif
