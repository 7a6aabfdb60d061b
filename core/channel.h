/* SPDX-License-Identifier: MIT */
#pragma once

/* One pump channel: the program, the state machine and the volume count.
 * Pure logic: it takes `now` (pump time, µs) as an argument and never reads
 * a clock, touches hardware or logs. The daemon feeds it the steps the
 * executor really took (channel_account_steps) and asks it what motion it
 * wants (channel_motion); the safety gate stands between the two. */

#include <stdbool.h>
#include <stdint.h>

#include "core/mechanism.h"

enum channel_state {
        CHANNEL_IDLE,
        CHANNEL_PROGRAMMED,
        CHANNEL_RUNNING,
        CHANNEL_PAUSED,
        CHANNEL_KVO,
        CHANNEL_HALTED,
        _CHANNEL_STATE_MAX,
};

const char *channel_state_to_string(enum channel_state s);

/* What happened on the last transition, for the record. */
enum channel_event {
        CHANNEL_EVENT_PROGRAMMED,
        CHANNEL_EVENT_STARTED,
        CHANNEL_EVENT_PAUSED,
        CHANNEL_EVENT_RESUMED,
        CHANNEL_EVENT_STOPPED,
        CHANNEL_EVENT_VTBI_COMPLETE,    /* primary volume reached */
        CHANNEL_EVENT_KVO_STARTED,
        CHANNEL_EVENT_HALTED,
        CHANNEL_EVENT_CLEARED,          /* program discarded (Stop from programmed) */
        CHANNEL_EVENT_SEGMENT_STARTED,  /* next step of a multistep/loading/intermittent plan */
        CHANNEL_EVENT_TITRATED,         /* rate changed while running */
        CHANNEL_EVENT_BOLUS_STARTED,
        _CHANNEL_EVENT_MAX,
};

const char *channel_event_to_string(enum channel_event e);

enum program_mode {
        PROGRAM_CONTINUOUS,             /* rate until the VTBI */
        PROGRAM_VOLUME_TIME,            /* VTBI over a duration: the rate follows */
        PROGRAM_MULTISTEP,              /* a list of (rate, volume) steps */
        PROGRAM_LOADING,                /* a loading volume at its rate, then the rate to the VTBI */
        PROGRAM_INTERMITTENT,           /* a dose over a duration, every interval, N times */
        PROGRAM_RAMP,                   /* TPN: ramp up, plateau, taper down, VTBI over a duration */
        PROGRAM_PCA,                    /* patient-controlled analgesia: basal and demand doses */
        _PROGRAM_MODE_MAX,
};

const char *program_mode_to_string(enum program_mode m);
int program_mode_from_string(const char *s, enum program_mode *ret);

#define PROGRAM_MAX_STEPS 32
#define PROGRAM_MAX_DOSES 100
#define PROGRAM_RAMP_STEPS 4         /* rate steps in each ramp */

struct program_step {
        int64_t rate_nl_per_h;
        int64_t volume_nl;
};

/* What a clinician programs. Which fields count depends on the mode; after
 * channel_program() the stored copy also has vtbi_nl = the total volume and
 * rate_nl_per_h = the first step's rate, whatever the mode. */
struct program {
        enum program_mode mode;
        int64_t rate_nl_per_h;          /* continuous, loading (maintenance) */
        int64_t vtbi_nl;                /* continuous, volume-time, loading (total) */
        int64_t kvo_rate_nl_per_h;      /* >= 0; 0 = stop at the end instead of KVO */
        int64_t duration_us;            /* volume-time: whole VTBI; intermittent: each dose */
        int64_t loading_volume_nl;      /* loading */
        int64_t loading_rate_nl_per_h;  /* loading */
        int64_t dose_volume_nl;         /* intermittent */
        int64_t interval_us;            /* intermittent: start to start */
        unsigned doses;                 /* intermittent: how many */
        int64_t ramp_up_us;             /* ramp: time to reach the plateau */
        int64_t ramp_down_us;           /* ramp: time to taper off at the end */
        unsigned n_steps;               /* multistep */
        struct program_step steps[PROGRAM_MAX_STEPS];

