/* SPDX-License-Identifier: MIT */
#include "hal/sim.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "common/macros.h"
#include "common/units.h"
#include "hal/sim-line.h"
#include "hal/sim-noise.h"

/* Nothing upstream is modelled yet: the bag hangs at about the pump's
 * height, so the upstream sensor sees only its noise. */
#define SIM_UPSTREAM_PRESSURE_MMHG 0.0
/* A charged single Li-ion cell on mains; discharge is not modelled yet. */
#define SIM_BATTERY_VOLTAGE_V 4.1

struct sim {
        pthread_mutex_t lock;           /* every entry point, see sim.h */

        struct sim_params params;
        double step_nl;                 /* exact volume of one step */
        sim_clock_fn clock;
        void *clock_userdata;

        bool have_time;                 /* now_us is set */
        int64_t now_us;                 /* model time: never goes backwards */
        int64_t last_step_us;

        struct sim_line line;
        struct sim_noise noise;

        bool motor_enabled;
        enum hal_direction direction;
        int64_t plunger_steps;          /* net forward steps from the start */

        bool inputs[_HAL_INPUT_MAX];
        hal_input_handler_t input_handler;
        void *input_userdata;

        bool outputs[_HAL_OUTPUT_MAX];
        unsigned output_changes[_HAL_OUTPUT_MAX];
};

static struct sim *sim_lock(struct sim *s) {
        pthread_mutex_lock(&s->lock);
        return s;
}

static void sim_unlockp(struct sim **s) {
        if (*s)
                pthread_mutex_unlock(&(*s)->lock);
}

/* Holds s's lock until the end of the enclosing scope. */
#define SIM_LOCK(s) _cleanup_(sim_unlockp) _unused_ struct sim *_sim_locked_ = sim_lock(s)

/* Called with the lock held. */
static void sync_to(struct sim *s, int64_t now_us) {
        if (!s->have_time) {
                /* The line starts at rest, so there is nothing to relax
                 * before the first time we hear of. */
                s->have_time = true;
                s->now_us = now_us;
                return;
        }
        if (now_us <= s->now_us)
                return;
        sim_line_relax(&s->line, now_us - s->now_us);
        s->now_us = now_us;
}

static void sync_to_clock(struct sim *s) {
        if (s->clock)
                sync_to(s, s->clock(s->clock_userdata));
}

/* Empty when not even one more whole step fits in what is left: the
 * plunger then sits on the end stop and pushed never exceeds the fill. */
static bool syringe_empty(const struct sim *s) {
        int64_t pl_per_step = s->params.mech.pl_per_step;
        int64_t left_pl = s->params.syringe_volume_nl * PL_PER_NL - s->plunger_steps * pl_per_step;
        return left_pl < pl_per_step;
}

/* ---- drive ---------------------------------------------------------- */

static int drive_enable(void *ctx, bool on) {
        struct sim *s = ctx;
        SIM_LOCK(s);

        s->motor_enabled = on;
        return 0;
}

static int drive_set_direction(void *ctx, enum hal_direction dir) {
        struct sim *s = ctx;
        SIM_LOCK(s);

        if (dir != HAL_DIRECTION_FORWARD && dir != HAL_DIRECTION_REVERSE)
                return -EINVAL;
        s->direction = dir;
        return 0;
}

static int drive_step(void *ctx) {
        struct sim *s = ctx;
        SIM_LOCK(s);

        /* The step happens now: the line first relaxes up to this moment. */
        sync_to_clock(s);

        /* A disabled driver ignores STEP pulses; report it, so a caller
         * stepping without enabling shows up instead of counting ghost
         * volume. */
        if (!s->motor_enabled)
                return -EPERM;

        if (s->direction == HAL_DIRECTION_FORWARD) {
                if (syringe_empty(s))
                        return -ENOSPC;
                s->plunger_steps++;
                sim_line_step(&s->line, s->step_nl);
        } else {
                s->plunger_steps--;
                sim_line_step(&s->line, -s->step_nl);
        }
        s->last_step_us = s->now_us;
        return 0;
}

