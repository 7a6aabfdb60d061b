/* SPDX-License-Identifier: MIT */
/* The libgpiod stepper backend against a fake GPIO chip: every libgpiod
 * call the backend makes is wrapped at link time (-Wl,--wrap, see
 * TESTING.md) and lands in the fake below, which keeps each line's
 * request and level and logs every call with its CLOCK_MONOTONIC time. */
#include <errno.h>
#include <gpiod.h>
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
#include "hal/gpiod-stepper.h"

/* ---- the fake chip ---------------------------------------------------- */

#define N_LINES 32
#define LOG_MAX 8192

/* gpiod.h leaves both types incomplete: the fake gives them a body. */
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
        unsigned n_sets;
};

enum call_kind { CALL_REQUEST, CALL_SET, CALL_RELEASE };

struct call {
        enum call_kind kind;
        unsigned offset;
        int value;
        int64_t t_ns;
};

static struct {
        struct gpiod_chip chip;
        struct gpiod_line lines[N_LINES];
        char chip_name[64];
        unsigned n_opens, n_closes, n_requests, n_releases;

        bool chip_missing;
        int fail_request_offset;        /* -1: none */
        int fail_request_errno;
        int fail_set_offset;            /* -1: none */
        unsigned fail_set_nth;          /* that line's nth set (1-based) fails */

        struct call log[LOG_MAX];
        unsigned n_log;
} fake;

static int64_t mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void log_call(enum call_kind kind, unsigned offset, int value) {
        assert_true(fake.n_log < LOG_MAX);
        fake.log[fake.n_log++] = (struct call) { kind, offset, value, mono_ns() };
}

struct gpiod_chip *__wrap_gpiod_chip_open_lookup(const char *descr);
struct gpiod_chip *__wrap_gpiod_chip_open_lookup(const char *descr) {
        assert_non_null(descr);
        assert_false(fake.chip.open);
        snprintf(fake.chip_name, sizeof(fake.chip_name), "%s", descr);
        if (fake.chip_missing) {
                errno = ENOENT;
                return NULL;
        }
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
        assert_true(chip->open);
        if (offset >= N_LINES) {
                errno = EINVAL;
                return NULL;
        }
        return &fake.lines[offset];
}

int __wrap_gpiod_line_request(struct gpiod_line *line, const struct gpiod_line_request_config *config,
                              int default_val);
int __wrap_gpiod_line_request(struct gpiod_line *line, const struct gpiod_line_request_config *config,
                              int default_val) {
        assert_non_null(line);
        assert_non_null(config);
        assert_true(fake.chip.open);
        /* The real kernel says EBUSY; a second request is a bug here. */
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
        line->n_sets = 0;
        fake.n_requests++;
        log_call(CALL_REQUEST, line->offset, default_val);
        return 0;
}

void __wrap_gpiod_line_release(struct gpiod_line *line);
void __wrap_gpiod_line_release(struct gpiod_line *line) {
        assert_non_null(line);
        assert_true(line->requested);
        line->requested = false;
        fake.n_releases++;
        log_call(CALL_RELEASE, line->offset, line->value);
}

int __wrap_gpiod_line_set_value(struct gpiod_line *line, int value);
int __wrap_gpiod_line_set_value(struct gpiod_line *line, int value) {
        assert_non_null(line);
        assert_true(line->requested);
        assert_true(value == 0 || value == 1);
        line->n_sets++;
        log_call(CALL_SET, line->offset, value);
        if ((int) line->offset == fake.fail_set_offset && line->n_sets == fake.fail_set_nth) {
                errno = EIO;
                return -1;
        }
        line->value = value;
        return 0;
}

static int setup(void **state) {
        memset(&fake, 0, sizeof(fake));
        for (unsigned i = 0; i < N_LINES; i++)
                fake.lines[i].offset = i;
        fake.fail_request_offset = -1;
        fake.fail_set_offset = -1;
        return 0;
}

