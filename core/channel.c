/* SPDX-License-Identifier: MIT */
#include "core/channel.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/muldiv.h"
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
        [CHANNEL_EVENT_SEGMENT_STARTED] = "step-started",
        [CHANNEL_EVENT_TITRATED] = "titrated",
        [CHANNEL_EVENT_BOLUS_STARTED] = "bolus-started",
};

static const char *const mode_names[_PROGRAM_MODE_MAX] = {
        [PROGRAM_CONTINUOUS] = "continuous",
        [PROGRAM_VOLUME_TIME] = "volume-time",
        [PROGRAM_MULTISTEP] = "multistep",
        [PROGRAM_LOADING] = "loading",
        [PROGRAM_INTERMITTENT] = "intermittent",
        [PROGRAM_RAMP] = "ramp",
        [PROGRAM_PCA] = "pca",
};

const char *program_mode_to_string(enum program_mode m) {
        return (unsigned) m < _PROGRAM_MODE_MAX ? mode_names[m] : "invalid";
}

int program_mode_from_string(const char *str, enum program_mode *ret) {
        for (unsigned i = 0; i < _PROGRAM_MODE_MAX; i++)
                if (strcmp(mode_names[i], str) == 0) {
                        *ret = i;
                        return 0;
                }
        return -EINVAL;
}

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

static int check_rate(const struct channel *c, const char *field, int64_t rate, struct channel_error *err) {
        const struct channel_limits *l = &c->limits;
        if (rate <= 0 || rate > l->max_rate_nl_per_h)
                return fail(err, field, "%s %.6g mL/h is outside the allowed range: more than 0, at most %.6g mL/h",
                            field, ML(rate), ML(l->max_rate_nl_per_h));
        /* A rate is honoured by step timing; the motor's top speed bounds it. */
        if (rate > c->mech->max_rate_nl_per_h)
                return fail(err, field, "%s %.6g mL/h is faster than this mechanism can step (at most %.6g mL/h)",
                            field, ML(rate), ML(c->mech->max_rate_nl_per_h));
        return 0;
}

static int check_volume(const struct channel *c, const char *field, int64_t volume, struct channel_error *err) {
        if (volume <= 0 || volume > c->limits.max_vtbi_nl)
                return fail(err, field, "%s %.6g mL is outside the allowed range: more than 0, at most %.6g mL",
                            field, ML(volume), ML(c->limits.max_vtbi_nl));
        return 0;
}

/* Plan under construction: appends segments and keeps the cumulative
 * volume, refusing any delivery the mechanism cannot honour within 1 %. */
struct plan_builder {
        const struct channel *c;
        struct plan_segment seg[PLAN_MAX_SEGMENTS];
        unsigned n;
        int64_t total_nl;
};

static int plan_deliver(struct plan_builder *b, const char *rate_field, const char *volume_field,
                        int64_t rate, int64_t volume, struct channel_error *err) {
        const struct mechanism *m = b->c->mech;
        int r = check_rate(b->c, rate_field, rate, err);
        if (r < 0)
                return r;
        if (b->n >= PLAN_MAX_SEGMENTS)
                return fail(err, volume_field, "the program has more than %d segments", PLAN_MAX_SEGMENTS);

        int64_t start = b->n ? b->seg[b->n - 1].end_steps : 0;
        int64_t end = mechanism_nl_to_steps_floor(m, b->total_nl + volume);
        int64_t deliverable_nl = mechanism_steps_to_nl(m, end - start);
        /* The mechanism moves in whole steps. Delivering floor(volume/step)
         * steps never exceeds it; refuse when that falls more than 1 %
         * short (or long, across a boundary) instead of quietly giving a
         * different dose. */
        int64_t diff = deliverable_nl - volume;
        if (end <= start || (diff < 0 ? -diff : diff) * 100 > volume)
                return fail(err, volume_field,
                            "%s %.6g mL cannot be delivered within 1 %%: one pump step is %.6g mL, so the nearest deliverable volume is %.6g mL",
                            volume_field, ML(volume), (double) m->pl_per_step / 1e9, ML(deliverable_nl));

        b->total_nl += volume;
        b->seg[b->n++] = (struct plan_segment) { .rate_nl_per_h = rate, .end_steps = end };
        return 0;
}

