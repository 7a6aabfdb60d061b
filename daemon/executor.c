/* SPDX-License-Identifier: MIT */
#include "daemon/executor.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macros.h"
#include "common/units.h"
#include "core/schedule.h"

#define EXECUTOR_STACK_BYTES (256 * 1024)

struct executor {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        pthread_t thread;
        bool thread_running;
        bool quit;

        const struct hal_drive_ops *drive;
        void *drive_ctx;

        struct executor_segment seg;
        struct step_schedule sched;
        struct lease lease;
        bool have_lease;

        struct executor_status st;

        void (*wake)(void *userdata);
        void *wake_userdata;
};

int executor_new(const struct hal_drive_ops *drive, void *drive_ctx, struct executor **ret) {
        if (!drive || !drive->step || !drive->enable)
                return -EINVAL;
        struct executor *ex = calloc(1, sizeof(*ex));
        if (!ex)
                return -ENOMEM;

        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        /* Deadlines are CLOCK_MONOTONIC: wall-clock jumps must not move steps. */
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&ex->changed, &ca);
        pthread_condattr_destroy(&ca);
        /* Priority inheritance: the main loop takes this lock too (grant,
         * status), and if it were preempted while holding it, the step
         * thread would wait behind whatever preempted it, SCHED_FIFO or
         * not (bench/steps saw 14 ms under load). */
        pthread_mutexattr_t ma;
        pthread_mutexattr_init(&ma);
        int r = pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT);
        if (r == 0)
                r = pthread_mutex_init(&ex->lock, &ma);
        pthread_mutexattr_destroy(&ma);
        /* No PI futexes (some emulators): a plain lock still works, with
         * the jitter the benchmark measured. */
        if (r != 0)
                r = pthread_mutex_init(&ex->lock, NULL);
        if (r != 0) {
                pthread_cond_destroy(&ex->changed);
                free(ex);
                return -r;
        }

        ex->drive = drive;
        ex->drive_ctx = drive_ctx;
        *ret = ex;
        return 0;
}

static void motor_off_locked(struct executor *ex) {
        if (!ex->st.enabled)
                return;
        /* Even if this fails there is nothing better to do than record it:
         * the lease already keeps step pulses from being issued. */
        int r = ex->drive->enable(ex->drive_ctx, false);
        if (r < 0)
                ex->st.fault = r;
        ex->st.enabled = false;
}

static int64_t poll_locked(struct executor *ex, int64_t now_us) {
        if (!ex->seg.active || ex->st.fault < 0) {
                motor_off_locked(ex);
                return INT64_MAX;
        }
        if (ex->st.lapsed || !ex->have_lease)
                return INT64_MAX;

        if (now_us >= ex->lease.expires_us) {
                motor_off_locked(ex);
                ex->st.lapsed = true;
                return INT64_MAX;
        }

        int64_t limit = MIN(ex->lease.step_limit, ex->seg.step_budget);
        if (ex->st.steps_taken >= limit)
                /* Wake at expiry: if nobody renews by then, that is a lapse. */
                return ex->lease.expires_us;

        int64_t due_us = ex->sched.next_us;
        if (due_us > now_us)
                return MIN(due_us, ex->lease.expires_us);

        if (!ex->st.enabled) {
                int r = ex->drive->enable(ex->drive_ctx, true);
                if (r >= 0 && ex->drive->set_direction)
                        r = ex->drive->set_direction(ex->drive_ctx, ex->seg.reverse ? HAL_DIRECTION_REVERSE
                                                                                    : HAL_DIRECTION_FORWARD);
                if (r < 0) {
                        ex->st.fault = r;
                        ex->st.enabled = true;  /* so motor_off_locked really disables */
                        motor_off_locked(ex);
                        return INT64_MAX;
                }
                ex->st.enabled = true;
        }

        int r = ex->drive->step(ex->drive_ctx);
        if (r < 0) {
                ex->st.fault = r;
                motor_off_locked(ex);
                return INT64_MAX;
        }

        int64_t late_us = now_us - due_us;
        if (late_us > ex->st.max_lateness_us)
                ex->st.max_lateness_us = late_us;
        ex->st.steps_taken++;
        ex->st.total_steps++;
        ex->st.last_step_us = now_us;
        schedule_advance(&ex->sched);

        /* Another step may already be due if this one was late. */
        return ex->st.steps_taken < limit ? MIN(ex->sched.next_us, ex->lease.expires_us)
                                          : ex->lease.expires_us;
}

int64_t executor_poll(struct executor *ex, int64_t now_us) {
        pthread_mutex_lock(&ex->lock);
        int64_t next = poll_locked(ex, now_us);
        pthread_mutex_unlock(&ex->lock);
        return next;
}

