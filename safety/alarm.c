/* SPDX-License-Identifier: MIT */
#include "safety/alarm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct condition_info {
        const char *name;
        enum alarm_priority priority;
        bool latches;
        bool halts;
};

/* Priorities after IEC 60601-1-8: high when a patient can be harmed now
 * (delivery stopped or uncontrolled), medium for things that need a person
 * soon, low for information. */
static const struct condition_info conditions[_ALARM_CONDITION_MAX] = {
        [ALARM_INTERRUPTED_BY_RESTART] = { "interrupted-by-restart", ALARM_PRIORITY_HIGH, true, false },
        [ALARM_CONTROL_LOOP_STALLED] = { "control-loop-stalled", ALARM_PRIORITY_HIGH, true, true },
        [ALARM_MOTOR_FAULT] = { "motor-fault", ALARM_PRIORITY_HIGH, true, true },
        [ALARM_SAFETY_GATE] = { "safety-gate", ALARM_PRIORITY_HIGH, true, true },
        [ALARM_VTBI_COMPLETE] = { "vtbi-complete", ALARM_PRIORITY_LOW, false, false },
};

static const char *const priority_names[_ALARM_PRIORITY_MAX] = {
        [ALARM_PRIORITY_LOW] = "low",
        [ALARM_PRIORITY_MEDIUM] = "medium",
        [ALARM_PRIORITY_HIGH] = "high",
};

const char *alarm_condition_to_string(enum alarm_condition c) {
        return (unsigned) c < _ALARM_CONDITION_MAX ? conditions[c].name : "invalid";
}

const char *alarm_priority_to_string(enum alarm_priority p) {
        return (unsigned) p < _ALARM_PRIORITY_MAX ? priority_names[p] : "invalid";
}

enum alarm_priority alarm_condition_priority(enum alarm_condition c) {
        return conditions[c].priority;
}

bool alarm_condition_halts(enum alarm_condition c) {
        return conditions[c].halts;
}

void alarm_set_init(struct alarm_set *s) {
        *s = (struct alarm_set) { .next_seq = 1 };
}

static struct alarm *find(struct alarm_set *s, enum alarm_condition c) {
        for (size_t i = 0; i < s->n; i++)
                if (s->items[i].condition == c)
                        return &s->items[i];
        return NULL;
}

const struct alarm *alarm_set_find(const struct alarm_set *s, enum alarm_condition c) {
        return find((struct alarm_set *) s, c);
}

int alarm_raise(struct alarm_set *s, enum alarm_condition c, int64_t now_us, int64_t utc_us,
                const char *message, const struct alarm **ret) {
        struct alarm *a = find(s, c);
        if (a) {
                a->cause_active = true;
                snprintf(a->message, sizeof(a->message), "%s", message ?: "");
                if (ret)
                        *ret = a;
                return 0;
        }
        if (s->n >= ALARM_SET_MAX)
                return -ENOSPC;

        a = &s->items[s->n++];
        *a = (struct alarm) {
                .condition = c,
                .priority = conditions[c].priority,
                .latches = conditions[c].latches,
                .halts = conditions[c].halts,
                .cause_active = true,
                .raised_us = now_us,
                .raised_utc_us = utc_us,
        };
        snprintf(a->id, sizeof(a->id), "%s-%u", conditions[c].name, s->next_seq++);
        snprintf(a->message, sizeof(a->message), "%s", message ?: "");
        if (ret)
                *ret = a;
        return 1;
}

static void remove_at(struct alarm_set *s, struct alarm *a) {
        size_t i = (size_t) (a - s->items);
        memmove(&s->items[i], &s->items[i + 1], (s->n - i - 1) * sizeof(s->items[0]));
        s->n--;
}

int alarm_cause_gone(struct alarm_set *s, enum alarm_condition c) {
        struct alarm *a = find(s, c);
        if (!a)
                return -ENOENT;
        a->cause_active = false;
        if (a->latches)
                return 0;
        remove_at(s, a);
        return 1;
}

int alarm_acknowledge(struct alarm_set *s, const char *id, struct alarm *ret_removed) {
        for (size_t i = 0; i < s->n; i++) {
                struct alarm *a = &s->items[i];
                if (strcmp(a->id, id) != 0)
                        continue;
                if (a->cause_active)
                        return -EBUSY;
                if (ret_removed)
                        *ret_removed = *a;
                remove_at(s, a);
                return 0;
        }
        return -ENOENT;
}

bool alarm_set_halting(const struct alarm_set *s) {
        for (size_t i = 0; i < s->n; i++)
                if (s->items[i].halts)
                        return true;
        return false;
}
