/* SPDX-License-Identifier: MIT */
/* The libgpiod inputs/outputs backend against a fake GPIO chip: every
 * libgpiod call it makes is wrapped at link time (-Wl,--wrap, see
 * TESTING.md). Inputs get events through the wrapped event calls, with
 * the kernel timestamps a test chooses, and the debounce runs on them. */
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
#include "hal/gpiod-io.h"

/* ---- the fake chip ---------------------------------------------------- */

#define N_LINES 32
#define QUEUE_MAX 256
#define FD_BASE 100

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
        int value;                      /* what get_value reads, what set_value wrote */
        struct gpiod_line_event queue[QUEUE_MAX];
        unsigned head, tail;
};

static struct {
        struct gpiod_chip chip;
        struct gpiod_line lines[N_LINES];
        unsigned n_opens, n_closes, n_requests, n_releases;
        int fail_request_offset;        /* -1: none */
        int fail_request_errno;
        /* Releases and sets in order, to check "inactive, then released". */
        struct { bool release; unsigned offset; int value; } log[256];
        unsigned n_log;
} fake;

static bool is_event_request(const struct gpiod_line *l) {
        return l->request_type == GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES ||
               l->request_type == GPIOD_LINE_REQUEST_EVENT_RISING_EDGE ||
               l->request_type == GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE;
}

struct gpiod_chip *__wrap_gpiod_chip_open_lookup(const char *descr);
struct gpiod_chip *__wrap_gpiod_chip_open_lookup(const char *descr) {
        assert_string_equal(descr, "gpiochip1");
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
        assert_true(chip->open);
        assert_true(offset < N_LINES);
        return &fake.lines[offset];
}

int __wrap_gpiod_line_request(struct gpiod_line *line, const struct gpiod_line_request_config *config,
                              int default_val);
int __wrap_gpiod_line_request(struct gpiod_line *line, const struct gpiod_line_request_config *config,
                              int default_val) {
        assert_non_null(config);
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
        if (config->request_type == GPIOD_LINE_REQUEST_DIRECTION_OUTPUT)
                line->value = default_val;
        fake.n_requests++;
        return 0;
}

void __wrap_gpiod_line_release(struct gpiod_line *line);
void __wrap_gpiod_line_release(struct gpiod_line *line) {
        assert_true(line->requested);
        line->requested = false;
        fake.n_releases++;
        assert_true(fake.n_log < ELEMENTSOF(fake.log));
        fake.log[fake.n_log++] = (typeof(fake.log[0])) { true, line->offset, line->value };
}

int __wrap_gpiod_line_set_value(struct gpiod_line *line, int value);
int __wrap_gpiod_line_set_value(struct gpiod_line *line, int value) {
        assert_true(line->requested);
        assert_int_equal(line->request_type, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT);
        assert_true(value == 0 || value == 1);
        line->value = value;
        assert_true(fake.n_log < ELEMENTSOF(fake.log));
        fake.log[fake.n_log++] = (typeof(fake.log[0])) { false, line->offset, value };
        return 0;
}

int __wrap_gpiod_line_get_value(struct gpiod_line *line);
int __wrap_gpiod_line_get_value(struct gpiod_line *line) {
        assert_true(line->requested);
        return line->value;
}

int __wrap_gpiod_line_event_get_fd(struct gpiod_line *line);
int __wrap_gpiod_line_event_get_fd(struct gpiod_line *line) {
        assert_true(line->requested);
        assert_true(is_event_request(line));
        return FD_BASE + (int) line->offset;
}

int __wrap_gpiod_line_event_wait(struct gpiod_line *line, const struct timespec *timeout);
static int fail_event_wait_errno;       /* 0: wait works */

int __wrap_gpiod_line_event_wait(struct gpiod_line *line, const struct timespec *timeout) {
        if (fail_event_wait_errno) {
                errno = fail_event_wait_errno;
                return -1;
        }
        assert_true(line->requested);
        assert_true(is_event_request(line));
        /* process() runs in the event loop: it must never block. */
        assert_non_null(timeout);
        assert_int_equal(timeout->tv_sec, 0);
        assert_int_equal(timeout->tv_nsec, 0);
        return line->head != line->tail;
}

