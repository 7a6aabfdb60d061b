/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(ml_converts_to_whole_nanolitres),
                cmocka_unit_test(non_finite_values_are_refused),
                cmocka_unit_test(out_of_range_values_are_refused_without_overflow),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
