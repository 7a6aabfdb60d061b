/* SPDX-License-Identifier: MIT */
/* The DC motor drive against a fake GPIO chip and a fake PWM channel:
 * every libgpiod and pwm_sysfs_* call it makes is wrapped at link time
 * (-Wl,--wrap, see TESTING.md), and the fakes log them in order. */
#include <errno.h>
#include <gpiod.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "common/macros.h"
#include "hal/dc-drive.h"
#include "hal/pwm-sysfs.h"

/* ---- the fakes -------------------------------------------------------- */

#define N_LINES 32
#define LOG_MAX 1024
#define PERIOD_NS 50000

struct gpiod_chip {
        bool open;
};

struct gpiod_line {
        unsigned offset;
        bool requested;
        char consumer[32];
        int request_type;
        int flags;
        int default_val;
        int value;
        unsigned pending;               /* encoder edges queued */
};

struct pwm_sysfs {
        bool open;
        char chip[32];
        unsigned channel;
        int64_t period_ns;
        bool inverted;
        bool enabled;
        int64_t duty_ns;
};

enum call_kind { CALL_DIR, CALL_DUTY, CALL_PWM_ENABLE, CALL_PWM_CLOSE, CALL_RELEASE };

static struct {
        struct gpiod_chip chip;
        struct gpiod_line lines[N_LINES];
        struct pwm_sysfs pwm;
        unsigned n_opens, n_closes, n_requests, n_releases, n_pwm_opens, n_pwm_closes;
        int fail_request_offset;
        int fail_request_errno;
        int pwm_open_error;
        bool fail_duty;

        struct { enum call_kind kind; int64_t value; } log[LOG_MAX];
        unsigned n_log;
} fake;

static void log_call(enum call_kind kind, int64_t value) {
        assert_true(fake.n_log < LOG_MAX);
        fake.log[fake.n_log].kind = kind;
        fake.log[fake.n_log].value = value;
        fake.n_log++;
}

struct gpiod_chip *__wrap_gpiod_chip_open_lookup(const char *descr);
struct gpiod_chip *__wrap_gpiod_chip_open_lookup(const char *descr) {
        assert_string_equal(descr, "gpiochip2");
        assert_false(fake.chip.open);
        fake.chip.open = true;
        fake.n_opens++;
        return &fake.chip;
}

void __wrap_gpiod_chip_close(struct gpiod_chip *chip);
void __wrap_gpiod_chip_close(struct gpiod_chip *chip) {
        assert_ptr_equal(chip, &fake.chip);
        assert_true(chip->open);
        chip->open = false;
        fake.n_closes++;
}

struct gpiod_line *__wrap_gpiod_chip_get_line(struct gpiod_chip *chip, unsigned offset);
struct gpiod_line *__wrap_gpiod_chip_get_line(struct gpiod_chip *chip, unsigned offset) {
        assert_ptr_equal(chip, &fake.chip);
        assert_true(offset < N_LINES);
        return &fake.lines[offset];
}

int __wrap_gpiod_line_request(struct gpiod_line *line, const struct gpiod_line_request_config *config,
                              int default_val);
int __wrap_gpiod_line_request(struct gpiod_line *line, const struct gpiod_line_request_config *config,
                              int default_val) {
        assert_false(line->requested);
        if ((int) line->offset == fake.fail_request_offset) {
                errno = fake.fail_request_errno;
                return -1;
        }
        line->requested = true;
        snprintf(line->consumer, sizeof(line->consumer), "%s", config->consumer ? config->consumer : "");
        line->request_type = config->request_type;
        line->flags = config->flags;
        line->default_val = default_val;
        line->value = default_val;
        fake.n_requests++;
        return 0;
}

void __wrap_gpiod_line_release(struct gpiod_line *line);
void __wrap_gpiod_line_release(struct gpiod_line *line) {
        assert_true(line->requested);
        line->requested = false;
        fake.n_releases++;
        log_call(CALL_RELEASE, line->offset);
}

int __wrap_gpiod_line_set_value(struct gpiod_line *line, int value);
int __wrap_gpiod_line_set_value(struct gpiod_line *line, int value) {
        assert_true(line->requested);
        assert_int_equal(line->request_type, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT);
        line->value = value;
        log_call(CALL_DIR, value);
        return 0;
}