/* PCA without basal: the reservoir waits for demands. Its end is where
 * the VTBI ends, judged for the mechanism's resolution like a delivery. */
static int plan_wait(struct plan_builder *b, int64_t volume, struct channel_error *err) {
        const struct mechanism *m = b->c->mech;
        int64_t start = b->n ? b->seg[b->n - 1].end_steps : 0;
        int64_t end = mechanism_nl_to_steps_floor(m, b->total_nl + volume);
        int64_t diff = mechanism_steps_to_nl(m, end - start) - volume;
        if (end <= start || (diff < 0 ? -diff : diff) * 100 > volume)
                return fail(err, "VtbiMl", "VtbiMl %.6g mL cannot be delivered within 1 %%: one pump step is %.6g mL",
                            ML(volume), (double) m->pl_per_step / 1e9);
        b->total_nl += volume;
        b->seg[b->n++] = (struct plan_segment) { .end_steps = end, .wait = true };
        return 0;
}

static void plan_hold(struct plan_builder *b, int64_t hold_us) {
        int64_t end = b->n ? b->seg[b->n - 1].end_steps : 0;
        b->seg[b->n++] = (struct plan_segment) { .end_steps = end, .hold_us = hold_us };
}

/* rate = volume / duration, in nL/h, rounded to the nearest nL/h: far
 * below any mechanism's resolution. */
static int64_t rate_for(int64_t volume_nl, int64_t duration_us) {
        return (int64_t) (((long double) volume_nl * US_PER_HOUR) / duration_us + 0.5L);
}

/* PCA: [loading dose], then basal to the end of the reservoir, or a wait
 * for demands. The failsafe's own values are checked here only for what
 * the mechanism and the plan need; their clinical limits are the
 * library's (safety/pca-check.c). */
