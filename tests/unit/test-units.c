/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/civil.h"
#include "common/units.h"

static void ml_converts_to_whole_nanolitres(void **state) {
        int64_t nl = -1;
        assert_int_equal(units_ml_to_nl(10.0, 0, INT64_MAX / 2, &nl), 0);
        assert_int_equal(nl, 10000000);
        assert_int_equal(units_ml_to_nl(0.1, 0, INT64_MAX / 2, &nl), 0);
        assert_int_equal(nl, 100000);
        /* 0.1 is not exact in binary: must still land on 100000, not 99999 */
        assert_int_equal(units_ml_to_nl(0.3, 0, INT64_MAX / 2, &nl), 0);
        assert_int_equal(nl, 300000);
}

static void non_finite_values_are_refused(void **state) {
        int64_t nl = 42;
        assert_int_equal(units_ml_to_nl(NAN, 0, 1000, &nl), -EDOM);
        assert_int_equal(units_ml_to_nl(INFINITY, 0, 1000, &nl), -EDOM);
        assert_int_equal(units_ml_to_nl(-INFINITY, 0, 1000, &nl), -EDOM);
        assert_int_equal(nl, 42);
}

static void out_of_range_values_are_refused_without_overflow(void **state) {
        int64_t nl = 42;
        assert_int_equal(units_ml_to_nl(-1.0, 0, 1000000, &nl), -ERANGE);
        assert_int_equal(units_ml_to_nl(1e300, 0, 1000000, &nl), -ERANGE);
        assert_int_equal(units_ml_to_nl(1.000001, 0, 1000000, &nl), -ERANGE);
        assert_int_equal(nl, 42);
        assert_int_equal(units_ml_to_nl(1.0, 0, 1000000, &nl), 0);
        assert_int_equal(nl, 1000000);
}

static void nanolitres_print_as_exact_millilitres(void **state) {
        static const struct { int64_t nl; const char *text; } cases[] = {
                { 0, "0" }, { 1, "0.000001" }, { 1500, "0.0015" }, { 25000000, "25" },
                { 1234567891, "1234.567891" }, { -1, "-0.000001" },
                { INT64_MAX, "9223372036854.775807" }, { INT64_MIN, "-9223372036854.775808" },
        };
        char buf[32];

        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                assert_int_equal(units_nl_to_ml_text(cases[i].nl, buf, sizeof buf), 0);
                assert_string_equal(buf, cases[i].text);
        }
        assert_int_equal(units_nl_to_ml_text(1234567891, buf, 8), -ENOBUFS);
}

/* Past 2038 and before 1970, as on a 32-bit time_t no gmtime_r could. */
static void utc_calendar_needs_no_time_t(void **state) {
        static const struct {
                int64_t utc_us;
                int64_t y;
                unsigned mo, d, h, mi, s, us;
        } cases[] = {
                { 0, 1970, 1, 1, 0, 0, 0, 0 },
                { INT64_C(1700000000123456), 2023, 11, 14, 22, 13, 20, 123456 },
                { INT64_C(2147483648) * 1000000, 2038, 1, 19, 3, 14, 8, 0 },
                { INT64_C(253402300799999999), 9999, 12, 31, 23, 59, 59, 999999 },
                { INT64_C(951782400) * 1000000, 2000, 2, 29, 0, 0, 0, 0 },
                { -1, 1969, 12, 31, 23, 59, 59, 999999 },
        };

        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                struct utc_civil c;
                civil_from_utc_us(cases[i].utc_us, &c);
                assert_int_equal(c.year, cases[i].y);
                assert_int_equal(c.month, cases[i].mo);
                assert_int_equal(c.day, cases[i].d);
                assert_int_equal(c.hour, cases[i].h);
                assert_int_equal(c.minute, cases[i].mi);
                assert_int_equal(c.second, cases[i].s);
                assert_int_equal(c.usec, cases[i].us);
                assert_int_equal(civil_days_from_date(c.year, c.month, c.day) * 86400 * US_PER_SEC +
                                 c.hour * US_PER_HOUR + c.minute * US_PER_MIN + c.second * US_PER_SEC + c.usec,
                                 cases[i].utc_us);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(ml_converts_to_whole_nanolitres),
                cmocka_unit_test(nanolitres_print_as_exact_millilitres),
                cmocka_unit_test(utc_calendar_needs_no_time_t),
                cmocka_unit_test(non_finite_values_are_refused),
                cmocka_unit_test(out_of_range_values_are_refused_without_overflow),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