int __wrap_gpiod_line_event_wait(struct gpiod_line *line, const struct timespec *timeout);
int __wrap_gpiod_line_event_wait(struct gpiod_line *line, const struct timespec *timeout) {
        assert_true(line->requested);
        assert_int_equal(line->request_type, GPIOD_LINE_REQUEST_EVENT_RISING_EDGE);
        /* step() runs on the executor thread: never block. */
        assert_non_null(timeout);
        assert_true(timeout->tv_sec == 0 && timeout->tv_nsec == 0);
        return line->pending > 0;
}

int __wrap_gpiod_line_event_read_multiple(struct gpiod_line *line, struct gpiod_line_event *events,
                                          unsigned num);
int __wrap_gpiod_line_event_read_multiple(struct gpiod_line *line, struct gpiod_line_event *events,
                                          unsigned num) {
        assert_true(line->requested);
        assert_true(line->pending > 0);
        unsigned n = MIN(num, line->pending);
        for (unsigned k = 0; k < n; k++)
                events[k] = (struct gpiod_line_event) { .event_type = GPIOD_LINE_EVENT_RISING_EDGE };
        line->pending -= n;
        return (int) n;
}

int __wrap_pwm_sysfs_open(const char *chip, unsigned channel, int64_t period_ns, bool inverted,
                          struct pwm_sysfs **ret);
int __wrap_pwm_sysfs_open(const char *chip, unsigned channel, int64_t period_ns, bool inverted,
                          struct pwm_sysfs **ret) {
        assert_false(fake.pwm.open);
        if (fake.pwm_open_error)
                return fake.pwm_open_error;
        fake.pwm = (struct pwm_sysfs) { .open = true, .channel = channel, .period_ns = period_ns, .inverted = inverted };
        snprintf(fake.pwm.chip, sizeof(fake.pwm.chip), "%s", chip);
        fake.n_pwm_opens++;
        *ret = &fake.pwm;
        return 0;
}

struct pwm_sysfs *__wrap_pwm_sysfs_close(struct pwm_sysfs *p);
struct pwm_sysfs *__wrap_pwm_sysfs_close(struct pwm_sysfs *p) {
        if (!p)
                return NULL;
        assert_ptr_equal(p, &fake.pwm);
        assert_true(p->open);
        /* What the real one does: duty 0, disabled, unexported. */
        p->duty_ns = 0;
        p->enabled = false;
        p->open = false;
        fake.n_pwm_closes++;
        log_call(CALL_PWM_CLOSE, 0);
        return NULL;
}

int __wrap_pwm_sysfs_set_duty_ns(struct pwm_sysfs *p, int64_t duty_ns);
int __wrap_pwm_sysfs_set_duty_ns(struct pwm_sysfs *p, int64_t duty_ns) {
        assert_ptr_equal(p, &fake.pwm);
        assert_true(p->open);
        log_call(CALL_DUTY, duty_ns);
        if (fake.fail_duty)
                return -EIO;
        if (duty_ns < 0 || duty_ns > p->period_ns)
                return -ERANGE;
        p->duty_ns = duty_ns;
        return 0;
}

int __wrap_pwm_sysfs_enable(struct pwm_sysfs *p, bool on);
int __wrap_pwm_sysfs_enable(struct pwm_sysfs *p, bool on) {
        assert_ptr_equal(p, &fake.pwm);
        assert_true(p->open);
        log_call(CALL_PWM_ENABLE, on);
        p->enabled = on;
        return 0;
}

static int setup(void **state) {
        memset(&fake, 0, sizeof(fake));
        for (unsigned i = 0; i < N_LINES; i++)
                fake.lines[i].offset = i;
        fake.fail_request_offset = -1;
        return 0;
}

static int teardown(void **state) {
        for (unsigned i = 0; i < N_LINES; i++)
                if (fake.lines[i].requested) {
                        print_error("line %u left requested\n", i);
                        return -1;
                }
        if (fake.chip.open || fake.n_opens != fake.n_closes || fake.n_requests != fake.n_releases ||
            fake.pwm.open || fake.n_pwm_opens != fake.n_pwm_closes) {
                print_error("chip or PWM left open, or a line not released\n");
                return -1;
        }
        return 0;
}

/* ---- helpers ---------------------------------------------------------- */

enum { DIR = 8, ENCODER = 9 };