static const struct hal_drive_ops sim_drive_ops = {
        .enable = drive_enable,
        .set_direction = drive_set_direction,
        .step = drive_step,
};

/* ---- sensors -------------------------------------------------------- */

static int sensors_read(void *ctx, enum hal_sensor sensor, double *ret_value) {
        struct sim *s = ctx;
        SIM_LOCK(s);
        double v;

        sync_to_clock(s);

        switch (sensor) {
        case HAL_SENSOR_PRESSURE_DOWNSTREAM:
                v = s->line.pressure_mmhg + sim_noise_gaussian(&s->noise, s->params.pressure_noise_mmhg);
                break;
        case HAL_SENSOR_PRESSURE_UPSTREAM:
                v = SIM_UPSTREAM_PRESSURE_MMHG + sim_noise_gaussian(&s->noise, s->params.pressure_noise_mmhg);
                break;
        case HAL_SENSOR_PLUNGER_POSITION:
                v = (double) s->plunger_steps / (double) s->params.mech.steps_per_mm;
                break;
        case HAL_SENSOR_BATTERY_VOLTAGE:
                v = SIM_BATTERY_VOLTAGE_V;
                break;
        default:
                return -EINVAL;
        }

        *ret_value = v;
        return 0;
}

static const struct hal_sensors_ops sim_sensors_ops = {
        .read = sensors_read,
};

/* ---- inputs --------------------------------------------------------- */

static int inputs_read(void *ctx, enum hal_input i, bool *ret_active) {
        struct sim *s = ctx;
        SIM_LOCK(s);

        if ((unsigned) i >= _HAL_INPUT_MAX)
                return -EINVAL;
        *ret_active = i == HAL_INPUT_END_STOP ? syringe_empty(s) : s->inputs[i];
        return 0;
}

static int inputs_set_handler(void *ctx, hal_input_handler_t handler, void *userdata) {
        struct sim *s = ctx;
        SIM_LOCK(s);

        s->input_handler = handler;
        s->input_userdata = userdata;
        return 0;
}

static const struct hal_inputs_ops sim_inputs_ops = {
        .read = inputs_read,
        .set_handler = inputs_set_handler,
};

/* ---- outputs -------------------------------------------------------- */

static int outputs_set(void *ctx, enum hal_output o, bool on) {
        struct sim *s = ctx;
        SIM_LOCK(s);

        if ((unsigned) o >= _HAL_OUTPUT_MAX)
                return -EINVAL;
        if (s->outputs[o] != on) {
                s->outputs[o] = on;
                s->output_changes[o]++;
        }
        return 0;
}

static const struct hal_outputs_ops sim_outputs_ops = {
        .set = outputs_set,
};

/* ---- power ---------------------------------------------------------- */

static int power_read(void *ctx, struct hal_power_status *ret) {
        *ret = (struct hal_power_status) {
                .on_mains = true,
                .capacity_pct = 100,
                .time_to_empty_s = -1,
                .voltage_v = SIM_BATTERY_VOLTAGE_V,
        };
        return 0;
}

static const struct hal_power_ops sim_power_ops = {
        .read = power_read,
};

/* ---- lifetime ------------------------------------------------------- */

int sim_new(const struct sim_params *p, sim_clock_fn clock, void *clock_userdata, struct sim **ret) {
        int r;

        if (!p || !ret)
                return -EINVAL;
        /* !(x > 0) and !(x >= 0) refuse NaN as well. */
        if (p->mech.pl_per_step <= 0 || p->mech.steps_per_mm <= 0 || p->syringe_volume_nl <= 0 ||
            !(p->pressure_noise_mmhg >= 0) || !isfinite(p->pressure_noise_mmhg))
                return -EINVAL;
        /* Keeps syringe_volume_nl * PL_PER_NL inside int64. */
        if (p->syringe_volume_nl > INT64_MAX / PL_PER_NL / 2)
                return -EINVAL;

        _cleanup_(freep) struct sim *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;

        /* Checks compliance, resistance and patient pressure. */
        r = sim_line_init(&s->line, p->line_compliance_nl_per_mmhg,
                          p->line_resistance_mmhg_per_ml_per_h, p->patient_pressure_mmhg);
        if (r < 0)
                return r;

        s->params = *p;
        s->step_nl = (double) p->mech.pl_per_step / (double) PL_PER_NL;
        s->clock = clock;
        s->clock_userdata = clock_userdata;
        s->last_step_us = -1;
        s->direction = HAL_DIRECTION_FORWARD;
        sim_noise_init(&s->noise, p->seed);

        r = pthread_mutex_init(&s->lock, NULL);
        if (r != 0)
                return -r;

        *ret = TAKE_PTR(s);
        return 0;
}

