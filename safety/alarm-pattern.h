/* SPDX-License-Identifier: MIT */
#pragma once

/* What the alarm outputs show for an alarm set at a given time, after
 * IEC 60601-1-8: the buzzer plays the burst of the highest audible
 * priority (high: 10 pulses, medium: 3 pulses, low: 1 pulse), the red LED
 * flashes fast for high, the yellow LED flashes slowly for medium and is
 * steady for low, and the nurse-call relay closes while any high alarm is
 * active (an audio pause does not open it). Every pulse, gap and flash is
 * a multiple of ALARM_PATTERN_SLOT_US, so outputs only change on slot
 * boundaries counted from the alarm's raise time. Pure logic. */

#include <stdbool.h>
#include <stdint.h>

#include "safety/alarm.h"

#define ALARM_PATTERN_SLOT_US 50000LL

struct alarm_outputs {
        bool buzzer;
        bool led_red;
        bool led_yellow;
        bool nurse_call;
};

/* Burst timing of one priority, for tests and docs/SAFETY.md. */
struct alarm_burst {
        int pulses;                     /* per burst */
        int64_t pulse_us;               /* each pulse's length (td) */
        int64_t burst_period_us;        /* from one burst's start to the next */
};
void alarm_pattern_burst(enum alarm_priority p, struct alarm_burst *ret);

/* The outputs at now_us. The buzzer pattern's phase starts at the
 * priority_since_us of the alarm that sets it; the LED phase likewise.
 * *ret_next_change_us (if not NULL) receives the earliest time > now_us at
 * which the outputs could differ with the same alarm set (INT64_MAX if
 * never: no alarm, or only steady outputs). */
void alarm_outputs_at(const struct alarm_set *s, int64_t now_us, struct alarm_outputs *ret,
                      int64_t *ret_next_change_us);