static int build_pca(struct plan_builder *b, const struct program *p, struct channel_error *err) {
        const struct mechanism *m = b->c->mech;
        int r = check_volume(b->c, "VtbiMl", p->vtbi_nl, err);
        if (r < 0)
                return r;
        r = check_rate(b->c, "PcaBolusRateMlPerHour", p->pca_bolus_rate_nl_per_h, err);
        if (r < 0)
                return r;
        int64_t steps = mechanism_nl_to_steps_floor(m, p->pca_dose_nl);
        int64_t diff = p->pca_dose_nl - mechanism_steps_to_nl(m, steps);
        if (p->pca_dose_nl <= 0 || steps <= 0 || diff * 100 > p->pca_dose_nl)
                return fail(err, "PcaDoseMl", "PcaDoseMl %.6g mL cannot be delivered within 1 %%: one pump step is %.6g mL",
                            ML(p->pca_dose_nl), (double) m->pl_per_step / 1e9);
        if (p->pca_dose_nl >= p->vtbi_nl)
                return fail(err, "PcaDoseMl", "PcaDoseMl %.6g mL must be less than the reservoir VtbiMl %.6g mL",
                            ML(p->pca_dose_nl), ML(p->vtbi_nl));
        if (p->max_doses_per_hour < 1 || p->max_doses_per_hour > 60)
                return fail(err, "MaxDosesPerHour", "MaxDosesPerHour %u is outside the allowed range: 1 to 60",
                            p->max_doses_per_hour);
        if (p->limit_window_us < US_PER_HOUR || p->limit_window_us > 12 * US_PER_HOUR)
                return fail(err, "LimitWindowSec", "LimitWindowSec %.6g s is outside the allowed range: 3600 to 43200 (1 to 12 h)",
                            (double) p->limit_window_us / US_PER_SEC);
        if (p->limit_nl < p->pca_dose_nl)
                return fail(err, "LimitMl", "LimitMl %.6g mL is less than one dose (PcaDoseMl %.6g mL): no demand could ever be granted",
                            ML(p->limit_nl), ML(p->pca_dose_nl));
        /* A dose must be over before the next can be granted, or two
         * would run as one: the lockout covers the dose's delivery time. */
        int64_t dose_us = INT64_MAX;    /* beyond every lockout when it does not fit */
        (void) muldiv_ceil(p->pca_dose_nl, US_PER_HOUR, p->pca_bolus_rate_nl_per_h, &dose_us);
        if (p->lockout_us < dose_us || p->lockout_us > 240 * US_PER_MIN)
                return fail(err, "LockoutSec",
                            "LockoutSec %.6g s is outside the allowed range: from the dose's delivery time (%.6g s at %.6g mL/h) to 14400 s (4 h)",
                            (double) p->lockout_us / US_PER_SEC, (double) dose_us / US_PER_SEC, ML(p->pca_bolus_rate_nl_per_h));
        if (p->limit_kvo_nl_per_h < 0 || p->limit_kvo_nl_per_h > b->c->limits.max_kvo_rate_nl_per_h)
                return fail(err, "LimitKvoRateMlPerHour",
                            "LimitKvoRateMlPerHour %.6g mL/h is outside the allowed range: 0 (no flow) to %.6g mL/h",
                            ML(p->limit_kvo_nl_per_h), ML(b->c->limits.max_kvo_rate_nl_per_h));
        /* The continuous flow alone must leave room for a dose in every
         * window, or the limit state would be permanent. */
        int64_t continuous = p->basal_nl_per_h > 0 ? p->basal_nl_per_h : p->limit_kvo_nl_per_h;
        int64_t reserve = INT64_MAX;
        (void) muldiv_ceil(continuous, p->limit_window_us, US_PER_HOUR, &reserve);
        if (reserve > p->limit_nl - p->pca_dose_nl)
                return fail(err, "LimitMl",
                            "LimitMl %.6g mL leaves no room for a dose: the %s rate of %.6g mL/h alone gives %.6g mL in the %.6g h window",
                            ML(p->limit_nl), p->basal_nl_per_h > 0 ? "basal" : "limit KVO", ML(continuous),
                            ML((int64_t) reserve), (double) p->limit_window_us / US_PER_HOUR);

        if (p->loading_volume_nl > 0) {
                if (p->loading_volume_nl >= p->vtbi_nl)
                        return fail(err, "LoadingDoseMl", "LoadingDoseMl %.6g mL must be less than the reservoir VtbiMl %.6g mL",
                                    ML(p->loading_volume_nl), ML(p->vtbi_nl));
                r = plan_deliver(b, "PcaBolusRateMlPerHour", "LoadingDoseMl", p->pca_bolus_rate_nl_per_h,
                                 p->loading_volume_nl, err);
                if (r < 0)
                        return r;
                b->seg[b->n - 1].bolus = true;
        }
        int64_t rest = p->vtbi_nl - MAX(p->loading_volume_nl, INT64_C(0));
        if (p->basal_nl_per_h > 0)
                return plan_deliver(b, "BasalRateMlPerHour", "VtbiMl", p->basal_nl_per_h, rest, err);
        return plan_wait(b, rest, err);
}

