/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "common/units.h"
#include "daemon/executor.h"

/* A recording drive: what the executor did to the motor, and when. */
struct fake_drive {
        pthread_mutex_t lock;
        bool enabled;
        int enable_calls, disable_calls, direction_calls;
        int64_t steps;
        int64_t steps_while_disabled;
        int64_t last_step_us;
        int fail_step_after;            /* >0: the Nth step fails */
        int64_t (*clock)(void);
};

static int64_t virtual_now;
static int64_t fake_virtual_clock(void) { return virtual_now; }

static int64_t monotonic_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

static int fake_enable(void *ctx, bool on) {
        struct fake_drive *d = ctx;
        pthread_mutex_lock(&d->lock);
        d->enabled = on;
        if (on)
                d->enable_calls++;
        else
                d->disable_calls++;
        pthread_mutex_unlock(&d->lock);
        return 0;
}

static int fake_direction(void *ctx, enum hal_direction dir) {
        struct fake_drive *d = ctx;
        d->direction_calls++;
        return dir == HAL_DIRECTION_FORWARD ? 0 : -EINVAL;
}

static int fake_step(void *ctx) {
        struct fake_drive *d = ctx;
        pthread_mutex_lock(&d->lock);
        if (d->fail_step_after > 0 && d->steps + 1 >= d->fail_step_after) {
                pthread_mutex_unlock(&d->lock);
                return -EIO;
        }
        if (!d->enabled)
                d->steps_while_disabled++;
        d->steps++;
        d->last_step_us = d->clock();
        pthread_mutex_unlock(&d->lock);
        return 0;
}

static const struct hal_drive_ops fake_ops = {
        .enable = fake_enable,
        .set_direction = fake_direction,
        .step = fake_step,
};

/* 1000 µs per step (num/den = 1000/1), budget 1000 steps. */
static struct executor_segment segment(uint64_t gen, int64_t anchor) {
        return (struct executor_segment) {
                .generation = gen, .active = true, .anchor_us = anchor,
                .interval_num_us = 1000, .interval_den = 1, .step_budget = 1000,
        };
}

/* Drive the executor in virtual time up to `until`, as the daemon does. */
static void run_virtual(struct executor *ex, int64_t until) {
        int64_t next = executor_poll(ex, virtual_now);
        long polls = 0;
        while (next <= until) {
                if (next > virtual_now)
                        virtual_now = next;
                next = executor_poll(ex, virtual_now);
                /* A broken lease check must fail the test, not hang it. */
                if (++polls > 10 * 1000 * 1000)
                        fail_msg("executor still stepping after 10 million polls at t=%lld", (long long) virtual_now);
        }
        virtual_now = until;
        executor_poll(ex, virtual_now);
}

static void no_step_without_a_lease(void **state) {
        struct fake_drive d = { .lock = PTHREAD_MUTEX_INITIALIZER, .clock = fake_virtual_clock };
        struct executor *ex;
        virtual_now = 0;
        assert_int_equal(executor_new(&fake_ops, &d, &ex), 0);
        { struct executor_segment s1 = segment(1, 0); executor_set_segment(ex, &s1); }
        run_virtual(ex, 100000);
        assert_int_equal(d.steps, 0);
        executor_free(ex);
}

static void steps_follow_the_schedule_inside_the_lease(void **state) {
        struct fake_drive d = { .lock = PTHREAD_MUTEX_INITIALIZER, .clock = fake_virtual_clock };
        struct executor *ex;
        struct executor_status st;
        virtual_now = 0;
        executor_new(&fake_ops, &d, &ex);
        { struct executor_segment s1 = segment(1, 0); executor_set_segment(ex, &s1); }
        assert_int_equal(executor_grant(ex, &(struct lease) { .generation = 1, .step_limit = 100,
                                                              .expires_us = 1000000 }), 0);
        run_virtual(ex, 10500);
        assert_int_equal(d.steps, 10);          /* at 1000, 2000, ... 10000 */
        assert_int_equal(d.last_step_us, 10000);
        assert_int_equal(d.steps_while_disabled, 0);
        assert_int_equal(d.direction_calls, 1); /* direction set before the first step */
        executor_get_status(ex, &st);
        assert_int_equal(st.steps_taken, 10);
        assert_int_equal(st.max_lateness_us, 0);
        assert_true(st.enabled);
        executor_free(ex);
        assert_false(d.enabled);                /* freeing releases the motor */
}

