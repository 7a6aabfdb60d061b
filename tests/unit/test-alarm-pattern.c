/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/units.h"
#include "safety/alarm-pattern.h"

#define SLOT ALARM_PATTERN_SLOT_US
#define MS US_PER_MS
/* Not a multiple of a slot, so a pattern that counted slots from pump
 * time zero instead of from the alarm would show up. */
#define T0 (1000 * US_PER_SEC + 7 * MS)
#define SAMPLES_MAX 1300
#define RUNS_MAX 64

enum output { BUZZER, RED, YELLOW, NURSE };

static bool output_of(const struct alarm_outputs *o, enum output which) {
        switch (which) {
        case BUZZER: return o->buzzer;
        case RED: return o->led_red;
        case YELLOW: return o->led_yellow;
        case NURSE: return o->nurse_call;
        }
        return false;
}

/* One output, sampled at every slot from `from`. */
static void sample(const struct alarm_set *s, int64_t from, size_t n, enum output which, bool *ret) {
        assert_in_range(n, 1, SAMPLES_MAX);
        for (size_t i = 0; i < n; i++) {
                struct alarm_outputs o;
                alarm_outputs_at(s, from + (int64_t) i * SLOT, &o, NULL);
                ret[i] = output_of(&o, which);
        }
}

/* Lengths of the on runs and of the off run after each, for a trace that
 * starts on. The last off run ends with the trace. */
struct runs {
        size_t n;
        int64_t on_us[RUNS_MAX];
        int64_t off_us[RUNS_MAX];
};

static void runs_of(const bool *v, size_t n, struct runs *ret) {
        *ret = (struct runs) {};
        assert_true(v[0]);
        for (size_t i = 0; i < n; i++) {
                if (v[i] && (i == 0 || !v[i - 1])) {
                        assert_in_range(ret->n, 0, RUNS_MAX - 1);
                        ret->n++;
                }
                if (v[i])
                        ret->on_us[ret->n - 1] += SLOT;
                else
                        ret->off_us[ret->n - 1] += SLOT;
        }
}

static bool all(const bool *v, size_t n, bool value) {
        for (size_t i = 0; i < n; i++)
                if (v[i] != value)
                        return false;
        return true;
}

static void raise_one(struct alarm_set *s, enum alarm_condition c, int64_t at) {
        alarm_set_init(s);
        assert_int_equal(alarm_raise(s, c, at, 0, "test", NULL), 1);
}

/* The buzzer over exactly one burst period from the raise, as runs. Also
 * checks the next period plays the same. */
static void buzzer_runs(enum alarm_condition c, enum alarm_priority p, struct runs *ret) {
        static bool v[2 * SAMPLES_MAX];
        struct alarm_set s;
        struct alarm_burst b;

        raise_one(&s, c, T0);
        assert_int_equal(s.items[0].priority, p);
        alarm_pattern_burst(p, &b);
        assert_int_equal(b.burst_period_us % SLOT, 0);
        assert_int_equal(b.pulse_us % SLOT, 0);
        size_t n = (size_t) (b.burst_period_us / SLOT);
        sample(&s, T0, n, BUZZER, v);
        sample(&s, T0 + b.burst_period_us, n, BUZZER, v + n);
        assert_memory_equal(v, v + n, n * sizeof(v[0]));

        runs_of(v, n, ret);
        assert_int_equal(ret->n, b.pulses);
        for (size_t i = 0; i < ret->n; i++)
                assert_int_equal(ret->on_us[i], b.pulse_us);
}

static void high_burst_is_ten_pulses_in_the_iec_rhythm_and_ranges(void **state) {
        struct runs r;
        buzzer_runs(ALARM_DOOR_OPEN, ALARM_PRIORITY_HIGH, &r);
        assert_int_equal(r.n, 10);

        /* IEC 60601-1-8 table 3, high priority. */
        int64_t td = r.on_us[0], x = r.off_us[0];
        assert_in_range(td, 75 * MS, 200 * MS);
        assert_in_range(x, 50 * MS, 125 * MS);
        /* 3 + 2, pause, 3 + 2: spacing x inside the groups ... */
        static const int x_gaps[] = { 0, 1, 3, 5, 6, 8 };
        for (size_t i = 0; i < sizeof(x_gaps) / sizeof(x_gaps[0]); i++)
                assert_int_equal(r.off_us[x_gaps[i]], x);
        /* ... 2x + td between the 3 and the 2 ... */
        assert_int_equal(r.off_us[2], 2 * x + td);
        assert_int_equal(r.off_us[7], 2 * x + td);
        /* ... 0.35-1.30 s between the halves ... */
        assert_in_range(r.off_us[4], 350 * MS, 1300 * MS);
        /* ... and an interburst interval of 2.5-15 s, however it is read. */
        assert_in_range(r.off_us[9], 2500 * MS, 15000 * MS);
        struct alarm_burst b;
        alarm_pattern_burst(ALARM_PRIORITY_HIGH, &b);
        assert_in_range(b.burst_period_us, 2500 * MS, 15000 * MS);
}