static int build_plan(struct plan_builder *b, const struct program *p, struct channel_error *err) {
        int r;

        switch (p->mode) {
        case PROGRAM_CONTINUOUS:
                r = check_volume(b->c, "VtbiMl", p->vtbi_nl, err);
                return r < 0 ? r : plan_deliver(b, "RateMlPerHour", "VtbiMl", p->rate_nl_per_h, p->vtbi_nl, err);

        case PROGRAM_VOLUME_TIME:
                r = check_volume(b->c, "VtbiMl", p->vtbi_nl, err);
                if (r < 0)
                        return r;
                if (p->duration_us < US_PER_MIN || p->duration_us > 7 * 24 * US_PER_HOUR)
                        return fail(err, "DurationSec", "DurationSec %.6g s is outside the allowed range: 60 s to 7 days",
                                    (double) p->duration_us / US_PER_SEC);
                return plan_deliver(b, "DurationSec", "VtbiMl", rate_for(p->vtbi_nl, p->duration_us), p->vtbi_nl, err);

        case PROGRAM_MULTISTEP:
                if (p->n_steps < 1 || p->n_steps > PROGRAM_MAX_STEPS)
                        return fail(err, "Steps", "Steps must hold 1 to %d (rate, volume) pairs, not %u",
                                    PROGRAM_MAX_STEPS, p->n_steps);
                for (unsigned i = 0; i < p->n_steps; i++) {
                        r = check_volume(b->c, "Steps", p->steps[i].volume_nl, err);
                        if (r >= 0)
                                r = plan_deliver(b, "Steps", "Steps", p->steps[i].rate_nl_per_h, p->steps[i].volume_nl, err);
                        if (r < 0) {
                                char text[sizeof(err->text)];
                                if (err) {
                                        snprintf(text, sizeof(text), "%s", err->text);
                                        snprintf(err->text, sizeof(err->text), "Steps[%u]: %.200s", i, text);
                                }
                                return r;
                        }
                }
                /* Each step fits, but the steps are one program: their sum
                 * is its VTBI, bounded as every other mode's is. */
                if (b->total_nl > b->c->limits.max_vtbi_nl)
                        return fail(err, "Steps", "Steps add up to %.6g mL, more than the largest volume allowed, %.6g mL",
                                    ML(b->total_nl), ML(b->c->limits.max_vtbi_nl));
                return 0;

        case PROGRAM_LOADING:
                r = check_volume(b->c, "VtbiMl", p->vtbi_nl, err);
                if (r >= 0)
                        r = check_volume(b->c, "LoadingVolumeMl", p->loading_volume_nl, err);
                if (r < 0)
                        return r;
                if (p->loading_volume_nl >= p->vtbi_nl)
                        return fail(err, "LoadingVolumeMl",
                                    "LoadingVolumeMl %.6g mL must be less than VtbiMl %.6g mL (the VTBI includes the loading dose)",
                                    ML(p->loading_volume_nl), ML(p->vtbi_nl));
                r = plan_deliver(b, "LoadingRateMlPerHour", "LoadingVolumeMl", p->loading_rate_nl_per_h,
                                 p->loading_volume_nl, err);
                return r < 0 ? r : plan_deliver(b, "RateMlPerHour", "VtbiMl", p->rate_nl_per_h,
                                                p->vtbi_nl - p->loading_volume_nl, err);

        case PROGRAM_INTERMITTENT:
                r = check_volume(b->c, "DoseVolumeMl", p->dose_volume_nl, err);
                if (r < 0)
                        return r;
                if (p->doses < 1 || p->doses > PROGRAM_MAX_DOSES)
                        return fail(err, "Doses", "Doses %u is outside the allowed range: 1 to %d",
                                    p->doses, PROGRAM_MAX_DOSES);
                if (p->duration_us < US_PER_MIN)
                        return fail(err, "DurationSec", "DurationSec %.6g s is too short: each dose runs at least 60 s",
                                    (double) p->duration_us / US_PER_SEC);
                if (p->interval_us <= p->duration_us || p->interval_us > 7 * 24 * US_PER_HOUR)
                        return fail(err, "IntervalSec",
                                    "IntervalSec %.6g s must be longer than DurationSec %.6g s and at most 7 days",
                                    (double) p->interval_us / US_PER_SEC, (double) p->duration_us / US_PER_SEC);
                if ((int64_t) p->doses * p->dose_volume_nl > b->c->limits.max_vtbi_nl)
                        return fail(err, "Doses", "%u doses of %.6g mL exceed the largest volume allowed, %.6g mL",
                                    p->doses, ML(p->dose_volume_nl), ML(b->c->limits.max_vtbi_nl));
                for (unsigned i = 0; i < p->doses; i++) {
                        if (i > 0)
                                plan_hold(b, p->interval_us - p->duration_us);
                        r = plan_deliver(b, "DurationSec", "DoseVolumeMl", rate_for(p->dose_volume_nl, p->duration_us),
                                         p->dose_volume_nl, err);
                        if (r < 0)
                                return r;
                }
                return 0;

        case PROGRAM_RAMP: {
                r = check_volume(b->c, "VtbiMl", p->vtbi_nl, err);
                if (r < 0)
                        return r;
                if (p->duration_us < 10 * US_PER_MIN || p->duration_us > 7 * 24 * US_PER_HOUR)
                        return fail(err, "DurationSec", "DurationSec %.6g s is outside the allowed range: 10 min to 7 days",
                                    (double) p->duration_us / US_PER_SEC);
                if (p->ramp_up_us < PROGRAM_RAMP_STEPS * US_PER_MIN || p->ramp_down_us < PROGRAM_RAMP_STEPS * US_PER_MIN ||
                    p->ramp_up_us + p->ramp_down_us >= p->duration_us)
                        return fail(err, p->ramp_up_us < PROGRAM_RAMP_STEPS * US_PER_MIN ? "RampUpSec" : "RampDownSec",
                                    "RampUpSec and RampDownSec must each be at least %d min and together shorter than DurationSec",
                                    PROGRAM_RAMP_STEPS);
                /* Stepwise ramps at k/(n+1) of the plateau rate average
                 * half of it, so V = R * (T - up/2 - down/2). */
                long double plateau = (long double) p->vtbi_nl * US_PER_HOUR /
                                      ((long double) p->duration_us - p->ramp_up_us / 2.0L - p->ramp_down_us / 2.0L);
                int64_t used = 0;
                struct { int64_t rate, volume; } steps[2 * PROGRAM_RAMP_STEPS + 1];
                unsigned n = 0;
                for (int k = 1; k <= PROGRAM_RAMP_STEPS; k++) {
                        int64_t rate = (int64_t) (plateau * k / (PROGRAM_RAMP_STEPS + 1) + 0.5L);
                        int64_t vol = (int64_t) ((long double) rate * (p->ramp_up_us / PROGRAM_RAMP_STEPS) / US_PER_HOUR);
                        steps[n++] = (typeof(steps[0])) { rate, vol };
                        used += vol;
                }
                unsigned plateau_at = n++;
                for (int k = PROGRAM_RAMP_STEPS; k >= 1; k--) {
                        int64_t rate = (int64_t) (plateau * k / (PROGRAM_RAMP_STEPS + 1) + 0.5L);
                        int64_t vol = (int64_t) ((long double) rate * (p->ramp_down_us / PROGRAM_RAMP_STEPS) / US_PER_HOUR);
                        steps[n++] = (typeof(steps[0])) { rate, vol };
                        used += vol;
                }
                /* The plateau takes what is left, so the total is the VTBI exactly. */
                steps[plateau_at] = (typeof(steps[0])) { (int64_t) (plateau + 0.5L), p->vtbi_nl - used };
                for (unsigned i = 0; i < n; i++) {
                        r = plan_deliver(b, "VtbiMl", "VtbiMl", steps[i].rate, steps[i].volume, err);
                        if (r < 0)
                                return r;
                }
                return 0;
        }

        case PROGRAM_PCA:
                return build_pca(b, p, err);

        default:
                return fail(err, "Mode", "unknown mode");
        }
}

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
        struct program pca_prog;
        if (p->mode == PROGRAM_PCA) {
                /* The reservoir is the limit: nothing flows after it. */
                pca_prog = *p;
                pca_prog.kvo_rate_nl_per_h = 0;
                p = &pca_prog;
        }
        if (p->kvo_rate_nl_per_h < 0 || p->kvo_rate_nl_per_h > l->max_kvo_rate_nl_per_h)
                return fail(err, "KvoRateMlPerHour",
                            "KvoRateMlPerHour %.6g mL/h is outside the allowed range: 0 (no KVO) to %.6g mL/h",
                            ML(p->kvo_rate_nl_per_h), ML(l->max_kvo_rate_nl_per_h));

        struct plan_builder b = { .c = c };
        int r = build_plan(&b, p, err);
        if (r < 0)
                return r;

        /* KVO must not deliver faster than any part of the infusion. */
        for (unsigned i = 0; i < b.n; i++)
                if (b.seg[i].rate_nl_per_h > 0 && p->kvo_rate_nl_per_h > b.seg[i].rate_nl_per_h)
                        return fail(err, "KvoRateMlPerHour",
                                    "KvoRateMlPerHour %.6g mL/h is above the infusion's rate %.6g mL/h: KVO must not deliver faster than the infusion",
                                    ML(p->kvo_rate_nl_per_h), ML(b.seg[i].rate_nl_per_h));

        c->prog = *p;
        c->prog.vtbi_nl = b.total_nl;
        c->prog.rate_nl_per_h = b.seg[0].rate_nl_per_h;
        memcpy(c->plan, b.seg, b.n * sizeof(b.seg[0]));
        c->n_segments = b.n;
        c->segment = 0;
        c->primary_steps_target = b.seg[b.n - 1].end_steps;
        c->primary_steps = 0;
        c->kvo_steps = 0;
        c->pca_limited = false;
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
        case CHANNEL_RUNNING: {
                const struct plan_segment *seg = &c->plan[c->segment];
                if (seg->rate_nl_per_h > 0)
                        set_motion(c, true, seg->rate_nl_per_h, now_us, seg->end_steps - c->primary_steps);
                else if (seg->wait) {
                        /* Waiting for demands: still, or the limit KVO. */
                        bool kvo = c->pca_limited && c->prog.limit_kvo_nl_per_h > 0;
                        set_motion(c, kvo, c->prog.limit_kvo_nl_per_h, now_us, seg->end_steps - c->primary_steps);
                        c->hold_until_us = INT64_MAX;
                        c->hold_left_us = 0;
                } else {
                        set_motion(c, false, 0, now_us, 0);
                        c->hold_until_us = now_us + (c->hold_left_us > 0 ? c->hold_left_us : seg->hold_us);
                        c->hold_left_us = 0;
                }
                break;
        }
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
        c->segment = 0;
        c->hold_left_us = 0;
        enter(c, CHANNEL_RUNNING, now_us);
        *ret_event = CHANNEL_EVENT_STARTED;
        return 0;
}