        /* pca: vtbi_nl is the reservoir, loading_volume_nl an optional
         * loading dose at pca_bolus_rate_nl_per_h; no KVO after the
         * reservoir (kvo_rate_nl_per_h is ignored and stored as 0). The
         * failsafe (lockout, hourly count, limit) is safety/pca.c's. */
        int64_t pca_dose_nl;
        int64_t pca_bolus_rate_nl_per_h;
        int64_t lockout_us;
        unsigned max_doses_per_hour;
        int64_t limit_nl;
        int64_t limit_window_us;
        int64_t basal_nl_per_h;         /* 0: none; the channel waits for demands */
        int64_t limit_kvo_nl_per_h;     /* no basal and the limit reached: this flow (0: none) */
};

/* The plan a program becomes: deliver segments (a rate until a cumulative
 * step count) and hold segments (no flow for a time). Step targets are
 * cumulative floors of cumulative volumes, so rounding never adds up
 * across segments. */
#define PLAN_MAX_SEGMENTS (2 * PROGRAM_MAX_DOSES)

struct plan_segment {
        int64_t rate_nl_per_h;          /* 0: a hold */
        int64_t end_steps;              /* cumulative primary steps at its end */
        int64_t hold_us;                /* holds only */
        bool bolus;                     /* a dose: a clinician bolus, a PCA demand or loading dose */
        bool wait;                      /* pca without basal: no flow until a dose, no end in time */
};

/* Limits that do not change while the daemon runs (from the config). */
struct channel_limits {
        int64_t max_rate_nl_per_h;      /* device limit: min(config, mechanism) */
        int64_t max_vtbi_nl;
        int64_t max_kvo_rate_nl_per_h;
};

/* Why a program was refused; text is for a person ("RateMlPerHour 1500 is
 * above the device maximum of 1200 mL/h"). */
struct channel_error {
        const char *field;              /* the offending key, or NULL */
        char text[256];
};

/* The motion the channel wants now. Changes of any field bump generation. */
struct channel_motion {
        uint64_t generation;
        bool active;                    /* false: motor must stay still */
        int64_t rate_nl_per_h;          /* current target rate, 0 when !active */
        int64_t anchor_us;              /* when the current segment began */
        int64_t step_budget;            /* steps left in this phase (VTBI or KVO cap) */
};

struct channel {
        unsigned index;
        const struct mechanism *mech;
        struct channel_limits limits;

        enum channel_state state;
        enum channel_state halted_from;
        struct program prog;

        unsigned n_segments;
        struct plan_segment plan[PLAN_MAX_SEGMENTS];
        unsigned segment;               /* current plan segment */
        int64_t hold_until_us;          /* end of the current hold while running */
        int64_t hold_left_us;           /* what was left of a hold at Pause */

        int64_t primary_steps_target;   /* end of the plan: floor(total / step volume) */
        int64_t primary_steps;          /* steps delivered toward the VTBI */
        int64_t kvo_steps;              /* steps delivered at KVO rate */

        struct channel_motion motion;
        int64_t segment_steps;          /* steps accounted in the current segment */

        bool pca_limited;               /* pca: the cumulative limit is reached */
};

void channel_init(struct channel *c, unsigned index, const struct mechanism *m,
                  const struct channel_limits *limits);

/* Validate and store a program. Allowed in idle and programmed.
 * Returns 0, -EINVAL (bad value, *err says which and what is allowed, or
 * -EBUSY (wrong state). State and program are unchanged on error. */
int channel_program(struct channel *c, const struct program *p, struct channel_error *err);

/* Transitions. Each returns 0 and the event it produced in *ret_event, or
 * -EBUSY when not allowed in the current state (nothing changes). */
