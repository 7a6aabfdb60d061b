/* SPDX-License-Identifier: MIT */
#include "hal/sim.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/units.h"
#include "hal/sim-air.h"
#include "hal/sim-line.h"
#include "hal/sim-movement.h"
#include "hal/sim-noise.h"
#include "hal/sim-plunger-file.h"
#include "hal/sim-step-log.h"

/* The bag hangs at about the pump's height: at rest the upstream sensor
 * sees only its noise. */
#define SIM_UPSTREAM_REST_MMHG 0.0
/* A soft supply line: a step's 174 nL pulls it down by 0.35 mmHg, so a
 * blocked supply takes about 0.3 mL of pumping to reach the floor. */
#define SIM_UPSTREAM_COMPLIANCE_NL_PER_MMHG 500.0
/* Below this the fluid cavitates and the tubing collapses. */
#define SIM_UPSTREAM_FLOOR_MMHG -600.0

/* A single Li-ion cell, taken as linear between empty and full. */
#define SIM_BATTERY_EMPTY_V 3.3
#define SIM_BATTERY_FULL_V 4.2
#define SIM_BATTERY_DEFAULT_RUNTIME_MIN 240.0
/* Keeps the runtime in µs, times 100 for the percentage, inside int64. */
#define SIM_BATTERY_MAX_RUNTIME_MIN 1e6

/* What an out-of-range sensor reads: no sensor here can mean it. */
#define SIM_SENSOR_OUT_OF_RANGE_VALUE 1e6

/* Motor gain in parts per million: the plunger's travel stays integer pL. */
#define PPM INT64_C(1000000)

struct sim_sensor_state {
        enum sim_sensor_fault fault;
        bool frozen;                    /* STUCK and the value is taken */
        double frozen_value;
};

struct sim {
        pthread_mutex_t lock;           /* every entry point, see sim.h */

        struct sim_params params;
        sim_clock_fn clock;
        void *clock_userdata;

        bool have_time;                 /* now_us is set */
        int64_t now_us;                 /* model time: never goes backwards */
        int64_t last_step_us;

        struct sim_line line;
        struct sim_noise noise;         /* the sensors' */
        struct sim_movement movement;
        struct sim_air air;
        struct sim_step_log step_log;   /* empty unless sim_step_log_start() */
        struct sim_plunger_file plunger_file;   /* not kept unless sim_keep_plunger() */

        bool motor_enabled;
        enum hal_direction direction;
        int64_t plunger_steps;          /* net forward steps commanded */
        int64_t gain_ppm;               /* real travel per commanded step */
        int64_t travel_pl;              /* real plunger travel from the start */
        int64_t travel_rem_pl_ppm;      /* below a pL of travel, in [0, PPM) */

        bool upstream_occluded;
        double upstream_mmhg;

        bool on_mains;
        int64_t battery_runtime_us;     /* a full charge, off mains */
        int64_t battery_left_us;        /* runtime left: the charge */