int channel_pause(struct channel *c, int64_t now_us, enum channel_event *ret_event) {
        if (c->state != CHANNEL_RUNNING && c->state != CHANNEL_KVO)
                return -EBUSY;
        /* Resume must know which phase to go back to, and how much of a
         * hold was left. */
        c->halted_from = c->state;
        if (c->state == CHANNEL_RUNNING && c->plan[c->segment].rate_nl_per_h == 0 && !c->plan[c->segment].wait)
                c->hold_left_us = c->hold_until_us > now_us ? c->hold_until_us - now_us : 1;
        enter(c, CHANNEL_PAUSED, now_us);
        *ret_event = CHANNEL_EVENT_PAUSED;
        return 0;
}

int channel_resume(struct channel *c, int64_t now_us, enum channel_event *ret_event) {
        /* Halted by an alarm: once a person has dealt with it (the pump
         * checks the alarms), Resume carries on where delivery stopped,
         * as Run does on a bedside pump. Nothing resumes by itself. */
        bool halted_in_delivery = c->state == CHANNEL_HALTED &&
                (c->halted_from == CHANNEL_RUNNING || c->halted_from == CHANNEL_KVO);
        if (c->state != CHANNEL_PAUSED && !halted_in_delivery)
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
        /* Halted from a pause: it was paused in some phase, so it resumes
         * as a pause would (halted_from keeps that phase). */
        if (c->state != CHANNEL_PAUSED) {
                c->halted_from = c->state;
                if (c->state == CHANNEL_RUNNING && c->plan[c->segment].rate_nl_per_h == 0 && !c->plan[c->segment].wait)
                        c->hold_left_us = c->hold_until_us > now_us ? c->hold_until_us - now_us : 1;
        }
        enter(c, CHANNEL_HALTED, now_us);
        *ret_event = CHANNEL_EVENT_HALTED;
        return 0;
}

