/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/units.h"
#include "safety/alarm.h"

#define T0 (1000 * US_PER_SEC)
#define ESCALATE_AFTER (120 * US_PER_SEC)

/* The condition table as the brief and SAFETY.md state it, written out
 * again so a slip in safety/alarm.c shows up here. */
static const struct {
        enum alarm_condition c;
        const char *name;
        enum alarm_priority priority;
        bool latches;
        bool halts;
} expected[] = {
        { ALARM_INTERRUPTED_BY_RESTART, "interrupted-by-restart", ALARM_PRIORITY_HIGH,   true,  false },
        { ALARM_CONTROL_LOOP_STALLED,   "control-loop-stalled",   ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_MOTOR_FAULT,            "motor-fault",            ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_SAFETY_GATE,            "safety-gate",            ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_VTBI_COMPLETE,          "vtbi-complete",          ALARM_PRIORITY_LOW,    false, false },
        { ALARM_OCCLUSION_DOWNSTREAM,   "occlusion-downstream",   ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_OCCLUSION_UPSTREAM,     "occlusion-upstream",     ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_AIR_IN_LINE,            "air-in-line",            ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_AIR_ACCUMULATED,        "air-accumulated",        ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_DOOR_OPEN,              "door-open",              ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_NEAR_END,               "near-end",               ALARM_PRIORITY_LOW,    false, false },
        { ALARM_SYRINGE_EMPTY,          "syringe-empty",          ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_BATTERY_LOW,            "battery-low",            ALARM_PRIORITY_MEDIUM, false, false },
        { ALARM_BATTERY_DEPLETED,       "battery-depleted",       ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_MOTOR_MALFUNCTION,      "motor-malfunction",      ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_SENSOR_FAILURE,         "sensor-failure",         ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_OVER_INFUSION,          "over-infusion",          ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_UNDER_INFUSION,         "under-infusion",         ALARM_PRIORITY_HIGH,   true,  true  },
        { ALARM_IDLE,                   "idle",                   ALARM_PRIORITY_LOW,    false, false },
        { ALARM_PCA_LIMIT,              "pca-limit",              ALARM_PRIORITY_MEDIUM, false, false },
        { ALARM_HISTORY_UNAVAILABLE,    "history-unavailable",    ALARM_PRIORITY_HIGH,   true,  false },
};

static void every_condition_has_the_name_priority_latching_and_halting_of_the_table(void **state) {
        assert_int_equal(sizeof(expected) / sizeof(expected[0]), _ALARM_CONDITION_MAX);
        for (size_t i = 0; i < _ALARM_CONDITION_MAX; i++) {
                enum alarm_condition c = expected[i].c;
                assert_string_equal(alarm_condition_to_string(c), expected[i].name);
                assert_int_equal(alarm_condition_priority(c), expected[i].priority);
                assert_int_equal(alarm_condition_latches(c), expected[i].latches);
                assert_int_equal(alarm_condition_halts(c), expected[i].halts);
        }
        assert_string_equal(alarm_priority_to_string(ALARM_PRIORITY_LOW), "low");
        assert_string_equal(alarm_priority_to_string(ALARM_PRIORITY_MEDIUM), "medium");
        assert_string_equal(alarm_priority_to_string(ALARM_PRIORITY_HIGH), "high");
}

static void every_condition_name_parses_back_to_its_condition(void **state) {
        for (int c = 0; c < _ALARM_CONDITION_MAX; c++) {
                enum alarm_condition parsed = _ALARM_CONDITION_MAX;
                assert_int_equal(alarm_condition_from_string(alarm_condition_to_string(c), &parsed), 0);
                assert_int_equal(parsed, c);
        }
}

static void an_unknown_condition_name_is_refused(void **state) {
        enum alarm_condition parsed = ALARM_IDLE;
        assert_int_equal(alarm_condition_from_string("door", &parsed), -EINVAL);
        assert_int_equal(alarm_condition_from_string("", &parsed), -EINVAL);
        assert_int_equal(alarm_condition_from_string("invalid", &parsed), -EINVAL);
        assert_int_equal(alarm_condition_from_string(NULL, &parsed), -EINVAL);
        assert_int_equal(parsed, ALARM_IDLE);
}