static void count_wake(void *userdata) {
        (*(int *) userdata)++;
}

/* A driver other than the thread (bench/steps' baseline) must hear of
 * every change to what is due, or a new lease would wait for a timer that
 * is never armed. */
static void a_new_segment_or_lease_wakes_an_outside_driver(void **state) {
        struct fake_drive d = { .lock = PTHREAD_MUTEX_INITIALIZER, .clock = fake_virtual_clock };
        struct executor *ex;
        int wakes = 0;
        virtual_now = 0;
        assert_int_equal(executor_new(&fake_ops, &d, &ex), 0);
        executor_set_wake(ex, count_wake, &wakes);
        { struct executor_segment s1 = segment(1, 0); executor_set_segment(ex, &s1); }
        assert_int_equal(wakes, 1);
        assert_int_equal(executor_grant(ex, &(struct lease) { .generation = 1, .step_limit = 100,
                                                              .expires_us = 1000000 }), 0);
        assert_int_equal(wakes, 2);
        /* A stale lease changes nothing: no wake. */
        assert_int_equal(executor_grant(ex, &(struct lease) { .generation = 7, .step_limit = 100,
                                                              .expires_us = 1000000 }), -ESTALE);
        assert_int_equal(wakes, 2);
        run_virtual(ex, 3500);
        assert_int_equal(d.steps, 3);
        assert_int_equal(wakes, 2);             /* polling is not a change */
        executor_free(ex);
}

static void executor_stops_at_the_end_of_a_lease_that_is_not_renewed(void **state) {
        struct fake_drive d = { .lock = PTHREAD_MUTEX_INITIALIZER, .clock = fake_virtual_clock };
        struct executor *ex;
        struct executor_status st;
        virtual_now = 0;
        executor_new(&fake_ops, &d, &ex);
        { struct executor_segment s1 = segment(1, 0); executor_set_segment(ex, &s1); }
        executor_grant(ex, &(struct lease) { .generation = 1, .step_limit = 1000, .expires_us = 5500 });
        run_virtual(ex, 60 * US_PER_SEC);
        assert_int_equal(d.steps, 5);           /* 1000..5000; 6000 is past expiry */
        assert_true(d.last_step_us < 5500);
        assert_false(d.enabled);
        executor_get_status(ex, &st);
        assert_true(st.lapsed);
        assert_false(st.enabled);
        /* a late renewal of the lapsed segment does not restart the motor */
        assert_int_equal(executor_grant(ex, &(struct lease) { .generation = 1, .step_limit = 1000,
                                                              .expires_us = 120 * US_PER_SEC }), -ESTALE);
        run_virtual(ex, 61 * US_PER_SEC);
        assert_int_equal(d.steps, 5);
        executor_free(ex);
}

static void step_limit_holds_even_when_time_remains(void **state) {
        struct fake_drive d = { .lock = PTHREAD_MUTEX_INITIALIZER, .clock = fake_virtual_clock };
        struct executor *ex;
        virtual_now = 0;
        executor_new(&fake_ops, &d, &ex);
        { struct executor_segment s1 = segment(1, 0); executor_set_segment(ex, &s1); }
        executor_grant(ex, &(struct lease) { .generation = 1, .step_limit = 3, .expires_us = 1000000 });
        run_virtual(ex, 900000);
        assert_int_equal(d.steps, 3);
        executor_free(ex);
}

static void segment_budget_holds_even_when_the_lease_allows_more(void **state) {
        struct fake_drive d = { .lock = PTHREAD_MUTEX_INITIALIZER, .clock = fake_virtual_clock };
        struct executor *ex;
        struct executor_segment seg = segment(1, 0);
        virtual_now = 0;
        seg.step_budget = 4;
        executor_new(&fake_ops, &d, &ex);
        executor_set_segment(ex, &seg);
        executor_grant(ex, &(struct lease) { .generation = 1, .step_limit = 100, .expires_us = 1000000 });
        run_virtual(ex, 900000);
        assert_int_equal(d.steps, 4);
        executor_free(ex);
}