/* The current segment is done: start the next, or end the plan. */
static int next_segment(struct channel *c, int64_t now_us, enum channel_event *ret_event) {
        /* Skip segments already complete (none in a valid plan, but a
         * count that jumped must never restart a finished delivery). */
        while (++c->segment < c->n_segments)
                if (c->plan[c->segment].rate_nl_per_h == 0 ||
                    c->primary_steps < c->plan[c->segment].end_steps) {
                        enter(c, CHANNEL_RUNNING, now_us);
                        *ret_event = CHANNEL_EVENT_SEGMENT_STARTED;
                        return 1;
                }
        c->segment = c->n_segments - 1;
        if (c->prog.kvo_rate_nl_per_h > 0) {
                enter(c, CHANNEL_KVO, now_us);
                *ret_event = CHANNEL_EVENT_KVO_STARTED;
        } else {
                enter(c, CHANNEL_IDLE, now_us);
                *ret_event = CHANNEL_EVENT_VTBI_COMPLETE;
        }
        return 1;
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
        if (c->primary_steps < c->plan[c->segment].end_steps)
                return 0;
        return next_segment(c, now_us, ret_event);
}

int channel_titrate(struct channel *c, int64_t rate_nl_per_h, int64_t now_us, struct channel_error *err) {
        bool running = c->state == CHANNEL_RUNNING, paused = c->state == CHANNEL_PAUSED && c->halted_from == CHANNEL_RUNNING;
        if (!running && !paused)
                return -EBUSY;
        /* Only a program with one rate to the end: the last segment of a
         * continuous program, or the maintenance part of a loading one. */
        bool last = c->segment == c->n_segments - 1;
        if (c->plan[c->segment].bolus ||
            !(c->prog.mode == PROGRAM_CONTINUOUS || (c->prog.mode == PROGRAM_LOADING && last)))
                return -EBUSY;
        int r = check_rate(c, "RateMlPerHour", rate_nl_per_h, err);
        if (r < 0)
                return r;
        if (c->prog.kvo_rate_nl_per_h > rate_nl_per_h)
                return fail(err, "RateMlPerHour",
                            "RateMlPerHour %.6g mL/h is below the KVO rate %.6g mL/h of this program",
                            ML(rate_nl_per_h), ML(c->prog.kvo_rate_nl_per_h));

        c->plan[c->segment].rate_nl_per_h = rate_nl_per_h;
        if (c->prog.mode == PROGRAM_CONTINUOUS)
                c->prog.rate_nl_per_h = rate_nl_per_h;
        if (running)
                enter(c, CHANNEL_RUNNING, now_us);
        return 0;
}

