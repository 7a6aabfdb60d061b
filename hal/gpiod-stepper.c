/* SPDX-License-Identifier: MIT */
#include "hal/gpiod-stepper.h"

#include <errno.h>
#include <gpiod.h>
#include <stdlib.h>
#include <time.h>

#include "common/macros.h"

struct gpiod_stepper {
        struct gpiod_chip *chip;
        /* NULL until requested: gpiod_stepper_free() also unwinds a
         * half-built stepper. */
        struct gpiod_line *enable, *step, *dir;
        struct gpiod_line *ms[GPIOD_STEPPER_MS_LINES_MAX];
        unsigned n_ms;

        bool dir_forward_high;
        int64_t step_pulse_ns, step_low_ns, dir_setup_ns;

        bool enabled;
        enum hal_direction direction;
        int64_t step_low_since_ns;      /* when STEP last went inactive */
        int64_t dir_set_ns;             /* when DIR last changed */
};

/* ---- helpers -------------------------------------------------------- */

/* libgpiod reports "-1 and errno"; a missing errno still must not read
 * as success. */
static int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

static int64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

/* The waits are a few µs: sleeping would cost a scheduler tick or more,
 * so spin (see the header). */
static void wait_until_ns(int64_t until_ns) {
        while (now_ns() < until_ns)
                ;
}

