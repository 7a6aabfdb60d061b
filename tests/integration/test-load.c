/* SPDX-License-Identifier: MIT */
/* Load (issue 9): while an infusion runs in real time, 4 clients each make
 * 500 calls a second for 60 s, on connections of their own:
 *   0  GetAll on the channel (the UI's poll);
 *   1  Introspect the channel (a large reply);
 *   2  History.Infusions (a database read on the main loop);
 *   3  SilenceAlarms with no alarm active: refused with InvalidState and
 *      audited all the same (a durable write on the main loop per call).
 * Then:
 *   - every call got its reply (an error the daemon named counts; a
 *     timeout or a broken connection does not);
 *   - the daemon's open fds are exactly what they were before the load,
 *     and its RSS within RSS_SLACK_KB (see there);
 *   - the motor lost no step (the window holds the steps of its length,
 *     within one) and missed at most MISSED_PPM of them, by bench-steps'
 *     own analysis of the sim drive's step log (bench/step-lateness.c):
 *     the bound bench/README.md states for a shared machine;
 *   - the infusion is still running.
 * The load runs 80 s in real time (20 s to warm the caches, then 60 s):
 * the issue's own figure, so this is not a scenario for the virtual
 * clock. It prints its figures (lateness p50, p99, max). Two checks make
 * sure the run was what it says: the clients got 90 % of their calls
 * per second at least (else the load was not applied), and the step
 * thread's bound is judged on steps, not microseconds. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "bench/step-lateness.h"
#include "common/units.h"
#include "core/mechanism.h"
#include "harness.h"

#define CLIENTS            4
#define CALLS_PER_SEC      500
#define WARMUP_SEC         20
#define LOAD_SEC           60
#define RATE_ML_PER_H      25.0
/* RSS may move by pages the allocator and SQLite touch once and keep. The
 * warm-up lets SQLite's page cache (2 MiB by default) fill first: with a
 * 5 s warm-up RSS still rose 1.3 MiB in the next 10 s, then stayed flat;
 * after 20 s it moves by a few pages in 60 s. 128 KiB of slack: a leak of
 * a byte per call (120 000 calls) is beyond it. */
#define RSS_SLACK_KB       128
/* A missed step is one at least a whole interval (25 ms here) late: the
 * executor catches up, so no volume is lost, but the flow was uneven. On
 * this 2-core VM shared with other work, a host stall of 50 ms has been
 * seen to miss 2 of 2400 with the step thread at SCHED_FIFO; 0.5 % allows
 * such stalls and still fails a design that misses steps under load (the
 * naive one missed 13 %, 4988 of 38 389, at 1200 mL/h in a bench-steps
 * run). */
#define MISSED_PPM         5000