int channel_bolus(struct channel *c, int64_t volume_nl, int64_t rate_nl_per_h, int64_t now_us,
                  struct channel_error *err) {
        const struct plan_segment *now_seg = &c->plan[c->segment];
        if (c->state != CHANNEL_RUNNING || (now_seg->rate_nl_per_h == 0 && !now_seg->wait) || now_seg->bolus ||
            c->n_segments >= PLAN_MAX_SEGMENTS)
                return -EBUSY;
        int r = check_rate(c, "BolusRateMlPerHour", rate_nl_per_h, err);
        if (r < 0)
                return r;
        const struct plan_segment *cur = &c->plan[c->segment];
        int64_t steps = mechanism_nl_to_steps_floor(c->mech, volume_nl);
        int64_t deliverable_nl = mechanism_steps_to_nl(c->mech, steps);
        if (steps <= 0 || (volume_nl - deliverable_nl) * 100 > volume_nl)
                return fail(err, "BolusMl", "BolusMl %.6g mL cannot be delivered within 1 %%: one pump step is %.6g mL",
                            ML(volume_nl), (double) c->mech->pl_per_step / 1e9);
        int64_t left = cur->end_steps - c->primary_steps;
        if (steps >= left)
                return fail(err, "BolusMl", "BolusMl %.6g mL is more than what is left of this infusion (%.6g mL)",
                            ML(volume_nl), ML(mechanism_steps_to_nl(c->mech, left)));

        /* Insert the bolus before the current segment; the segment keeps
         * its cumulative end, so the bolus comes out of the VTBI. */
        memmove(&c->plan[c->segment + 1], &c->plan[c->segment], (c->n_segments - c->segment) * sizeof(c->plan[0]));
        c->n_segments++;
        c->plan[c->segment] = (struct plan_segment) {
                .rate_nl_per_h = rate_nl_per_h,
                .end_steps = c->primary_steps + steps,
                .bolus = true,
        };
        enter(c, CHANNEL_RUNNING, now_us);
        return 0;
}