static struct dc_drive_params default_params(void) {
        return (struct dc_drive_params) {
                .pwm_chip = "pwmchip0",
                .pwm_channel = 1,
                .pwm_period_ns = PERIOD_NS,
                .max_duty_pct = 80,
                .kp_pct_per_count = 10,
                .ki_pct_per_count_s = 0,
                .gpio_chip = "gpiochip2",
                .dir_line = DIR,
                .dir_forward_high = true,
                .encoder_line = ENCODER,
        };
}

static struct dc_drive *new_drive(const struct dc_drive_params *p, struct hal *h) {
        struct dc_drive *d = NULL;
        const char *what = NULL;

        assert_int_equal(dc_drive_new(p, &d, &what), 0);
        assert_non_null(d);
        *h = (struct hal) {};
        dc_drive_fill_hal(d, h);
        assert_non_null(h->drive);
        return d;
}

static int find(unsigned from, enum call_kind kind) {
        for (unsigned k = from; k < fake.n_log; k++)
                if (fake.log[k].kind == kind)
                        return (int) k;
        return -1;
}

/* ---- the speed loop --------------------------------------------------- */

static void proportional_duty_follows_the_lag_and_is_clamped(void **state) {
        struct dc_drive_params p = default_params();
        double integral = 0;

        p.kp_pct_per_count = 2;
        p.max_duty_pct = 50;
        assert_float_equal(dc_speed_duty_pct(&p, 10, 0.01, &integral), 20, 1e-9);
        assert_float_equal(dc_speed_duty_pct(&p, 100, 0.01, &integral), 50, 1e-9);
        /* Ahead of the target: wait, never drive backwards. */
        assert_float_equal(dc_speed_duty_pct(&p, -3, 0.01, &integral), 0, 1e-9);
        /* Only the first, unclamped, call integrated. */
        assert_float_equal(integral, 10 * 0.01, 1e-12);
}

static void the_integral_builds_up_a_steady_lag(void **state) {
        struct dc_drive_params p = default_params();
        double integral = 0;

        p.kp_pct_per_count = 1;
        p.ki_pct_per_count_s = 4;
        p.max_duty_pct = 100;
        /* e 5 for 0.5 s: integral 2.5, duty 5 + 4 * 2.5. */
        assert_float_equal(dc_speed_duty_pct(&p, 5, 0.5, &integral), 15, 1e-9);
        assert_float_equal(integral, 2.5, 1e-12);
        assert_float_equal(dc_speed_duty_pct(&p, 5, 0.5, &integral), 25, 1e-9);
        assert_float_equal(integral, 5, 1e-12);
        /* No time passed (the first step after enable): no integration. */
        assert_float_equal(dc_speed_duty_pct(&p, 5, 0, &integral), 25, 1e-9);
        assert_float_equal(integral, 5, 1e-12);
        assert_float_equal(dc_speed_duty_pct(&p, 5, NAN, &integral), 25, 1e-9);
        assert_float_equal(integral, 5, 1e-12);
}

static void a_clamped_output_does_not_wind_the_integral_up(void **state) {
        struct dc_drive_params p = default_params();
        double integral = 0;

        p.kp_pct_per_count = 1;
        p.ki_pct_per_count_s = 1;
        p.max_duty_pct = 50;
        /* A stalled motor: 100 counts behind for 10 s, clamped all along. */
        for (int k = 0; k < 10; k++)
                assert_float_equal(dc_speed_duty_pct(&p, 100, 1, &integral), 50, 1e-9);
        assert_float_equal(integral, 0, 1e-12);
        /* Freed, it does not overshoot on stored-up integral. */
        assert_float_equal(dc_speed_duty_pct(&p, 0, 1, &integral), 0, 1e-9);

        /* Clamped high but the error says slow down: that unwinds. */
        integral = 100;
        assert_float_equal(dc_speed_duty_pct(&p, -5, 1, &integral), 50, 1e-9);
        assert_float_equal(integral, 95, 1e-12);
        /* Clamped low with the error below zero: no wind-down either. */
        integral = -10;
        assert_float_equal(dc_speed_duty_pct(&p, -5, 1, &integral), 0, 1e-9);
        assert_float_equal(integral, -10, 1e-12);
}

/* ---- requests --------------------------------------------------------- */