struct client {
        int idx;
        const char *address;
        int64_t start_ns, seconds;
        uint64_t calls, replies, failures;
        char first_failure[160];
};

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_ns(int64_t t_ns) {
        struct timespec ts = { .tv_sec = t_ns / 1000000000, .tv_nsec = t_ns % 1000000000 };
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

static int call_once(sd_bus *bus, int idx, sd_bus_error *e) {
        sd_bus_message *reply = NULL;
        int r;
        switch (idx) {
        case 0:
                r = sd_bus_call_method(bus, "org.infusiond.pump1", CH_PATH, "org.freedesktop.DBus.Properties",
                                       "GetAll", e, &reply, "s", CH_IFACE);
                break;
        case 1:
                r = sd_bus_call_method(bus, "org.infusiond.pump1", CH_PATH, "org.freedesktop.DBus.Introspectable",
                                       "Introspect", e, &reply, NULL);
                break;
        case 2:
                r = sd_bus_call_method(bus, "org.infusiond.pump1", "/org/infusiond/pump1/history",
                                       "org.infusiond.pump1.History", "Infusions", e, &reply, "xxa{sv}",
                                       (int64_t) 0, (int64_t) 0, 1, "limit", "u", (uint32_t) 10);
                break;
        default:
                r = sd_bus_call_method(bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "SilenceAlarms", e, &reply,
                                       NULL);
                break;
        }
        sd_bus_message_unref(reply);
        return r;
}

/* Paced: call k is sent at start + k / CALLS_PER_SEC, or at once if the
 * previous reply came later than that. */
static void *client_main(void *arg) {
        struct client *c = arg;
        sd_bus *bus = NULL;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, c->address) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
            sd_bus_start(bus) < 0) {
                snprintf(c->first_failure, sizeof(c->first_failure), "could not connect");
                c->failures = 1;
                sd_bus_unref(bus);
                return NULL;
        }
        uint64_t n = (uint64_t) c->seconds * CALLS_PER_SEC;
        for (uint64_t k = 0; k < n; k++) {
                sleep_until_ns(c->start_ns + (int64_t) (k * 1000000000ULL / CALLS_PER_SEC));
                sd_bus_error e = SD_BUS_ERROR_NULL;
                int r = call_once(bus, c->idx, &e);
                c->calls++;
                /* SilenceAlarms with no alarm: the daemon's named refusal
                 * is its reply. sd-bus's own errors (a timeout, a broken
                 * connection) are not. */
                bool replied = r >= 0 || (c->idx == 3 && e.name &&
                                          strcmp(e.name, "org.infusiond.pump1.Error.InvalidState") == 0);
                if (replied)
                        c->replies++;
                else if (c->failures++ == 0)
                        snprintf(c->first_failure, sizeof(c->first_failure), "call %" PRIu64 ": %s: %s", k,
                                 e.name ?: "?", e.message ?: strerror(-r));
                sd_bus_error_free(&e);
        }
        sd_bus_flush_close_unref(bus);
        return NULL;
}

/* Run the clients for seconds; returns the calls/s each one made. */
static double run_load(struct harness *h, int64_t seconds, uint64_t *calls, uint64_t *replies, uint64_t *failures) {
        struct client c[CLIENTS];
        pthread_t t[CLIENTS];
        int64_t start = now_ns() + 20 * 1000000;
        for (int i = 0; i < CLIENTS; i++) {
                c[i] = (struct client) { .idx = i, .address = h->bus_address, .start_ns = start, .seconds = seconds };
                assert_int_equal(pthread_create(&t[i], NULL, client_main, &c[i]), 0);
        }
        for (int i = 0; i < CLIENTS; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                *calls += c[i].calls;
                *replies += c[i].replies;
                *failures += c[i].failures;
                if (c[i].failures)
                        print_message("client %d: %" PRIu64 " calls without a reply; the first: %s\n", i,
                                      c[i].failures, c[i].first_failure);
        }
        int64_t elapsed_ns = now_ns() - start;
        print_message("load: %d clients, %" PRIu64 " calls so far, this run %.1f s\n", CLIENTS, *calls,
                      (double) elapsed_ns / 1e9);
        return (double) seconds * CALLS_PER_SEC / ((double) elapsed_ns / 1e9);
}

static long rss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        assert_non_null(f);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