/* Whatever a test did, it must leave no line requested and no chip open. */
static int teardown(void **state) {
        for (unsigned i = 0; i < N_LINES; i++)
                if (fake.lines[i].requested) {
                        print_error("line %u left requested\n", i);
                        return -1;
                }
        if (fake.chip.open || fake.n_opens != fake.n_closes || fake.n_requests != fake.n_releases) {
                print_error("chip open %d, opens %u closes %u, requests %u releases %u\n", fake.chip.open,
                            fake.n_opens, fake.n_closes, fake.n_requests, fake.n_releases);
                return -1;
        }
        return 0;
}

/* ---- helpers ---------------------------------------------------------- */

enum { STEP = 5, DIR = 6, ENABLE = 7, MS1 = 10, MS2 = 11, MS3 = 12 };

static struct gpiod_stepper_params default_params(void) {
        return (struct gpiod_stepper_params) {
                .chip = "gpiochip0",
                .step_line = STEP,
                .dir_line = DIR,
                .enable_line = ENABLE,
                .step_active_low = false,
                .enable_active_low = true,
                .dir_forward_high = true,
                .driver = STEPPER_DRIVER_A4988,
                .microsteps = 16,
                .n_ms_lines = 3,
                .ms_lines = { MS1, MS2, MS3 },
                .step_pulse_us = 2,
                .step_low_us = 2,
                .dir_setup_us = 1,
        };
}

static struct gpiod_stepper *new_stepper(const struct gpiod_stepper_params *p, struct hal *h) {
        struct gpiod_stepper *s = NULL;
        const char *what = NULL;

        assert_int_equal(gpiod_stepper_new(p, &s, &what), 0);
        assert_non_null(s);
        *h = (struct hal) {};
        gpiod_stepper_fill_hal(s, h);
        assert_non_null(h->drive);
        assert_ptr_equal(h->drive_ctx, s);
        return s;
}

/* Index of the first call at or after from matching kind and offset, or -1. */
static int find_call(unsigned from, enum call_kind kind, unsigned offset) {
        for (unsigned k = from; k < fake.n_log; k++)
                if (fake.log[k].kind == kind && fake.log[k].offset == offset)
                        return (int) k;
        return -1;
}

static int find_set(unsigned from, unsigned offset, int value) {
        for (int k = (int) from; (k = find_call((unsigned) k, CALL_SET, offset)) >= 0; k++)
                if (fake.log[k].value == value)
                        return k;
        return -1;
}

static unsigned count_calls(unsigned from, enum call_kind kind, unsigned offset) {
        unsigned n = 0;
        for (unsigned k = from; k < fake.n_log; k++)
                n += fake.log[k].kind == kind && fake.log[k].offset == offset;
        return n;
}

static void assert_output_request(unsigned offset, int flags, int default_val) {
        const struct gpiod_line *l = &fake.lines[offset];

        assert_true(l->requested);
        assert_string_equal(l->consumer, "infusiond");
        assert_int_equal(l->request_type, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT);
        assert_int_equal(l->flags, flags);
        assert_int_equal(l->default_val, default_val);
}

/* ---- requests --------------------------------------------------------- */

static void lines_are_requested_as_outputs_in_their_safe_state(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct hal h;
        struct gpiod_stepper *s = new_stepper(&p, &h);

        assert_string_equal(fake.chip_name, "gpiochip0");
        /* nENABLE: active-low, requested inactive (motor off). */
        assert_output_request(ENABLE, GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW, 0);
        assert_output_request(STEP, 0, 0);
        /* DIR carries no "active": the forward level, high here. */
        assert_output_request(DIR, 0, 1);
        /* A4988 1/16: MS1 MS2 MS3 all high. */
        assert_output_request(MS1, 0, 1);
        assert_output_request(MS2, 0, 1);
        assert_output_request(MS3, 0, 1);
        assert_int_equal(fake.n_requests, 6);

        /* ENABLE is held off before STEP or DIR is taken. */
        int e = find_call(0, CALL_REQUEST, ENABLE);
        assert_true(e >= 0);
        assert_true(e < find_call(0, CALL_REQUEST, STEP));
        assert_true(e < find_call(0, CALL_REQUEST, DIR));

        gpiod_stepper_free(s);
}

