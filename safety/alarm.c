/* SPDX-License-Identifier: MIT */
#include "safety/alarm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/macros.h"

struct condition_info {
        const char *name;
        enum alarm_priority priority;
        bool latches;
        bool halts;
};

/* Priorities after IEC 60601-1-8: high when a patient can be harmed now
 * (delivery stopped or uncontrolled), medium for things that need a person
 * soon, low for information.
 *
 * A restart latches so a person learns the infusion was interrupted, but
 * does not halt: nothing runs after a restart until someone starts it.
 * Idle starts low; the pump raises it to medium itself once the wait gets
 * long (GIP 2.2.4/2.2.5), so the table cannot say that.
 *
 * A history that cannot be written does not halt: stopping a vasopressor
 * because the log's disk is full would turn a record-keeping fault into
 * a therapy one. It is high (the pump must be swapped soon, and its
 * crash recovery and PCA record no longer hold) and latches, so a person
 * learns of the gap in the record even once writes work again. */
static const struct condition_info conditions[_ALARM_CONDITION_MAX] = {
        [ALARM_INTERRUPTED_BY_RESTART] = { "interrupted-by-restart", ALARM_PRIORITY_HIGH,   true,  false },
        [ALARM_CONTROL_LOOP_STALLED]   = { "control-loop-stalled",   ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_MOTOR_FAULT]            = { "motor-fault",            ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_SAFETY_GATE]            = { "safety-gate",            ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_VTBI_COMPLETE]          = { "vtbi-complete",          ALARM_PRIORITY_LOW,    false, false },
        [ALARM_OCCLUSION_DOWNSTREAM]   = { "occlusion-downstream",   ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_OCCLUSION_UPSTREAM]     = { "occlusion-upstream",     ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_AIR_IN_LINE]            = { "air-in-line",            ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_AIR_ACCUMULATED]        = { "air-accumulated",        ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_DOOR_OPEN]              = { "door-open",              ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_NEAR_END]               = { "near-end",               ALARM_PRIORITY_LOW,    false, false },
        [ALARM_SYRINGE_EMPTY]          = { "syringe-empty",          ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_BATTERY_LOW]            = { "battery-low",            ALARM_PRIORITY_MEDIUM, false, false },
        [ALARM_BATTERY_DEPLETED]       = { "battery-depleted",       ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_MOTOR_MALFUNCTION]      = { "motor-malfunction",      ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_SENSOR_FAILURE]         = { "sensor-failure",         ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_OVER_INFUSION]          = { "over-infusion",          ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_UNDER_INFUSION]         = { "under-infusion",         ALARM_PRIORITY_HIGH,   true,  true  },
        [ALARM_IDLE]                   = { "idle",                   ALARM_PRIORITY_LOW,    false, false },
        [ALARM_PCA_LIMIT]              = { "pca-limit",              ALARM_PRIORITY_MEDIUM, false, false },
        [ALARM_HISTORY_UNAVAILABLE]    = { "history-unavailable",    ALARM_PRIORITY_HIGH,   true,  false },
};

static const char *const priority_names[_ALARM_PRIORITY_MAX] = {
        [ALARM_PRIORITY_LOW] = "low",
        [ALARM_PRIORITY_MEDIUM] = "medium",
        [ALARM_PRIORITY_HIGH] = "high",
};

static bool condition_valid(enum alarm_condition c) {
        return (unsigned) c < _ALARM_CONDITION_MAX;
}

/* Times here are pump time, far from the int64 limits in practice; the
 * sums still saturate so a corrupt or hostile value cannot wrap a pause or
 * a deadline into the past. */
static int64_t add_saturated(int64_t a, int64_t b) {
        int64_t r;
        if (__builtin_add_overflow(a, b, &r))
                return b > 0 ? INT64_MAX : INT64_MIN;
        return r;
}

const char *alarm_condition_to_string(enum alarm_condition c) {
        return condition_valid(c) ? conditions[c].name : "invalid";
}

int alarm_condition_from_string(const char *s, enum alarm_condition *ret) {
        if (!s)
                return -EINVAL;
        for (size_t c = 0; c < _ALARM_CONDITION_MAX; c++)
                if (strcmp(conditions[c].name, s) == 0) {
                        *ret = (enum alarm_condition) c;
                        return 0;
                }
        return -EINVAL;
}

const char *alarm_priority_to_string(enum alarm_priority p) {
        return (unsigned) p < _ALARM_PRIORITY_MAX ? priority_names[p] : "invalid";
}

/* An out-of-range condition can only come from a bug; answer the way that
 * stops the pump and makes noise rather than index past the table. */
enum alarm_priority alarm_condition_priority(enum alarm_condition c) {
        return condition_valid(c) ? conditions[c].priority : ALARM_PRIORITY_HIGH;
}

bool alarm_condition_halts(enum alarm_condition c) {
        return condition_valid(c) ? conditions[c].halts : true;
}

bool alarm_condition_latches(enum alarm_condition c) {
        return condition_valid(c) ? conditions[c].latches : true;
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

const struct alarm *alarm_set_find_id(const struct alarm_set *s, const char *id) {
        if (!id)
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->items[i].id, id) == 0)
                        return &s->items[i];
        return NULL;
}

