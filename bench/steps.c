/* SPDX-License-Identifier: MIT */
/* Step timing benchmark: how late the motor steps come, in real time, on
 * the real daemon, at rest and under load, against a naive design in the
 * same run.
 *
 * Two daemons built from the same sources (bench/meson.build):
 *   thread: infusiond, steps on the executor's own thread (SCHED_FIFO when
 *           the process may have it);
 *   naive:  infusiond-naive-steps, steps on sd-event timers on the main
 *           loop (bench/naive-stepping.c).
 * For each rate and condition both run in turn on the sim backend with the
 * real clock and [simulation] step_log, so the sim drive keeps the
 * CLOCK_MONOTONIC time of every step and writes them when the daemon
 * stops. Load is 4 clients calling GetAll on the channel as fast as they
 * can plus one calling SilenceAlarms as fast as it can (each call is an
 * audit row: a durable history write on the daemon's main loop), on
 * connections of their own.
 *
 * Lateness is measured here, from the times alone, against the ideal
 * schedule of the programmed rate (interval from core/mechanism, exact):
 * step k is due at A + k * interval, with A placed as early as the steps
 * allow (the least late step is on time), so a wake-up delay common to
 * every step is not counted; what is counted is every step's delay beyond
 * that. A step at least one interval late has slipped into its
 * successor's slot: that is a missed step (the executor catches up, so
 * none is lost, but delivery was uneven there). Only steps inside the
 * measured window count; the first second after Start is not measured.
 *
 *   bench-steps [--seconds N] [--rates R,R,...] [--infusiond PATH] [--naive PATH] [--out DIR]
 *
 * Prints a table and the naive/thread ratios; writes OUT/steps.csv and, for
 * the trumpet curve, OUT/steps-lateness-RATE.txt (the thread under load,
 * one lateness in µs per line, in step order). Exits non-zero if a run
 * failed. */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/procs.h"
#include "bench/step-lateness.h"
#include "common/units.h"
#include "core/mechanism.h"

#define MAX_RATES       8
#define LOAD_GETALL     4
#define LOAD_CLIENTS    (LOAD_GETALL + 1)       /* + the history writer */
#define WARMUP_US       (1 * US_PER_SEC)
#define VTBI_ML         50.0

/* The mechanism of config/sim.conf. */
static const struct mechanism_geometry geometry = {
        .lead_pitch_um = 1000,
        .steps_per_rev = 200,
        .microsteps = 16,
        .syringe_inner_diameter_um = 26600,
        .max_step_rate_hz = 5000,
};

enum design { DESIGN_THREAD, DESIGN_NAIVE, _DESIGN_MAX };
static const char *const design_names[] = { "thread", "naive" };

struct run {
        double rate_ml_h;
        bool load;
        enum design design;
        /* results */
        bool ok;
        size_t n;                       /* steps in the window */
        int64_t p50_us, p99_us, p999_us, max_us;
        int64_t missed;
        double interval_us;
        double getall_per_s, writes_per_s;
        uint64_t load_errors;
        char state[32];                 /* channel state at the end of the window */
        bool rt;                        /* the step thread had SCHED_FIFO */
        int64_t *lateness_us;           /* the window's, in step order */
};

struct load_counters {
        uint64_t calls[LOAD_CLIENTS];
        uint64_t errors[LOAD_CLIENTS];
};

static void sleep_until_ns(int64_t t_ns) {
        struct timespec ts = { .tv_sec = t_ns / 1000000000, .tv_nsec = t_ns % 1000000000 };
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

/* One load client: its own connection, calls until the deadline. With no
 * alarm to silence, SilenceAlarms is refused with a named error, and the
 * refusal is audited all the same: a durable history write either way. A
 * call counts when it got its reply, error or not; one that did not (a
 * broken connection, a timeout) is an error. */
static void load_client(const struct bench_procs *b, int idx, int64_t deadline_ns, struct load_counters *c) {
        sd_bus *bus = NULL;
        /* Not the parent's handlers, and die with it. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (bench_connect(b, &bus) < 0)
                _exit(1);
        while (bench_now_ns() < deadline_ns) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                int r = idx < LOAD_GETALL
                        ? sd_bus_call_method(bus, BENCH_NAME, BENCH_CH_PATH, "org.freedesktop.DBus.Properties",
                                             "GetAll", &e, NULL, "s", BENCH_CH_IFACE)
                        : sd_bus_call_method(bus, BENCH_NAME, BENCH_CH_PATH, BENCH_CH_IFACE, "SilenceAlarms", &e,
                                             NULL, NULL);
                /* An error the daemon sent has its name; sd-bus's own
                 * (timeout, disconnected, errno) are failures. */
                bool replied = r >= 0 || (e.name && strncmp(e.name, "org.infusiond.", 14) == 0);
                sd_bus_error_free(&e);
                __atomic_add_fetch(replied ? &c->calls[idx] : &c->errors[idx], 1, __ATOMIC_RELAXED);
        }
        sd_bus_flush_close_unref(bus);
        _exit(0);
}