static void active_low_step_and_low_forward_dir_are_requested_so(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct hal h;

        p.chip = "/dev/gpiochip3";
        p.step_active_low = true;
        p.enable_active_low = false;
        p.dir_forward_high = false;
        p.n_ms_lines = 0;               /* strapped */
        struct gpiod_stepper *s = new_stepper(&p, &h);

        assert_string_equal(fake.chip_name, "/dev/gpiochip3");
        assert_output_request(STEP, GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW, 0);
        assert_output_request(ENABLE, 0, 0);
        assert_output_request(DIR, 0, 0);
        assert_false(fake.lines[MS1].requested);
        assert_int_equal(fake.n_requests, 3);

        /* Forward is the low level: reverse drives DIR high, forward low. */
        assert_int_equal(h.drive->set_direction(h.drive_ctx, HAL_DIRECTION_REVERSE), 0);
        assert_int_equal(fake.lines[DIR].value, 1);
        assert_int_equal(h.drive->set_direction(h.drive_ctx, HAL_DIRECTION_FORWARD), 0);
        assert_int_equal(fake.lines[DIR].value, 0);

        /* "Active" is 1 whatever the polarity: the kernel inverts. */
        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(fake.lines[ENABLE].value, 1);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(find_set(0, STEP, 1) >= 0, true);
        assert_int_equal(fake.lines[STEP].value, 0);

        gpiod_stepper_free(s);
}

/* ---- microstep tables ------------------------------------------------- */

struct ms_case {
        enum stepper_driver driver;
        unsigned microsteps;
        int levels[3];                  /* MS1/M0, MS2/M1, MS3/M2; -1: no such pin */
};

/* Written out from the data sheets, not from the code's table. */
static const struct ms_case ms_cases[] = {
        /* A4988 table 1 */
        { STEPPER_DRIVER_A4988, 1, { 0, 0, 0 } },
        { STEPPER_DRIVER_A4988, 2, { 1, 0, 0 } },
        { STEPPER_DRIVER_A4988, 4, { 0, 1, 0 } },
        { STEPPER_DRIVER_A4988, 8, { 1, 1, 0 } },
        { STEPPER_DRIVER_A4988, 16, { 1, 1, 1 } },
        /* DRV8825 table 1 (M0 M1 M2) */
        { STEPPER_DRIVER_DRV8825, 1, { 0, 0, 0 } },
        { STEPPER_DRIVER_DRV8825, 2, { 1, 0, 0 } },
        { STEPPER_DRIVER_DRV8825, 4, { 0, 1, 0 } },
        { STEPPER_DRIVER_DRV8825, 8, { 1, 1, 0 } },
        { STEPPER_DRIVER_DRV8825, 16, { 0, 0, 1 } },
        { STEPPER_DRIVER_DRV8825, 32, { 1, 0, 1 } },
        /* TMC2209 standalone MS1 MS2 */
        { STEPPER_DRIVER_TMC2209, 8, { 0, 0, -1 } },
        { STEPPER_DRIVER_TMC2209, 16, { 1, 1, -1 } },
        { STEPPER_DRIVER_TMC2209, 32, { 1, 0, -1 } },
        { STEPPER_DRIVER_TMC2209, 64, { 0, 1, -1 } },
};

static void microstep_lines_follow_each_drivers_table(void **state) {
        for (unsigned c = 0; c < ELEMENTSOF(ms_cases); c++) {
                const struct ms_case *mc = &ms_cases[c];
                unsigned n_pins = mc->levels[2] < 0 ? 2 : 3;
                unsigned levels = 0xdead, n_lines = 0;

                assert_int_equal(stepper_driver_microstep_levels(mc->driver, mc->microsteps, &levels, &n_lines), 0);
                assert_int_equal(n_lines, n_pins);
                for (unsigned i = 0; i < n_pins; i++)
                        assert_int_equal((levels >> i) & 1, mc->levels[i]);
                assert_int_equal(levels >> n_pins, 0);

                /* And that is what goes out on the lines at request time. */
                struct gpiod_stepper_params p = default_params();
                struct hal h;
                p.driver = mc->driver;
                p.microsteps = mc->microsteps;
                p.n_ms_lines = n_pins;
                struct gpiod_stepper *s = new_stepper(&p, &h);
                for (unsigned i = 0; i < n_pins; i++)
                        assert_output_request(p.ms_lines[i], 0, mc->levels[i]);
                if (n_pins == 2)
                        assert_false(fake.lines[MS3].requested);
                gpiod_stepper_free(s);
                assert_int_equal(teardown(NULL), 0);
        }
}

