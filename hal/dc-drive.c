/* SPDX-License-Identifier: MIT */
#include "hal/dc-drive.h"

#include <errno.h>
#include <gpiod.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "common/macros.h"
#include "hal/gpiod-stepper.h"          /* GPIOD_CONSUMER */
#include "hal/pwm-sysfs.h"

/* Encoder edges read per drain, and drains per call: the v1 kernel
 * queues 16 events per line, and a bound keeps a chattering line from
 * holding the executor. */
#define EVENTS_PER_READ 16
#define READS_PER_DRAIN 4

struct dc_drive {
        struct pwm_sysfs *pwm;
        struct gpiod_chip *chip;
        struct gpiod_line *dir, *encoder;       /* NULL until requested */

        int64_t period_ns;
        double max_duty_pct, kp_pct_per_count, ki_pct_per_count_s;
        bool dir_forward_high;

        bool enabled;
        enum hal_direction direction;
        int64_t target_counts;          /* commanded: forward minus reverse */
        /* Written by the executor thread, read by the main loop's position
         * check through dc_drive_encoder_counts(). */
        _Atomic int64_t encoder_counts;
        double integral;                /* count·s */
        int64_t last_step_ns;           /* 0: no step since enable */
};

static int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

static int64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

static int sign(enum hal_direction dir) {
        return dir == HAL_DIRECTION_FORWARD ? 1 : -1;
}

static void dc_drive_freep(struct dc_drive **d) {
        dc_drive_free(*d);
}

double dc_speed_duty_pct(const struct dc_drive_params *p, int64_t error_counts, double dt_s, double *integral) {
        double e = (double) error_counts;
        double i_new, u;

        if (!(dt_s > 0) || !isfinite(dt_s))
                dt_s = 0;

        i_new = *integral + e * dt_s;
        u = p->kp_pct_per_count * e + p->ki_pct_per_count_s * i_new;
        if (!isfinite(u))
                return 0;

        /* Anti-windup: while clamped, the integral only moves the way that
         * brings the output back into range. Frozen outright, a wound-up
         * integral could never unwind while the error alone keeps the
         * output clamped. */
        if (u > p->max_duty_pct) {
                if (e < 0)
                        *integral = i_new;
                return p->max_duty_pct;
        }
        if (u < 0) {
                if (e > 0)
                        *integral = i_new;
                return 0;
        }
        *integral = i_new;
        return u;
}

/* Counts the encoder edges queued so far, each in the direction DIR has
 * now: the motor is stopped before DIR changes (set_direction), so an
 * edge cannot belong to the other one for long. */
static int drain_encoder(struct dc_drive *d) {
        struct gpiod_line_event events[EVENTS_PER_READ];

        for (unsigned round = 0; round < READS_PER_DRAIN; round++) {
                /* read() on a v1 event fd blocks on an empty queue. */
                int r = gpiod_line_event_wait(d->encoder, &(const struct timespec) { 0, 0 });
                if (r < 0)
                        return negative_errno();
                if (r == 0)
                        break;

                int n = gpiod_line_event_read_multiple(d->encoder, events, ELEMENTSOF(events));
                if (n < 0)
                        return negative_errno();
                atomic_fetch_add(&d->encoder_counts, (int64_t) sign(d->direction) * n);
        }
        return 0;
}

static int set_duty_pct(struct dc_drive *d, double duty_pct) {
        return pwm_sysfs_set_duty_ns(d->pwm, llround((double) d->period_ns * duty_pct / 100.0));
}

/* Motor off after a failure: duty 0 and the channel disabled, each tried
 * whatever the other did. */
static int fail_safe(struct dc_drive *d) {
        (void) pwm_sysfs_set_duty_ns(d->pwm, 0);
        (void) pwm_sysfs_enable(d->pwm, false);
        d->enabled = false;
        return -EIO;
}

/* Lag from before is not to be made up: the loop starts from where the
 * mechanism is. */
static void restart_loop(struct dc_drive *d) {
        d->target_counts = atomic_load(&d->encoder_counts);
        d->integral = 0;
        d->last_step_ns = 0;
}

/* ---- drive ops ------------------------------------------------------ */

static int drive_enable(void *ctx, bool on) {
        struct dc_drive *d = ctx;

        if (!on) {
                int r = set_duty_pct(d, 0);
                int k = pwm_sysfs_enable(d->pwm, false);
                d->enabled = false;
                /* Still count what the motor does as it coasts down. */
                (void) drain_encoder(d);
                return r < 0 || k < 0 ? fail_safe(d) : 0;
        }

        if (drain_encoder(d) < 0 || set_duty_pct(d, 0) < 0 || pwm_sysfs_enable(d->pwm, true) < 0)
                return fail_safe(d);
        restart_loop(d);
        d->enabled = true;
        return 0;
}

static int drive_set_direction(void *ctx, enum hal_direction dir) {
        struct dc_drive *d = ctx;

        if (dir != HAL_DIRECTION_FORWARD && dir != HAL_DIRECTION_REVERSE)
                return -EINVAL;
        if (dir == d->direction)
                return 0;

        /* Never reverse under power: duty 0 first, and the edges so far
         * counted in the old direction. */
        if (set_duty_pct(d, 0) < 0 || drain_encoder(d) < 0)
                return fail_safe(d);
        if (gpiod_line_set_value(d->dir, (dir == HAL_DIRECTION_FORWARD) == d->dir_forward_high) < 0)
                return fail_safe(d);
        d->direction = dir;
        restart_loop(d);
        return 0;
}