int channel_start(struct channel *c, int64_t now_us, enum channel_event *ret_event);
int channel_pause(struct channel *c, int64_t now_us, enum channel_event *ret_event);
int channel_resume(struct channel *c, int64_t now_us, enum channel_event *ret_event);
int channel_stop(struct channel *c, int64_t now_us, enum channel_event *ret_event);
/* Stop all motion because of an alarm or fault. Allowed from any state
 * except idle/halted; Stop then returns to idle. */
int channel_halt(struct channel *c, int64_t now_us, enum channel_event *ret_event);

/* Change the rate of the running delivery segment (continuous and
 * loading-maintenance programs) without stopping: allowed while running
 * or paused in a continuous program. Volumes already delivered stand; the
 * rest of the VTBI follows at the new rate. -EBUSY in another state or
 * mode, -EINVAL (with *err) for a rate out of range. Bumps the motion
 * generation, so the caller restarts the executor's schedule. */
int channel_titrate(struct channel *c, int64_t rate_nl_per_h, int64_t now_us, struct channel_error *err);

/* A clinician bolus during a running delivery (or a PCA dose, also while
 * a PCA program waits for demands): volume_nl at
 * rate_nl_per_h now, then the program carries on. The bolus comes from
 * the same syringe and counts toward the VTBI, so it is capped by what is
 * left of the current segment. -EBUSY when not running a delivery (or the
 * plan is full), -EINVAL with *err for a bad rate or volume. */
int channel_bolus(struct channel *c, int64_t volume_nl, int64_t rate_nl_per_h, int64_t now_us,
                  struct channel_error *err);

/* PCA: the cumulative limit is reached (or no longer). Without a basal
 * rate the waiting channel then runs at the program's limit KVO rate (or
 * stays still). Returns 1 when the motion changed (the caller restarts
 * the executor), 0 when not, -EBUSY outside a PCA program. */
int channel_set_pca_limited(struct channel *c, bool limited, int64_t now_us);

/* Start the current motion's schedule afresh from now (same rate, the
 * budget what is left): after the executor was stopped and every step it
 * took accounted, so it does not catch up on steps "due" since the old
 * anchor. Bumps the generation. */
void channel_restart_motion(struct channel *c, int64_t now_us);

/* Steps left in the reservoir (pca) or the plan: what a dose may take. */
int64_t channel_steps_left(const struct channel *c);

/* Time-driven transitions (the end of a hold). Returns 1 with *ret_event
 * when one happened, else 0. */
int channel_tick(struct channel *c, int64_t now_us, enum channel_event *ret_event);

/* Account for steps the executor really took in the current segment.
 * May end a segment (the next one starts: SEGMENT_STARTED) or the whole
 * plan (RUNNING -> KVO, or -> IDLE when the KVO rate is 0); then
 * *ret_event is set and the function returns 1, else 0.
 * Returns -ERANGE if steps exceed the current budget: the executor moved
 * more than it was allowed and the caller must halt. */
int channel_account_steps(struct channel *c, int64_t steps, int64_t now_us,
                          enum channel_event *ret_event);

const struct channel_motion *channel_motion(const struct channel *c);

int64_t channel_volume_nl(const struct channel *c);         /* primary + KVO */
int64_t channel_primary_volume_nl(const struct channel *c); /* toward the VTBI */
int64_t channel_kvo_volume_nl(const struct channel *c);
/* The rate now: program rate while running, KVO rate in kvo, else 0. */
int64_t channel_current_rate_nl_per_h(const struct channel *c);
/* Seconds to the end of the VTBI at the program rate (rounded up); 0 when
 * nothing is left or the channel is not programmed. */
uint64_t channel_time_remaining_sec(const struct channel *c);
/* True while an infusion is in progress (started and not yet stopped). */
bool channel_infusion_open(const struct channel *c);