static void microsteps_a_driver_cannot_do_are_refused(void **state) {
        static const struct { enum stepper_driver driver; unsigned microsteps; } bad[] = {
                { STEPPER_DRIVER_A4988, 0 }, { STEPPER_DRIVER_A4988, 3 }, { STEPPER_DRIVER_A4988, 32 },
                { STEPPER_DRIVER_A4988, 64 }, { STEPPER_DRIVER_DRV8825, 64 }, { STEPPER_DRIVER_DRV8825, 128 },
                { STEPPER_DRIVER_TMC2209, 1 }, { STEPPER_DRIVER_TMC2209, 2 }, { STEPPER_DRIVER_TMC2209, 4 },
                { STEPPER_DRIVER_TMC2209, 256 }, { _STEPPER_DRIVER_MAX, 16 },
        };

        for (unsigned c = 0; c < ELEMENTSOF(bad); c++) {
                struct gpiod_stepper_params p = default_params();
                struct gpiod_stepper *s = NULL;
                const char *what = NULL;
                unsigned levels = 42;

                assert_int_equal(stepper_driver_microstep_levels(bad[c].driver, bad[c].microsteps, &levels, NULL),
                                 -EINVAL);
                assert_int_equal(levels, 42);

                p.driver = bad[c].driver;
                p.microsteps = bad[c].microsteps;
                p.n_ms_lines = 2;
                assert_int_equal(gpiod_stepper_new(&p, &s, &what), -EINVAL);
                assert_null(s);
                assert_string_equal(what, "microsteps");
        }
        /* Refused before any GPIO was touched. */
        assert_int_equal(fake.n_opens, 0);
}

static void wrong_microstep_line_counts_and_reused_lines_are_refused(void **state) {
        struct gpiod_stepper_params p;
        struct gpiod_stepper *s = NULL;
        const char *what = NULL;

        /* A4988 1/16 needs all three MS lines. */
        p = default_params();
        p.n_ms_lines = 2;
        assert_int_equal(gpiod_stepper_new(&p, &s, &what), -EINVAL);
        assert_string_equal(what, "microstep line");

        /* A TMC2209 has no third MS pin. */
        p = default_params();
        p.driver = STEPPER_DRIVER_TMC2209;
        p.n_ms_lines = 3;
        assert_int_equal(gpiod_stepper_new(&p, &s, &what), -EINVAL);

        p = default_params();
        p.dir_line = STEP;
        assert_int_equal(gpiod_stepper_new(&p, &s, &what), -EINVAL);
        assert_string_equal(what, "lines");

        p = default_params();
        p.ms_lines[2] = ENABLE;
        assert_int_equal(gpiod_stepper_new(&p, &s, &what), -EINVAL);

        p = default_params();
        p.step_pulse_us = 0;
        assert_int_equal(gpiod_stepper_new(&p, &s, &what), -EINVAL);
        assert_string_equal(what, "timing");

        assert_null(s);
        assert_int_equal(fake.n_opens, 0);
}

static void driver_names_round_trip(void **state) {
        enum stepper_driver d = _STEPPER_DRIVER_MAX;

        for (unsigned i = 0; i < _STEPPER_DRIVER_MAX; i++) {
                assert_non_null(stepper_driver_to_string(i));
                assert_int_equal(stepper_driver_from_string(stepper_driver_to_string(i), &d), 0);
                assert_int_equal(d, i);
        }
        assert_string_equal(stepper_driver_to_string(STEPPER_DRIVER_TMC2209), "tmc2209");
        assert_null(stepper_driver_to_string(_STEPPER_DRIVER_MAX));
        assert_int_equal(stepper_driver_from_string("l298n", &d), -EINVAL);
        assert_int_equal(stepper_driver_from_string(NULL, &d), -EINVAL);
}