static int request_output(struct gpiod_chip *chip, unsigned offset, bool active_low, int value,
                          struct gpiod_line **ret) {
        const struct gpiod_line_request_config config = {
                .consumer = GPIOD_CONSUMER,
                .request_type = GPIOD_LINE_REQUEST_DIRECTION_OUTPUT,
                .flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0,
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

static int dir_level(const struct gpiod_stepper *s, enum hal_direction dir) {
        return (dir == HAL_DIRECTION_FORWARD) == s->dir_forward_high;
}

/* Motor off after a failed GPIO write: the driver may be holding torque
 * at a half-made step, and nothing will step it again until the executor
 * recovers. STEP goes back inactive too, or the next step after a
 * recovery would have no rising edge. Best effort: a write that failed
 * may fail again, and -EIO is the answer either way. */
static int fail_safe(struct gpiod_stepper *s) {
        (void) gpiod_line_set_value(s->enable, 0);
        (void) gpiod_line_set_value(s->step, 0);
        s->enabled = false;
        return -EIO;
}

static void gpiod_stepper_freep(struct gpiod_stepper **s) {
        gpiod_stepper_free(*s);
}

/* ---- drive ops ------------------------------------------------------ */

static int drive_enable(void *ctx, bool on) {
        struct gpiod_stepper *s = ctx;

        if (gpiod_line_set_value(s->enable, on) < 0)
                return fail_safe(s);
        s->enabled = on;
        return 0;
}

static int drive_set_direction(void *ctx, enum hal_direction dir) {
        struct gpiod_stepper *s = ctx;

        if (dir != HAL_DIRECTION_FORWARD && dir != HAL_DIRECTION_REVERSE)
                return -EINVAL;
        if (dir == s->direction)
                return 0;

        if (gpiod_line_set_value(s->dir, dir_level(s, dir)) < 0)
                return fail_safe(s);
        /* Taken after the write returned: the edge happened before, so
         * the setup time counted from here is at least dir_setup_us. */
        s->dir_set_ns = now_ns();
        s->direction = dir;
        return 0;
}

static int drive_step(void *ctx) {
        struct gpiod_stepper *s = ctx;
        int64_t high_ns;

        /* A disabled driver ignores STEP: say so, as the sim does, rather
         * than let the caller count steps that never moved the plunger. */
        if (!s->enabled)
                return -EPERM;

        wait_until_ns(MAX(s->step_low_since_ns + s->step_low_ns, s->dir_set_ns + s->dir_setup_ns));

        if (gpiod_line_set_value(s->step, 1) < 0)
                return fail_safe(s);
        high_ns = now_ns();

        wait_until_ns(high_ns + s->step_pulse_ns);

        if (gpiod_line_set_value(s->step, 0) < 0)
                return fail_safe(s);
        s->step_low_since_ns = now_ns();
        return 0;
}

static const struct hal_drive_ops gpiod_stepper_drive_ops = {
        .enable = drive_enable,
        .set_direction = drive_set_direction,
        .step = drive_step,
};

/* ---- life cycle ----------------------------------------------------- */

/* On failure, *ret_what names the parameter that is wrong. */
static int validate(const struct gpiod_stepper_params *p, const char **ret_what) {
        unsigned n_lines, lines[3 + GPIOD_STEPPER_MS_LINES_MAX], n = 0;

        if (!p->chip) {
                *ret_what = "chip";
                return -EINVAL;
        }
        if (p->step_pulse_us < 1 || p->step_pulse_us > 1000 ||
            p->step_low_us < 1 || p->step_low_us > 1000 ||
            p->dir_setup_us > 1000) {
                *ret_what = "timing";
                return -EINVAL;
        }
        if (stepper_driver_microstep_levels(p->driver, p->microsteps, NULL, &n_lines) < 0) {
                *ret_what = "microsteps";
                return -EINVAL;
        }
        /* 0: strapped on the board. Otherwise exactly the table's lines: a
         * line the driver does not have is a wiring the config got wrong. */
        if (p->n_ms_lines != 0 && p->n_ms_lines != n_lines) {
                *ret_what = "microstep line";
                return -EINVAL;
        }

        lines[n++] = p->step_line;
        lines[n++] = p->dir_line;
        lines[n++] = p->enable_line;
        for (unsigned i = 0; i < p->n_ms_lines; i++)
                lines[n++] = p->ms_lines[i];
        for (unsigned i = 0; i < n; i++)
                for (unsigned j = i + 1; j < n; j++)
                        if (lines[i] == lines[j]) {
                                *ret_what = "lines";
                                return -EINVAL;
                        }
        return 0;
}

int gpiod_stepper_new(const struct gpiod_stepper_params *p, struct gpiod_stepper **ret, const char **ret_what) {
        _cleanup_(gpiod_stepper_freep) struct gpiod_stepper *s = NULL;
        const char *what = NULL;
        unsigned levels = 0;
        int r;

        r = validate(p, &what);
        if (r < 0)
                goto fail;
        (void) stepper_driver_microstep_levels(p->driver, p->microsteps, &levels, NULL);

        s = calloc(1, sizeof(*s));
        if (!s) {
                what = "memory";
                r = -ENOMEM;
                goto fail;
        }
        s->dir_forward_high = p->dir_forward_high;
        s->step_pulse_ns = (int64_t) p->step_pulse_us * 1000;
        s->step_low_ns = (int64_t) p->step_low_us * 1000;
        s->dir_setup_ns = (int64_t) p->dir_setup_us * 1000;
        s->direction = HAL_DIRECTION_FORWARD;

        /* "gpiochip0", "/dev/gpiochip0", "0" (or a chip's label): the
         * lookup tells them apart. */
        what = "chip";
        s->chip = gpiod_chip_open_lookup(p->chip);
        if (!s->chip) {
                r = negative_errno();
                goto fail;
        }

        /* ENABLE first: the driver is held off before STEP or DIR is ours
         * to move. */
        what = "enable line";
        r = request_output(s->chip, p->enable_line, p->enable_active_low, 0, &s->enable);
        if (r < 0)
                goto fail;

        what = "step line";
        r = request_output(s->chip, p->step_line, p->step_active_low, 0, &s->step);
        if (r < 0)
                goto fail;

        what = "dir line";
        r = request_output(s->chip, p->dir_line, false, dir_level(s, HAL_DIRECTION_FORWARD), &s->dir);
        if (r < 0)
                goto fail;

        what = "microstep line";
        for (unsigned i = 0; i < p->n_ms_lines; i++) {
                r = request_output(s->chip, p->ms_lines[i], false, (levels >> i) & 1, &s->ms[i]);
                if (r < 0)
                        goto fail;
                s->n_ms = i + 1;
        }

        /* DIR was just driven: the first step still owes it its setup. */
        s->dir_set_ns = now_ns();
        s->step_low_since_ns = s->dir_set_ns;

        *ret = TAKE_PTR(s);
        return 0;

fail:
        if (ret_what)
                *ret_what = what;
        return r;
}

struct gpiod_stepper *gpiod_stepper_free(struct gpiod_stepper *s) {
        if (!s)
                return NULL;

        /* Motor off before anything is let go. What a released line does
         * next is the controller's choice (some keep the level, the Pi's
         * mainline driver makes it an input, which a carrier's pull-down
         * turns into "enabled"): the pull-up HARDWARE.md requires decides
         * it, and while we hold the line it is driven off. */
        if (s->enable)
                (void) gpiod_line_set_value(s->enable, 0);

        for (unsigned i = s->n_ms; i > 0; i--)
                gpiod_line_release(s->ms[i - 1]);
        if (s->dir)
                gpiod_line_release(s->dir);
        if (s->step)
                gpiod_line_release(s->step);
        if (s->enable)
                gpiod_line_release(s->enable);
        if (s->chip)
                gpiod_chip_close(s->chip);

        free(s);
        return NULL;
}

void gpiod_stepper_fill_hal(struct gpiod_stepper *s, struct hal *h) {
        h->drive = &gpiod_stepper_drive_ops;
        h->drive_ctx = s;
}