        struct sim_sensor_state sensors[_HAL_SENSOR_MAX];

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

/* ---- model time ----------------------------------------------------- */

/* Called with the lock held. The back-pressure only changes at the
 * movement's scheduled times, so the line relaxes piecewise between them,
 * each piece exactly: the result does not depend on how often this runs
 * (up to rounding in exp()). */
static void advance(struct sim *s, int64_t dt_us) {
        sim_line_relax(&s->line, dt_us);
        if (!s->on_mains)
                s->battery_left_us = MAX(s->battery_left_us - dt_us, 0);
        s->now_us += dt_us;
}

static void sync_to(struct sim *s, int64_t now_us) {
        if (!s->have_time) {
                /* The line starts at rest, so there is nothing to relax
                 * before the first time we hear of; the patient starts
                 * still from then. */
                s->have_time = true;
                s->now_us = now_us;
                sim_movement_start(&s->movement, now_us);
                return;
        }

        /* A change exactly at now_us happens before whatever the caller
         * does at now_us, whichever call brought time there. */
        while (s->movement.next_us <= now_us) {
                advance(s, s->movement.next_us - s->now_us);
                sim_movement_fire(&s->movement);
                s->line.patient_pressure_mmhg = s->line.rest_pressure_mmhg + s->movement.offset_mmhg;
        }
        if (now_us > s->now_us)
                advance(s, now_us - s->now_us);
}

static void sync_to_clock(struct sim *s) {
        if (s->clock)
                sync_to(s, s->clock(s->clock_userdata));
}

/* ---- plunger -------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Real travel of one commanded step (sign +1 forward, -1 reverse), in whole
 * pL, and the remainder to carry. Flooring both ways means a step forward
 * and one back return exactly to where the plunger was. */
static int64_t step_travel_pl(const struct sim *s, int sign, int64_t *ret_rem) {
        int64_t acc = s->travel_rem_pl_ppm + sign * s->params.mech.pl_per_step * s->gain_ppm;
        int64_t travel_pl = floor_div(acc, PPM);

        if (ret_rem)
                *ret_rem = acc - travel_pl * PPM;
        return travel_pl;
}

/* Empty when the next forward step's real travel no longer fits in what
 * is left, or nothing is left: the plunger then sits on the end stop and
 * pushed never exceeds the fill. A slipping drive (gain 0) never gets
 * there. */
static bool syringe_empty(const struct sim *s) {
        int64_t left_pl = s->params.syringe_volume_nl * PL_PER_NL - s->travel_pl;
        return left_pl <= 0 || left_pl < step_travel_pl(s, +1, NULL);
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
        bool forward;
        int64_t travel_pl;

        /* The step happens now: the line first relaxes up to this moment. */
        sync_to_clock(s);

        /* A disabled driver ignores STEP pulses; report it, so a caller
         * stepping without enabling shows up instead of counting ghost
         * volume. */
        if (!s->motor_enabled)
                return -EPERM;

        forward = s->direction == HAL_DIRECTION_FORWARD;
        if (forward && syringe_empty(s))
                return -ENOSPC;

        travel_pl = step_travel_pl(s, forward ? +1 : -1, &s->travel_rem_pl_ppm);
        s->plunger_steps += forward ? 1 : -1;
        s->travel_pl += travel_pl;
        sim_line_step(&s->line, (double) travel_pl / (double) PL_PER_NL);

        if (forward) {
                /* The air input changes here, on the executor thread: it
                 * is polled, never reported to the input handler, which
                 * must not run in the real-time path. */
                sim_air_push(&s->air, travel_pl);
                if (s->upstream_occluded) {
                        double drop_mmhg = (double) travel_pl / (double) PL_PER_NL /
                                           SIM_UPSTREAM_COMPLIANCE_NL_PER_MMHG;
                        s->upstream_mmhg = MAX(s->upstream_mmhg - drop_mmhg, SIM_UPSTREAM_FLOOR_MMHG);
                }
        }
        s->last_step_us = s->now_us;
        if (s->step_log.times_us)
                sim_step_log_add(&s->step_log, s->now_us);
        if (s->plunger_file.rec)
                sim_plunger_file_store(&s->plunger_file, &(struct sim_plunger_position) {
                        .plunger_steps = s->plunger_steps,
                        .travel_pl = s->travel_pl,
                        .travel_rem_pl_ppm = s->travel_rem_pl_ppm,
                });
        return 0;
}

static const struct hal_drive_ops sim_drive_ops = {
        .enable = drive_enable,
        .set_direction = drive_set_direction,
        .step = drive_step,
};

/* ---- sensors -------------------------------------------------------- */

static double battery_voltage_v(const struct sim *s) {
        double charge = (double) s->battery_left_us / (double) s->battery_runtime_us;
        return SIM_BATTERY_EMPTY_V + (SIM_BATTERY_FULL_V - SIM_BATTERY_EMPTY_V) * charge;
}

/* What a healthy sensor reads now. Called with the lock held. */
static double sensor_value(struct sim *s, enum hal_sensor sensor) {
        switch (sensor) {
        case HAL_SENSOR_PRESSURE_DOWNSTREAM:
                return s->line.pressure_mmhg + sim_noise_gaussian(&s->noise, s->params.pressure_noise_mmhg);
        case HAL_SENSOR_PRESSURE_UPSTREAM:
                return s->upstream_mmhg + sim_noise_gaussian(&s->noise, s->params.pressure_noise_mmhg);
        case HAL_SENSOR_PLUNGER_POSITION: {
                double v = (double) s->travel_pl / (double) s->params.mech.pl_per_step /
                           (double) s->params.mech.steps_per_mm;
                /* No draw without noise: a sim configured as before this
                 * sensor had noise keeps its pressure noise sequence. */
                if (s->params.position_noise_mm > 0)
                        v += sim_noise_gaussian(&s->noise, s->params.position_noise_mm);
                return v;
        }
        case HAL_SENSOR_BATTERY_VOLTAGE:
                return battery_voltage_v(s);
        default:
                /* Not reached: sensors_read() refused it. */
                return NAN;
        }
}

static int sensors_read(void *ctx, enum hal_sensor sensor, double *ret_value) {
        struct sim *s = ctx;
        SIM_LOCK(s);

        if ((unsigned) sensor >= _HAL_SENSOR_MAX)
                return -EINVAL;

        sync_to_clock(s);

        struct sim_sensor_state *st = &s->sensors[sensor];
        switch (st->fault) {
        case SIM_SENSOR_READ_ERROR:
                return -EIO;
        case SIM_SENSOR_GONE:
                return -ENODEV;
        case SIM_SENSOR_OUT_OF_RANGE:
                *ret_value = SIM_SENSOR_OUT_OF_RANGE_VALUE;
                return 0;
        case SIM_SENSOR_STUCK:
                if (!st->frozen) {
                        st->frozen_value = sensor_value(s, sensor);
                        st->frozen = true;
                }
                *ret_value = st->frozen_value;
                return 0;
        default:
                *ret_value = sensor_value(s, sensor);
                return 0;
        }
}

static const struct hal_sensors_ops sim_sensors_ops = {
        .read = sensors_read,
};

/* ---- inputs --------------------------------------------------------- */

static int inputs_read(void *ctx, enum hal_input i, bool *ret_active) {
        struct sim *s = ctx;
        SIM_LOCK(s);

        switch (i) {
        case HAL_INPUT_END_STOP:
                *ret_active = syringe_empty(s);
                return 0;
        case HAL_INPUT_AIR_IN_LINE:
                *ret_active = sim_air_present(&s->air);
                return 0;
        default:
                if ((unsigned) i >= _HAL_INPUT_MAX)
                        return -EINVAL;
                *ret_active = s->inputs[i];
                return 0;
        }
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
        struct sim *s = ctx;
        SIM_LOCK(s);

        sync_to_clock(s);
        *ret = (struct hal_power_status) {
                .on_mains = s->on_mains,
                .capacity_pct = (int) (s->battery_left_us * 100 / s->battery_runtime_us),
                .time_to_empty_s = s->on_mains ? -1 : s->battery_left_us / US_PER_SEC,
                .voltage_v = battery_voltage_v(s),
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
            !(p->pressure_noise_mmhg >= 0) || !isfinite(p->pressure_noise_mmhg) ||
            !(p->position_noise_mm >= 0) || !isfinite(p->position_noise_mm))
                return -EINVAL;
        /* Keeps syringe_volume_nl * PL_PER_NL inside int64. */
        if (p->syringe_volume_nl > INT64_MAX / PL_PER_NL / 2)
                return -EINVAL;
        /* Keeps a step's travel times the gain (up to 2) inside int64. */
        if (p->mech.pl_per_step > INT64_MAX / (4 * PPM))
                return -EINVAL;
        double runtime_min = p->battery_runtime_min == 0 ? SIM_BATTERY_DEFAULT_RUNTIME_MIN : p->battery_runtime_min;
        if (!(runtime_min > 0) || runtime_min > SIM_BATTERY_MAX_RUNTIME_MIN)
                return -EINVAL;

        _cleanup_(freep) struct sim *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;

        /* Checks compliance, resistance and patient pressure. */
        r = sim_line_init(&s->line, p->line_compliance_nl_per_mmhg,
                          p->line_resistance_mmhg_per_ml_per_h, p->patient_pressure_mmhg);
        if (r < 0)
                return r;
        r = sim_movement_init(&s->movement, p->movement_amplitude_mmhg, p->movement_mean_interval_s, p->seed);
        if (r < 0)
                return r;

        s->params = *p;
        s->params.battery_runtime_min = runtime_min;
        s->clock = clock;
        s->clock_userdata = clock_userdata;
        s->last_step_us = -1;
        s->direction = HAL_DIRECTION_FORWARD;
        s->gain_ppm = PPM;
        s->upstream_mmhg = SIM_UPSTREAM_REST_MMHG;
        s->on_mains = true;
        s->battery_runtime_us = llround(runtime_min * (double) US_PER_MIN);
        s->battery_left_us = s->battery_runtime_us;
        sim_noise_init(&s->noise, p->seed);
        sim_air_init(&s->air);

        /* The step thread takes this lock in each step, the main loop in
         * each sensor read: inherit priority, as the executor's lock does,
         * so a preempted reader cannot hold a SCHED_FIFO step back. */
        pthread_mutexattr_t ma;
        pthread_mutexattr_init(&ma);
        r = pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
        if (r == 0)
                r = pthread_mutex_init(&s->lock, &ma);
        pthread_mutexattr_destroy(&ma);
        if (r != 0)     /* no PI futexes: a plain lock */
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
        sim_step_log_done(&s->step_log);
        sim_plunger_file_close(&s->plunger_file);
        free(s);
        return NULL;
}

int sim_step_log_start(struct sim *s, size_t capacity) {
        SIM_LOCK(s);
        if (s->step_log.times_us)
                return -EBUSY;
        return sim_step_log_init(&s->step_log, capacity);
}

int sim_keep_plunger(struct sim *s, const char *path) {
        SIM_LOCK(s);
        struct sim_plunger_position pos;

        if (s->plunger_file.rec)
                return -EBUSY;
        if (s->plunger_steps != 0 || s->travel_pl != 0)
                return -EPERM;
        int r = sim_plunger_file_open(&s->plunger_file, path, s->params.mech.pl_per_step,
                                      s->params.syringe_volume_nl, &pos);
        if (r <= 0)
                return r;
        /* The plunger is where the last run left it. The line has had the
         * whole restart to relax: it starts at rest, so everything pushed
         * has reached the patient. */
        s->plunger_steps = pos.plunger_steps;
        s->travel_pl = pos.travel_pl;
        s->travel_rem_pl_ppm = pos.travel_rem_pl_ppm;
        return 1;
}

int sim_write_step_log(struct sim *s, const char *path) {
        SIM_LOCK(s);
        if (!s->step_log.times_us)
                return -ENODATA;
        return sim_step_log_write(&s->step_log, path);
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

void sim_set_upstream_occlusion(struct sim *s, bool occluded) {
        SIM_LOCK(s);

        s->upstream_occluded = occluded;
        /* The bag's side refills the line at once: nothing to relax. */
        if (!occluded)
                s->upstream_mmhg = SIM_UPSTREAM_REST_MMHG;
}

void sim_prime_line(struct sim *s) {
        SIM_LOCK(s);
        /* A clinician disconnects and primes: every bubble is flushed out. */
        sim_air_init(&s->air);
}

int sim_inject_air(struct sim *s, int64_t volume_nl) {
        SIM_LOCK(s);

        return sim_air_inject(&s->air, volume_nl);
}

int sim_set_battery(struct sim *s, bool on_mains, double percent) {
        SIM_LOCK(s);

        if (!(percent >= 0 && percent <= 100))
                return -EINVAL;

        /* Up to now the battery had the old state: drain that stretch first. */
        sync_to_clock(s);
        s->on_mains = on_mains;
        s->battery_left_us = llround(percent / 100.0 * (double) s->battery_runtime_us);
        return 0;
}

static const char *const sensor_fault_table[_SIM_SENSOR_FAULT_MAX] = {
        [SIM_SENSOR_OK]           = "ok",
        [SIM_SENSOR_READ_ERROR]   = "read-error",
        [SIM_SENSOR_STUCK]        = "stuck",
        [SIM_SENSOR_OUT_OF_RANGE] = "out-of-range",
        [SIM_SENSOR_GONE]         = "gone",
};

const char *sim_sensor_fault_to_string(enum sim_sensor_fault f) {
        if ((unsigned) f >= _SIM_SENSOR_FAULT_MAX)
                return NULL;
        return sensor_fault_table[f];
}

int sim_sensor_fault_from_string(const char *s, enum sim_sensor_fault *ret) {
        if (!s || !ret)
                return -EINVAL;
        for (enum sim_sensor_fault f = 0; f < _SIM_SENSOR_FAULT_MAX; f++)
                if (strcmp(s, sensor_fault_table[f]) == 0) {
                        *ret = f;
                        return 0;
                }
        return -EINVAL;
}

int sim_fail_sensor(struct sim *s, enum hal_sensor sensor, enum sim_sensor_fault f) {
        SIM_LOCK(s);

        if ((unsigned) sensor >= _HAL_SENSOR_MAX || (unsigned) f >= _SIM_SENSOR_FAULT_MAX)
                return -EINVAL;

        struct sim_sensor_state *st = &s->sensors[sensor];
        /* Stuck again while stuck keeps the value it froze at. */
        if (f == SIM_SENSOR_STUCK && st->fault == SIM_SENSOR_STUCK)
                return 0;
        *st = (struct sim_sensor_state) { .fault = f };
        return 0;
}

int sim_set_motor_gain(struct sim *s, double gain) {
        SIM_LOCK(s);

        if (!(gain >= 0 && gain <= 2))
                return -EINVAL;
        /* The remainder below a pL carries over: it is travel that already
         * happened. */
        s->gain_ppm = llround(gain * (double) PPM);
        return 0;
}

int sim_set_input(struct sim *s, enum hal_input i, bool active) {
        hal_input_handler_t handler;
        void *userdata;
        int64_t when_us;

        /* The plunger decides the end stop, and the bubbles the air. */
        if ((unsigned) i >= _HAL_INPUT_MAX || i == HAL_INPUT_END_STOP || i == HAL_INPUT_AIR_IN_LINE)
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
        /* Toward zero, like mechanism_steps_to_nl(). */
        return s->travel_pl / PL_PER_NL;
}

int64_t sim_delivered_nl(struct sim *s) {
        SIM_LOCK(s);

        sync_to_clock(s);
        /* In whole pL, both terms exact integers, so while occluded (held
         * grows by exactly what is pushed) delivered does not move, and once
         * the line has relaxed it equals pushed. Rounded down like
         * mechanism_steps_to_nl(). */
        int64_t delivered_pl = s->travel_pl - sim_line_held_pl(&s->line);
        if (delivered_pl <= 0)
                return 0;
        return delivered_pl / PL_PER_NL;
}

double sim_line_pressure_mmhg(struct sim *s) {
        SIM_LOCK(s);

        sync_to_clock(s);
        return s->line.pressure_mmhg;
}

double sim_patient_pressure_mmhg(struct sim *s) {
        SIM_LOCK(s);

        sync_to_clock(s);
        return s->line.patient_pressure_mmhg;
}

double sim_upstream_pressure_mmhg(struct sim *s) {
        SIM_LOCK(s);
        return s->upstream_mmhg;
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