static void medium_burst_is_three_pulses_within_iec_ranges(void **state) {
        struct runs r;
        buzzer_runs(ALARM_BATTERY_LOW, ALARM_PRIORITY_MEDIUM, &r);
        assert_int_equal(r.n, 3);

        /* IEC 60601-1-8 table 3, medium priority. */
        assert_in_range(r.on_us[0], 125 * MS, 250 * MS);
        assert_in_range(r.off_us[0], 125 * MS, 250 * MS);
        assert_int_equal(r.off_us[1], r.off_us[0]);
        assert_in_range(r.off_us[2], 2500 * MS, 30000 * MS);
        struct alarm_burst b;
        alarm_pattern_burst(ALARM_PRIORITY_MEDIUM, &b);
        assert_in_range(b.burst_period_us, 2500 * MS, 30000 * MS);
}

static void low_burst_is_one_pulse_repeating_after_more_than_fifteen_seconds(void **state) {
        struct runs r;
        buzzer_runs(ALARM_VTBI_COMPLETE, ALARM_PRIORITY_LOW, &r);
        assert_int_equal(r.n, 1);

        /* IEC 60601-1-8 table 3, low priority: td 125-250 ms, tb over 15 s. */
        assert_in_range(r.on_us[0], 125 * MS, 250 * MS);
        assert_true(r.off_us[0] > 15000 * MS);
}

/* A flashing light: every complete on/off cycle in the trace has the same
 * shape, with a frequency and duty cycle inside the given ranges. */
static void assert_flashing(const bool *v, size_t n, int64_t min_period_us, int64_t max_period_us) {
        struct runs r;
        runs_of(v, n, &r);
        /* The last cycle may be cut by the end of the trace. */
        assert_true(r.n >= 3);
        for (size_t i = 0; i + 1 < r.n; i++) {
                assert_int_equal(r.on_us[i], r.on_us[0]);
                assert_int_equal(r.off_us[i], r.off_us[0]);
        }
        int64_t period_us = r.on_us[0] + r.off_us[0];
        assert_in_range(period_us, min_period_us, max_period_us);
        /* Duty cycle 20-60 %. */
        assert_in_range(r.on_us[0] * 100, 20 * period_us, 60 * period_us);
}

static void high_alarm_flashes_red_within_iec_frequency_and_duty(void **state) {
        static bool v[SAMPLES_MAX];
        struct alarm_set s;
        raise_one(&s, ALARM_AIR_IN_LINE, T0);

        /* IEC 60601-1-8 table 1: 1.4-2.8 Hz, a period of 357-714 ms. */
        sample(&s, T0, 200, RED, v);
        assert_flashing(v, 200, 1000 * MS * 10 / 28, 1000 * MS * 10 / 14);
        sample(&s, T0, 200, YELLOW, v);
        assert_true(all(v, 200, false));
}

static void medium_alarm_flashes_yellow_within_iec_frequency_and_duty(void **state) {
        static bool v[SAMPLES_MAX];
        struct alarm_set s;
        raise_one(&s, ALARM_PCA_LIMIT, T0);

        /* IEC 60601-1-8 table 1: 0.4-0.8 Hz, a period of 1.25-2.5 s. */
        sample(&s, T0, 400, YELLOW, v);
        assert_flashing(v, 400, 1250 * MS, 2500 * MS);
        sample(&s, T0, 400, RED, v);
        assert_true(all(v, 400, false));
}

static void low_alarm_shows_steady_yellow(void **state) {
        static bool v[SAMPLES_MAX];
        struct alarm_set s;
        raise_one(&s, ALARM_NEAR_END, T0);

        sample(&s, T0, 1200, YELLOW, v);
        assert_true(all(v, 1200, true));
        sample(&s, T0, 1200, RED, v);
        assert_true(all(v, 1200, false));
}