int __wrap_gpiod_line_event_read_multiple(struct gpiod_line *line, struct gpiod_line_event *events,
                                          unsigned num);
int __wrap_gpiod_line_event_read_multiple(struct gpiod_line *line, struct gpiod_line_event *events,
                                          unsigned num) {
        unsigned n = 0;

        assert_true(line->requested);
        assert_true(is_event_request(line));
        /* The real read blocks on an empty queue. */
        assert_true(line->head != line->tail);
        while (n < num && line->head != line->tail)
                events[n++] = line->queue[line->head++];
        return (int) n;
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
        if (fake.chip.open || fake.n_opens != fake.n_closes || fake.n_requests != fake.n_releases) {
                print_error("chip open %d, opens %u closes %u, requests %u releases %u\n", fake.chip.open,
                            fake.n_opens, fake.n_closes, fake.n_requests, fake.n_releases);
                return -1;
        }
        return 0;
}

/* An edge as the kernel reports it: its time, and the line's logical
 * level after it, which get_value then reads too. */
static void push_event(unsigned offset, int64_t t_us, bool rising) {
        struct gpiod_line *l = &fake.lines[offset];

        assert_true(l->tail < QUEUE_MAX);
        l->queue[l->tail++] = (struct gpiod_line_event) {
                .ts = { .tv_sec = t_us / 1000000, .tv_nsec = (t_us % 1000000) * 1000 },
                .event_type = rising ? GPIOD_LINE_EVENT_RISING_EDGE : GPIOD_LINE_EVENT_FALLING_EDGE,
        };
        l->value = rising;
}

/* ---- the handler ------------------------------------------------------ */

struct edge {
        enum hal_input input;
        bool active;
        int64_t when_us;
};

static struct {
        struct edge edges[64];
        unsigned n;
} seen;

static void record(enum hal_input i, bool active, int64_t when_us, void *userdata) {
        assert_ptr_equal(userdata, &seen);
        assert_true(seen.n < ELEMENTSOF(seen.edges));
        seen.edges[seen.n++] = (struct edge) { i, active, when_us };
}

/* ---- helpers ---------------------------------------------------------- */

enum { PCA = 3, DOOR = 4, END_STOP = 9, BUZZER = 20, LED_RED = 21 };
#define SETTLE_US 5000

static struct gpiod_io_params default_params(void) {
        struct gpiod_io_params p = {
                .chip = "gpiochip1",
                .debounce_us = SETTLE_US,
        };
        p.inputs[HAL_INPUT_PCA_BUTTON] = (struct gpiod_line_params) { true, PCA, true };
        p.inputs[HAL_INPUT_DOOR_OPEN] = (struct gpiod_line_params) { true, DOOR, false };
        p.inputs[HAL_INPUT_END_STOP] = (struct gpiod_line_params) { true, END_STOP, true };
        p.outputs[HAL_OUTPUT_BUZZER] = (struct gpiod_line_params) { true, BUZZER, false };
        p.outputs[HAL_OUTPUT_LED_RED] = (struct gpiod_line_params) { true, LED_RED, true };
        return p;
}

static struct gpiod_io *new_io(const struct gpiod_io_params *p, struct hal *h) {
        struct gpiod_io *io = NULL;
        const char *what = NULL;

        assert_int_equal(gpiod_io_new(p, &io, &what), 0);
        assert_non_null(io);
        *h = (struct hal) {};
        gpiod_io_fill_hal(io, h);
        memset(&seen, 0, sizeof(seen));
        if (h->inputs)
                assert_int_equal(h->inputs->set_handler(h->inputs_ctx, record, &seen), 0);
        return io;
}

static int64_t process(struct hal *h, enum hal_input i, int64_t now_us) {
        int64_t deadline = -1;

        assert_int_equal(h->inputs->process(h->inputs_ctx, i, now_us, &deadline), 0);
        assert_true(deadline == INT64_MAX || deadline > now_us);
        return deadline;
}

