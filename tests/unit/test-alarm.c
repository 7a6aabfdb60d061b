/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "safety/alarm.h"

static void raising_twice_keeps_one_alarm_with_a_stable_id(void **state) {
        struct alarm_set s;
        const struct alarm *a, *b;
        alarm_set_init(&s);
        assert_int_equal(alarm_raise(&s, ALARM_MOTOR_FAULT, 10, 1000, "first", &a), 1);
        char id[ALARM_ID_MAX];
        strcpy(id, a->id);
        assert_int_equal(alarm_raise(&s, ALARM_MOTOR_FAULT, 20, 2000, "second", &b), 0);
        assert_int_equal(s.n, 1);
        assert_string_equal(b->id, id);
        assert_string_equal(b->message, "second");
        assert_int_equal(b->raised_us, 10);
        assert_int_equal(b->priority, ALARM_PRIORITY_HIGH);
}

static void latched_alarm_cannot_be_acknowledged_while_its_cause_remains(void **state) {
        struct alarm_set s;
        const struct alarm *a;
        struct alarm removed;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_MOTOR_FAULT, 0, 0, "stall", &a);
        char id[ALARM_ID_MAX];
        strcpy(id, a->id);
        assert_int_equal(alarm_acknowledge(&s, id, &removed), -EBUSY);
        assert_int_equal(s.n, 1);
        /* cause gone: a latching alarm stays until acknowledged */
        assert_int_equal(alarm_cause_gone(&s, ALARM_MOTOR_FAULT), 0);
        assert_int_equal(s.n, 1);
        assert_int_equal(alarm_acknowledge(&s, id, &removed), 0);
        assert_string_equal(removed.id, id);
        assert_int_equal(s.n, 0);
}

static void non_latching_alarm_clears_with_its_cause(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_VTBI_COMPLETE, 0, 0, "done", NULL);
        assert_int_equal(alarm_cause_gone(&s, ALARM_VTBI_COMPLETE), 1);
        assert_int_equal(s.n, 0);
        assert_int_equal(alarm_cause_gone(&s, ALARM_VTBI_COMPLETE), -ENOENT);
}

static void unknown_id_is_refused(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        assert_int_equal(alarm_acknowledge(&s, "nope-1", NULL), -ENOENT);
}

static void halting_conditions_make_the_set_halting(void **state) {
        struct alarm_set s;
        alarm_set_init(&s);
        alarm_raise(&s, ALARM_INTERRUPTED_BY_RESTART, 0, 0, "restart", NULL);
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
}

static void every_condition_has_a_name_and_priority(void **state) {
        for (int c = 0; c < _ALARM_CONDITION_MAX; c++) {
                assert_string_not_equal(alarm_condition_to_string(c), "invalid");
                assert_in_range(alarm_condition_priority(c), ALARM_PRIORITY_LOW, ALARM_PRIORITY_HIGH);
        }
        assert_string_equal(alarm_priority_to_string(ALARM_PRIORITY_HIGH), "high");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(raising_twice_keeps_one_alarm_with_a_stable_id),
                cmocka_unit_test(latched_alarm_cannot_be_acknowledged_while_its_cause_remains),
                cmocka_unit_test(non_latching_alarm_clears_with_its_cause),
                cmocka_unit_test(unknown_id_is_refused),
                cmocka_unit_test(halting_conditions_make_the_set_halting),
                cmocka_unit_test(a_full_set_refuses_instead_of_dropping),
                cmocka_unit_test(every_condition_has_a_name_and_priority),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