static int get_state(sd_bus *bus, char *buf, size_t size) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        char *s = NULL;
        int r = sd_bus_get_property_string(bus, BENCH_NAME, BENCH_CH_PATH, BENCH_CH_IFACE, "State", &e, &s);
        if (r < 0)
                snprintf(buf, size, "?");
        else
                snprintf(buf, size, "%s", s);
        free(s);
        sd_bus_error_free(&e);
        return r;
}

/* Lateness of each step in [win0, win1] against the ideal schedule
 * (bench/step-lateness.c). */
static int analyse(struct run *run, const int64_t *t, size_t n, int64_t win0_us, int64_t win1_us) {
        struct mechanism mech;
        int64_t num, den;
        if (mechanism_from_geometry(&geometry, &mech) < 0)
                return -EINVAL;
        mechanism_step_interval(&mech, (int64_t) llround(run->rate_ml_h * NL_PER_ML), &num, &den);
        struct step_lateness l;
        int r = step_lateness_analyse(t, n, num, den, win0_us, win1_us, &l);
        run->interval_us = l.interval_us;
        if (r < 0) {
                step_lateness_done(&l);
                return r;
        }
        run->n = l.n;
        run->missed = l.missed;
        run->p50_us = l.p50_us;
        run->p99_us = l.p99_us;
        run->p999_us = l.p999_us;
        run->max_us = l.max_us;
        run->lateness_us = l.lateness_us;       /* the run keeps it */
        return 0;
}

static bool log_says(const char *path, const char *needle) {
        FILE *f = fopen(path, "re");
        char line[1024];
        bool found = false;
        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f))
                found = strstr(line, needle) != NULL;
        fclose(f);
        return found;
}