static void a_high_alarm_turns_the_yellow_light_red(void **state) {
        static bool v[SAMPLES_MAX];
        struct alarm_set s;
        raise_one(&s, ALARM_BATTERY_LOW, T0);
        alarm_raise(&s, ALARM_MOTOR_FAULT, T0, 0, "high", NULL);

        sample(&s, T0, 200, YELLOW, v);
        assert_true(all(v, 200, false));
        sample(&s, T0, 200, RED, v);
        assert_false(all(v, 200, false));
}

static void nurse_call_closes_only_while_a_high_alarm_is_active(void **state) {
        static bool v[SAMPLES_MAX];
        struct alarm_set s;
        struct alarm removed;

        raise_one(&s, ALARM_BATTERY_LOW, T0);
        alarm_raise(&s, ALARM_VTBI_COMPLETE, T0, 0, "low", NULL);
        sample(&s, T0, 1200, NURSE, v);
        assert_true(all(v, 1200, false));

        alarm_raise(&s, ALARM_SYRINGE_EMPTY, T0, 0, "high", NULL);
        sample(&s, T0, 1200, NURSE, v);
        assert_true(all(v, 1200, true));

        alarm_cause_gone(&s, ALARM_SYRINGE_EMPTY, NULL);
        assert_int_equal(alarm_acknowledge(&s, alarm_set_find(&s, ALARM_SYRINGE_EMPTY)->id, &removed), 0);
        sample(&s, T0, 1200, NURSE, v);
        assert_true(all(v, 1200, false));
}

static void silence_mutes_the_buzzer_but_not_the_lights_or_nurse_call(void **state) {
        static bool loud[SAMPLES_MAX], muted[SAMPLES_MAX];
        struct alarm_set s, silenced;
        struct alarm_outputs o;

        raise_one(&s, ALARM_OCCLUSION_DOWNSTREAM, T0);
        silenced = s;
        assert_int_equal(alarm_silence(&silenced, T0, ALARM_SILENCE_MAX_US), 1);

        sample(&silenced, T0, 1200, BUZZER, muted);
        assert_true(all(muted, 1200, false));
        sample(&s, T0, 1200, RED, loud);
        sample(&silenced, T0, 1200, RED, muted);
        assert_memory_equal(loud, muted, 1200 * sizeof(loud[0]));
        sample(&silenced, T0, 1200, NURSE, muted);
        assert_true(all(muted, 1200, true));

        /* The burst comes back exactly when the pause ends: 120 s is a
         * whole number of high bursts, so the first pulse starts then. */
        alarm_outputs_at(&silenced, T0 + ALARM_SILENCE_MAX_US - 1, &o, NULL);
        assert_false(o.buzzer);
        alarm_outputs_at(&silenced, T0 + ALARM_SILENCE_MAX_US, &o, NULL);
        assert_true(o.buzzer);
}

static void an_alarm_raised_during_a_silence_starts_its_burst_at_its_raise(void **state) {
        static bool v[SAMPLES_MAX], fresh[SAMPLES_MAX];
        struct alarm_set s, lone;

        raise_one(&s, ALARM_DOOR_OPEN, T0);
        alarm_silence(&s, T0, ALARM_SILENCE_MAX_US);
        /* The muted door alarm is between two pulses here; the new one
         * must not pick up its rhythm. */
        int64_t t1 = T0 + 2503 * MS;
        alarm_raise(&s, ALARM_AIR_IN_LINE, t1, 0, "air", NULL);

        raise_one(&lone, ALARM_AIR_IN_LINE, t1);
        sample(&s, t1, 120, BUZZER, v);
        sample(&lone, t1, 120, BUZZER, fresh);
        assert_true(v[0]);
        assert_memory_equal(v, fresh, 120 * sizeof(v[0]));
}

static void a_second_alarm_of_the_same_priority_does_not_restart_the_burst(void **state) {
        static bool v[SAMPLES_MAX], first[SAMPLES_MAX];
        struct alarm_set s, lone;

        raise_one(&lone, ALARM_DOOR_OPEN, T0);
        raise_one(&s, ALARM_DOOR_OPEN, T0);
        alarm_raise(&s, ALARM_AIR_IN_LINE, T0 + 2503 * MS, 0, "air", NULL);

        sample(&s, T0, 240, BUZZER, v);
        sample(&lone, T0, 240, BUZZER, first);
        assert_memory_equal(v, first, 240 * sizeof(v[0]));
        sample(&s, T0, 240, RED, v);
        sample(&lone, T0, 240, RED, first);
        assert_memory_equal(v, first, 240 * sizeof(v[0]));
}