/* ---- timing ----------------------------------------------------------- */

static void direction_is_set_and_settled_before_the_next_step(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct hal h;

        p.dir_setup_us = 400;           /* long enough to tell from noise */
        p.step_low_us = 1;
        struct gpiod_stepper *s = new_stepper(&p, &h);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);

        for (int round = 0; round < 4; round++) {
                enum hal_direction dir = round % 2 == 0 ? HAL_DIRECTION_REVERSE : HAL_DIRECTION_FORWARD;
                unsigned mark = fake.n_log;

                assert_int_equal(h.drive->set_direction(h.drive_ctx, dir), 0);
                assert_int_equal(h.drive->step(h.drive_ctx), 0);

                int d = find_call(mark, CALL_SET, DIR);
                int st = find_set(mark, STEP, 1);
                assert_true(d >= 0);
                assert_true(st > d);
                assert_int_equal(fake.log[d].value, dir == HAL_DIRECTION_FORWARD ? 1 : 0);
                assert_true(fake.log[st].t_ns - fake.log[d].t_ns >= 400 * 1000);
        }

        /* The same direction again writes nothing and waits for nothing. */
        unsigned mark = fake.n_log;
        assert_int_equal(h.drive->set_direction(h.drive_ctx, HAL_DIRECTION_FORWARD), 0);
        assert_int_equal(count_calls(mark, CALL_SET, DIR), 0);

        assert_int_equal(h.drive->set_direction(h.drive_ctx, (enum hal_direction) 7), -EINVAL);
        assert_int_equal(count_calls(mark, CALL_SET, DIR), 0);

        gpiod_stepper_free(s);
}

static void step_pulses_keep_their_high_and_low_times(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct hal h;
        enum { N = 25, PULSE_US = 150, LOW_US = 250 };

        p.step_pulse_us = PULSE_US;
        p.step_low_us = LOW_US;
        struct gpiod_stepper *s = new_stepper(&p, &h);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        unsigned mark = fake.n_log;
        /* Back to back, as fast as the caller can: the driver must pace. */
        for (int k = 0; k < N; k++)
                assert_int_equal(h.drive->step(h.drive_ctx), 0);

        int64_t t[2 * N];
        unsigned n = 0;
        for (unsigned k = mark; k < fake.n_log; k++) {
                if (fake.log[k].kind != CALL_SET)
                        continue;
                /* Only STEP moves while stepping. */
                assert_int_equal(fake.log[k].offset, STEP);
                assert_true(n < 2 * N);
                /* High, low, high, low ... */
                assert_int_equal(fake.log[k].value, n % 2 == 0 ? 1 : 0);
                t[n++] = fake.log[k].t_ns;
        }
        assert_int_equal(n, 2 * N);
        assert_int_equal(fake.lines[STEP].value, 0);

        for (unsigned k = 0; k < N; k++) {
                int64_t high_ns = t[2 * k + 1] - t[2 * k];
                assert_true(high_ns >= PULSE_US * 1000);
                if (k + 1 < N) {
                        int64_t low_ns = t[2 * k + 2] - t[2 * k + 1];
                        assert_true(low_ns >= LOW_US * 1000);
                }
        }

        gpiod_stepper_free(s);
}

static void stepping_while_disabled_is_refused_without_a_pulse(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct hal h;
        struct gpiod_stepper *s = new_stepper(&p, &h);

        unsigned mark = fake.n_log;
        assert_int_equal(h.drive->step(h.drive_ctx), -EPERM);
        assert_int_equal(count_calls(mark, CALL_SET, STEP), 0);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(h.drive->enable(h.drive_ctx, false), 0);
        mark = fake.n_log;
        assert_int_equal(h.drive->step(h.drive_ctx), -EPERM);
        assert_int_equal(count_calls(mark, CALL_SET, STEP), 0);

        gpiod_stepper_free(s);
}

/* ---- ENABLE released: stop, error, exit ------------------------------- */

