/* SPDX-License-Identifier: MIT */
/* How many access refusals are audited one by one (daemon/denial-limit.c),
 * on a clock the test moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/denial-limit.h"

#define S(x) ((int64_t) (x) * 1000000LL)

struct reports {
        unsigned n;
        int64_t uid[64];
        unsigned not_audited[64];
};

static void record(int64_t uid, unsigned not_audited, int64_t window_us, void *userdata) {
        struct reports *r = userdata;
        assert_int_equal(window_us, DENIAL_AUDIT_WINDOW_US);
        assert_true(r->n < 64);
        r->uid[r->n] = uid;
        r->not_audited[r->n] = not_audited;
        r->n++;
}

static unsigned admit_n(struct denial_limit *d, int64_t uid, int64_t now_us, unsigned n) {
        unsigned audited = 0;
        for (unsigned i = 0; i < n; i++)
                audited += denial_limit_admit(d, uid, now_us);
        return audited;
}

static void a_flood_is_audited_up_to_the_burst_then_counted_and_reported_once(void **state) {
        struct reports r = {};
        struct denial_limit d;
        denial_limit_init(&d, record, &r);

        assert_int_equal(admit_n(&d, 1000, S(5), 1000), DENIAL_AUDIT_BURST);
        assert_int_equal(r.n, 0);
        /* The flush says when the window ends, and reports nothing before. */
        assert_int_equal(denial_limit_flush(&d, S(6)), S(5) + DENIAL_AUDIT_WINDOW_US);
        assert_int_equal(r.n, 0);
        assert_int_equal(denial_limit_flush(&d, S(5) + DENIAL_AUDIT_WINDOW_US), 0);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.uid[0], 1000);
        assert_int_equal(r.not_audited[0], 1000 - DENIAL_AUDIT_BURST);
        /* A new window audits again. */
        assert_int_equal(admit_n(&d, 1000, S(70), 3), 3);
        assert_int_equal(denial_limit_flush(&d, S(200)), 0);
        assert_int_equal(r.n, 1);       /* nothing went unaudited: no row */
}

static void callers_are_limited_apart(void **state) {
        struct reports r = {};
        struct denial_limit d;
        denial_limit_init(&d, record, &r);

        assert_int_equal(admit_n(&d, 1000, S(0), DENIAL_AUDIT_BURST + 5), DENIAL_AUDIT_BURST);
        /* Another caller's refusals are audited whatever the first did. */
        assert_int_equal(admit_n(&d, 1001, S(1), DENIAL_AUDIT_BURST), DENIAL_AUDIT_BURST);
        assert_false(denial_limit_admit(&d, 1001, S(2)));
        denial_limit_flush(&d, S(100));
        assert_int_equal(r.n, 2);
        assert_int_equal(r.not_audited[0] + r.not_audited[1], 5 + 1);
}

static void a_window_that_ended_unflushed_is_reported_at_the_next_refusal(void **state) {
        struct reports r = {};
        struct denial_limit d;
        denial_limit_init(&d, record, &r);

        admit_n(&d, 7, S(0), DENIAL_AUDIT_BURST + 2);
        /* No flush ran (a timer late): the next refusal ends the window,
         * reports it and audits itself in a new one. */
        assert_true(denial_limit_admit(&d, 7, S(61)));
        assert_int_equal(r.n, 1);
        assert_int_equal(r.not_audited[0], 2);
}

static void more_callers_than_slots_report_the_oldest_rather_than_lose_it(void **state) {
        struct reports r = {};
        struct denial_limit d;
        denial_limit_init(&d, record, &r);

        admit_n(&d, 1, S(0), DENIAL_AUDIT_BURST + 9);
        for (int64_t uid = 2; uid < 2 + DENIAL_LIMIT_SLOTS; uid++)
                assert_true(denial_limit_admit(&d, uid, S(1)));
        /* uid 1's window was the oldest: evicted, its 9 reported. */
        assert_int_equal(r.n, 1);
        assert_int_equal(r.uid[0], 1);
        assert_int_equal(r.not_audited[0], 9);
        /* uid 1 comes back with a fresh window. */
        assert_true(denial_limit_admit(&d, 1, S(2)));
}

static void at_shutdown_every_pending_count_is_reported(void **state) {
        struct reports r = {};
        struct denial_limit d;
        denial_limit_init(&d, record, &r);

        admit_n(&d, 1, S(0), DENIAL_AUDIT_BURST + 4);
        admit_n(&d, 2, S(30), DENIAL_AUDIT_BURST + 1);
        admit_n(&d, 3, S(30), 1);
        assert_int_equal(denial_limit_flush(&d, INT64_MAX), 0);
        assert_int_equal(r.n, 2);       /* uid 3 lost nothing: no row */
        assert_int_equal(r.not_audited[0] + r.not_audited[1], 5);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(a_flood_is_audited_up_to_the_burst_then_counted_and_reported_once),
                cmocka_unit_test(callers_are_limited_apart),
                cmocka_unit_test(a_window_that_ended_unflushed_is_reported_at_the_next_refusal),
                cmocka_unit_test(more_callers_than_slots_report_the_oldest_rather_than_lose_it),
                cmocka_unit_test(at_shutdown_every_pending_count_is_reported),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