static void a_new_alarm_starts_at_its_table_priority_with_a_fresh_id(void **state) {
        struct alarm_set s;
        const struct alarm *a;
        alarm_set_init(&s);

        assert_int_equal(alarm_raise(&s, ALARM_MOTOR_FAULT, T0, 5000, "stall", &a), 1);
        assert_string_equal(a->id, "motor-fault-1");
        assert_int_equal(a->seq, 1);
        assert_int_equal(a->priority, ALARM_PRIORITY_HIGH);
        assert_true(a->latches);
        assert_true(a->halts);
        assert_true(a->cause_active);
        assert_int_equal(a->raised_us, T0);
        assert_int_equal(a->raised_utc_us, 5000);
        assert_int_equal(a->priority_since_us, T0);
        assert_int_equal(a->silenced_until_us, 0);
        assert_string_equal(a->message, "stall");

        assert_int_equal(alarm_raise(&s, ALARM_BATTERY_LOW, T0 + 7, 0, NULL, &a), 1);
        assert_string_equal(a->id, "battery-low-2");
        assert_int_equal(a->seq, 2);
        assert_int_equal(a->priority, ALARM_PRIORITY_MEDIUM);
        assert_false(a->latches);
        assert_false(a->halts);
        assert_int_equal(a->priority_since_us, T0 + 7);
        assert_string_equal(a->message, "");
        assert_int_equal(s.n, 2);
}

static void raising_an_active_condition_again_refreshes_it_and_keeps_its_id(void **state) {
        struct alarm_set s;
        const struct alarm *a, *b;
        alarm_set_init(&s);
        assert_int_equal(alarm_raise(&s, ALARM_MOTOR_FAULT, 10, 1000, "first", &a), 1);
        char id[ALARM_ID_MAX];
        strcpy(id, a->id);

        /* Latched with its cause gone, then the cause comes back. */
        assert_int_equal(alarm_cause_gone(&s, ALARM_MOTOR_FAULT, NULL), 0);
        assert_false(alarm_set_find(&s, ALARM_MOTOR_FAULT)->cause_active);

        assert_int_equal(alarm_raise(&s, ALARM_MOTOR_FAULT, 20, 2000, "second", &b), 0);
        assert_int_equal(s.n, 1);
        assert_string_equal(b->id, id);
        assert_string_equal(b->message, "second");
        assert_true(b->cause_active);
        assert_int_equal(b->raised_us, 10);
        assert_int_equal(b->priority_since_us, 10);
        assert_int_equal(b->priority, ALARM_PRIORITY_HIGH);
}

static void ids_never_repeat_after_an_alarm_clears(void **state) {
        struct alarm_set s;
        const struct alarm *a;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_VTBI_COMPLETE, 0, 0, "done", &a);
        assert_string_equal(a->id, "vtbi-complete-1");
        assert_int_equal(alarm_cause_gone(&s, ALARM_VTBI_COMPLETE, NULL), 1);
        alarm_raise(&s, ALARM_VTBI_COMPLETE, 1, 0, "done again", &a);
        assert_string_equal(a->id, "vtbi-complete-2");
}

static void an_invalid_condition_is_refused(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        assert_int_equal(alarm_raise(&s, _ALARM_CONDITION_MAX, 0, 0, "x", NULL), -EINVAL);
        assert_int_equal(s.n, 0);
}

static void latched_alarm_cannot_be_acknowledged_while_its_cause_remains(void **state) {
        struct alarm_set s;
        const struct alarm *a;
        struct alarm removed = {};
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_MOTOR_FAULT, 0, 0, "stall", &a);
        char id[ALARM_ID_MAX];
        strcpy(id, a->id);
        assert_int_equal(alarm_acknowledge(&s, id, &removed), -EBUSY);
        assert_int_equal(s.n, 1);

        /* Cause gone: a latching alarm stays until acknowledged, and
         * hands back no copy since nothing was removed. */
        assert_int_equal(alarm_cause_gone(&s, ALARM_MOTOR_FAULT, &removed), 0);
        assert_string_equal(removed.id, "");
        assert_int_equal(s.n, 1);

        assert_int_equal(alarm_acknowledge(&s, id, &removed), 0);
        assert_string_equal(removed.id, id);
        assert_int_equal(removed.condition, ALARM_MOTOR_FAULT);
        assert_int_equal(s.n, 0);
}