static int open_fds(pid_t pid) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        assert_non_null(d);
        int n = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static void load_leaves_no_growth_no_missed_step_and_every_call_answered(void **state) {
        struct harness *h = *state;
        char err[128], tail[512], steps_path[320];
        snprintf(steps_path, sizeof(steps_path), "%s/steps.log", h->dir);
        snprintf(tail, sizeof(tail), "step_log = %s\n", steps_path);
        harness_write_config_ex(h, "real", NULL, tail);
        harness_start_daemon(h);

        assert_int_equal(call_program(h, err, sizeof(err), "RateMlPerHour", RATE_ML_PER_H, "VtbiMl", 50.0, NULL), 0);
        assert_int_equal(call_simple(h, "Start", err, sizeof(err)), 0);

        uint64_t calls = 0, replies = 0, failures = 0;
        (void) run_load(h, WARMUP_SEC, &calls, &replies, &failures);
        assert_int_equal(failures, 0);
        long rss0 = rss_kb(h->daemon_pid);
        int fds0 = open_fds(h->daemon_pid);

        int64_t win0_us = now_ns() / 1000;
        calls = replies = failures = 0;
        /* In six runs of 10 s, each on new connections (connection churn
         * must not leak either), printing RSS and fds as they go. */
        double achieved = INFINITY;
        for (int seg = 0; seg < LOAD_SEC / 10; seg++) {
                achieved = fmin(achieved, run_load(h, 10, &calls, &replies, &failures));
                print_message("after %d s: RSS %ld kB, %d open fds\n", 10 * (seg + 1), rss_kb(h->daemon_pid),
                              open_fds(h->daemon_pid));
        }
        int64_t win1_us = now_ns() / 1000;

        long rss1 = rss_kb(h->daemon_pid);
        int fds1 = open_fds(h->daemon_pid);
        print_message("daemon: RSS %ld -> %ld kB (%+ld), open fds %d -> %d; load applied at %.0f%% of %d calls/s "
                      "per client\n",
                      rss0, rss1, rss1 - rss0, fds0, fds1, 100.0 * achieved / CALLS_PER_SEC, CALLS_PER_SEC);

        assert_int_equal(failures, 0);
        assert_int_equal(replies, calls);
        assert_int_equal(calls, (uint64_t) CLIENTS * LOAD_SEC * CALLS_PER_SEC);
        /* The load must have been what the test says it is. */
        assert_true(achieved >= 0.90 * CALLS_PER_SEC);
        assert_int_equal(fds1, fds0);
#if !defined(__SANITIZE_ADDRESS__)
        /* Under ASan (scripts/sanitize) RSS grows by design: freed memory
         * waits in its quarantine. LeakSanitizer checks the daemon at exit. */
        assert_true(rss1 - rss0 <= RSS_SLACK_KB);
#endif

        char *st = get_string(h, CH_PATH, CH_IFACE, "State");
        assert_string_equal(st, "running");
        free(st);

        /* A clean stop writes the step log. */
        assert_int_equal(call_simple(h, "Stop", err, sizeof(err)), 0);
        int status = harness_kill_daemon(h, SIGTERM);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        int64_t *t = NULL;
        size_t n = 0;
        assert_int_equal(step_log_read(steps_path, &t, &n), 0);
        /* The exact step interval, from the daemon's own mechanism code,
         * for the harness's mechanism. */
        struct mechanism mech;
        assert_int_equal(mechanism_from_geometry(&(struct mechanism_geometry) {
                                 .lead_pitch_um = 1000, .steps_per_rev = 200, .microsteps = 16,
                                 .syringe_inner_diameter_um = 26600, .max_step_rate_hz = 5000 }, &mech), 0);
        int64_t num, den;
        mechanism_step_interval(&mech, (int64_t) llround(RATE_ML_PER_H * NL_PER_ML), &num, &den);
        struct step_lateness l;
        assert_int_equal(step_lateness_analyse(t, n, num, den, win0_us, win1_us, &l), 0);
        free(t);
        print_message("steps under load at %.0f mL/h: %zu in the window, interval %.0f µs, lateness p50 %" PRIi64
                      " µs, p99 %" PRIi64 " µs, max %" PRIi64 " µs, missed %" PRIi64 "\n",
                      RATE_ML_PER_H, l.n, l.interval_us, l.p50_us, l.p99_us, l.max_us, l.missed);
        /* 60 s at 25 mL/h is 2399 or 2400 steps: none lost, none extra. */
        double due = (double) (win1_us - win0_us) / l.interval_us;
        assert_true(fabs((double) l.n - due) <= 1.5);
        assert_true(l.missed * 1000000 <= (int64_t) l.n * MISSED_PPM);
        step_lateness_done(&l);
}

static int setup(void **state) {
        struct harness *h = calloc(1, sizeof(*h));
        harness_setup(h);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness_teardown(*state);
        free(*state);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(load_leaves_no_growth_no_missed_step_and_every_call_answered, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