static int run_one(struct bench_procs *b, sd_bus *bus, const char *exe, int idx, int64_t seconds, struct run *run) {
        char conf[1024], leaf[64], db[128], steps[128], log[128];
        snprintf(leaf, sizeof(leaf), "history-%d.db", idx);
        bench_path(b, leaf, db, sizeof(db));
        snprintf(leaf, sizeof(leaf), "steps-%d.txt", idx);
        bench_path(b, leaf, steps, sizeof(steps));
        snprintf(conf, sizeof(conf),
                 "[pump]\nbackend = sim\n"
                 "[mechanism]\nlead_pitch_mm = 1\nsteps_per_rev = 200\nmicrosteps = 16\n"
                 "syringe_inner_diameter_mm = 26.6\nsyringe_volume_ml = 60\nmax_step_rate_hz = 5000\n"
                 "[database]\npath = %s\n"
                 /* A lower line resistance than sim.conf's: 1200 mL/h through
                  * 0.3 mmHg per mL/h would stand at 368 mmHg, over the
                  * occlusion limit, and the pump would (rightly) stop. */
                 "[simulation]\nclock = real\nstep_log = %s\nline_resistance_mmhg_per_ml_per_h = 0.05\n", db, steps);
        char conf_leaf[64], log_leaf[64];
        snprintf(conf_leaf, sizeof(conf_leaf), "infusiond-%d.conf", idx);
        snprintf(log_leaf, sizeof(log_leaf), "daemon-%d.log", idx);
        bench_path(b, log_leaf, log, sizeof(log));

        int r = bench_start_daemon(b, bus, exe, conf_leaf, conf, log_leaf);
        if (r < 0) {
                fprintf(stderr, "%s did not start: %s (log: %s)\n", exe, r == -ECHILD ? "it exited" : strerror(-r),
                        log);
                return r;
        }
        if ((r = bench_program(bus, run->rate_ml_h, VTBI_ML)) < 0 ||
            (r = bench_call(bus, BENCH_CH_IFACE, "Start", NULL)) < 0)
                return r;

        sleep_until_ns(bench_now_ns() + WARMUP_US * 1000);
        int64_t win0_ns = bench_now_ns(), win1_ns = win0_ns + seconds * 1000000000;

        struct load_counters *c = NULL;
        pid_t pids[LOAD_CLIENTS] = {};
        if (run->load) {
                c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                if (c == MAP_FAILED)
                        return -errno;
                memset(c, 0, sizeof(*c));
                for (int i = 0; i < LOAD_CLIENTS; i++) {
                        pids[i] = fork();
                        if (pids[i] == 0)
                                load_client(b, i, win1_ns, c);
                        if (pids[i] < 0)
                                r = -errno;
                }
        }
        sleep_until_ns(win1_ns);
        int64_t end_ns = bench_now_ns();
        if (run->load) {
                for (int i = 0; i < LOAD_CLIENTS; i++) {
                        int st;
                        if (pids[i] > 0 && (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)))
                                r = -ECHILD;
                }
                /* The clients stop at the deadline but a call may end a
                 * little after it: rate over the clients' own span. */
                double span_s = (double) (bench_now_ns() - win0_ns) / 1e9;
                uint64_t getall = 0;
                for (int i = 0; i < LOAD_GETALL; i++)
                        getall += c->calls[i];
                run->getall_per_s = (double) getall / span_s;
                run->writes_per_s = (double) c->calls[LOAD_GETALL] / span_s;
                for (int i = 0; i < LOAD_CLIENTS; i++)
                        run->load_errors += c->errors[i];
                munmap(c, sizeof(*c));
        }
        (void) get_state(bus, run->state, sizeof(run->state));
        (void) bench_call(bus, BENCH_CH_IFACE, "Stop", NULL);
        int st = bench_stop_daemon(b);
        if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "%s did not stop cleanly (log: %s)\n", exe, log);
                return -ECHILD;
        }
        if (r < 0)
                return r;
        run->rt = run->design == DESIGN_THREAD && !log_says(log, "without SCHED_FIFO");
        /* The figures assume one uninterrupted segment: a pump that
         * stopped itself (an alarm, the VTBI) is a failed run. */
        if (strcmp(run->state, "running") != 0) {
                fprintf(stderr, "%g mL/h %s: the channel was %s at the end of the window, not running (log: %s)\n",
                        run->rate_ml_h, design_names[run->design], run->state, log);
                return -EPROTO;
        }

        int64_t *t = NULL;
        size_t n = 0;
        r = step_log_read(steps, &t, &n);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", steps, strerror(-r));
                return r;
        }
        r = analyse(run, t, n, win0_ns / 1000, end_ns / 1000);
        free(t);
        if (r < 0)
                return r;
        run->ok = true;
        unlink(db);
        unlink(steps);
        return 0;
}

static int parse_rates(const char *arg, double *rates, size_t *ret_n) {
        size_t n = 0;
        const char *p = arg;
        while (*p) {
                char *end;
                double v = strtod(p, &end);
                if (end == p || !(v >= 0.1 && v <= 1200) || n == MAX_RATES)
                        return -EINVAL;
                rates[n++] = v;
                if (*end == ',')
                        end++;
                else if (*end)
                        return -EINVAL;
                p = end;
        }
        *ret_n = n;
        return n > 0 ? 0 : -EINVAL;
}

static double ratio(int64_t naive, int64_t thread) {
        /* Times are whole µs: a thread figure of 0 means "under 1 µs". */
        return (double) naive / (double) (thread > 0 ? thread : 1);
}

static void usage(const char *argv0) {
        fprintf(stderr,
                "usage: %s [--seconds N] [--rates R,R,...] [--infusiond PATH] [--naive PATH] [--out DIR]\n"
                "  --seconds N   measured window per run, 2 to 3600 (default 20)\n"
                "  --rates       mL/h, 0.1 to 1200, at most %d (default 0.1,1,25,1200)\n",
                argv0, MAX_RATES);
}