static void assert_request(unsigned offset, int type, int flags) {
        const struct gpiod_line *l = &fake.lines[offset];

        assert_true(l->requested);
        assert_string_equal(l->consumer, "infusiond");
        assert_int_equal(l->request_type, type);
        assert_int_equal(l->flags, flags);
}

/* ---- requests --------------------------------------------------------- */

static void inputs_are_requested_for_both_edges_and_outputs_inactive(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;

        /* The buzzer line was high before we came: the request drives it. */
        fake.lines[BUZZER].value = 1;
        struct gpiod_io *io = new_io(&p, &h);

        assert_request(PCA, GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES, GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW);
        assert_request(DOOR, GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES, 0);
        assert_request(END_STOP, GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES, GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW);
        assert_request(BUZZER, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT, 0);
        assert_request(LED_RED, GPIOD_LINE_REQUEST_DIRECTION_OUTPUT, GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW);
        assert_int_equal(fake.lines[BUZZER].default_val, 0);
        assert_int_equal(fake.lines[LED_RED].default_val, 0);
        assert_int_equal(fake.lines[BUZZER].value, 0);
        /* Nothing else: the air detector and two outputs are not fitted. */
        assert_int_equal(fake.n_requests, 5);

        gpiod_io_free(io);
}

static void unfitted_inputs_and_outputs_are_enodev(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;
        bool active = true;
        int64_t deadline;

        fake.lines[DOOR].value = 1;     /* the door is open at start */
        struct gpiod_io *io = new_io(&p, &h);

        assert_int_equal(h.inputs->read(h.inputs_ctx, HAL_INPUT_AIR_IN_LINE, &active), -ENODEV);
        assert_int_equal(h.inputs->event_fd(h.inputs_ctx, HAL_INPUT_AIR_IN_LINE), -ENODEV);
        assert_int_equal(h.inputs->process(h.inputs_ctx, HAL_INPUT_AIR_IN_LINE, 0, &deadline), -ENODEV);
        assert_int_equal(h.outputs->set(h.outputs_ctx, HAL_OUTPUT_LED_YELLOW, true), -ENODEV);
        assert_int_equal(h.outputs->set(h.outputs_ctx, HAL_OUTPUT_NURSE_CALL, true), -ENODEV);
        assert_int_equal(h.inputs->read(h.inputs_ctx, _HAL_INPUT_MAX, &active), -EINVAL);
        assert_int_equal(h.outputs->set(h.outputs_ctx, _HAL_OUTPUT_MAX, true), -EINVAL);

        /* Fitted ones: the level at start, and each line's own event fd. */
        assert_int_equal(h.inputs->read(h.inputs_ctx, HAL_INPUT_DOOR_OPEN, &active), 0);
        assert_true(active);
        assert_int_equal(h.inputs->read(h.inputs_ctx, HAL_INPUT_PCA_BUTTON, &active), 0);
        assert_false(active);
        assert_int_equal(h.inputs->event_fd(h.inputs_ctx, HAL_INPUT_PCA_BUTTON), FD_BASE + PCA);
        assert_int_equal(h.inputs->event_fd(h.inputs_ctx, HAL_INPUT_END_STOP), FD_BASE + END_STOP);

        gpiod_io_free(io);
}

static void only_what_is_fitted_fills_the_hal(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;

        memset(p.outputs, 0, sizeof(p.outputs));
        struct gpiod_io *io = new_io(&p, &h);
        assert_non_null(h.inputs);
        assert_ptr_equal(h.inputs_ctx, io);
        assert_null(h.outputs);
        gpiod_io_free(io);

        p = default_params();
        memset(p.inputs, 0, sizeof(p.inputs));
        io = new_io(&p, &h);
        assert_null(h.inputs);
        assert_non_null(h.outputs);
        assert_ptr_equal(h.outputs_ctx, io);
        gpiod_io_free(io);
}

/* ---- debounced events ------------------------------------------------- */

