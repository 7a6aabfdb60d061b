/* SPDX-License-Identifier: MIT */
#include "core/channel.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/macros.h"
#include "common/units.h"

static const char *const state_names[_CHANNEL_STATE_MAX] = {
        [CHANNEL_IDLE] = "idle",
        [CHANNEL_PROGRAMMED] = "programmed",
        [CHANNEL_RUNNING] = "running",
        [CHANNEL_PAUSED] = "paused",
        [CHANNEL_KVO] = "kvo",
        [CHANNEL_HALTED] = "halted",
};

static const char *const event_names[_CHANNEL_EVENT_MAX] = {
        [CHANNEL_EVENT_PROGRAMMED] = "programmed",
        [CHANNEL_EVENT_STARTED] = "started",
        [CHANNEL_EVENT_PAUSED] = "paused",
        [CHANNEL_EVENT_RESUMED] = "resumed",
        [CHANNEL_EVENT_STOPPED] = "stopped",
        [CHANNEL_EVENT_VTBI_COMPLETE] = "vtbi-complete",
        [CHANNEL_EVENT_KVO_STARTED] = "kvo-started",
        [CHANNEL_EVENT_HALTED] = "halted",
        [CHANNEL_EVENT_CLEARED] = "cleared",
};

const char *channel_state_to_string(enum channel_state s) {
        return (unsigned) s < _CHANNEL_STATE_MAX ? state_names[s] : "invalid";
}

const char *channel_event_to_string(enum channel_event e) {
        return (unsigned) e < _CHANNEL_EVENT_MAX ? event_names[e] : "invalid";
}

void channel_init(struct channel *c, unsigned index, const struct mechanism *m,
                  const struct channel_limits *limits) {
        *c = (struct channel) {
                .index = index,
                .mech = m,
                .limits = *limits,
                .state = CHANNEL_IDLE,
        };
}