static void non_latching_alarm_clears_with_its_cause_and_hands_back_a_copy(void **state) {
        struct alarm_set s;
        struct alarm removed = {};
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_MOTOR_FAULT, 0, 0, "other", NULL);
        alarm_raise(&s, ALARM_VTBI_COMPLETE, 5, 0, "done", NULL);
        assert_int_equal(alarm_cause_gone(&s, ALARM_VTBI_COMPLETE, &removed), 1);
        assert_int_equal(s.n, 1);
        assert_null(alarm_set_find(&s, ALARM_VTBI_COMPLETE));
        assert_non_null(alarm_set_find(&s, ALARM_MOTOR_FAULT));
        assert_string_equal(removed.id, "vtbi-complete-2");
        assert_string_equal(removed.message, "done");
        assert_false(removed.cause_active);
        assert_int_equal(alarm_cause_gone(&s, ALARM_VTBI_COMPLETE, NULL), -ENOENT);
}

static void unknown_id_is_refused(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_INTERRUPTED_BY_RESTART, 0, 0, "restart", NULL);
        alarm_cause_gone(&s, ALARM_INTERRUPTED_BY_RESTART, NULL);
        assert_int_equal(alarm_acknowledge(&s, "nope-1", NULL), -ENOENT);
        assert_int_equal(alarm_acknowledge(&s, "interrupted-by-restart-2", NULL), -ENOENT);
        assert_int_equal(s.n, 1);
}

static void find_id_finds_only_an_active_alarm(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_DOOR_OPEN, 0, 0, "door", NULL);
        const struct alarm *a = alarm_set_find_id(&s, "door-open-1");
        assert_non_null(a);
        assert_int_equal(a->condition, ALARM_DOOR_OPEN);
        assert_null(alarm_set_find_id(&s, "door-open-2"));
        assert_null(alarm_set_find_id(&s, "door-open"));
}

static void halting_conditions_make_the_set_halting(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_INTERRUPTED_BY_RESTART, 0, 0, "restart", NULL);
        alarm_raise(&s, ALARM_BATTERY_LOW, 0, 0, "battery", NULL);
        assert_false(alarm_set_halting(&s));
        alarm_raise(&s, ALARM_CONTROL_LOOP_STALLED, 0, 0, "lapse", NULL);
        assert_true(alarm_set_halting(&s));
        assert_non_null(alarm_set_find(&s, ALARM_CONTROL_LOOP_STALLED));
}

static void a_full_set_refuses_instead_of_dropping(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        /* Fill by hand: there are fewer conditions than slots. */
        for (int i = 0; i < ALARM_SET_MAX; i++)
                s.items[s.n++] = (struct alarm) { .condition = _ALARM_CONDITION_MAX };
        assert_int_equal(alarm_raise(&s, ALARM_MOTOR_FAULT, 0, 0, "x", NULL), -ENOSPC);
        assert_int_equal(s.n, ALARM_SET_MAX);
}

static void silence_refuses_a_zero_negative_or_over_two_minute_pause(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_MOTOR_FAULT, T0, 0, "x", NULL);
        assert_int_equal(alarm_silence(&s, T0, 0), -EINVAL);
        assert_int_equal(alarm_silence(&s, T0, -1), -EINVAL);
        assert_int_equal(alarm_silence(&s, T0, ALARM_SILENCE_MAX_US + 1), -EINVAL);
        assert_int_equal(s.items[0].silenced_until_us, 0);
        assert_int_equal(alarm_silence(&s, T0, ALARM_SILENCE_MAX_US), 1);
}

static void silence_with_no_alarm_active_is_refused(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        assert_int_equal(alarm_silence(&s, T0, 60 * US_PER_SEC), -ENOENT);
}