static void new_segment_returns_the_steps_of_the_old_and_stops_the_motor(void **state) {
        struct fake_drive d = { .lock = PTHREAD_MUTEX_INITIALIZER, .clock = fake_virtual_clock };
        struct executor *ex;
        virtual_now = 0;
        executor_new(&fake_ops, &d, &ex);
        { struct executor_segment s1 = segment(1, 0); executor_set_segment(ex, &s1); }
        executor_grant(ex, &(struct lease) { .generation = 1, .step_limit = 100, .expires_us = 1000000 });
        run_virtual(ex, 7000);
        int64_t old = executor_set_segment(ex, &(struct executor_segment) { .generation = 2, .active = false });
        assert_int_equal(old, 7);
        assert_false(d.enabled);
        run_virtual(ex, 20000);
        assert_int_equal(d.steps, 7);
        /* a lease for the old generation is refused */
        assert_int_equal(executor_grant(ex, &(struct lease) { .generation = 1, .step_limit = 100,
                                                              .expires_us = 1000000 }), -ESTALE);
        executor_free(ex);
}

static void drive_error_disables_the_motor_and_is_reported(void **state) {
        struct fake_drive d = { .lock = PTHREAD_MUTEX_INITIALIZER, .clock = fake_virtual_clock, .fail_step_after = 3 };
        struct executor *ex;
        struct executor_status st;
        virtual_now = 0;
        executor_new(&fake_ops, &d, &ex);
        { struct executor_segment s1 = segment(1, 0); executor_set_segment(ex, &s1); }
        executor_grant(ex, &(struct lease) { .generation = 1, .step_limit = 100, .expires_us = 1000000 });
        run_virtual(ex, 50000);
        executor_get_status(ex, &st);
        assert_int_equal(st.fault, -EIO);
        assert_int_equal(st.steps_taken, 2);
        assert_false(d.enabled);
        executor_free(ex);
}

/* The same promise with the real-time thread and the real clock: a fast
 * segment, a 50 ms lease, and nobody renews it. */
static void step_thread_stops_by_itself_when_its_lease_lapses(void **state) {
        struct fake_drive d = { .lock = PTHREAD_MUTEX_INITIALIZER, .clock = monotonic_us };
        struct executor *ex;
        struct executor_status st;
        assert_int_equal(executor_new(&fake_ops, &d, &ex), 0);
        assert_int_equal(executor_start_thread(ex, 0, NULL), 0);

        int64_t start = monotonic_us();
        struct executor_segment seg = {
                .generation = 1, .active = true, .anchor_us = start,
                .interval_num_us = 500, .interval_den = 1, .step_budget = 1000000,
        };
        executor_set_segment(ex, &seg);
        int64_t expires = start + 50 * US_PER_MS;
        executor_grant(ex, &(struct lease) { .generation = 1, .step_limit = 1000000, .expires_us = expires });

        /* Wait for the thread to report the lapse, with a generous bound
         * so a loaded machine cannot make this flaky. */
        struct timespec tick = { .tv_nsec = 2 * 1000 * 1000 };
        do {
                executor_get_status(ex, &st);
                if (st.lapsed)
                        break;
                clock_nanosleep(CLOCK_MONOTONIC, 0, &tick, NULL);
        } while (monotonic_us() - start < 10 * US_PER_SEC);

        assert_true(st.lapsed);
        assert_false(st.enabled);
        pthread_mutex_lock(&d.lock);
        assert_true(d.steps > 0);
        assert_true(d.last_step_us < expires);
        assert_false(d.enabled);
        int64_t steps_at_lapse = d.steps;
        pthread_mutex_unlock(&d.lock);
        /* rate bound: at most one step per 500 µs over the lease, plus one */
        assert_true(steps_at_lapse <= 101);
        executor_free(ex);
        assert_int_equal(d.steps, steps_at_lapse);
        assert_int_equal(d.steps_while_disabled, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(no_step_without_a_lease),
                cmocka_unit_test(steps_follow_the_schedule_inside_the_lease),
                cmocka_unit_test(a_new_segment_or_lease_wakes_an_outside_driver),
                cmocka_unit_test(executor_stops_at_the_end_of_a_lease_that_is_not_renewed),
                cmocka_unit_test(step_limit_holds_even_when_time_remains),
                cmocka_unit_test(segment_budget_holds_even_when_the_lease_allows_more),
                cmocka_unit_test(new_segment_returns_the_steps_of_the_old_and_stops_the_motor),
                cmocka_unit_test(drive_error_disables_the_motor_and_is_reported),
                cmocka_unit_test(step_thread_stops_by_itself_when_its_lease_lapses),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
