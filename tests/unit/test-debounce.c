/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hal/debounce.h"

static void a_clean_edge_is_reported_once_after_the_settle_time(void **state) {
        struct debounce d;
        int64_t deadline = 0;
        bool level = false;

        debounce_init(&d, 5000, false);
        assert_false(debounce_poll(&d, 0, &level, &deadline));
        assert_int_equal(deadline, INT64_MAX);

        assert_int_equal(debounce_edge(&d, 1000, true), 6000);
        assert_false(debounce_poll(&d, 5999, &level, &deadline));
        assert_int_equal(deadline, 6000);
        /* Not settled: the reported level is still the old one. */
        assert_false(d.stable);

        assert_true(debounce_poll(&d, 6000, &level, &deadline));
        assert_true(level);
        assert_true(d.stable);
        assert_int_equal(deadline, INT64_MAX);

        /* Once only. */
        assert_false(debounce_poll(&d, 60000, &level, &deadline));
        assert_int_equal(deadline, INT64_MAX);
}

static void each_edge_restarts_the_settle_timer(void **state) {
        struct debounce d;
        int64_t deadline = 0;
        bool level = false;

        debounce_init(&d, 5000, false);
        assert_int_equal(debounce_edge(&d, 1000, true), 6000);
        /* Back to the reported level: nothing pending. */
        assert_int_equal(debounce_edge(&d, 2000, false), INT64_MAX);
        assert_int_equal(debounce_edge(&d, 3000, true), 8000);

        /* 5 ms after the first edge, but only 3 ms after the last. */
        assert_false(debounce_poll(&d, 6000, &level, &deadline));
        assert_int_equal(deadline, 8000);
        assert_true(debounce_poll(&d, 8000, &level, &deadline));
        assert_true(level);
}

static void an_edge_seen_twice_at_one_level_still_restarts_the_timer(void **state) {
        struct debounce d;
        bool level = false;

        /* The kernel reads the level some µs after the interrupt: a bounce
         * shorter than that shows as two edges to the same level. */
        debounce_init(&d, 5000, false);
        assert_int_equal(debounce_edge(&d, 1000, true), 6000);
        assert_int_equal(debounce_edge(&d, 3000, true), 8000);
        assert_false(debounce_poll(&d, 6000, &level, NULL));
        assert_true(debounce_poll(&d, 8000, &level, NULL));
        assert_true(level);
}

static void a_bounce_back_to_the_reported_level_is_no_change(void **state) {
        struct debounce d;
        int64_t deadline = 0;
        bool level = true;

        debounce_init(&d, 5000, false);
        assert_int_equal(debounce_edge(&d, 1000, true), 6000);
        assert_int_equal(debounce_edge(&d, 1200, false), INT64_MAX);
        assert_int_equal(debounce_edge(&d, 1400, true), 6400);
        assert_int_equal(debounce_edge(&d, 1600, false), INT64_MAX);

        assert_false(debounce_poll(&d, 100000, &level, &deadline));
        assert_int_equal(deadline, INT64_MAX);
        assert_false(d.stable);
        /* *ret_level is written only on a change. */
        assert_true(level);
}

static void a_release_is_debounced_like_a_press(void **state) {
        struct debounce d;
        bool level = true;

        debounce_init(&d, 2000, true);
        debounce_edge(&d, 10000, false);
        debounce_edge(&d, 10100, true);
        debounce_edge(&d, 10300, false);
        assert_false(debounce_poll(&d, 12299, &level, NULL));
        assert_true(debounce_poll(&d, 12300, &level, NULL));
        assert_false(level);
        assert_false(d.stable);
}

static void zero_settle_reports_at_the_edge_itself(void **state) {
        struct debounce d;
        bool level = false;

        debounce_init(&d, 0, false);
        assert_int_equal(debounce_edge(&d, 777, true), 777);
        assert_true(debounce_poll(&d, 777, &level, NULL));
        assert_true(level);
}

static void a_deadline_near_the_end_of_time_does_not_wrap(void **state) {
        struct debounce d;

        debounce_init(&d, 5000, false);
        int64_t deadline = debounce_edge(&d, INT64_MAX - 10, true);
        assert_true(deadline > INT64_MAX - 11);
        assert_true(deadline < INT64_MAX);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(a_clean_edge_is_reported_once_after_the_settle_time),
                cmocka_unit_test(each_edge_restarts_the_settle_timer),
                cmocka_unit_test(an_edge_seen_twice_at_one_level_still_restarts_the_timer),
                cmocka_unit_test(a_bounce_back_to_the_reported_level_is_no_change),
                cmocka_unit_test(a_release_is_debounced_like_a_press),
                cmocka_unit_test(zero_settle_reports_at_the_edge_itself),
                cmocka_unit_test(a_deadline_near_the_end_of_time_does_not_wrap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