static void pwm_opens_off_and_lines_are_requested(void **state) {
        struct dc_drive_params p = default_params();
        struct hal h;

        p.dir_forward_high = false;
        struct dc_drive *d = new_drive(&p, &h);

        assert_true(fake.pwm.open);
        assert_string_equal(fake.pwm.chip, "pwmchip0");
        assert_int_equal(fake.pwm.channel, 1);
        assert_int_equal(fake.pwm.period_ns, PERIOD_NS);
        assert_false(fake.pwm.inverted);
        /* Nothing enabled the channel or gave it a duty. */
        assert_int_equal(find(0, CALL_PWM_ENABLE), -1);
        assert_int_equal(find(0, CALL_DUTY), -1);

        const struct gpiod_line *dir = &fake.lines[DIR], *enc = &fake.lines[ENCODER];
        assert_true(dir->requested);
        assert_string_equal(dir->consumer, "infusiond");
        assert_int_equal(dir->request_type, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT);
        assert_int_equal(dir->default_val, 0);  /* forward is low here */
        assert_true(enc->requested);
        assert_string_equal(enc->consumer, "infusiond");
        assert_int_equal(enc->request_type, GPIOD_LINE_REQUEST_EVENT_RISING_EDGE);

        dc_drive_free(d);
}

/* ---- drive ops -------------------------------------------------------- */

static void steps_set_the_duty_from_the_encoder_lag(void **state) {
        struct dc_drive_params p = default_params();
        struct hal h;
        struct dc_drive *d = new_drive(&p, &h);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_true(fake.pwm.enabled);
        assert_int_equal(fake.pwm.duty_ns, 0);

        /* Target 1, counted 0: one count behind, kp 10 %. */
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(fake.pwm.duty_ns, PERIOD_NS / 10);

        /* Target 2, counted 0: two behind. */
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(fake.pwm.duty_ns, PERIOD_NS / 5);

        /* The motor caught up and more: 4 edges, target 3. */
        fake.lines[ENCODER].pending = 4;
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(fake.pwm.duty_ns, 0);
        assert_int_equal(dc_drive_encoder_counts(d), 4);

        /* Far behind: clamped to max_duty_pct. */
        for (int k = 0; k < 20; k++)
                assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(fake.pwm.duty_ns, PERIOD_NS * 80 / 100);

        dc_drive_free(d);
}

static void a_reversal_stops_the_motor_before_dir_changes(void **state) {
        struct dc_drive_params p = default_params();
        struct hal h;
        struct dc_drive *d = new_drive(&p, &h);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_true(fake.pwm.duty_ns > 0);
        /* One count behind when the reversal comes. */
        fake.lines[ENCODER].pending = 1;

        unsigned mark = fake.n_log;
        assert_int_equal(h.drive->set_direction(h.drive_ctx, HAL_DIRECTION_REVERSE), 0);
        int duty0 = find(mark, CALL_DUTY), dir = find(mark, CALL_DIR);
        assert_true(duty0 >= 0);
        assert_int_equal(fake.log[duty0].value, 0);
        assert_true(dir > duty0);
        assert_int_equal(fake.lines[DIR].value, 0);
        /* The edges so far were forward ones. */
        assert_int_equal(dc_drive_encoder_counts(d), 1);

        /* The old lag is not made up in reverse: one count behind. */
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(fake.pwm.duty_ns, PERIOD_NS / 10);
        fake.lines[ENCODER].pending = 3;
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(dc_drive_encoder_counts(d), -2);
        assert_int_equal(fake.pwm.duty_ns, 0);

        mark = fake.n_log;
        assert_int_equal(h.drive->set_direction(h.drive_ctx, HAL_DIRECTION_REVERSE), 0);
        assert_int_equal(find(mark, CALL_DIR), -1);
        assert_int_equal(h.drive->set_direction(h.drive_ctx, HAL_DIRECTION_FORWARD), 0);
        assert_int_equal(fake.lines[DIR].value, 1);

        dc_drive_free(d);
}