int alarm_raise(struct alarm_set *s, enum alarm_condition c, int64_t now_us, int64_t utc_us,
                const char *message, const struct alarm **ret) {
        if (!condition_valid(c))
                return -EINVAL;

        struct alarm *a = find(s, c);
        if (a) {
                /* Same alarm, same id: its priority, its clock and any
                 * pause a person chose stay as they were. */
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
                .priority_since_us = now_us,
                .silenced_until_us = 0,
        };
        a->seq = s->next_seq++;
        snprintf(a->id, sizeof(a->id), "%s-%u", conditions[c].name, a->seq);
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

int alarm_cause_gone(struct alarm_set *s, enum alarm_condition c, struct alarm *ret_removed) {
        struct alarm *a = find(s, c);
        if (!a)
                return -ENOENT;
        a->cause_active = false;
        if (a->latches)
                return 0;
        if (ret_removed)
                *ret_removed = *a;
        remove_at(s, a);
        return 1;
}

int alarm_acknowledge(struct alarm_set *s, const char *id, struct alarm *ret_removed) {
        struct alarm *a = (struct alarm *) alarm_set_find_id(s, id);
        if (!a)
                return -ENOENT;
        if (a->cause_active)
                return -EBUSY;
        if (ret_removed)
                *ret_removed = *a;
        remove_at(s, a);
        return 0;
}

int alarm_silence(struct alarm_set *s, int64_t now_us, int64_t duration_us) {
        if (duration_us <= 0 || duration_us > ALARM_SILENCE_MAX_US)
                return -EINVAL;
        if (s->n == 0)
                return -ENOENT;

        /* Set, not extended: each press is a fresh pause of at most
         * ALARM_SILENCE_MAX_US from now, never a sum of presses. */
        int64_t until_us = add_saturated(now_us, duration_us);
        for (size_t i = 0; i < s->n; i++)
                s->items[i].silenced_until_us = until_us;
        return (int) s->n;
}

static void escalate(struct alarm *a, enum alarm_priority p, int64_t now_us) {
        a->priority = p;
        a->priority_since_us = now_us;
        /* A pause answered the old priority, not this one: it sounds. */
        a->silenced_until_us = 0;
}

int alarm_escalate(struct alarm_set *s, enum alarm_condition c, enum alarm_priority p, int64_t now_us) {
        if ((unsigned) p >= _ALARM_PRIORITY_MAX)
                return -EINVAL;
        struct alarm *a = find(s, c);
        if (!a)
                return -ENOENT;
        if (p <= a->priority)
                return -EINVAL;
        escalate(a, p, now_us);
        return 0;
}

/* When a medium alarm becomes due. A pause counts as an answer, so the
 * clock restarts when it ends rather than when it began: otherwise a
 * medium alarm silenced late in its delay would turn high the moment the
 * pause ran out, giving the person no time at all. */
static int64_t escalation_due_us(const struct alarm *a, int64_t escalate_after_us) {
        /* The PCA limit is the failsafe working, not a hazard left
         * unanswered: it informs for as long as the window is full (hours,
         * maybe) and must not turn into a high alarm at the bedside. */
        if (a->condition == ALARM_PCA_LIMIT)
                return INT64_MAX;
        /* Never before the pause ends: a paused alarm has been answered
         * for now, even if a caller passes a nonsensical negative delay. */
        return add_saturated(MAX(a->priority_since_us, a->silenced_until_us), MAX(escalate_after_us, 0));
}

size_t alarm_set_escalate_due(struct alarm_set *s, int64_t now_us, int64_t escalate_after_us, size_t *ret_idx) {
        size_t n = 0;

        for (size_t i = 0; i < s->n; i++) {
                struct alarm *a = &s->items[i];
                if (a->priority != ALARM_PRIORITY_MEDIUM)
                        continue;
                if (escalation_due_us(a, escalate_after_us) == INT64_MAX || now_us < escalation_due_us(a, escalate_after_us))
                        continue;
                escalate(a, ALARM_PRIORITY_HIGH, now_us);
                if (ret_idx)
                        ret_idx[n] = i;
                n++;
        }
        return n;
}

int64_t alarm_set_next_escalation(const struct alarm_set *s, int64_t escalate_after_us) {
        int64_t next_us = INT64_MAX;

        for (size_t i = 0; i < s->n; i++) {
                const struct alarm *a = &s->items[i];
                if (a->priority != ALARM_PRIORITY_MEDIUM)
                        continue;
                next_us = MIN(next_us, escalation_due_us(a, escalate_after_us));
        }
        return next_us;
}

bool alarm_set_halting(const struct alarm_set *s) {
        for (size_t i = 0; i < s->n; i++)
                if (s->items[i].halts)
                        return true;
        return false;
}

int alarm_set_audible_priority(const struct alarm_set *s, int64_t now_us) {
        int top = -1;

        for (size_t i = 0; i < s->n; i++)
                if (s->items[i].silenced_until_us <= now_us)
                        top = MAX(top, (int) s->items[i].priority);
        return top;
}

int alarm_set_top_priority(const struct alarm_set *s) {
        int top = -1;

        for (size_t i = 0; i < s->n; i++)
                top = MAX(top, (int) s->items[i].priority);
        return top;
}