static int fail(struct channel_error *err, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct channel_error *err, const char *field, const char *fmt, ...) {
        if (err) {
                va_list ap;
                err->field = field;
                va_start(ap, fmt);
                vsnprintf(err->text, sizeof(err->text), fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

/* Rates and volumes as a person reads them: "1200 mL/h", "0.000174 mL". */
#define ML(nl) units_nl_to_ml(nl)

int channel_program(struct channel *c, const struct program *p, struct channel_error *err) {
        if (c->state != CHANNEL_IDLE && c->state != CHANNEL_PROGRAMMED) {
                if (err) {
                        err->field = NULL;
                        snprintf(err->text, sizeof(err->text),
                                 "cannot program while %s: stop the channel first (allowed in idle or programmed)",
                                 channel_state_to_string(c->state));
                }
                return -EBUSY;
        }

        const struct channel_limits *l = &c->limits;
        if (p->rate_nl_per_h <= 0 || p->rate_nl_per_h > l->max_rate_nl_per_h)
                return fail(err, "RateMlPerHour",
                            "RateMlPerHour %.6g mL/h is outside the allowed range: more than 0, at most %.6g mL/h",
                            ML(p->rate_nl_per_h), ML(l->max_rate_nl_per_h));
        if (p->vtbi_nl <= 0 || p->vtbi_nl > l->max_vtbi_nl)
                return fail(err, "VtbiMl",
                            "VtbiMl %.6g mL is outside the allowed range: more than 0, at most %.6g mL",
                            ML(p->vtbi_nl), ML(l->max_vtbi_nl));
        if (p->kvo_rate_nl_per_h < 0 || p->kvo_rate_nl_per_h > l->max_kvo_rate_nl_per_h)
                return fail(err, "KvoRateMlPerHour",
                            "KvoRateMlPerHour %.6g mL/h is outside the allowed range: 0 (no KVO) to %.6g mL/h",
                            ML(p->kvo_rate_nl_per_h), ML(l->max_kvo_rate_nl_per_h));
        if (p->kvo_rate_nl_per_h > p->rate_nl_per_h)
                return fail(err, "KvoRateMlPerHour",
                            "KvoRateMlPerHour %.6g mL/h is above RateMlPerHour %.6g mL/h: KVO must not deliver faster than the infusion",
                            ML(p->kvo_rate_nl_per_h), ML(p->rate_nl_per_h));

        /* The mechanism moves in whole steps. Delivering floor(VTBI/step)
         * steps never exceeds the VTBI; refuse when that falls more than 1 %
         * short instead of quietly giving a different dose. */
        int64_t steps = mechanism_nl_to_steps_floor(c->mech, p->vtbi_nl);
        int64_t deliverable_nl = mechanism_steps_to_nl(c->mech, steps);
        if (steps == 0 || (p->vtbi_nl - deliverable_nl) * 100 > p->vtbi_nl)
                return fail(err, "VtbiMl",
                            "VtbiMl %.6g mL cannot be delivered within 1 %%: one pump step is %.6g mL, so the nearest deliverable volume is %.6g mL",
                            ML(p->vtbi_nl), (double) c->mech->pl_per_step / 1e9, ML(deliverable_nl));

        /* A rate is honoured by step timing; the motor's top speed bounds it. */
        if (p->rate_nl_per_h > c->mech->max_rate_nl_per_h)
                return fail(err, "RateMlPerHour",
                            "RateMlPerHour %.6g mL/h is faster than this mechanism can step (at most %.6g mL/h)",
                            ML(p->rate_nl_per_h), ML(c->mech->max_rate_nl_per_h));

        c->prog = *p;
        c->primary_steps_target = steps;
        c->primary_steps = 0;
        c->kvo_steps = 0;
        c->state = CHANNEL_PROGRAMMED;
        return 0;
}

static void set_motion(struct channel *c, bool active, int64_t rate, int64_t now_us, int64_t budget) {
        c->motion = (struct channel_motion) {
                .generation = c->motion.generation + 1,
                .active = active,
                .rate_nl_per_h = active ? rate : 0,
                .anchor_us = now_us,
                .step_budget = active ? budget : 0,
        };
        c->segment_steps = 0;
}

static void enter(struct channel *c, enum channel_state s, int64_t now_us) {
        c->state = s;
        switch (s) {
        case CHANNEL_RUNNING:
                set_motion(c, true, c->prog.rate_nl_per_h, now_us,
                           c->primary_steps_target - c->primary_steps);
                break;
        case CHANNEL_KVO:
                set_motion(c, true, c->prog.kvo_rate_nl_per_h, now_us, INT64_MAX);
                break;
        default:
                set_motion(c, false, 0, now_us, 0);
                break;
        }
}

int channel_start(struct channel *c, int64_t now_us, enum channel_event *ret_event) {
        if (c->state != CHANNEL_PROGRAMMED)
                return -EBUSY;
        c->primary_steps = 0;
        c->kvo_steps = 0;
        enter(c, CHANNEL_RUNNING, now_us);
        *ret_event = CHANNEL_EVENT_STARTED;
        return 0;
}

int channel_pause(struct channel *c, int64_t now_us, enum channel_event *ret_event) {
        if (c->state != CHANNEL_RUNNING && c->state != CHANNEL_KVO)
                return -EBUSY;
        /* Resume must know which phase to go back to. */
        c->halted_from = c->state;
        enter(c, CHANNEL_PAUSED, now_us);
        *ret_event = CHANNEL_EVENT_PAUSED;
        return 0;
}

int channel_resume(struct channel *c, int64_t now_us, enum channel_event *ret_event) {
        if (c->state != CHANNEL_PAUSED)
                return -EBUSY;
        enter(c, c->halted_from == CHANNEL_KVO ? CHANNEL_KVO : CHANNEL_RUNNING, now_us);
        *ret_event = CHANNEL_EVENT_RESUMED;
        return 0;
}

int channel_stop(struct channel *c, int64_t now_us, enum channel_event *ret_event) {
        if (c->state == CHANNEL_IDLE)
                return -EBUSY;
        *ret_event = c->state == CHANNEL_PROGRAMMED ? CHANNEL_EVENT_CLEARED : CHANNEL_EVENT_STOPPED;
        enter(c, CHANNEL_IDLE, now_us);
        return 0;
}

int channel_halt(struct channel *c, int64_t now_us, enum channel_event *ret_event) {
        if (c->state == CHANNEL_IDLE || c->state == CHANNEL_HALTED)
                return -EBUSY;
        c->halted_from = c->state;
        enter(c, CHANNEL_HALTED, now_us);
        *ret_event = CHANNEL_EVENT_HALTED;
        return 0;
}

int channel_account_steps(struct channel *c, int64_t steps, int64_t now_us,
                          enum channel_event *ret_event) {
        if (steps == 0)
                return 0;
        if (steps < 0 || !c->motion.active || steps > c->motion.step_budget - c->segment_steps)
                return -ERANGE;

        c->segment_steps += steps;
        if (c->state == CHANNEL_KVO) {
                c->kvo_steps += steps;
                return 0;
        }
        /* Steps taken while running count toward the VTBI. (Paused or
         * halted channels have no active motion: rejected above.) */
        c->primary_steps += steps;
        if (c->primary_steps < c->primary_steps_target)
                return 0;

        if (c->prog.kvo_rate_nl_per_h > 0) {
                enter(c, CHANNEL_KVO, now_us);
                *ret_event = CHANNEL_EVENT_KVO_STARTED;
        } else {
                enter(c, CHANNEL_IDLE, now_us);
                *ret_event = CHANNEL_EVENT_VTBI_COMPLETE;
        }
        return 1;
}

const struct channel_motion *channel_motion(const struct channel *c) {
        return &c->motion;
}

int64_t channel_primary_volume_nl(const struct channel *c) {
        return mechanism_steps_to_nl(c->mech, c->primary_steps);
}

int64_t channel_kvo_volume_nl(const struct channel *c) {
        return mechanism_steps_to_nl(c->mech, c->kvo_steps);
}

int64_t channel_volume_nl(const struct channel *c) {
        return mechanism_steps_to_nl(c->mech, c->primary_steps + c->kvo_steps);
}

int64_t channel_current_rate_nl_per_h(const struct channel *c) {
        return c->motion.active ? c->motion.rate_nl_per_h : 0;
}

uint64_t channel_time_remaining_sec(const struct channel *c) {
        if (c->state == CHANNEL_IDLE || c->prog.rate_nl_per_h <= 0)
                return 0;
        int64_t left_nl = mechanism_steps_to_nl(c->mech, c->primary_steps_target - c->primary_steps);
        if (left_nl <= 0)
                return 0;
        /* seconds = nL / (nL/h) * 3600, rounded up; left_nl * 3600 fits
         * easily (VTBI <= 1e10 nL). */
        return (uint64_t) ((left_nl * 3600 + c->prog.rate_nl_per_h - 1) / c->prog.rate_nl_per_h);
}

bool channel_infusion_open(const struct channel *c) {
        switch (c->state) {
        case CHANNEL_RUNNING:
        case CHANNEL_PAUSED:
        case CHANNEL_KVO:
                return true;
        case CHANNEL_HALTED:
                return c->halted_from != CHANNEL_PROGRAMMED;
        default:
                return false;
        }
}
