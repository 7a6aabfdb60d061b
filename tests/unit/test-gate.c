/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/units.h"
#include "safety/gate.h"

static const struct gate_limits lim = {
        .max_rate_nl_per_h = 1200 * NL_PER_ML,
        .min_step_interval_us = 200,
        .lease_us = 500 * US_PER_MS,
};

/* 100 mL/h with 173656 pL steps: one step every 6251.6 µs. */
static struct gate_request running_request(void) {
        return (struct gate_request) {
                .generation = 7,
                .delivering = true,
                .rate_nl_per_h = 100 * NL_PER_ML,
                .pl_per_step = 173656,
                .steps_taken = 1000,
                .phase_volume_nl = 173656,
                .phase_limit_nl = 10 * NL_PER_ML,
        };
}

static void refusal_allows_no_further_step(enum gate_refusal why, const struct gate_request *req,
                                           const struct lease *l) {
        assert_int_not_equal(why, GATE_GRANTED);
        assert_int_equal(l->step_limit, req->steps_taken);
        assert_false(lease_allows_step(l, req->steps_taken, 1000));
}

static void lease_covers_the_rate_over_its_length_plus_one_step(void **state) {
        struct gate_request req = running_request();
        struct lease l;
        assert_int_equal(gate_grant(&lim, &req, 1000, &l), GATE_GRANTED);
        assert_int_equal(l.generation, 7);
        assert_int_equal(l.expires_us, 1000 + 500 * US_PER_MS);
        /* 500000 / 6251 = 79, plus the one step that may fall due */
        assert_int_equal(l.step_limit, 1000 + 80);
        assert_true(lease_allows_step(&l, 1079, 1000));
        assert_false(lease_allows_step(&l, 1080, 1000));
        assert_false(lease_allows_step(&l, 1000, l.expires_us));
}

static void no_motion_outside_running_or_kvo(void **state) {
        struct gate_request req = running_request();
        struct lease l;
        req.delivering = false;
        enum gate_refusal why = gate_grant(&lim, &req, 1000, &l);
        assert_int_equal(why, GATE_NOT_DELIVERING);
        refusal_allows_no_further_step(why, &req, &l);
}

static void halting_alarm_blocks_motion(void **state) {
        struct gate_request req = running_request();
        struct lease l;
        req.halting_alarm = true;
        enum gate_refusal why = gate_grant(&lim, &req, 1000, &l);
        assert_int_equal(why, GATE_HALTING_ALARM);
        refusal_allows_no_further_step(why, &req, &l);
}

static void rate_above_the_device_maximum_is_refused(void **state) {
        struct gate_request req = running_request();
        struct lease l;
        req.rate_nl_per_h = 1200 * NL_PER_ML + 1;
        enum gate_refusal why = gate_grant(&lim, &req, 1000, &l);
        assert_int_equal(why, GATE_RATE_ABOVE_MAX);
        refusal_allows_no_further_step(why, &req, &l);
        req.rate_nl_per_h = 0;
        assert_int_equal(gate_grant(&lim, &req, 1000, &l), GATE_RATE_INVALID);
}

static void steps_faster_than_the_mechanism_allows_are_refused(void **state) {
        struct gate_limits strict = lim;
        struct gate_request req = running_request();
        struct lease l;
        strict.min_step_interval_us = 7000; /* 100 mL/h needs 6251 µs */
        enum gate_refusal why = gate_grant(&strict, &req, 1000, &l);
        assert_int_equal(why, GATE_STEP_TOO_FAST);
        refusal_allows_no_further_step(why, &req, &l);
}