static void silence_mutes_active_alarms_until_exactly_two_minutes(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_MOTOR_FAULT, T0, 0, "x", NULL);
        alarm_raise(&s, ALARM_VTBI_COMPLETE, T0, 0, "y", NULL);
        assert_int_equal(alarm_set_audible_priority(&s, T0), ALARM_PRIORITY_HIGH);

        int64_t at = T0 + 3 * US_PER_SEC;
        assert_int_equal(alarm_silence(&s, at, ALARM_SILENCE_MAX_US), 2);
        assert_int_equal(alarm_set_audible_priority(&s, at), -1);
        assert_int_equal(alarm_set_audible_priority(&s, at + ALARM_SILENCE_MAX_US - 1), -1);
        assert_int_equal(alarm_set_audible_priority(&s, at + ALARM_SILENCE_MAX_US), ALARM_PRIORITY_HIGH);
        /* Muted or not, the alarms are still there. */
        assert_int_equal(alarm_set_top_priority(&s), ALARM_PRIORITY_HIGH);
}

static void a_second_silence_replaces_the_pause_instead_of_adding_up(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_MOTOR_FAULT, T0, 0, "x", NULL);
        alarm_silence(&s, T0, ALARM_SILENCE_MAX_US);
        /* A shorter pause asked for later is what the person wants now. */
        alarm_silence(&s, T0 + 60 * US_PER_SEC, 30 * US_PER_SEC);
        assert_int_equal(s.items[0].silenced_until_us, T0 + 90 * US_PER_SEC);
        alarm_silence(&s, T0 + 80 * US_PER_SEC, ALARM_SILENCE_MAX_US);
        assert_int_equal(s.items[0].silenced_until_us, T0 + 80 * US_PER_SEC + ALARM_SILENCE_MAX_US);
}

static void a_high_alarm_raised_during_a_silence_sounds(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_BATTERY_LOW, T0, 0, "battery", NULL);
        alarm_silence(&s, T0, ALARM_SILENCE_MAX_US);
        assert_int_equal(alarm_set_audible_priority(&s, T0 + US_PER_SEC), -1);

        alarm_raise(&s, ALARM_OCCLUSION_DOWNSTREAM, T0 + 2 * US_PER_SEC, 0, "occluded", NULL);
        assert_int_equal(alarm_set_find(&s, ALARM_OCCLUSION_DOWNSTREAM)->silenced_until_us, 0);
        assert_int_equal(alarm_set_audible_priority(&s, T0 + 2 * US_PER_SEC), ALARM_PRIORITY_HIGH);
}

static void audible_priority_ignores_muted_alarms_and_is_minus_one_with_none(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        assert_int_equal(alarm_set_audible_priority(&s, T0), -1);
        assert_int_equal(alarm_set_top_priority(&s), -1);

        alarm_raise(&s, ALARM_MOTOR_FAULT, T0, 0, "x", NULL);
        alarm_silence(&s, T0, 10 * US_PER_SEC);
        alarm_raise(&s, ALARM_NEAR_END, T0 + 1, 0, "y", NULL);
        assert_int_equal(alarm_set_audible_priority(&s, T0 + 1), ALARM_PRIORITY_LOW);
        assert_int_equal(alarm_set_top_priority(&s), ALARM_PRIORITY_HIGH);
}