int channel_set_pca_limited(struct channel *c, bool limited, int64_t now_us) {
        if (c->prog.mode != PROGRAM_PCA || c->n_segments == 0)
                return -EBUSY;
        if (c->pca_limited == limited)
                return 0;
        c->pca_limited = limited;
        /* Only a channel waiting for demands changes its flow; basal
         * carries on, and a dose in progress finishes (it was granted). */
        if (c->state != CHANNEL_RUNNING || !c->plan[c->segment].wait || c->prog.limit_kvo_nl_per_h == 0)
                return 0;
        enter(c, CHANNEL_RUNNING, now_us);
        return 1;
}

void channel_restart_motion(struct channel *c, int64_t now_us) {
        if (c->state == CHANNEL_RUNNING || c->state == CHANNEL_KVO)
                enter(c, c->state, now_us);
}

int64_t channel_steps_left(const struct channel *c) {
        return c->n_segments ? c->primary_steps_target - c->primary_steps : 0;
}

int channel_tick(struct channel *c, int64_t now_us, enum channel_event *ret_event) {
        if (c->state != CHANNEL_RUNNING || c->plan[c->segment].rate_nl_per_h > 0 || c->plan[c->segment].wait ||
            now_us < c->hold_until_us)
                return 0;
        /* The next segment starts when the hold ended, not when we looked. */
        return next_segment(c, c->hold_until_us, ret_event);
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
        if (c->state == CHANNEL_IDLE || c->state == CHANNEL_KVO || c->n_segments == 0)
                return 0;
        /* Sum what is left of every segment: deliveries at their rates,
         * holds at their length. Work in µs, round up to whole seconds. */
        long double left_us = 0;
        int64_t done = c->primary_steps;
        for (unsigned i = c->segment; i < c->n_segments; i++) {
                const struct plan_segment *seg = &c->plan[i];
                if (seg->rate_nl_per_h > 0) {
                        int64_t steps = seg->end_steps - done;
                        if (steps > 0)
                                left_us += (long double) mechanism_steps_to_nl(c->mech, steps) * US_PER_HOUR /
                                           seg->rate_nl_per_h;
                        done = seg->end_steps;
                } else if (seg->wait)
                        /* Demands set the pace: no time can be promised. */
                        continue;
                else if (i == c->segment && c->state == CHANNEL_RUNNING)
                        left_us += c->hold_until_us > c->motion.anchor_us ? c->hold_until_us - c->motion.anchor_us : 0;
                else if (i == c->segment && c->hold_left_us > 0)
                        left_us += c->hold_left_us;
                else
                        left_us += seg->hold_us;
        }
        return (uint64_t) ((left_us + US_PER_SEC - 1) / US_PER_SEC);
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
