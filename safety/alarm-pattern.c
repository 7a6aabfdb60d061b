/* SPDX-License-Identifier: MIT */
#include "safety/alarm-pattern.h"

#include "common/macros.h"
#include "common/units.h"

#define SLOT ALARM_PATTERN_SLOT_US
#define BURST_PULSES_MAX 10

/* Figures cite IEC 60601-1-8:2006+A1:2012, table 3 (auditory alarm signal
 * characteristics) and table 1 (visual alarm indicator characteristics).
 * The standard's interburst interval tb runs from the end of one burst's
 * last pulse to the start of the next burst; period_us here is start to
 * start, so each period is chosen long enough that tb is in range too.
 * The pulse envelope (rise and fall within 10-20 % of td) is the buzzer
 * driver's job: this file only says when a pulse is on. */
struct burst_shape {
        int pulses;
        int64_t pulse_us;               /* td */
        int64_t period_us;              /* burst start to next burst start */
        int64_t start_us[BURST_PULSES_MAX];
};

/* High: 10 pulses as 3+2, pause, 3+2 (table 3).
 *   td = 100 ms (range 75-200 ms)
 *   ts = x = 100 ms between pulses 1-2, 2-3, 4-5, 6-7, 7-8, 9-10 (50-125 ms)
 *   3-4 and 8-9: 2x + td = 300 ms, as the standard defines them
 *   5-6: 500 ms (range 0.35-1.30 s)
 * The burst lasts 2.7 s; repeating every 6 s leaves tb = 3.3 s (2.5-15 s). */
#define HIGH_TD (2 * SLOT)
#define HIGH_X (2 * SLOT)
#define HIGH_GROUP_GAP (2 * HIGH_X + HIGH_TD)
#define HIGH_PAUSE (10 * SLOT)
#define HIGH_P1 0
#define HIGH_P2 (HIGH_P1 + HIGH_TD + HIGH_X)
#define HIGH_P3 (HIGH_P2 + HIGH_TD + HIGH_X)
#define HIGH_P4 (HIGH_P3 + HIGH_TD + HIGH_GROUP_GAP)
#define HIGH_P5 (HIGH_P4 + HIGH_TD + HIGH_X)
#define HIGH_P6 (HIGH_P5 + HIGH_TD + HIGH_PAUSE)
#define HIGH_P7 (HIGH_P6 + HIGH_TD + HIGH_X)
#define HIGH_P8 (HIGH_P7 + HIGH_TD + HIGH_X)
#define HIGH_P9 (HIGH_P8 + HIGH_TD + HIGH_GROUP_GAP)
#define HIGH_P10 (HIGH_P9 + HIGH_TD + HIGH_X)
#define HIGH_PERIOD (120 * SLOT)

/* Medium: 3 pulses (table 3).
 *   td = 200 ms (range 125-250 ms), ts = y = 200 ms (125-250 ms)
 * The burst lasts 1 s; repeating every 10 s leaves tb = 9 s (2.5-30 s). */
#define MEDIUM_TD (4 * SLOT)
#define MEDIUM_Y (4 * SLOT)
#define MEDIUM_PERIOD (200 * SLOT)

/* Low: 1 pulse of td = 200 ms (125-250 ms). The standard allows a low
 * burst to play once or to repeat with tb over 15 s; it repeats every
 * 30 s here (tb = 29.8 s) so a low alarm nobody looked at, such as a
 * finished volume on KVO, is still heard now and then, while staying far
 * quieter than anything that needs a person soon. */
#define LOW_TD (4 * SLOT)
#define LOW_PERIOD (600 * SLOT)

static const struct burst_shape bursts[_ALARM_PRIORITY_MAX] = {
        [ALARM_PRIORITY_HIGH] = {
                .pulses = 10,
                .pulse_us = HIGH_TD,
                .period_us = HIGH_PERIOD,
                .start_us = { HIGH_P1, HIGH_P2, HIGH_P3, HIGH_P4, HIGH_P5,
                              HIGH_P6, HIGH_P7, HIGH_P8, HIGH_P9, HIGH_P10 },
        },
        [ALARM_PRIORITY_MEDIUM] = {
                .pulses = 3,
                .pulse_us = MEDIUM_TD,
                .period_us = MEDIUM_PERIOD,
                .start_us = { 0, MEDIUM_TD + MEDIUM_Y, 2 * (MEDIUM_TD + MEDIUM_Y) },
        },
        [ALARM_PRIORITY_LOW] = {
                .pulses = 1,
                .pulse_us = LOW_TD,
                .period_us = LOW_PERIOD,
                .start_us = { 0 },
        },
};