struct sim *sim_free(struct sim *s) {
        if (!s)
                return NULL;
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}

void sim_fill_hal(struct sim *s, struct hal *h) {
        *h = (struct hal) {
                .backend = "sim",
                .drive = &sim_drive_ops,     .drive_ctx = s,
                .sensors = &sim_sensors_ops, .sensors_ctx = s,
                .inputs = &sim_inputs_ops,   .inputs_ctx = s,
                .outputs = &sim_outputs_ops, .outputs_ctx = s,
                .power = &sim_power_ops,     .power_ctx = s,
        };
}

void sim_update(struct sim *s, int64_t now_us) {
        SIM_LOCK(s);
        sync_to(s, now_us);
}

/* ---- faults and world events ---------------------------------------- */

void sim_set_occlusion(struct sim *s, bool occluded) {
        SIM_LOCK(s);

        /* Up to now the line had the old state: relax that stretch first. */
        sync_to_clock(s);
        s->line.occluded = occluded;
}

int sim_set_input(struct sim *s, enum hal_input i, bool active) {
        hal_input_handler_t handler;
        void *userdata;
        int64_t when_us;

        if ((unsigned) i >= _HAL_INPUT_MAX || i == HAL_INPUT_END_STOP)
                return -EINVAL;

        {
                SIM_LOCK(s);

                sync_to_clock(s);
                if (s->inputs[i] == active)
                        return 0;
                s->inputs[i] = active;
                handler = s->input_handler;
                userdata = s->input_userdata;
                when_us = s->now_us;
        }

        /* Outside the lock: a handler may well read the inputs back. */
        if (handler)
                handler(i, active, when_us, userdata);
        return 0;
}

/* ---- truth ---------------------------------------------------------- */

int64_t sim_plunger_steps(struct sim *s) {
        SIM_LOCK(s);
        return s->plunger_steps;
}

int64_t sim_pushed_nl(struct sim *s) {
        SIM_LOCK(s);
        return mechanism_steps_to_nl(&s->params.mech, s->plunger_steps);
}

int64_t sim_delivered_nl(struct sim *s) {
        SIM_LOCK(s);

        sync_to_clock(s);
        /* In whole pL, both terms exact integers, so while occluded (held
         * grows by exactly what is pushed) delivered does not move, and once
         * the line has relaxed it equals pushed. Rounded down like
         * mechanism_steps_to_nl(). */
        int64_t delivered_pl = s->plunger_steps * s->params.mech.pl_per_step - sim_line_held_pl(&s->line);
        if (delivered_pl <= 0)
                return 0;
        return delivered_pl / PL_PER_NL;
}

double sim_line_pressure_mmhg(struct sim *s) {
        SIM_LOCK(s);

        sync_to_clock(s);
        return s->line.pressure_mmhg;
}

bool sim_motor_enabled(struct sim *s) {
        SIM_LOCK(s);
        return s->motor_enabled;
}

int64_t sim_last_step_us(struct sim *s) {
        SIM_LOCK(s);
        return s->last_step_us;
}

bool sim_output_state(struct sim *s, enum hal_output o) {
        SIM_LOCK(s);
        return (unsigned) o < _HAL_OUTPUT_MAX && s->outputs[o];
}

unsigned sim_output_changes(struct sim *s, enum hal_output o) {
        SIM_LOCK(s);
        return (unsigned) o < _HAL_OUTPUT_MAX ? s->output_changes[o] : 0;
}