static void enable_is_released_on_stop(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct hal h;
        struct gpiod_stepper *s = new_stepper(&p, &h);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(fake.lines[ENABLE].value, 1);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);

        unsigned mark = fake.n_log;
        assert_int_equal(h.drive->enable(h.drive_ctx, false), 0);
        assert_true(find_set(mark, ENABLE, 0) >= 0);
        assert_int_equal(fake.lines[ENABLE].value, 0);

        gpiod_stepper_free(s);
}

static void check_failed_write_releases_enable(unsigned fail_offset, unsigned fail_nth, bool change_dir) {
        struct gpiod_stepper_params p = default_params();
        struct hal h;
        struct gpiod_stepper *s = new_stepper(&p, &h);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(fake.lines[ENABLE].value, 1);

        fake.fail_set_offset = (int) fail_offset;
        fake.fail_set_nth = fake.lines[fail_offset].n_sets + fail_nth;
        unsigned mark = fake.n_log;
        if (change_dir)
                assert_int_equal(h.drive->set_direction(h.drive_ctx, HAL_DIRECTION_REVERSE), -EIO);
        else
                assert_int_equal(h.drive->step(h.drive_ctx), -EIO);

        /* The failed write happened, and ENABLE went inactive after it. */
        int failed = find_call(mark, CALL_SET, fail_offset);
        assert_true(failed >= 0);
        for (unsigned k = 1; k < fail_nth; k++)
                failed = find_call((unsigned) failed + 1, CALL_SET, fail_offset);
        assert_true(find_set((unsigned) failed, ENABLE, 0) > failed);
        assert_int_equal(fake.lines[ENABLE].value, 0);

        /* And it stays off: no more pulses until someone enables again. */
        fake.fail_set_offset = -1;
        mark = fake.n_log;
        assert_int_equal(h.drive->step(h.drive_ctx), -EPERM);
        assert_int_equal(count_calls(mark, CALL_SET, STEP), 0);

        gpiod_stepper_free(s);
}

static void a_failed_write_mid_step_releases_enable_and_returns_eio(void **state) {
        /* The falling edge: STEP is left high, the step half made. */
        check_failed_write_releases_enable(STEP, 2, false);
}

static void a_failed_rising_edge_releases_enable_and_returns_eio(void **state) {
        check_failed_write_releases_enable(STEP, 1, false);
}

static void a_failed_direction_write_releases_enable_and_returns_eio(void **state) {
        check_failed_write_releases_enable(DIR, 1, true);
}

static void a_failed_enable_write_still_tries_to_release_it(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct hal h;
        struct gpiod_stepper *s = new_stepper(&p, &h);

        fake.fail_set_offset = ENABLE;
        fake.fail_set_nth = 1;
        unsigned mark = fake.n_log;
        assert_int_equal(h.drive->enable(h.drive_ctx, true), -EIO);
        int failed = find_set(mark, ENABLE, 1);
        assert_true(failed >= 0);
        assert_true(find_set((unsigned) failed, ENABLE, 0) > failed);
        assert_int_equal(h.drive->step(h.drive_ctx), -EPERM);

        gpiod_stepper_free(s);
}

static void free_releases_enable_then_every_line_and_closes_the_chip(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct hal h;
        struct gpiod_stepper *s = new_stepper(&p, &h);

        assert_int_equal(h.drive->enable(h.drive_ctx, true), 0);
        assert_int_equal(h.drive->step(h.drive_ctx), 0);
        assert_int_equal(fake.lines[ENABLE].value, 1);

        unsigned mark = fake.n_log;
        assert_null(gpiod_stepper_free(s));

        int off = find_set(mark, ENABLE, 0);
        assert_true(off >= 0);
        /* Motor off before any line is let go. */
        for (unsigned k = mark; k < (unsigned) off; k++)
                assert_int_not_equal(fake.log[k].kind, CALL_RELEASE);
        static const unsigned all[] = { STEP, DIR, ENABLE, MS1, MS2, MS3 };
        for (unsigned i = 0; i < ELEMENTSOF(all); i++) {
                assert_false(fake.lines[all[i]].requested);
                assert_int_equal(count_calls(mark, CALL_RELEASE, all[i]), 1);
        }
        assert_int_equal(fake.n_releases, fake.n_requests);
        assert_false(fake.chip.open);
        assert_int_equal(fake.n_closes, 1);

        assert_null(gpiod_stepper_free(NULL));
}