/* tb, end of the last pulse to the next burst, inside table 3's ranges. */
_Static_assert(HIGH_PERIOD - (HIGH_P10 + HIGH_TD) >= 2500 * US_PER_MS &&
               HIGH_PERIOD - (HIGH_P10 + HIGH_TD) <= 15000 * US_PER_MS, "high tb out of 2.5-15 s");
_Static_assert(MEDIUM_PERIOD - (2 * MEDIUM_Y + 3 * MEDIUM_TD) >= 2500 * US_PER_MS &&
               MEDIUM_PERIOD - (2 * MEDIUM_Y + 3 * MEDIUM_TD) <= 30000 * US_PER_MS, "medium tb out of 2.5-30 s");
_Static_assert(LOW_PERIOD - LOW_TD > 15000 * US_PER_MS, "low tb must exceed 15 s");

/* Visual indicators (table 1). A steady light has off_us = 0.
 *   high:   red, 2 Hz (range 1.4-2.8 Hz), 250 ms on / 250 ms off = 50 % (20-60 %)
 *   medium: yellow, 0.5 Hz (0.4-0.8 Hz), 1 s on / 1 s off = 50 % (20-60 %)
 *   low:    yellow (cyan or yellow), constant */
struct flash_shape {
        int64_t on_us;
        int64_t off_us;
};

static const struct flash_shape flashes[_ALARM_PRIORITY_MAX] = {
        [ALARM_PRIORITY_HIGH] = { .on_us = 5 * SLOT, .off_us = 5 * SLOT },
        [ALARM_PRIORITY_MEDIUM] = { .on_us = 20 * SLOT, .off_us = 20 * SLOT },
        [ALARM_PRIORITY_LOW] = { .on_us = 0, .off_us = 0 },
};

void alarm_pattern_burst(enum alarm_priority p, struct alarm_burst *ret) {
        if ((unsigned) p >= _ALARM_PRIORITY_MAX)
                p = ALARM_PRIORITY_HIGH;
        *ret = (struct alarm_burst) {
                .pulses = bursts[p].pulses,
                .pulse_us = bursts[p].pulse_us,
                .burst_period_us = bursts[p].period_us,
        };
}

/* Phase within a period. Floor, not truncation, so a time before the
 * reference (never expected) still lands inside the pattern. */
static int64_t phase_us(int64_t now_us, int64_t since_us, int64_t period_us) {
        int64_t r = (now_us - since_us) % period_us;
        return r < 0 ? r + period_us : r;
}

static int64_t add_saturated(int64_t a, int64_t b) {
        int64_t r;
        if (__builtin_add_overflow(a, b, &r))
                return INT64_MAX;
        return r;
}

/* Whether the buzzer is on, and the next time it flips. Pulses never
 * touch (every gap is at least one slot), so each pulse edge is a flip. */
static bool burst_at(const struct burst_shape *b, int64_t since_us, int64_t now_us, int64_t *ret_flip_us) {
        int64_t pos_us = phase_us(now_us, since_us, b->period_us);

        for (int i = 0; i < b->pulses; i++) {
                int64_t start_us = b->start_us[i], end_us = start_us + b->pulse_us;
                if (pos_us < start_us) {
                        *ret_flip_us = add_saturated(now_us, start_us - pos_us);
                        return false;
                }
                if (pos_us < end_us) {
                        *ret_flip_us = add_saturated(now_us, end_us - pos_us);
                        return true;
                }
        }
        /* After the last pulse: the next burst's first pulse starts at 0. */
        *ret_flip_us = add_saturated(now_us, b->period_us - pos_us);
        return false;
}