static void buzzer_plays_the_highest_audible_priority(void **state) {
        static bool v[SAMPLES_MAX], alone[SAMPLES_MAX];
        struct alarm_set s, lone;
        struct runs r;

        raise_one(&s, ALARM_DOOR_OPEN, T0);
        alarm_silence(&s, T0, ALARM_SILENCE_MAX_US);
        int64_t t1 = T0 + 1013 * MS;
        alarm_raise(&s, ALARM_BATTERY_LOW, t1, 0, "battery", NULL);

        /* During the pause: the medium burst, from its own raise. */
        raise_one(&lone, ALARM_BATTERY_LOW, t1);
        sample(&s, t1, 200, BUZZER, v);
        sample(&lone, t1, 200, BUZZER, alone);
        assert_memory_equal(v, alone, 200 * sizeof(v[0]));
        runs_of(v, 200, &r);
        assert_int_equal(r.n, 3);

        /* After it: the high burst again, in the door alarm's rhythm. */
        raise_one(&lone, ALARM_DOOR_OPEN, T0);
        sample(&s, T0 + ALARM_SILENCE_MAX_US, 120, BUZZER, v);
        sample(&lone, T0 + ALARM_SILENCE_MAX_US, 120, BUZZER, alone);
        assert_memory_equal(v, alone, 120 * sizeof(v[0]));
        runs_of(v, 120, &r);
        assert_int_equal(r.n, 10);
}

static void an_escalated_alarm_plays_and_flashes_high_from_its_escalation(void **state) {
        static bool v[SAMPLES_MAX], fresh[SAMPLES_MAX];
        struct alarm_set s, lone;
        struct alarm_outputs o;

        raise_one(&s, ALARM_BATTERY_LOW, T0);
        int64_t t1 = T0 + 3333 * MS;
        assert_int_equal(alarm_escalate(&s, ALARM_BATTERY_LOW, ALARM_PRIORITY_HIGH, t1), 0);

        alarm_outputs_at(&s, t1, &o, NULL);
        assert_true(o.buzzer);
        assert_true(o.led_red);
        assert_false(o.led_yellow);
        assert_true(o.nurse_call);

        raise_one(&lone, ALARM_DOOR_OPEN, t1);
        sample(&s, t1, 120, BUZZER, v);
        sample(&lone, t1, 120, BUZZER, fresh);
        assert_memory_equal(v, fresh, 120 * sizeof(v[0]));
        sample(&s, t1, 120, RED, v);
        sample(&lone, t1, 120, RED, fresh);
        assert_memory_equal(v, fresh, 120 * sizeof(v[0]));
}

static bool outputs_equal(const struct alarm_outputs *a, const struct alarm_outputs *b) {
        return a->buzzer == b->buzzer && a->led_red == b->led_red &&
               a->led_yellow == b->led_yellow && a->nurse_call == b->nurse_call;
}

/* From `from` to `to`, follow next_change_us: nothing may change at any
 * step before it, and something must change at it. With step_us fine
 * enough to land on every flip this proves next_change_us is exact, not
 * merely a safe bound. Returns how many changes it followed. */
static int walk_changes(const struct alarm_set *s, int64_t from, int64_t to, int64_t step_us, int64_t grid_origin_us) {
        int changes = 0;

        for (int64_t t = from; t < to;) {
                struct alarm_outputs o, u;
                int64_t next;
                alarm_outputs_at(s, t, &o, &next);
                assert_true(next > t);
                if (grid_origin_us >= 0 && next != INT64_MAX)
                        assert_int_equal((next - grid_origin_us) % SLOT, 0);

                for (int64_t x = t + step_us; x < next && x <= to; x += step_us) {
                        alarm_outputs_at(s, x, &u, NULL);
                        assert_true(outputs_equal(&u, &o));
                }
                if (next > to)
                        break;
                alarm_outputs_at(s, next, &u, NULL);
                assert_false(outputs_equal(&u, &o));
                changes++;
                t = next;
        }
        return changes;
}

static void next_change_is_exactly_the_next_flip_for_every_priority(void **state) {
        static const enum alarm_condition conditions[] = { ALARM_MOTOR_FAULT, ALARM_BATTERY_LOW, ALARM_VTBI_COMPLETE };

        for (size_t i = 0; i < sizeof(conditions) / sizeof(conditions[0]); i++) {
                struct alarm_set s;
                struct alarm_burst b;
                raise_one(&s, conditions[i], T0);
                alarm_pattern_burst(s.items[0].priority, &b);

                /* Every flip sits on a slot boundary counted from the raise. */
                int changes = walk_changes(&s, T0, T0 + 2 * b.burst_period_us, SLOT, T0);
                /* At least each buzzer edge of two bursts. */
                assert_true(changes >= 4 * b.pulses);
        }
}