static void an_unanswered_medium_alarm_escalates_after_the_delay_not_before(void **state) {
        struct alarm_set s;
        size_t idx[ALARM_SET_MAX];
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_MOTOR_FAULT, T0, 0, "high already", NULL);
        alarm_raise(&s, ALARM_BATTERY_LOW, T0, 0, "battery", NULL);
        assert_int_equal(alarm_set_next_escalation(&s, ESCALATE_AFTER), T0 + ESCALATE_AFTER);

        assert_int_equal(alarm_set_escalate_due(&s, T0 + ESCALATE_AFTER - 1, ESCALATE_AFTER, idx), 0);
        assert_int_equal(alarm_set_find(&s, ALARM_BATTERY_LOW)->priority, ALARM_PRIORITY_MEDIUM);

        assert_int_equal(alarm_set_escalate_due(&s, T0 + ESCALATE_AFTER, ESCALATE_AFTER, idx), 1);
        assert_int_equal(s.items[idx[0]].condition, ALARM_BATTERY_LOW);
        const struct alarm *a = alarm_set_find(&s, ALARM_BATTERY_LOW);
        assert_int_equal(a->priority, ALARM_PRIORITY_HIGH);
        assert_int_equal(a->priority_since_us, T0 + ESCALATE_AFTER);

        /* High is as far as it goes. */
        assert_int_equal(alarm_set_next_escalation(&s, ESCALATE_AFTER), INT64_MAX);
        assert_int_equal(alarm_set_escalate_due(&s, T0 + 10 * ESCALATE_AFTER, ESCALATE_AFTER, idx), 0);
}

static void low_alarms_never_escalate_on_their_own(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_NEAR_END, T0, 0, "near end", NULL);
        assert_int_equal(alarm_set_next_escalation(&s, ESCALATE_AFTER), INT64_MAX);
        assert_int_equal(alarm_set_escalate_due(&s, T0 + 10 * ESCALATE_AFTER, ESCALATE_AFTER, NULL), 0);
        assert_int_equal(s.items[0].priority, ALARM_PRIORITY_LOW);
}

static void silence_postpones_escalation_until_the_delay_after_the_pause(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_BATTERY_LOW, T0, 0, "battery", NULL);

        int64_t silenced_at = T0 + ESCALATE_AFTER - US_PER_SEC;
        alarm_silence(&s, silenced_at, ALARM_SILENCE_MAX_US);
        int64_t pause_end = silenced_at + ALARM_SILENCE_MAX_US;

        /* Answered: not during the pause, and not the moment it ends. */
        assert_int_equal(alarm_set_escalate_due(&s, T0 + ESCALATE_AFTER, ESCALATE_AFTER, NULL), 0);
        assert_int_equal(alarm_set_escalate_due(&s, pause_end, ESCALATE_AFTER, NULL), 0);
        assert_int_equal(alarm_set_next_escalation(&s, ESCALATE_AFTER), pause_end + ESCALATE_AFTER);
        assert_int_equal(alarm_set_escalate_due(&s, pause_end + ESCALATE_AFTER - 1, ESCALATE_AFTER, NULL), 0);
        assert_int_equal(s.items[0].priority, ALARM_PRIORITY_MEDIUM);

        assert_int_equal(alarm_set_escalate_due(&s, pause_end + ESCALATE_AFTER, ESCALATE_AFTER, NULL), 1);
        assert_int_equal(s.items[0].priority, ALARM_PRIORITY_HIGH);
}

/* The PCA limit is the failsafe doing its job, for hours maybe: it stays
 * medium, unlike any other medium alarm left unanswered. */
static void the_pca_limit_never_escalates(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_PCA_LIMIT, T0, 0, "pca", NULL);
        alarm_raise(&s, ALARM_BATTERY_LOW, T0, 0, "battery", NULL);
        assert_int_equal(alarm_set_next_escalation(&s, ESCALATE_AFTER), T0 + ESCALATE_AFTER);
        assert_int_equal(alarm_set_escalate_due(&s, T0 + 100 * ESCALATE_AFTER, ESCALATE_AFTER, NULL), 1);
        assert_int_equal(alarm_set_find(&s, ALARM_PCA_LIMIT)->priority, ALARM_PRIORITY_MEDIUM);
        assert_int_equal(alarm_set_find(&s, ALARM_BATTERY_LOW)->priority, ALARM_PRIORITY_HIGH);
        assert_int_equal(alarm_set_next_escalation(&s, ESCALATE_AFTER), INT64_MAX);
}