static bool flash_at(const struct flash_shape *f, int64_t since_us, int64_t now_us, int64_t *ret_flip_us) {
        if (f->off_us == 0) {
                *ret_flip_us = INT64_MAX;
                return true;
        }
        int64_t period_us = f->on_us + f->off_us;
        int64_t pos_us = phase_us(now_us, since_us, period_us);
        if (pos_us < f->on_us) {
                *ret_flip_us = add_saturated(now_us, f->on_us - pos_us);
                return true;
        }
        *ret_flip_us = add_saturated(now_us, period_us - pos_us);
        return false;
}

/* The alarm of priority p that paces an output: the one that has had that
 * priority longest, so a second alarm of the same priority does not
 * restart a burst or a flash half way. For the buzzer only alarms that are
 * audible count, so an alarm raised during a pause starts its own burst at
 * its raise instead of joining the muted one's rhythm mid-way. */
static const struct alarm *pacer(const struct alarm_set *s, enum alarm_priority p, bool audible_only, int64_t now_us) {
        const struct alarm *best = NULL;

        for (size_t i = 0; i < s->n; i++) {
                const struct alarm *a = &s->items[i];
                if (a->priority != p)
                        continue;
                if (audible_only && a->silenced_until_us > now_us)
                        continue;
                if (!best || a->priority_since_us < best->priority_since_us)
                        best = a;
        }
        return best;
}

/* Outputs at now_us and the next time one of them flips while the set of
 * audible alarms stays what it is at now_us. */
static void outputs_at(const struct alarm_set *s, int64_t now_us, struct alarm_outputs *ret, int64_t *ret_flip_us) {
        struct alarm_outputs o = {};
        int64_t flip_us = INT64_MAX, t_us;

        int top = alarm_set_top_priority(s);
        if (top >= 0) {
                /* Lights and nurse call follow every active alarm: an audio
                 * pause silences, it does not hide. */
                const struct alarm *a = pacer(s, (enum alarm_priority) top, false, now_us);
                if (top == ALARM_PRIORITY_HIGH) {
                        o.nurse_call = true;
                        o.led_red = flash_at(&flashes[top], a->priority_since_us, now_us, &t_us);
                } else
                        o.led_yellow = flash_at(&flashes[top], a->priority_since_us, now_us, &t_us);
                flip_us = MIN(flip_us, t_us);
        }

        int audible = alarm_set_audible_priority(s, now_us);
        if (audible >= 0) {
                const struct alarm *a = pacer(s, (enum alarm_priority) audible, true, now_us);
                o.buzzer = burst_at(&bursts[audible], a->priority_since_us, now_us, &t_us);
                flip_us = MIN(flip_us, t_us);
        }

        *ret = o;
        *ret_flip_us = flip_us;
}

static int64_t next_pause_end(const struct alarm_set *s, int64_t after_us) {
        int64_t next_us = INT64_MAX;

        for (size_t i = 0; i < s->n; i++)
                if (s->items[i].silenced_until_us > after_us)
                        next_us = MIN(next_us, s->items[i].silenced_until_us);
        return next_us;
}

static bool outputs_equal(const struct alarm_outputs *a, const struct alarm_outputs *b) {
        return a->buzzer == b->buzzer && a->led_red == b->led_red &&
               a->led_yellow == b->led_yellow && a->nurse_call == b->nurse_call;
}

void alarm_outputs_at(const struct alarm_set *s, int64_t now_us, struct alarm_outputs *ret,
                      int64_t *ret_next_change_us) {
        struct alarm_outputs now;
        int64_t flip_us;

        outputs_at(s, now_us, &now, &flip_us);
        *ret = now;
        if (!ret_next_change_us)
                return;

        /* A pause ending hands the buzzer to another alarm or priority,
         * which may or may not flip it at that instant; and a flip the old
         * pattern predicted may not happen under the new one. Walk the
         * candidates in order and report the first at which the outputs
         * really differ, so a caller can sleep exactly until then. Each
         * step moves past one pause end or ends the walk, so it is short. */
        int64_t t_us = now_us;
        for (;;) {
                int64_t c_us = MIN(flip_us, next_pause_end(s, t_us));
                if (c_us == INT64_MAX)
                        break;

                struct alarm_outputs then;
                outputs_at(s, c_us, &then, &flip_us);
                if (!outputs_equal(&then, &now)) {
                        *ret_next_change_us = c_us;
                        return;
                }
                t_us = c_us;
        }
        *ret_next_change_us = INT64_MAX;
}
