/* SPDX-License-Identifier: MIT */
#pragma once

/* Active alarms of a channel, with IEC 60601-1-8 priorities. Each condition
 * has a fixed starting priority and says whether it latches (stays until a
 * person acknowledges it) and whether it halts delivery. Pure logic: times
 * are passed in.
 *
 * Audio pause: alarm_silence() mutes the alarms active at that moment for
 * at most ALARM_SILENCE_MAX_US. An alarm raised later, or one that
 * escalates, is not muted: a new high alarm always sounds.
 *
 * Escalation: a medium alarm nobody answered (silenced or acknowledged)
 * within the escalation delay becomes high. Silencing restarts its clock
 * when the pause ends. The PCA limit never escalates: it is the failsafe
 * at work, and may rightly last for hours. */

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
        ALARM_OCCLUSION_DOWNSTREAM,     /* line to the patient blocked */
        ALARM_OCCLUSION_UPSTREAM,       /* supply side blocked */
        ALARM_AIR_IN_LINE,              /* one bubble over the limit */
        ALARM_AIR_ACCUMULATED,          /* too much air over the window */
        ALARM_DOOR_OPEN,                /* door or syringe clamp open */
        ALARM_NEAR_END,                 /* syringe will be empty soon */
        ALARM_SYRINGE_EMPTY,            /* plunger at the end */
        ALARM_BATTERY_LOW,              /* on battery, under 15 min left */
        ALARM_BATTERY_DEPLETED,         /* on battery, under 5 min left */
        ALARM_MOTOR_MALFUNCTION,        /* commanded motion not seen, or stall */
        ALARM_SENSOR_FAILURE,           /* a sensor failed, stuck or out of range */
        ALARM_OVER_INFUSION,            /* measured volume above commanded */
        ALARM_UNDER_INFUSION,           /* measured volume below commanded */
        ALARM_IDLE,                     /* programmed or paused, not started */
        ALARM_PCA_LIMIT,                /* PCA dose limit reached (issue 5) */
        ALARM_HISTORY_UNAVAILABLE,      /* the history database refuses writes */
        _ALARM_CONDITION_MAX,
};

#define ALARM_ID_MAX 40
#define ALARM_MESSAGE_MAX 256
#define ALARM_SET_MAX 24
/* GIP 3.2.1: audio pause of at most 2 minutes. */
#define ALARM_SILENCE_MAX_US (120LL * 1000000LL)

struct alarm {
        char id[ALARM_ID_MAX];          /* stable while active: "<condition>-<seq>" */
        unsigned seq;                   /* the number in the id */
        enum alarm_condition condition;
        enum alarm_priority priority;   /* current: may have escalated */
        bool latches;
        bool halts;
        bool cause_active;              /* the cause is still there */
        int64_t raised_us;              /* pump time */
        int64_t raised_utc_us;
        int64_t priority_since_us;      /* pump time it got its current priority */
        int64_t silenced_until_us;      /* audio paused before this pump time; 0 never */
        char message[ALARM_MESSAGE_MAX];
};

struct alarm_set {
        struct alarm items[ALARM_SET_MAX];
        size_t n;
        unsigned next_seq;
};

const char *alarm_condition_to_string(enum alarm_condition c);
/* -EINVAL for an unknown name. */
int alarm_condition_from_string(const char *s, enum alarm_condition *ret);
const char *alarm_priority_to_string(enum alarm_priority p);
enum alarm_priority alarm_condition_priority(enum alarm_condition c);
bool alarm_condition_halts(enum alarm_condition c);
bool alarm_condition_latches(enum alarm_condition c);

void alarm_set_init(struct alarm_set *s);

/* Raise c, with its cause present. For conditions that are events rather
 * than states (a restart, a lapsed lease) the caller marks the cause gone
 * right away with alarm_cause_gone(); latching keeps them until a person
 * acknowledges. If an alarm for c is already active, mark its cause
 * present, refresh its message and return 0 with *ret pointing at it; a
 * new alarm returns 1. -ENOSPC when the set is full: the caller must treat
 * that as a halting fault. */
int alarm_raise(struct alarm_set *s, enum alarm_condition c, int64_t now_us, int64_t utc_us,
                const char *message, const struct alarm **ret);

/* The cause of c went away. A non-latching alarm is removed (returns 1,
 * with a copy in *ret_removed if not NULL); a latching one stays until
 * acknowledged (returns 0). -ENOENT if none. */
int alarm_cause_gone(struct alarm_set *s, enum alarm_condition c, struct alarm *ret_removed);

/* A person acknowledges alarm id. -ENOENT: no such alarm; -EBUSY: its cause
 * is still present (it cannot be cleared yet). On 0, *ret_removed (if not
 * NULL) receives a copy of the alarm that was removed. */
int alarm_acknowledge(struct alarm_set *s, const char *id, struct alarm *ret_removed);

/* Pause the audio of every alarm active now, until now_us + duration_us.
 * -EINVAL unless 0 < duration_us <= ALARM_SILENCE_MAX_US; -ENOENT if no
 * alarm is active. Returns how many alarms were muted. */
int alarm_silence(struct alarm_set *s, int64_t now_us, int64_t duration_us);

/* Raise alarm `a` of condition c to priority p (never lowers: -EINVAL if
 * p is not above its current priority; -ENOENT if c is not active). An
 * escalated alarm sounds even through a silence. */
int alarm_escalate(struct alarm_set *s, enum alarm_condition c, enum alarm_priority p, int64_t now_us);

/* Escalate every medium alarm that has been medium for escalate_after_us
 * without being silenced (the clock restarts when a silence ends). Writes
 * the indexes (into s->items) of the alarms it escalated to ret_idx
 * (room for ALARM_SET_MAX) and returns how many. */
size_t alarm_set_escalate_due(struct alarm_set *s, int64_t now_us, int64_t escalate_after_us, size_t *ret_idx);

/* The next pump time at which alarm_set_escalate_due could escalate
 * something, INT64_MAX if never. */
int64_t alarm_set_next_escalation(const struct alarm_set *s, int64_t escalate_after_us);

bool alarm_set_halting(const struct alarm_set *s);
const struct alarm *alarm_set_find(const struct alarm_set *s, enum alarm_condition c);
const struct alarm *alarm_set_find_id(const struct alarm_set *s, const char *id);
/* Highest priority among active alarms whose audio is not paused at now_us;
 * -1 if none sounds. */
int alarm_set_audible_priority(const struct alarm_set *s, int64_t now_us);
/* Highest priority among all active alarms (silenced or not); -1 if none. */
int alarm_set_top_priority(const struct alarm_set *s);