/* ---- a failed new() leaves nothing behind ----------------------------- */

static void a_busy_dir_line_unwinds_everything_and_names_it(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct gpiod_stepper *s = NULL;
        const char *what = NULL;

        fake.fail_request_offset = DIR;
        fake.fail_request_errno = EBUSY;
        assert_int_equal(gpiod_stepper_new(&p, &s, &what), -EBUSY);
        assert_null(s);
        assert_string_equal(what, "dir line");

        /* ENABLE and STEP had been taken: both given back, chip closed. */
        assert_int_equal(fake.n_requests, 2);
        assert_int_equal(count_calls(0, CALL_RELEASE, ENABLE), 1);
        assert_int_equal(count_calls(0, CALL_RELEASE, STEP), 1);
        assert_int_equal(fake.n_releases, 2);
        assert_false(fake.chip.open);
        assert_int_equal(fake.n_closes, 1);
        assert_int_equal(fake.lines[ENABLE].value, 0);
}

static void a_busy_microstep_line_unwinds_everything_and_names_it(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct gpiod_stepper *s = NULL;
        const char *what = NULL;

        fake.fail_request_offset = MS3;
        fake.fail_request_errno = EBUSY;
        assert_int_equal(gpiod_stepper_new(&p, &s, &what), -EBUSY);
        assert_null(s);
        assert_string_equal(what, "microstep line");
        assert_int_equal(fake.n_requests, 5);
        assert_int_equal(fake.n_releases, 5);
        assert_false(fake.chip.open);
}

static void a_failed_enable_request_names_the_enable_line(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct gpiod_stepper *s = NULL;
        const char *what = NULL;

        fake.fail_request_offset = ENABLE;
        fake.fail_request_errno = EPERM;
        assert_int_equal(gpiod_stepper_new(&p, &s, &what), -EPERM);
        assert_string_equal(what, "enable line");
        assert_int_equal(fake.n_requests, 0);
        assert_false(fake.chip.open);
        assert_int_equal(fake.n_closes, 1);
}

static void a_missing_chip_is_enoent_and_names_the_chip(void **state) {
        struct gpiod_stepper_params p = default_params();
        struct gpiod_stepper *s = NULL;
        const char *what = NULL;

        fake.chip_missing = true;
        p.chip = "gpiochip9";
        assert_int_equal(gpiod_stepper_new(&p, &s, &what), -ENOENT);
        assert_null(s);
        assert_string_equal(what, "chip");
        assert_string_equal(fake.chip_name, "gpiochip9");
        assert_int_equal(fake.n_requests, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(lines_are_requested_as_outputs_in_their_safe_state),
                T(active_low_step_and_low_forward_dir_are_requested_so),
                T(microstep_lines_follow_each_drivers_table),
                T(microsteps_a_driver_cannot_do_are_refused),
                T(wrong_microstep_line_counts_and_reused_lines_are_refused),
                T(driver_names_round_trip),
                T(direction_is_set_and_settled_before_the_next_step),
                T(step_pulses_keep_their_high_and_low_times),
                T(stepping_while_disabled_is_refused_without_a_pulse),
                T(enable_is_released_on_stop),
                T(a_failed_write_mid_step_releases_enable_and_returns_eio),
                T(a_failed_rising_edge_releases_enable_and_returns_eio),
                T(a_failed_direction_write_releases_enable_and_returns_eio),
                T(a_failed_enable_write_still_tries_to_release_it),
                T(free_releases_enable_then_every_line_and_closes_the_chip),
                T(a_busy_dir_line_unwinds_everything_and_names_it),
                T(a_busy_microstep_line_unwinds_everything_and_names_it),
                T(a_failed_enable_request_names_the_enable_line),
                T(a_missing_chip_is_enoent_and_names_the_chip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