static void escalate_only_raises_the_priority_of_an_active_alarm(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_IDLE, T0, 0, "idle", NULL);
        assert_int_equal(alarm_escalate(&s, ALARM_IDLE, ALARM_PRIORITY_LOW, T0 + 1), -EINVAL);
        assert_int_equal(alarm_escalate(&s, ALARM_IDLE, _ALARM_PRIORITY_MAX, T0 + 1), -EINVAL);
        assert_int_equal(alarm_escalate(&s, ALARM_DOOR_OPEN, ALARM_PRIORITY_HIGH, T0 + 1), -ENOENT);

        assert_int_equal(alarm_escalate(&s, ALARM_IDLE, ALARM_PRIORITY_MEDIUM, T0 + 5), 0);
        const struct alarm *a = alarm_set_find(&s, ALARM_IDLE);
        assert_int_equal(a->priority, ALARM_PRIORITY_MEDIUM);
        assert_int_equal(a->priority_since_us, T0 + 5);
        assert_int_equal(alarm_escalate(&s, ALARM_IDLE, ALARM_PRIORITY_MEDIUM, T0 + 6), -EINVAL);
        assert_int_equal(alarm_escalate(&s, ALARM_IDLE, ALARM_PRIORITY_LOW, T0 + 6), -EINVAL);
        assert_int_equal(a->priority, ALARM_PRIORITY_MEDIUM);
        /* The medium clock counts from the escalation, not the raise. */
        assert_int_equal(alarm_set_next_escalation(&s, ESCALATE_AFTER), T0 + 5 + ESCALATE_AFTER);
}

static void an_escalated_alarm_sounds_through_a_silence(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_IDLE, T0, 0, "idle", NULL);
        alarm_silence(&s, T0, ALARM_SILENCE_MAX_US);
        assert_int_equal(alarm_set_audible_priority(&s, T0 + 10), -1);

        assert_int_equal(alarm_escalate(&s, ALARM_IDLE, ALARM_PRIORITY_MEDIUM, T0 + 10), 0);
        assert_int_equal(alarm_set_find(&s, ALARM_IDLE)->silenced_until_us, 0);
        assert_int_equal(alarm_set_audible_priority(&s, T0 + 10), ALARM_PRIORITY_MEDIUM);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(every_condition_has_the_name_priority_latching_and_halting_of_the_table),
                cmocka_unit_test(every_condition_name_parses_back_to_its_condition),
                cmocka_unit_test(an_unknown_condition_name_is_refused),
                cmocka_unit_test(a_new_alarm_starts_at_its_table_priority_with_a_fresh_id),
                cmocka_unit_test(raising_an_active_condition_again_refreshes_it_and_keeps_its_id),
                cmocka_unit_test(ids_never_repeat_after_an_alarm_clears),
                cmocka_unit_test(an_invalid_condition_is_refused),
                cmocka_unit_test(latched_alarm_cannot_be_acknowledged_while_its_cause_remains),
                cmocka_unit_test(non_latching_alarm_clears_with_its_cause_and_hands_back_a_copy),
                cmocka_unit_test(unknown_id_is_refused),
                cmocka_unit_test(find_id_finds_only_an_active_alarm),
                cmocka_unit_test(halting_conditions_make_the_set_halting),
                cmocka_unit_test(a_full_set_refuses_instead_of_dropping),
                cmocka_unit_test(silence_refuses_a_zero_negative_or_over_two_minute_pause),
                cmocka_unit_test(silence_with_no_alarm_active_is_refused),
                cmocka_unit_test(silence_mutes_active_alarms_until_exactly_two_minutes),
                cmocka_unit_test(a_second_silence_replaces_the_pause_instead_of_adding_up),
                cmocka_unit_test(a_high_alarm_raised_during_a_silence_sounds),
                cmocka_unit_test(audible_priority_ignores_muted_alarms_and_is_minus_one_with_none),
                cmocka_unit_test(an_unanswered_medium_alarm_escalates_after_the_delay_not_before),
                cmocka_unit_test(low_alarms_never_escalate_on_their_own),
                cmocka_unit_test(silence_postpones_escalation_until_the_delay_after_the_pause),
                cmocka_unit_test(the_pca_limit_never_escalates),
                cmocka_unit_test(escalate_only_raises_the_priority_of_an_active_alarm),
                cmocka_unit_test(an_escalated_alarm_sounds_through_a_silence),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