static void a_bouncing_press_gives_one_handler_call_after_the_settle_time(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;
        bool active = false;
        struct gpiod_io *io = new_io(&p, &h);

        /* Contact bounce over 1.2 ms, ending pressed at 2.2 ms. */
        push_event(PCA, 1000, true);
        push_event(PCA, 1300, false);
        push_event(PCA, 1600, true);
        push_event(PCA, 1900, false);
        push_event(PCA, 2200, true);

        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, 2500), 2200 + SETTLE_US);
        assert_int_equal(seen.n, 0);
        assert_int_equal(h.inputs->read(h.inputs_ctx, HAL_INPUT_PCA_BUTTON, &active), 0);
        assert_false(active);

        /* Called again just before the deadline: still nothing. */
        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, 2200 + SETTLE_US - 1), 2200 + SETTLE_US);
        assert_int_equal(seen.n, 0);

        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, 2200 + SETTLE_US), INT64_MAX);
        assert_int_equal(seen.n, 1);
        assert_int_equal(seen.edges[0].input, HAL_INPUT_PCA_BUTTON);
        assert_true(seen.edges[0].active);
        assert_int_equal(seen.edges[0].when_us, 2200 + SETTLE_US);
        assert_int_equal(h.inputs->read(h.inputs_ctx, HAL_INPUT_PCA_BUTTON, &active), 0);
        assert_true(active);

        /* Exactly one. */
        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, 100000), INT64_MAX);
        assert_int_equal(seen.n, 1);

        gpiod_io_free(io);
}

/* A line whose events cannot be read any more (the chip went away) must
 * not keep reading its last level: a dead air detector is not "no air". */
static void an_input_that_fails_reads_as_failed_from_then_on(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;
        bool active = true;
        struct gpiod_io *io = new_io(&p, &h);
        int64_t deadline;

        assert_int_equal(h.inputs->read(h.inputs_ctx, HAL_INPUT_PCA_BUTTON, &active), 0);
        assert_false(active);
        fail_event_wait_errno = ENODEV;
        assert_int_equal(h.inputs->process(h.inputs_ctx, HAL_INPUT_PCA_BUTTON, 1000, &deadline), -ENODEV);
        fail_event_wait_errno = 0;
        /* Latched: the line works again, the input stays failed until restart. */
        assert_int_equal(h.inputs->read(h.inputs_ctx, HAL_INPUT_PCA_BUTTON, &active), -ENODEV);
        assert_int_equal(h.inputs->process(h.inputs_ctx, HAL_INPUT_PCA_BUTTON, 2000, &deadline), -ENODEV);
        /* Other inputs are untouched. */
        assert_int_equal(h.inputs->read(h.inputs_ctx, HAL_INPUT_DOOR_OPEN, &active), 0);
        gpiod_io_free(io);
}

static void a_bounce_that_ends_released_is_no_press(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;
        struct gpiod_io *io = new_io(&p, &h);

        push_event(PCA, 1000, true);
        push_event(PCA, 1500, false);
        push_event(PCA, 2000, true);
        push_event(PCA, 2500, false);
        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, 3000), INT64_MAX);
        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, 100000), INT64_MAX);
        assert_int_equal(seen.n, 0);

        gpiod_io_free(io);
}

static void a_press_and_release_read_late_are_both_reported_at_kernel_times(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;
        struct gpiod_io *io = new_io(&p, &h);

        /* The loop was busy: both edges are read long after they settled. */
        push_event(DOOR, 1000, true);
        push_event(DOOR, 200000, false);
        assert_int_equal(process(&h, HAL_INPUT_DOOR_OPEN, 300000), INT64_MAX);

        assert_int_equal(seen.n, 2);
        assert_int_equal(seen.edges[0].input, HAL_INPUT_DOOR_OPEN);
        assert_true(seen.edges[0].active);
        assert_int_equal(seen.edges[0].when_us, 1000 + SETTLE_US);
        assert_false(seen.edges[1].active);
        assert_int_equal(seen.edges[1].when_us, 200000 + SETTLE_US);

        gpiod_io_free(io);
}