static void lease_never_reaches_past_the_vtbi(void **state) {
        struct gate_request req = running_request();
        struct lease l;
        /* 3 steps' worth left: 3 * 173656 pL = 520968 pL; give 521000 nL */
        req.phase_volume_nl = req.phase_limit_nl - 521;
        assert_int_equal(gate_grant(&lim, &req, 1000, &l), GATE_GRANTED);
        assert_int_equal(l.step_limit, req.steps_taken + 3);
        /* 0.5 step left: nothing */
        req.phase_volume_nl = req.phase_limit_nl - 90;
        enum gate_refusal why = gate_grant(&lim, &req, 1000, &l);
        assert_int_equal(why, GATE_VOLUME_LIMIT_REACHED);
        refusal_allows_no_further_step(why, &req, &l);
        req.phase_volume_nl = req.phase_limit_nl;
        assert_int_equal(gate_grant(&lim, &req, 1000, &l), GATE_VOLUME_LIMIT_REACHED);
}

static void kvo_phase_has_no_volume_cap_but_keeps_the_rate_bound(void **state) {
        struct gate_request req = running_request();
        struct lease l;
        req.rate_nl_per_h = NL_PER_ML;          /* 1 mL/h: 625 ms per step */
        req.phase_limit_nl = INT64_MAX;
        req.phase_volume_nl = 500 * NL_PER_ML;
        assert_int_equal(gate_grant(&lim, &req, 1000, &l), GATE_GRANTED);
        /* a step interval is longer than the lease: exactly one step */
        assert_int_equal(l.step_limit, req.steps_taken + 1);
}

static void relief_is_allowed_through_a_halting_alarm_but_capped_in_volume(void **state) {
        struct gate_limits relief_lim = lim;
        struct lease l;
        relief_lim.max_relief_nl = 500000;      /* 0.5 mL */
        int64_t pl = 173661;
        int64_t cap_steps = 500000LL * 1000 / pl;

        /* Asked for less than the cap: granted up to what was asked, no more
         * than the rate allows over one lease. */
        assert_int_equal(gate_grant_relief(&relief_lim, 7, 300000000, pl, 0, 100, 1000, &l), GATE_GRANTED);
        assert_int_equal(l.generation, 7);
        assert_true(l.step_limit <= 100);
        assert_true(l.step_limit > 0);
        assert_int_equal(l.expires_us, 1000 + relief_lim.lease_us);

        /* Asked for more than the cap: the total never passes the cap. */
        int64_t taken = 0;
        for (int i = 0; i < 100000 && gate_grant_relief(&relief_lim, 7, 300000000, pl, taken, 1000000, 0, &l) == GATE_GRANTED; i++)
                taken = l.step_limit;
        assert_int_equal(taken, cap_steps);
        assert_int_equal(gate_grant_relief(&relief_lim, 7, 300000000, pl, taken, 1000000, 0, &l), GATE_VOLUME_LIMIT_REACHED);
        assert_int_equal(l.step_limit, taken);

        /* The rate limits hold for relief too. */
        assert_int_equal(gate_grant_relief(&relief_lim, 7, relief_lim.max_rate_nl_per_h + 1, pl, 0, 10, 0, &l), GATE_RATE_ABOVE_MAX);
        assert_int_equal(gate_grant_relief(&relief_lim, 7, 0, pl, 0, 10, 0, &l), GATE_RATE_INVALID);
}

static void refusals_have_names(void **state) {
        for (int i = 0; i < _GATE_REFUSAL_MAX; i++)
                assert_string_not_equal(gate_refusal_to_string(i), "invalid");
        assert_string_equal(gate_refusal_to_string(_GATE_REFUSAL_MAX), "invalid");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(lease_covers_the_rate_over_its_length_plus_one_step),
                cmocka_unit_test(no_motion_outside_running_or_kvo),
                cmocka_unit_test(halting_alarm_blocks_motion),
                cmocka_unit_test(rate_above_the_device_maximum_is_refused),
                cmocka_unit_test(steps_faster_than_the_mechanism_allows_are_refused),
                cmocka_unit_test(lease_never_reaches_past_the_vtbi),
                cmocka_unit_test(kvo_phase_has_no_volume_cap_but_keeps_the_rate_bound),
                cmocka_unit_test(relief_is_allowed_through_a_halting_alarm_but_capped_in_volume),
                cmocka_unit_test(refusals_have_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