static void next_change_reports_a_pause_end_that_starts_the_buzzer(void **state) {
        struct alarm_set s;
        struct alarm_outputs o;
        int64_t next;

        /* Door alarm (high) paused until its own burst's first pulse is
         * under way, which is off the red light's 250 ms grid; a medium
         * alarm raised during the pause is between bursts then. */
        raise_one(&s, ALARM_DOOR_OPEN, T0);
        alarm_silence(&s, T0 + 1006 * MS, 11044 * MS);
        int64_t pause_end = T0 + 12050 * MS;
        alarm_raise(&s, ALARM_BATTERY_LOW, T0 + 3014 * MS, 0, "battery", NULL);

        alarm_outputs_at(&s, T0 + 12010 * MS, &o, &next);
        assert_false(o.buzzer);
        assert_int_equal(next, pause_end);
        alarm_outputs_at(&s, pause_end, &o, NULL);
        assert_true(o.buzzer);

        assert_true(walk_changes(&s, T0, T0 + 20 * US_PER_SEC, MS, -1) > 0);
}

static void next_change_skips_a_pause_end_that_changes_nothing(void **state) {
        struct alarm_set s;
        struct alarm_outputs o;
        int64_t next;

        /* At the pause's end the medium burst the buzzer was playing and
         * the high burst taking over are both in a pulse: nothing flips
         * then, and the next flip is the end of the high pulse, not of the
         * medium one. */
        raise_one(&s, ALARM_DOOR_OPEN, T0);
        alarm_silence(&s, T0 + 1006 * MS, 12036 * MS);
        alarm_raise(&s, ALARM_BATTERY_LOW, T0 + 3014 * MS, 0, "battery", NULL);
        int64_t pause_end = T0 + 13042 * MS;
        int64_t high_pulse_end = T0 + 13100 * MS;

        alarm_outputs_at(&s, T0 + 13030 * MS, &o, &next);
        assert_true(o.buzzer);
        assert_int_equal(next, high_pulse_end);
        alarm_outputs_at(&s, pause_end, &o, NULL);
        assert_true(o.buzzer);

        assert_true(walk_changes(&s, T0, T0 + 20 * US_PER_SEC, MS, -1) > 0);
}

static void no_alarm_means_all_off_and_no_change_ever(void **state) {
        struct alarm_set s;
        struct alarm_outputs o;
        int64_t next = 0;

        alarm_set_init(&s);
        alarm_outputs_at(&s, T0, &o, &next);
        assert_false(o.buzzer);
        assert_false(o.led_red);
        assert_false(o.led_yellow);
        assert_false(o.nurse_call);
        assert_int_equal(next, INT64_MAX);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(high_burst_is_ten_pulses_in_the_iec_rhythm_and_ranges),
                cmocka_unit_test(medium_burst_is_three_pulses_within_iec_ranges),
                cmocka_unit_test(low_burst_is_one_pulse_repeating_after_more_than_fifteen_seconds),
                cmocka_unit_test(high_alarm_flashes_red_within_iec_frequency_and_duty),
                cmocka_unit_test(medium_alarm_flashes_yellow_within_iec_frequency_and_duty),
                cmocka_unit_test(low_alarm_shows_steady_yellow),
                cmocka_unit_test(a_high_alarm_turns_the_yellow_light_red),
                cmocka_unit_test(nurse_call_closes_only_while_a_high_alarm_is_active),
                cmocka_unit_test(silence_mutes_the_buzzer_but_not_the_lights_or_nurse_call),
                cmocka_unit_test(an_alarm_raised_during_a_silence_starts_its_burst_at_its_raise),
                cmocka_unit_test(a_second_alarm_of_the_same_priority_does_not_restart_the_burst),
                cmocka_unit_test(buzzer_plays_the_highest_audible_priority),
                cmocka_unit_test(an_escalated_alarm_plays_and_flashes_high_from_its_escalation),
                cmocka_unit_test(next_change_is_exactly_the_next_flip_for_every_priority),
                cmocka_unit_test(next_change_reports_a_pause_end_that_starts_the_buzzer),
                cmocka_unit_test(next_change_skips_a_pause_end_that_changes_nothing),
                cmocka_unit_test(no_alarm_means_all_off_and_no_change_ever),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