static void event_times_outside_last_edge_and_now_are_clamped(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;
        struct gpiod_io *io = new_io(&p, &h);

        /* A pre-5.7 kernel's CLOCK_REALTIME stamp, far ahead of now: the
         * settle counts from when we read it. */
        push_event(END_STOP, INT64_C(1700000000) * 1000000, true);
        assert_int_equal(process(&h, HAL_INPUT_END_STOP, 40000), 40000 + SETTLE_US);
        assert_int_equal(process(&h, HAL_INPUT_END_STOP, 40000 + SETTLE_US), INT64_MAX);
        assert_int_equal(seen.n, 1);
        assert_int_equal(seen.edges[0].when_us, 40000 + SETTLE_US);

        /* One from before the previous edge counts from that edge: read
         * at 42 ms, it settles at 45 ms, not at once. */
        push_event(END_STOP, 100, false);
        assert_int_equal(process(&h, HAL_INPUT_END_STOP, 42000), 40000 + SETTLE_US);
        assert_int_equal(seen.n, 1);
        assert_int_equal(process(&h, HAL_INPUT_END_STOP, 40000 + SETTLE_US), INT64_MAX);
        assert_int_equal(seen.n, 2);
        assert_false(seen.edges[1].active);

        gpiod_io_free(io);
}

static void a_lost_final_edge_is_caught_by_reading_the_line(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;
        struct gpiod_io *io = new_io(&p, &h);

        /* The queue overflowed: the last rising edge never came, but the
         * line is pressed. */
        push_event(PCA, 1000, true);
        push_event(PCA, 1200, false);
        fake.lines[PCA].value = 1;

        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, 2000), 2000 + SETTLE_US);
        assert_int_equal(seen.n, 0);
        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, 2000 + SETTLE_US), INT64_MAX);
        assert_int_equal(seen.n, 1);
        assert_true(seen.edges[0].active);

        /* And the other way: a release seen, but at its deadline the line
         * reads pressed again (that edge lost): no release is reported. */
        push_event(PCA, 30000, false);
        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, 31000), 30000 + SETTLE_US);
        fake.lines[PCA].value = 1;
        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, 30000 + SETTLE_US), INT64_MAX);
        assert_int_equal(seen.n, 1);

        gpiod_io_free(io);
}

static void a_long_burst_is_read_without_blocking_and_ends_settled(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;
        struct gpiod_io *io = new_io(&p, &h);
        int64_t deadline;

        /* 41 edges, more than one read's worth. */
        for (int k = 0; k <= 40; k++)
                push_event(PCA, 1000 + 50 * k, k % 2 == 0);
        deadline = process(&h, HAL_INPUT_PCA_BUTTON, 4000);
        assert_int_equal(deadline, 1000 + 50 * 40 + SETTLE_US);
        assert_int_equal(fake.lines[PCA].head, fake.lines[PCA].tail);
        assert_int_equal(process(&h, HAL_INPUT_PCA_BUTTON, deadline), INT64_MAX);
        assert_int_equal(seen.n, 1);

        gpiod_io_free(io);
}

/* ---- outputs ---------------------------------------------------------- */

