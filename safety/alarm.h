/* SPDX-License-Identifier: MIT */
#pragma once

/* Active alarms of a channel, with IEC 60601-1-8 priorities. Each condition
 * has a fixed priority and says whether it latches (stays until a person
 * acknowledges it) and whether it halts delivery. Pure logic: times are
 * passed in. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum alarm_priority {
        ALARM_PRIORITY_LOW,
        ALARM_PRIORITY_MEDIUM,
        ALARM_PRIORITY_HIGH,
        _ALARM_PRIORITY_MAX,
};

enum alarm_condition {
        ALARM_INTERRUPTED_BY_RESTART,   /* daemon restarted during an infusion */
        ALARM_CONTROL_LOOP_STALLED,     /* the motor lease lapsed */
        ALARM_MOTOR_FAULT,              /* the drive reported an error */
        ALARM_SAFETY_GATE,              /* the gate refused motion the engine wanted */
        ALARM_VTBI_COMPLETE,            /* primary volume done (KVO or stopped) */
        _ALARM_CONDITION_MAX,
};

#define ALARM_ID_MAX 32
#define ALARM_MESSAGE_MAX 256
#define ALARM_SET_MAX 16

struct alarm {
        char id[ALARM_ID_MAX];          /* stable while active: "<condition>-<seq>" */
        enum alarm_condition condition;
        enum alarm_priority priority;
        bool latches;
        bool halts;
        bool cause_active;              /* the cause is still there */
        int64_t raised_us;              /* pump time */
        int64_t raised_utc_us;
        char message[ALARM_MESSAGE_MAX];
};

struct alarm_set {
        struct alarm items[ALARM_SET_MAX];
        size_t n;
        unsigned next_seq;
};

const char *alarm_condition_to_string(enum alarm_condition c);
const char *alarm_priority_to_string(enum alarm_priority p);
enum alarm_priority alarm_condition_priority(enum alarm_condition c);
bool alarm_condition_halts(enum alarm_condition c);

void alarm_set_init(struct alarm_set *s);

/* Raise c, with its cause present. For conditions that are events rather
 * than states (a restart, a lapsed lease) the caller marks the cause gone
 * right away with alarm_cause_gone(); latching keeps them until a person
 * acknowledges. If an alarm for c is already active, refresh its message and
 * return 0 with *ret pointing at it; a new alarm returns 1. -ENOSPC when
 * the set is full: the caller must treat that as a halting fault. */
int alarm_raise(struct alarm_set *s, enum alarm_condition c, int64_t now_us, int64_t utc_us,
                const char *message, const struct alarm **ret);

/* The cause of c went away. A non-latching alarm is removed (returns 1);
 * a latching one stays until acknowledged (returns 0). -ENOENT if none. */
int alarm_cause_gone(struct alarm_set *s, enum alarm_condition c);

/* A person acknowledges alarm id. -ENOENT: no such alarm; -EBUSY: its cause
 * is still present (it cannot be cleared yet). On 0, *ret_removed (if not
 * NULL) receives a copy of the alarm that was removed. */
int alarm_acknowledge(struct alarm_set *s, const char *id, struct alarm *ret_removed);

bool alarm_set_halting(const struct alarm_set *s);
const struct alarm *alarm_set_find(const struct alarm_set *s, enum alarm_condition c);