int main(int argc, char **argv) {
        const char *exe[_DESIGN_MAX] = { "build/daemon/infusiond", "build/bench/infusiond-naive-steps" };
        const char *out = BENCH_SOURCE_ROOT "/bench/results";
        double rates[MAX_RATES] = { 0.1, 1, 25, 1200 };
        size_t n_rates = 4;
        int64_t seconds = 20;

        for (int i = 1; i < argc; i++) {
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!strcmp(argv[i], "--seconds") && v) {
                        char *end;
                        long long s = strtoll(v, &end, 10);
                        if (*end || s < 2 || s > 3600) {
                                fprintf(stderr, "--seconds: \"%s\" is not allowed (allowed: 2 to 3600)\n", v);
                                return 2;
                        }
                        seconds = s;
                } else if (!strcmp(argv[i], "--rates") && v) {
                        if (parse_rates(v, rates, &n_rates) < 0) {
                                fprintf(stderr, "--rates: \"%s\" is not allowed (allowed: up to %d rates, "
                                        "0.1 to 1200 mL/h, comma-separated)\n", v, MAX_RATES);
                                return 2;
                        }
                } else if (!strcmp(argv[i], "--infusiond") && v)
                        exe[DESIGN_THREAD] = v;
                else if (!strcmp(argv[i], "--naive") && v)
                        exe[DESIGN_NAIVE] = v;
                else if (!strcmp(argv[i], "--out") && v)
                        out = v;
                else {
                        usage(argv[0]);
                        return 2;
                }
                i++;
        }
        for (size_t ri = 0; ri < n_rates; ri++)
                if (rates[ri] * (double) (seconds + WARMUP_US / US_PER_SEC + 5) / 3600.0 > VTBI_ML) {
                        fprintf(stderr, "--seconds %" PRIi64 " is too long at %g mL/h: the run would deliver more "
                                "than the %g mL VTBI (the syringe holds 60 mL)\n", seconds, rates[ri], VTBI_ML);
                        return 2;
                }
        for (int d = 0; d < _DESIGN_MAX; d++)
                if (access(exe[d], X_OK) < 0) {
                        fprintf(stderr, "%s: %m (build first, or pass --infusiond/--naive)\n", exe[d]);
                        return 2;
                }

        struct bench_procs procs;
        sd_bus *bus = NULL;
        int r, rc = 1;
        size_t n_runs = n_rates * 2 * _DESIGN_MAX;
        struct run runs[MAX_RATES * 2 * _DESIGN_MAX] = {};

        if ((r = bench_procs_init(&procs, "steps")) < 0) {
                fprintf(stderr, "mkdtemp: %s\n", strerror(-r));
                return 1;
        }
        if ((r = bench_start_bus(&procs)) < 0 || (r = bench_connect(&procs, &bus)) < 0) {
                fprintf(stderr, "private bus: %s\n", strerror(-r));
                goto out;
        }

        printf("Step timing: sim backend, real clock, %" PRIi64 " s measured per run after %d s of warm-up;\n"
               "load = %d GetAll clients + 1 SilenceAlarms client (an audit row each), as fast as they can.\n"
               "Lateness: beyond the ideal schedule placed at the least late step; missed = at least one\n"
               "interval late. The two designs alternate, same rate and load, in this run.\n\n",
               seconds, (int) (WARMUP_US / US_PER_SEC), LOAD_GETALL);
        printf("%9s %5s %7s %10s %7s %7s %7s %8s %8s %7s %9s %8s %s\n", "rate_ml_h", "load", "design", "interval_us",
               "steps", "p50_us", "p99_us", "p99.9_us", "max_us", "missed", "getall/s", "writes/s", "state");
        fflush(stdout);

        size_t i = 0;
        for (size_t ri = 0; ri < n_rates; ri++)
                for (int load = 0; load <= 1; load++)
                        for (int d = 0; d < _DESIGN_MAX; d++, i++) {
                                struct run *run = &runs[i];
                                run->rate_ml_h = rates[ri];
                                run->load = load;
                                run->design = d;
                                r = run_one(&procs, bus, exe[d], (int) i, seconds, run);
                                if (r < 0) {
                                        fprintf(stderr, "run %g mL/h %s %s failed: %s\n", run->rate_ml_h,
                                                load ? "load" : "rest", design_names[d], strerror(-r));
                                        goto out;
                                }
                                printf("%9g %5s %7s %10.1f %7zu %7" PRIi64 " %7" PRIi64 " %8" PRIi64 " %8" PRIi64
                                       " %7" PRIi64 " %9.0f %8.0f %s%s\n",
                                       run->rate_ml_h, load ? "yes" : "no", design_names[d], run->interval_us, run->n,
                                       run->p50_us, run->p99_us, run->p999_us, run->max_us, run->missed,
                                       run->getall_per_s, run->writes_per_s, run->state,
                                       run->load_errors ? " (load calls failed)" : "");
                                fflush(stdout);
                        }

        bool rt = runs[0].design == DESIGN_THREAD && runs[0].rt;
        printf("\nstep thread scheduling: %s\n", rt ? "SCHED_FIFO" : "normal (no RT privilege)");
        printf("\nUnder load, naive / thread (same run):\n");
        printf("%9s %8s %8s %8s %8s %14s %8s\n", "rate_ml_h", "p50", "p99", "p99.9", "max", "missed n/t", "steps");
        for (size_t k = 0; k < n_runs; k += 4) {
                const struct run *th = &runs[k + 2], *nv = &runs[k + 3];
                printf("%9g %7.1fx %7.1fx %7.1fx %7.1fx %7" PRIi64 "/%-6" PRIi64 " %8zu\n", th->rate_ml_h,
                       ratio(nv->p50_us, th->p50_us), ratio(nv->p99_us, th->p99_us), ratio(nv->p999_us, th->p999_us),
                       ratio(nv->max_us, th->max_us), nv->missed, th->missed, th->n);
        }
        printf("(a thread figure of 0 µs counts as 1 µs in a ratio; with few steps, as at 0.1 and 1 mL/h,\n"
               " the percentiles are the largest of a handful and the ratios weigh little)\n");

        /* CSV and the lateness the trumpet curve replays. */
        char path[4096];
        mkdir(out, 0755);
        snprintf(path, sizeof(path), "%s/steps.csv", out);
        FILE *f = fopen(path, "we");
        if (!f) {
                fprintf(stderr, "%s: %m\n", path);
                goto out;
        }
        fprintf(f, "metric,value,unit\n");
        fprintf(f, "step_thread_sched_fifo,%d,bool\n", rt);
        for (size_t k = 0; k < n_runs; k++) {
                const struct run *run = &runs[k];
                char pre[64];
                snprintf(pre, sizeof(pre), "%s_%s_%gmlh", design_names[run->design], run->load ? "load" : "rest",
                         run->rate_ml_h);
                fprintf(f, "%s_steps,%zu,steps\n", pre, run->n);
                fprintf(f, "%s_p50,%" PRIi64 ",us\n%s_p99,%" PRIi64 ",us\n%s_p99.9,%" PRIi64 ",us\n", pre,
                        run->p50_us, pre, run->p99_us, pre, run->p999_us);
                fprintf(f, "%s_max,%" PRIi64 ",us\n%s_missed,%" PRIi64 ",steps\n", pre, run->max_us, pre, run->missed);
                if (run->load)
                        fprintf(f, "%s_getall_rate,%.0f,calls/s\n%s_write_rate,%.0f,calls/s\n", pre,
                                run->getall_per_s, pre, run->writes_per_s);
        }
        for (size_t k = 0; k < n_runs; k += 4) {
                const struct run *th = &runs[k + 2], *nv = &runs[k + 3];
                fprintf(f, "ratio_load_%gmlh_p99,%.2f,naive/thread\n", th->rate_ml_h, ratio(nv->p99_us, th->p99_us));
                fprintf(f, "ratio_load_%gmlh_max,%.2f,naive/thread\n", th->rate_ml_h, ratio(nv->max_us, th->max_us));
        }
        if (fclose(f) != 0) {
                fprintf(stderr, "%s: %m\n", path);
                goto out;
        }
        for (size_t k = 0; k < n_runs; k += 4) {
                const struct run *th = &runs[k + 2];
                snprintf(path, sizeof(path), "%s/steps-lateness-%g.txt", out, th->rate_ml_h);
                f = fopen(path, "we");
                if (!f) {
                        fprintf(stderr, "%s: %m\n", path);
                        goto out;
                }
                for (size_t j = 0; j < th->n; j++)
                        fprintf(f, "%" PRIi64 "\n", th->lateness_us[j]);
                if (fclose(f) != 0) {
                        fprintf(stderr, "%s: %m\n", path);
                        goto out;
                }
        }
        printf("\nwrote %s/steps.csv and steps-lateness-RATE.txt (thread, under load)\n", out);
        rc = 0;
out:
        sd_bus_flush_close_unref(bus);
        bench_procs_finish(&procs, rc != 0);
        for (size_t k = 0; k < n_runs; k++)
                free(runs[k].lateness_us);
        return rc;
}
