/* SPDX-License-Identifier: MIT */
/* Exact 128-bit intermediates without __int128 (32-bit Arm has none):
 * fixed cases with known answers, and where the host has __int128, a
 * randomised comparison against it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/muldiv.h"

static void products_beyond_64_bits_divide_exactly(void **state) {
        int64_t v;

        /* 2.5 L in nL times an hour in µs: 9e21, far past int64. */
        assert_int_equal(muldiv_floor(INT64_C(2500000000), INT64_C(3600000000), INT64_C(3600000000), &v), 0);
        assert_int_equal(v, INT64_C(2500000000));
        assert_int_equal(muldiv_floor(INT64_MAX, INT64_MAX, INT64_MAX, &v), 0);
        assert_int_equal(v, INT64_MAX);
        /* 1 mL at 60 mL/h: 60 s exactly, and one nL more rounds up by a µs. */
        assert_int_equal(muldiv_ceil(1000000, INT64_C(3600000000), 60000000, &v), 0);
        assert_int_equal(v, 60000000);
        assert_int_equal(muldiv_ceil(1000001, INT64_C(3600000000), 60000000, &v), 0);
        assert_int_equal(v, 60000060);
        assert_int_equal(muldiv_floor(1000001, INT64_C(3600000000), 60000000, &v), 0);
        assert_int_equal(v, 60000060);
        assert_int_equal(muldiv_ceil(7, 3, 2, &v), 0);
        assert_int_equal(v, 11);
        assert_int_equal(muldiv_floor(7, 3, 2, &v), 0);
        assert_int_equal(v, 10);
        assert_int_equal(muldiv_ceil(0, INT64_MAX, 1, &v), 0);
        assert_int_equal(v, 0);
}

static void results_past_int64_and_bad_operands_are_refused(void **state) {
        int64_t v = 42;

        assert_int_equal(muldiv_floor(INT64_MAX, 2, 1, &v), -ERANGE);
        assert_int_equal(muldiv_floor(INT64_MAX, INT64_MAX, 1, &v), -ERANGE);
        /* Exactly INT64_MAX fits; rounding up past it does not. */
        assert_int_equal(muldiv_ceil(INT64_MAX, 2, 2, &v), 0);
        assert_int_equal(v, INT64_MAX);
        v = 42;
        assert_int_equal(muldiv_floor(-1, 2, 3, &v), -EINVAL);
        assert_int_equal(muldiv_floor(1, -2, 3, &v), -EINVAL);
        assert_int_equal(muldiv_floor(1, 2, 0, &v), -EINVAL);
        assert_int_equal(muldiv_floor(1, 2, -3, &v), -EINVAL);
        assert_int_equal(v, 42);
}

static void comparisons_of_products_are_exact_with_signs(void **state) {
        assert_int_equal(mul_cmp(INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX - 1), 1);
        assert_int_equal(mul_cmp(INT64_MAX, INT64_MAX - 1, INT64_MAX, INT64_MAX), -1);
        assert_int_equal(mul_cmp(INT64_MIN, 1, INT64_MIN + 1, 1), -1);
        assert_int_equal(mul_cmp(INT64_MIN, -1, INT64_MAX, 1), 1);      /* 2^63 > 2^63 - 1 */
        assert_int_equal(mul_cmp(-3, 4, 2, -6), 0);
        assert_int_equal(mul_cmp(-3, 4, 0, 5), -1);
        assert_int_equal(mul_cmp(0, 5, 0, -9), 0);
        assert_int_equal(mul_cmp(-INT64_C(3000000000), INT64_C(3600000000), -INT64_C(2000000000), INT64_C(3600000000)), -1);
}

#ifdef __SIZEOF_INT128__
/* splitmix64: every bit of every draw is good, unlike an LCG's low bits. */
static uint64_t next(uint64_t *state) {
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static int64_t any_int64(uint64_t *r) {
        /* Mostly full-width, sometimes small: the carries live at both ends. */
        uint64_t bits = next(r);
        if (bits % 4 == 0)
                bits >>= (next(r) % 64);
        return (int64_t) bits;
}

static void agrees_with_int128_on_a_million_random_operands(void **state) {
        uint64_t r = 20261124;

        for (int i = 0; i < 1000000; i++) {
                int64_t a = any_int64(&r), b = any_int64(&r), c = any_int64(&r), d = any_int64(&r);
                __int128 x = (__int128) a * b, y = (__int128) c * d;
                assert_int_equal(mul_cmp(a, b, c, d), (x > y) - (x < y));

                int64_t pa = a < 0 ? -(a + 1) : a, pb = b < 0 ? -(b + 1) : b, pc = c == 0 || c == INT64_MIN ? 1 : c < 0 ? -c : c;
                __int128 q = (__int128) pa * pb / pc, rem = (__int128) pa * pb % pc;
                int64_t v;
                int rf = muldiv_floor(pa, pb, pc, &v);
                if (q > INT64_MAX)
                        assert_int_equal(rf, -ERANGE);
                else {
                        assert_int_equal(rf, 0);
                        assert_true(v == (int64_t) q);
                }
                __int128 qc = q + (rem != 0);
                int rc = muldiv_ceil(pa, pb, pc, &v);
                if (qc > INT64_MAX)
                        assert_int_equal(rc, -ERANGE);
                else {
                        assert_int_equal(rc, 0);
                        assert_true(v == (int64_t) qc);
                }
        }
}
#endif

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(products_beyond_64_bits_divide_exactly),
                cmocka_unit_test(results_past_int64_and_bad_operands_are_refused),
                cmocka_unit_test(comparisons_of_products_are_exact_with_signs),
#ifdef __SIZEOF_INT128__
                cmocka_unit_test(agrees_with_int128_on_a_million_random_operands),
#endif
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