static void outputs_are_set_then_driven_inactive_and_released_at_free(void **state) {
        struct gpiod_io_params p = default_params();
        struct hal h;
        struct gpiod_io *io = new_io(&p, &h);

        assert_int_equal(h.outputs->set(h.outputs_ctx, HAL_OUTPUT_BUZZER, true), 0);
        assert_int_equal(fake.lines[BUZZER].value, 1);
        assert_int_equal(h.outputs->set(h.outputs_ctx, HAL_OUTPUT_LED_RED, true), 0);
        assert_int_equal(fake.lines[LED_RED].value, 1);
        assert_int_equal(h.outputs->set(h.outputs_ctx, HAL_OUTPUT_BUZZER, false), 0);
        assert_int_equal(fake.lines[BUZZER].value, 0);
        assert_int_equal(h.outputs->set(h.outputs_ctx, HAL_OUTPUT_BUZZER, true), 0);

        unsigned mark = fake.n_log;
        assert_null(gpiod_io_free(io));

        /* Each output: inactive, then released, in that order. */
        static const unsigned outs[] = { BUZZER, LED_RED };
        for (unsigned o = 0; o < ELEMENTSOF(outs); o++) {
                int set_at = -1, released_at = -1;
                for (unsigned k = mark; k < fake.n_log; k++)
                        if (fake.log[k].offset == outs[o]) {
                                if (!fake.log[k].release && fake.log[k].value == 0 && set_at < 0)
                                        set_at = (int) k;
                                if (fake.log[k].release)
                                        released_at = (int) k;
                        }
                assert_true(set_at >= 0);
                assert_true(released_at > set_at);
                assert_int_equal(fake.log[released_at].value, 0);
        }
        assert_false(fake.lines[PCA].requested);
        assert_false(fake.lines[DOOR].requested);
        assert_false(fake.lines[END_STOP].requested);
        assert_false(fake.chip.open);
        assert_int_equal(fake.n_releases, 5);

        assert_null(gpiod_io_free(NULL));
}

/* ---- a failed new() leaves nothing behind ----------------------------- */

static void a_busy_input_unwinds_everything_and_names_it(void **state) {
        struct gpiod_io_params p = default_params();
        struct gpiod_io *io = NULL;
        const char *what = NULL;

        fake.fail_request_offset = END_STOP;
        fake.fail_request_errno = EBUSY;
        assert_int_equal(gpiod_io_new(&p, &io, &what), -EBUSY);
        assert_null(io);
        assert_string_equal(what, "end-stop");
        assert_int_equal(fake.n_requests, 4);
        assert_int_equal(fake.n_releases, 4);
        assert_false(fake.chip.open);
}

static void a_busy_output_unwinds_everything_and_names_it(void **state) {
        struct gpiod_io_params p = default_params();
        struct gpiod_io *io = NULL;
        const char *what = NULL;

        fake.fail_request_offset = LED_RED;
        fake.fail_request_errno = EBUSY;
        assert_int_equal(gpiod_io_new(&p, &io, &what), -EBUSY);
        assert_null(io);
        assert_string_equal(what, "led-red");
        assert_int_equal(fake.n_releases, fake.n_requests);
        assert_false(fake.chip.open);
}

static void a_line_used_twice_is_refused_before_the_chip_is_opened(void **state) {
        struct gpiod_io_params p = default_params();
        struct gpiod_io *io = NULL;
        const char *what = NULL;

        p.outputs[HAL_OUTPUT_NURSE_CALL] = (struct gpiod_line_params) { true, DOOR, false };
        assert_int_equal(gpiod_io_new(&p, &io, &what), -EINVAL);
        assert_null(io);
        assert_string_equal(what, "nurse-call");

        /* An unfitted entry's line number does not count. */
        p = default_params();
        p.inputs[HAL_INPUT_AIR_IN_LINE] = (struct gpiod_line_params) { false, PCA, false };
        assert_int_equal(gpiod_io_new(&p, &io, &what), 0);
        assert_int_equal(fake.n_opens, 1);
        gpiod_io_free(io);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(inputs_are_requested_for_both_edges_and_outputs_inactive),
                T(unfitted_inputs_and_outputs_are_enodev),
                T(only_what_is_fitted_fills_the_hal),
                T(a_bouncing_press_gives_one_handler_call_after_the_settle_time),
                T(a_bounce_that_ends_released_is_no_press),
                T(an_input_that_fails_reads_as_failed_from_then_on),
                T(a_press_and_release_read_late_are_both_reported_at_kernel_times),
                T(event_times_outside_last_edge_and_now_are_clamped),
                T(a_lost_final_edge_is_caught_by_reading_the_line),
                T(a_long_burst_is_read_without_blocking_and_ends_settled),
                T(outputs_are_set_then_driven_inactive_and_released_at_free),
                T(a_busy_input_unwinds_everything_and_names_it),
                T(a_busy_output_unwinds_everything_and_names_it),
                T(a_line_used_twice_is_refused_before_the_chip_is_opened),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