int64_t executor_set_segment(struct executor *ex, const struct executor_segment *seg) {
        pthread_mutex_lock(&ex->lock);
        int64_t old_steps = ex->st.steps_taken;
        /* The direction is set when the motor is enabled: a segment that
         * turns round must start from a disabled motor. */
        if (seg->reverse != ex->seg.reverse)
                motor_off_locked(ex);
        ex->seg = *seg;
        if (seg->active)
                schedule_start(&ex->sched, seg->anchor_us, seg->interval_num_us, seg->interval_den);
        ex->have_lease = false;
        ex->st.generation = seg->generation;
        ex->st.steps_taken = 0;
        ex->st.lapsed = false;
        if (!seg->active)
                motor_off_locked(ex);
        pthread_cond_signal(&ex->changed);
        pthread_mutex_unlock(&ex->lock);
        if (ex->wake)
                ex->wake(ex->wake_userdata);
        return old_steps;
}

int executor_grant(struct executor *ex, const struct lease *l) {
        int r = 0;
        pthread_mutex_lock(&ex->lock);
        if (l->generation != ex->seg.generation || ex->st.lapsed)
                r = -ESTALE;
        else {
                ex->lease = *l;
                ex->have_lease = true;
                pthread_cond_signal(&ex->changed);
        }
        pthread_mutex_unlock(&ex->lock);
        if (r == 0 && ex->wake)
                ex->wake(ex->wake_userdata);
        return r;
}

void executor_set_wake(struct executor *ex, void (*wake)(void *userdata), void *userdata) {
        ex->wake = wake;
        ex->wake_userdata = userdata;
}

void executor_get_status(struct executor *ex, struct executor_status *ret) {
        pthread_mutex_lock(&ex->lock);
        *ret = ex->st;
        pthread_mutex_unlock(&ex->lock);
}

static int64_t monotonic_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

/* Touch the stack the step path may use, so that its pages are in (and,
 * under mlockall(MCL_ONFAULT), locked) before the first step needs them. */
static void prefault_stack(void) {
        volatile char buf[EXECUTOR_STACK_BYTES / 2];
        for (size_t i = 0; i < sizeof(buf); i += 1024)
                buf[i] = 0;
}

static void *thread_main(void *arg) {
        struct executor *ex = arg;

        prefault_stack();

        pthread_mutex_lock(&ex->lock);
        while (!ex->quit) {
                int64_t now = monotonic_us();
                int64_t next = poll_locked(ex, now);
                if (next <= now)
                        continue;
                if (next == INT64_MAX)
                        pthread_cond_wait(&ex->changed, &ex->lock);
                else {
                        /* An absolute CLOCK_MONOTONIC deadline, like
                         * clock_nanosleep(TIMER_ABSTIME), but a new segment
                         * or lease wakes us at once. */
                        struct timespec ts = {
                                .tv_sec = next / US_PER_SEC,
                                .tv_nsec = (next % US_PER_SEC) * 1000,
                        };
                        pthread_cond_timedwait(&ex->changed, &ex->lock, &ts);
                }
        }
        motor_off_locked(ex);
        pthread_mutex_unlock(&ex->lock);
        return NULL;
}

int executor_start_thread(struct executor *ex, int rt_priority, bool *ret_rt_ok) {
        pthread_attr_t attr;
        bool rt_ok = false;
        int r;

        pthread_attr_init(&attr);
        /* The step path is shallow (the executor, then a drive op): 8 MB
         * of default stack, locked by mlockall, would be waste. */
        pthread_attr_setstacksize(&attr, EXECUTOR_STACK_BYTES);
        if (rt_priority > 0) {
                struct sched_param sp = { .sched_priority = rt_priority };
                pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
                pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
                pthread_attr_setschedparam(&attr, &sp);
                r = pthread_create(&ex->thread, &attr, thread_main, ex);
                rt_ok = r == 0;
        } else
                r = -1;
        if (!rt_ok) {
                /* No RT privilege (EPERM) or not asked for: normal scheduling
                 * still works; the lease keeps it safe, only jitter grows. */
                pthread_attr_destroy(&attr);
                pthread_attr_init(&attr);
                pthread_attr_setstacksize(&attr, EXECUTOR_STACK_BYTES);
                r = pthread_create(&ex->thread, &attr, thread_main, ex);
        }
        pthread_attr_destroy(&attr);
        if (r != 0)
                return -r;
        pthread_setname_np(ex->thread, "infusiond-step");
        ex->thread_running = true;
        if (ret_rt_ok)
                *ret_rt_ok = rt_ok;
        return 0;
}

struct executor *executor_free(struct executor *ex) {
        if (!ex)
                return NULL;
        if (ex->thread_running) {
                pthread_mutex_lock(&ex->lock);
                ex->quit = true;
                pthread_cond_signal(&ex->changed);
                pthread_mutex_unlock(&ex->lock);
                pthread_join(ex->thread, NULL);
        } else {
                pthread_mutex_lock(&ex->lock);
                motor_off_locked(ex);
                pthread_mutex_unlock(&ex->lock);
        }
        pthread_cond_destroy(&ex->changed);
        pthread_mutex_destroy(&ex->lock);
        free(ex);
        return NULL;
}
