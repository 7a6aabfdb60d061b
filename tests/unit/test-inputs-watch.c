/* SPDX-License-Identifier: MIT */
/* The daemon's watch on input event fds, on a real sd-event loop: a
 * readable fd calls the backend's process() for that input, and the
 * deadline process() returns wakes it again, so a debounced edge is
 * reported once it settles. The backend here is a pipe per input. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "daemon/inputs-watch.h"

#define SETTLE_US 20000

struct fake {
        int pipe[_HAL_INPUT_MAX][2];
        int64_t deadline_us[_HAL_INPUT_MAX];    /* pending settle, INT64_MAX none */
        unsigned process_calls[_HAL_INPUT_MAX];
        unsigned reports[_HAL_INPUT_MAX];
        int64_t report_us[_HAL_INPUT_MAX];
        bool fitted[_HAL_INPUT_MAX];
};

static int64_t mono_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int fake_event_fd(void *ctx, enum hal_input i) {
        struct fake *f = ctx;
        return f->fitted[i] ? f->pipe[i][0] : -ENODEV;
}

/* An edge starts the settle; at the deadline the level is reported. */
static int fake_process(void *ctx, enum hal_input i, int64_t now_us, int64_t *ret_deadline_us) {
        struct fake *f = ctx;
        char buf[16];

        f->process_calls[i]++;
        if (read(f->pipe[i][0], buf, sizeof(buf)) > 0)
                f->deadline_us[i] = now_us + SETTLE_US;
        else if (f->deadline_us[i] != INT64_MAX && now_us >= f->deadline_us[i]) {
                f->reports[i]++;
                f->report_us[i] = now_us;
                f->deadline_us[i] = INT64_MAX;
        }
        *ret_deadline_us = f->deadline_us[i];
        return 0;
}

/* A backend whose process() fails: the watch must stop, not spin. */
static unsigned failing_calls;
static int failing_process(void *ctx, enum hal_input i, int64_t now_us, int64_t *ret_deadline_us) {
        failing_calls++;
        return -EIO;
}

static const struct hal_inputs_ops fake_ops = {
        .event_fd = fake_event_fd,
        .process = fake_process,
};

/* Dispatch whatever comes for ms milliseconds (an exited loop cannot run again). */
static void run_for_ms(sd_event *e, int ms) {
        int64_t until = mono_us() + (int64_t) ms * 1000;
        for (int64_t left; (left = until - mono_us()) > 0;)
                assert_true(sd_event_run(e, (uint64_t) left) >= 0);
}

static void an_edge_is_processed_and_reported_when_its_debounce_settles(void **state) {
        struct fake f = {};
        sd_event *e = NULL;
        struct inputs_watch *w = NULL;
        struct hal h = { .inputs = &fake_ops, .inputs_ctx = &f };

        for (int i = 0; i < _HAL_INPUT_MAX; i++) {
                assert_int_equal(pipe2(f.pipe[i], O_NONBLOCK | O_CLOEXEC), 0);
                f.deadline_us[i] = INT64_MAX;
        }
        f.fitted[HAL_INPUT_PCA_BUTTON] = f.fitted[HAL_INPUT_DOOR_OPEN] = true;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(inputs_watch_new(e, &h, &w), 0);

        /* Nothing happens without an edge. */
        run_for_ms(e, 30);
        assert_int_equal(f.process_calls[HAL_INPUT_PCA_BUTTON], 0);

        /* A press: processed at once, reported once after the settle. */
        int64_t pressed = mono_us();
        assert_int_equal(write(f.pipe[HAL_INPUT_PCA_BUTTON][1], "x", 1), 1);
        run_for_ms(e, 100);
        assert_true(f.process_calls[HAL_INPUT_PCA_BUTTON] >= 2);
        assert_int_equal(f.reports[HAL_INPUT_PCA_BUTTON], 1);
        assert_true(f.report_us[HAL_INPUT_PCA_BUTTON] - pressed >= SETTLE_US);
        /* The other fitted input saw nothing; unfitted ones are not watched. */
        assert_int_equal(f.process_calls[HAL_INPUT_DOOR_OPEN], 0);
        assert_int_equal(f.reports[HAL_INPUT_DOOR_OPEN], 0);
        assert_int_equal(write(f.pipe[HAL_INPUT_END_STOP][1], "x", 1), 1);
        run_for_ms(e, 30);
        assert_int_equal(f.process_calls[HAL_INPUT_END_STOP], 0);

        /* After the report the timer is off: no further calls. */
        unsigned calls = f.process_calls[HAL_INPUT_PCA_BUTTON];
        run_for_ms(e, 50);
        assert_int_equal(f.process_calls[HAL_INPUT_PCA_BUTTON], calls);

        inputs_watch_free(w);
        sd_event_unref(e);
        for (int i = 0; i < _HAL_INPUT_MAX; i++)
                close(f.pipe[i][0]), close(f.pipe[i][1]);
}

static void a_failing_input_is_no_longer_watched(void **state) {
        struct fake f = {};
        const struct hal_inputs_ops ops = { .event_fd = fake_event_fd, .process = failing_process };
        struct hal h = { .inputs = &ops, .inputs_ctx = &f };
        sd_event *e = NULL;
        struct inputs_watch *w = NULL;

        assert_int_equal(pipe2(f.pipe[HAL_INPUT_AIR_IN_LINE], O_NONBLOCK | O_CLOEXEC), 0);
        f.fitted[HAL_INPUT_AIR_IN_LINE] = true;
        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(inputs_watch_new(e, &h, &w), 0);
        /* Readable for ever (never drained): without the switch-off the
         * loop would call process() thousands of times. */
        assert_int_equal(write(f.pipe[HAL_INPUT_AIR_IN_LINE][1], "x", 1), 1);
        run_for_ms(e, 30);
        assert_int_equal(failing_calls, 1);
        inputs_watch_free(w);
        sd_event_unref(e);
        close(f.pipe[HAL_INPUT_AIR_IN_LINE][0]);
        close(f.pipe[HAL_INPUT_AIR_IN_LINE][1]);
}

static void a_backend_without_event_fds_is_not_watched(void **state) {
        static const struct hal_inputs_ops polled = {};
        struct hal h = { .inputs = &polled };
        sd_event *e = NULL;
        struct inputs_watch *w = NULL;

        assert_int_equal(sd_event_new(&e), 0);
        assert_int_equal(inputs_watch_new(e, &h, &w), 0);
        assert_non_null(w);
        inputs_watch_free(w);
        h.inputs = NULL;
        assert_int_equal(inputs_watch_new(e, &h, &w), 0);
        inputs_watch_free(w);
        sd_event_unref(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(an_edge_is_processed_and_reported_when_its_debounce_settles),
                cmocka_unit_test(a_failing_input_is_no_longer_watched),
                cmocka_unit_test(a_backend_without_event_fds_is_not_watched),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