static void stop_sets_duty_zero_and_disables(void **state) {
        struct dc_drive_params p = default_params();
        struct hal h;
        struct dc_drive *d = new_drive(&p, &h);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        for (int k = 0; k < 3; k++)
                assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_true(fake.pwm.duty_ns > 0);

        assert_int_equal(h.drive->enable(h.drive_ctx, false), 0);
        assert_int_equal(fake.pwm.duty_ns, 0);
        assert_false(fake.pwm.enabled);

        unsigned mark = fake.n_log;
        assert_int_equal(h.drive->step(h.drive_ctx), -EPERM);
        assert_int_equal(find(mark, CALL_DUTY), -1);

        /* Re-enabled, the steps missed while off are not made up. */
        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(fake.pwm.duty_ns, PERIOD_NS / 10);

        dc_drive_free(d);
}

static void a_failed_duty_write_turns_the_motor_off(void **state) {
        struct dc_drive_params p = default_params();
        struct hal h;
        struct dc_drive *d = new_drive(&p, &h);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        fake.fail_duty = true;
        assert_int_equal(h.drive->step(h.drive_ctx), -EIO);
        assert_false(fake.pwm.enabled);
        fake.fail_duty = false;
        assert_int_equal(h.drive->step(h.drive_ctx), -EPERM);

        dc_drive_free(d);
}

static void free_closes_the_pwm_before_releasing_lines(void **state) {
        struct dc_drive_params p = default_params();
        struct hal h;
        struct dc_drive *d = new_drive(&p, &h);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);

        unsigned mark = fake.n_log;
        assert_null(dc_drive_free(d));
        int closed = find(mark, CALL_PWM_CLOSE), released = find(mark, CALL_RELEASE);
        assert_true(closed >= 0);
        assert_true(released > closed);
        assert_false(fake.pwm.open);
        assert_false(fake.lines[DIR].requested);
        assert_false(fake.lines[ENCODER].requested);
        assert_false(fake.chip.open);
        assert_null(dc_drive_free(NULL));
}

/* ---- a failed new() leaves nothing behind ----------------------------- */

static void a_busy_encoder_line_unwinds_everything_and_names_it(void **state) {
        struct dc_drive_params p = default_params();
        struct dc_drive *d = NULL;
        const char *what = NULL;

        fake.fail_request_offset = ENCODER;
        fake.fail_request_errno = EBUSY;
        assert_int_equal(dc_drive_new(&p, &d, &what), -EBUSY);
        assert_null(d);
        assert_string_equal(what, "encoder line");
        assert_int_equal(fake.n_pwm_closes, 1);
        assert_int_equal(fake.n_releases, 1);
        assert_false(fake.chip.open);
}

static void a_missing_pwm_chip_opens_no_gpio(void **state) {
        struct dc_drive_params p = default_params();
        struct dc_drive *d = NULL;
        const char *what = NULL;

        fake.pwm_open_error = -ENOENT;
        assert_int_equal(dc_drive_new(&p, &d, &what), -ENOENT);
        assert_string_equal(what, "pwm");
        assert_int_equal(fake.n_opens, 0);
}

static void bad_params_are_refused(void **state) {
        struct dc_drive_params p;
        struct dc_drive *d = NULL;
        const char *what = NULL;

        p = default_params();
        p.encoder_line = DIR;
        assert_int_equal(dc_drive_new(&p, &d, &what), -EINVAL);
        assert_string_equal(what, "lines");
        p = default_params();
        p.max_duty_pct = 120;
        assert_int_equal(dc_drive_new(&p, &d, &what), -EINVAL);
        p = default_params();
        p.kp_pct_per_count = NAN;
        assert_int_equal(dc_drive_new(&p, &d, &what), -EINVAL);
        p = default_params();
        p.pwm_period_ns = 0;
        assert_int_equal(dc_drive_new(&p, &d, &what), -EINVAL);
        assert_null(d);
        assert_int_equal(fake.n_pwm_opens, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(proportional_duty_follows_the_lag_and_is_clamped),
                T(the_integral_builds_up_a_steady_lag),
                T(a_clamped_output_does_not_wind_the_integral_up),
                T(pwm_opens_off_and_lines_are_requested),
                T(steps_set_the_duty_from_the_encoder_lag),
                T(a_reversal_stops_the_motor_before_dir_changes),
                T(stop_sets_duty_zero_and_disables),
                T(a_failed_duty_write_turns_the_motor_off),
                T(free_closes_the_pwm_before_releasing_lines),
                T(a_busy_encoder_line_unwinds_everything_and_names_it),
                T(a_missing_pwm_chip_opens_no_gpio),
                T(bad_params_are_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
