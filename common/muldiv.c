/* SPDX-License-Identifier: MIT */
#include "common/muldiv.h"

#include <errno.h>
#include <stdbool.h>

struct u128 {
        uint64_t hi, lo;
};

/* Schoolbook on 32-bit halves: each partial product fits 64 bits. */
static struct u128 mul_u64(uint64_t a, uint64_t b) {
        uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
        uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
        uint64_t lo_lo = a_lo * b_lo;
        uint64_t hi_lo = a_hi * b_lo;
        uint64_t lo_hi = a_lo * b_hi;
        uint64_t hi_hi = a_hi * b_hi;
        uint64_t mid = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + (lo_hi & 0xffffffffu);

        return (struct u128) {
                .hi = hi_hi + (hi_lo >> 32) + (lo_hi >> 32) + (mid >> 32),
                .lo = (mid << 32) | (lo_lo & 0xffffffffu),
        };
}

/* n / d for d > 0 when the quotient fits 64 bits (n.hi < d): restoring
 * division, one bit at a time. The remainder stays below d; a carry out
 * of the shift means it is at least 2^64 > d. */
static bool div_u128(struct u128 n, uint64_t d, uint64_t *ret_q, uint64_t *ret_r) {
        if (n.hi >= d)
                return false;
        uint64_t q = 0, r = n.hi;
        for (int i = 63; i >= 0; i--) {
                uint64_t carry = r >> 63;
                r = (r << 1) | ((n.lo >> i) & 1);
                if (carry || r >= d) {
                        r -= d;
                        q |= UINT64_C(1) << i;
                }
        }
        *ret_q = q;
        *ret_r = r;
        return true;
}

static int muldiv(int64_t a, int64_t b, int64_t c, bool round_up, int64_t *ret) {
        uint64_t q, r;

        if (a < 0 || b < 0 || c <= 0)
                return -EINVAL;
        if (!div_u128(mul_u64((uint64_t) a, (uint64_t) b), (uint64_t) c, &q, &r))
                return -ERANGE;
        if (round_up && r > 0)
                q++;
        if (q > (uint64_t) INT64_MAX)
                return -ERANGE;
        *ret = (int64_t) q;
        return 0;
}

int muldiv_floor(int64_t a, int64_t b, int64_t c, int64_t *ret) {
        return muldiv(a, b, c, false, ret);
}

int muldiv_ceil(int64_t a, int64_t b, int64_t c, int64_t *ret) {
        return muldiv(a, b, c, true, ret);
}

/* |x| as unsigned: right for INT64_MIN too. */
static uint64_t magnitude(int64_t x) {
        return x < 0 ? -(uint64_t) x : (uint64_t) x;
}

static int sign(int64_t x) {
        return (x > 0) - (x < 0);
}

static int cmp_u128(struct u128 x, struct u128 y) {
        if (x.hi != y.hi)
                return x.hi < y.hi ? -1 : 1;
        if (x.lo != y.lo)
                return x.lo < y.lo ? -1 : 1;
        return 0;
}

int mul_cmp(int64_t a, int64_t b, int64_t c, int64_t d) {
        int s1 = sign(a) * sign(b), s2 = sign(c) * sign(d);

        if (s1 != s2)
                return s1 < s2 ? -1 : 1;
        if (s1 == 0)
                return 0;
        int m = cmp_u128(mul_u64(magnitude(a), magnitude(b)), mul_u64(magnitude(c), magnitude(d)));
        /* Both negative: the larger magnitude is the smaller number. */
        return s1 > 0 ? m : -m;
}