static int drive_step(void *ctx) {
        struct dc_drive *d = ctx;
        int64_t t_ns, error;
        double dt_s, duty;

        /* As the stepper: a step while disabled moves nothing, say so. */
        if (!d->enabled)
                return -EPERM;

        d->target_counts += sign(d->direction);
        if (drain_encoder(d) < 0)
                return fail_safe(d);

        t_ns = now_ns();
        dt_s = d->last_step_ns > 0 ? (double) (t_ns - d->last_step_ns) / 1e9 : 0;
        d->last_step_ns = t_ns;

        /* Lag along the direction of travel: positive means behind. */
        error = (d->target_counts - atomic_load(&d->encoder_counts)) * sign(d->direction);
        duty = dc_speed_duty_pct(&(const struct dc_drive_params) {
                        .max_duty_pct = d->max_duty_pct,
                        .kp_pct_per_count = d->kp_pct_per_count,
                        .ki_pct_per_count_s = d->ki_pct_per_count_s,
                }, error, dt_s, &d->integral);

        if (set_duty_pct(d, duty) < 0)
                return fail_safe(d);
        return 0;
}

static const struct hal_drive_ops dc_drive_ops = {
        .enable = drive_enable,
        .set_direction = drive_set_direction,
        .step = drive_step,
};

/* ---- life cycle ----------------------------------------------------- */

static int validate(const struct dc_drive_params *p, const char **ret_what) {
        if (!p->pwm_chip) {
                *ret_what = "pwm";
                return -EINVAL;
        }
        if (!p->gpio_chip) {
                *ret_what = "chip";
                return -EINVAL;
        }
        if (p->pwm_period_ns <= 0) {
                *ret_what = "period";
                return -EINVAL;
        }
        if (!(p->max_duty_pct >= 1 && p->max_duty_pct <= 100)) {
                *ret_what = "max duty";
                return -EINVAL;
        }
        if (!(p->kp_pct_per_count >= 0 && isfinite(p->kp_pct_per_count)) ||
            !(p->ki_pct_per_count_s >= 0 && isfinite(p->ki_pct_per_count_s))) {
                *ret_what = "gains";
                return -EINVAL;
        }
        if (p->dir_line == p->encoder_line) {
                *ret_what = "lines";
                return -EINVAL;
        }
        return 0;
}

static int request(struct gpiod_chip *chip, unsigned offset, int request_type, int value, struct gpiod_line **ret) {
        const struct gpiod_line_request_config config = {
                .consumer = GPIOD_CONSUMER,
                .request_type = request_type,
        };
        struct gpiod_line *line;

        line = gpiod_chip_get_line(chip, offset);
        if (!line)
                return negative_errno();
        if (gpiod_line_request(line, &config, value) < 0)
                return negative_errno();

        *ret = line;
        return 0;
}

int dc_drive_new(const struct dc_drive_params *p, struct dc_drive **ret, const char **ret_what) {
        _cleanup_(dc_drive_freep) struct dc_drive *d = NULL;
        const char *what = NULL;
        int r;

        r = validate(p, &what);
        if (r < 0)
                goto fail;

        d = calloc(1, sizeof(*d));
        if (!d) {
                what = "memory";
                r = -ENOMEM;
                goto fail;
        }
        d->period_ns = p->pwm_period_ns;
        d->max_duty_pct = p->max_duty_pct;
        d->kp_pct_per_count = p->kp_pct_per_count;
        d->ki_pct_per_count_s = p->ki_pct_per_count_s;
        d->dir_forward_high = p->dir_forward_high;
        d->direction = HAL_DIRECTION_FORWARD;
        atomic_init(&d->encoder_counts, 0);

        /* The PWM first: opened, it is disabled at duty 0, so the motor
         * is held off before DIR is ours to move. */
        what = "pwm";
        r = pwm_sysfs_open(p->pwm_chip, p->pwm_channel, p->pwm_period_ns, false, &d->pwm);
        if (r < 0)
                goto fail;

        what = "chip";
        d->chip = gpiod_chip_open_lookup(p->gpio_chip);
        if (!d->chip) {
                r = negative_errno();
                goto fail;
        }

        what = "dir line";
        r = request(d->chip, p->dir_line, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT, p->dir_forward_high, &d->dir);
        if (r < 0)
                goto fail;

        what = "encoder line";
        r = request(d->chip, p->encoder_line, GPIOD_LINE_REQUEST_EVENT_RISING_EDGE, 0, &d->encoder);
        if (r < 0)
                goto fail;

        *ret = TAKE_PTR(d);
        return 0;

fail:
        if (ret_what)
                *ret_what = what;
        return r;
}

struct dc_drive *dc_drive_free(struct dc_drive *d) {
        if (!d)
                return NULL;

        /* Motor off first: close sets duty 0 and disables the channel. */
        if (d->pwm)
                pwm_sysfs_close(d->pwm);
        if (d->encoder)
                gpiod_line_release(d->encoder);
        if (d->dir)
                gpiod_line_release(d->dir);
        if (d->chip)
                gpiod_chip_close(d->chip);

        free(d);
        return NULL;
}

void dc_drive_fill_hal(struct dc_drive *d, struct hal *h) {
        h->drive = &dc_drive_ops;
        h->drive_ctx = d;
}

int64_t dc_drive_encoder_counts(struct dc_drive *d) {
        return atomic_load(&d->encoder_counts);
}
