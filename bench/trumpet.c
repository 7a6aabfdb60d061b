/* SPDX-License-Identifier: MIT */
/* Trumpet-curve benchmark: the IEC 60601-2-24 accuracy test (201.12.1.102
 * for syringe pumps; CLINICAL.md, "IEC 60601-2-24 accuracy test") on the
 * sim mechanism, in virtual time.
 *
 * For 1 and 25 mL/h: a pump on the virtual clock (the mechanism and line
 * of config/sim.conf, no patient movement: an IEC bench has no patient)
 * infuses for 2 h; every S = 30 s of pump time the volume that reached the
 * patient, sim_delivered_nl(), is read: that is the balance of the test.
 * Optionally the step thread's lateness measured in a real-time run
 * (bench/steps) is replayed, so the figures include what the scheduler did
 * to the step schedule.
 *
 * Formulae (IEC 60601-2-24, as CLINICAL.md gives them), with W_i the
 * delivered volume at sample i (W_0 at start, W_240 at 2 h), r the set rate:
 *
 *   Q_i  = (W_i - W_{i-1}) / S                         flow of interval i
 *   A    = 100 (Q_mean - r) / r                        over the second hour,
 *          Q_mean = (W_240 - W_120) / 60 min           i = 121..240
 *   E_j  = (100 / p) sum_{i=j}^{j+p-1} (Q_i - r) / r   p = P / S samples,
 *          j = 121 .. 241 - p                          windows inside the hour
 *   Ep(max) = max_j E_j, Ep(min) = min_j E_j           P = 2, 5, 11, 19, 31 min
 *
 * E_j telescopes to 100 (W_{j+p-1} - W_{j-1} - p r S) / (p r S): it is
 * computed in integer nL (times µs, so r S stays exact) and only the final
 * ratio is a double. The density is 1 (the sim's volume is the weight).
 *
 * Writes OUT/trumpet.csv (metric,value,unit), OUT/trumpet.dat (what
 * bench/trumpet.gp plots) and OUT/trumpet.png through gnuplot. Exit 0;
 * 1 when a run failed or gnuplot is missing or failed (the table and CSV
 * are still written); 2 on a bad option or lateness file. */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/sim-pump.h"
#include "common/units.h"
#include "config/config.h"
#include "core/channel.h"
#include "daemon/pump.h"
#include "hal/sim.h"
#include "safety/alarm.h"

extern char **environ;

#define SAMPLE_US          (30 * US_PER_SEC)       /* S = 0.5 min */
#define N_SAMPLES          240                     /* T = 120 min */
#define FIRST_ANALYSED     121                     /* Q_121 .. Q_240: the second hour */
#define N_ANALYSED         (N_SAMPLES - FIRST_ANALYSED + 1)
#define VTBI_NL            (55 * NL_PER_ML)        /* 2.2 h at 25 mL/h: beyond the 2 h */
#define LATENESS_MAX_US    (10 * US_PER_SEC)       /* pump_replay_step_lateness()'s limit */

static const double rates_ml_h[] = { 1, 25 };
#define N_RATES (sizeof(rates_ml_h) / sizeof(rates_ml_h[0]))
static const int windows_min[] = { 2, 5, 11, 19, 31 };
#define N_WINDOWS (sizeof(windows_min) / sizeof(windows_min[0]))

struct replay {
        const char *path;               /* NULL: the ideal schedule */
        int64_t *lateness_us;
        size_t n;
        int64_t p99_us;
        int64_t max_us;
};

struct trumpet {
        int64_t delivered_nl[N_SAMPLES + 1];    /* W_0 .. W_240 */
        double a_pct;
        double ep_max_pct[N_WINDOWS];
        double ep_min_pct[N_WINDOWS];
        double ep_max_nl[N_WINDOWS];            /* the same windows' excess over p r S, nL */
        double ep_min_nl[N_WINDOWS];
        double q_min_pct, q_max_pct;            /* single 30 s samples, second hour */
        double wall_s;
};

/* Sim mechanism and line as in config/sim.conf; movement 0. */
static const char config_template[] =
        "[pump]\n"
        "backend = sim\n"
        "[mechanism]\n"
        "lead_pitch_mm = 1\n"
        "steps_per_rev = 200\n"
        "microsteps = 16\n"
        "syringe_inner_diameter_mm = 26.6\n"
        "syringe_volume_ml = 60\n"
        "max_step_rate_hz = 5000\n"
        "[limits]\n"
        "max_rate_ml_per_h = 1200\n"
        "kvo_rate_ml_per_h = 1.0\n"
        "lease_ms = 500\n"
        "control_period_ms = 100\n"
        "checkpoint_period_ms = 1000\n"
        "[database]\n"
        "path = %s/history.db\n"
        "[simulation]\n"
        "clock = virtual\n"
        "seed = 42\n"
        "line_compliance_ul_per_mmhg = 1.4\n"
        "line_resistance_mmhg_per_ml_per_h = 0.3\n"
        "patient_pressure_mmhg = 8\n"
        "pressure_noise_mmhg = 0.5\n"
        "position_noise_mm = 0.005\n"
        "movement_amplitude_mmhg = 0\n";

static double now_wall_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_int64(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return (x > y) - (x < y);
}

/* One lateness in µs per line, nothing else (a lone trailing newline is
 * fine). Errors name the file and line and return -EINVAL; *ret keeps the
 * values and their p99 and max. */
static int replay_load(const char *path, struct replay *ret) {
        FILE *f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "bench-trumpet: %s: %m\n", path);
                return -errno;
        }
        int64_t *v = NULL;
        size_t n = 0, cap = 0;
        char *line = NULL;
        size_t line_size = 0;
        ssize_t len;
        unsigned long lineno = 0;
        int r = 0;
        while ((len = getline(&line, &line_size, f)) >= 0) {
                lineno++;
                while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                        line[--len] = '\0';
                char *s = line;
                while (*s == ' ' || *s == '\t')
                        s++;
                char *end = NULL;
                errno = 0;
                long long x = (*s >= '0' && *s <= '9') ? strtoll(s, &end, 10) : -1;
                if (end)
                        while (*end == ' ' || *end == '\t')
                                end++;
                if (!end || *end != '\0' || errno != 0 || x < 0 || x > LATENESS_MAX_US) {
                        fprintf(stderr,
                                "bench-trumpet: %s:%lu: expected one lateness in µs, an integer 0..%" PRIi64
                                ", got \"%s\"\n",
                                path, lineno, LATENESS_MAX_US, line);
                        r = -EINVAL;
                        goto out;
                }
                if (n == cap) {
                        size_t ncap = cap ? 2 * cap : 4096;
                        int64_t *nv = realloc(v, ncap * sizeof(*nv));
                        if (!nv) {
                                r = -ENOMEM;
                                fprintf(stderr, "bench-trumpet: %s: out of memory\n", path);
                                goto out;
                        }
                        v = nv;
                        cap = ncap;
                }
                v[n++] = x;
        }
        if (ferror(f)) {
                r = -EIO;
                fprintf(stderr, "bench-trumpet: %s:%lu: read error\n", path, lineno + 1);
                goto out;
        }
        if (n == 0) {
                r = -EINVAL;
                fprintf(stderr, "bench-trumpet: %s:1: no lateness values (empty file)\n", path);
                goto out;
        }

        int64_t *sorted = malloc(n * sizeof(*sorted));
        if (!sorted) {
                r = -ENOMEM;
                fprintf(stderr, "bench-trumpet: %s: out of memory\n", path);
                goto out;
        }
        memcpy(sorted, v, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), cmp_int64);
        /* Nearest rank: the smallest value at or above 99 % of the steps. */
        size_t rank = (n * 99 + 99) / 100;
        *ret = (struct replay) {
                .path = path, .lateness_us = v, .n = n, .p99_us = sorted[rank - 1], .max_us = sorted[n - 1],
        };
        free(sorted);
        v = NULL;
out:
        free(v);
        free(line);
        fclose(f);
        return r;
}

static void replay_describe(const struct replay *rp, char *buf, size_t size) {
        if (!rp->path)
                snprintf(buf, size, "none (ideal schedule)");
        else
                snprintf(buf, size, "%s, %zu steps, p99 %" PRIi64 " µs", rp->path, rp->n, rp->p99_us);
}

/* 100 (sum of p flows - p r) / (p r) for the flows Q_first .. Q_{first+p-1},
 * from the delivered volumes alone: the sum telescopes. *ret_excess_nl
 * (may be NULL): what the window delivered beyond p r S, in nL. */
static double window_error(const int64_t *w_nl, int first, int p, int64_t rate_nl_per_h, double *ret_excess_nl) {
        int64_t got_nl_us = (w_nl[first + p - 1] - w_nl[first - 1]) * US_PER_HOUR;   /* nL × µs/h */
        int64_t want_nl_us = (int64_t) p * rate_nl_per_h * SAMPLE_US;                /* nL/h × µs */
        if (ret_excess_nl)
                *ret_excess_nl = (double) (got_nl_us - want_nl_us) / (double) US_PER_HOUR;
        return 100.0 * (double) (got_nl_us - want_nl_us) / (double) want_nl_us;
}

static double window_error_pct(const int64_t *w_nl, int first, int p, int64_t rate_nl_per_h) {
        return window_error(w_nl, first, p, rate_nl_per_h, NULL);
}

static void trumpet_compute(struct trumpet *t, int64_t rate_nl_per_h) {
        t->a_pct = window_error_pct(t->delivered_nl, FIRST_ANALYSED, N_ANALYSED, rate_nl_per_h);
        t->q_min_pct = t->q_max_pct = window_error_pct(t->delivered_nl, FIRST_ANALYSED, 1, rate_nl_per_h);
        for (int i = FIRST_ANALYSED; i <= N_SAMPLES; i++) {
                double e = window_error_pct(t->delivered_nl, i, 1, rate_nl_per_h);
                t->q_min_pct = e < t->q_min_pct ? e : t->q_min_pct;
                t->q_max_pct = e > t->q_max_pct ? e : t->q_max_pct;
        }
        for (size_t w = 0; w < N_WINDOWS; w++) {
                int p = (int) (windows_min[w] * US_PER_MIN / SAMPLE_US);
                double lo = 0, hi = 0, lo_nl = 0, hi_nl = 0;
                for (int j = FIRST_ANALYSED; j + p - 1 <= N_SAMPLES; j++) {
                        double e_nl;
                        double e = window_error(t->delivered_nl, j, p, rate_nl_per_h, &e_nl);
                        if (j == FIRST_ANALYSED || e > hi) {
                                hi = e;
                                hi_nl = e_nl;
                        }
                        if (j == FIRST_ANALYSED || e < lo) {
                                lo = e;
                                lo_nl = e_nl;
                        }
                }
                t->ep_max_pct[w] = hi;
                t->ep_min_pct[w] = lo;
                t->ep_max_nl[w] = hi_nl;
                t->ep_min_nl[w] = lo_nl;
        }
}

static int run_rate(double rate_ml_h, const struct replay *rp, struct trumpet *ret) {
        char text[sizeof(config_template) + 4096];
        struct sim_pump sp;
        struct pump_error err = {};
        double wall0 = now_wall_s();
        int64_t rate_nl_per_h = (int64_t) (rate_ml_h * NL_PER_ML);
        int r = sim_pump_make_dir(&sp, "bench-trumpet");
        if (r < 0)
                return r;
        snprintf(text, sizeof(text), config_template, sp.dir);
        r = sim_pump_open(&sp, "bench-trumpet.conf", text);
        if (r < 0)
                goto out;
        struct pump *p = sp.p;
        struct sim *s = sp.sim;
        if (rp->path) {
                r = pump_replay_step_lateness(p, rp->lateness_us, rp->n);
                if (r < 0) {
                        fprintf(stderr, "pump_replay_step_lateness(%s): %s\n", rp->path, strerror(-r));
                        goto out;
                }
        }

        struct program prog = {
                .mode = PROGRAM_CONTINUOUS,
                .rate_nl_per_h = rate_nl_per_h,
                .vtbi_nl = VTBI_NL,
                .kvo_rate_nl_per_h = 0,
        };
        r = pump_program(p, &prog, NULL, -1, &err);
        if (r < 0) {
                fprintf(stderr, "pump_program: %s: %s\n", err.name ? err.name : "?", err.message);
                goto out;
        }
        r = pump_start(p, &err);
        if (r < 0) {
                fprintf(stderr, "pump_start: %s: %s\n", err.name ? err.name : "?", err.message);
                goto out;
        }

        /* One pump_advance per sample: the balance reads between them. */
        ret->delivered_nl[0] = sim_delivered_nl(s);
        for (int i = 1; i <= N_SAMPLES; i++) {
                r = pump_advance(p, SAMPLE_US, &err);
                if (r < 0) {
                        fprintf(stderr, "pump_advance: %s: %s\n", err.name ? err.name : "?", err.message);
                        goto out;
                }
                ret->delivered_nl[i] = sim_delivered_nl(s);
        }

        /* Anything that stopped or paused delivery makes the figures
         * meaningless: say so rather than print them. */
        const struct channel *ch = pump_channel(p);
        if (ch->state != CHANNEL_RUNNING) {
                fprintf(stderr, "%g mL/h: the channel is %s after 2 h, not running\n", rate_ml_h,
                        channel_state_to_string(ch->state));
                r = -EPROTO;
                goto out;
        }
        const struct alarm_set *as = pump_alarms(p);
        for (size_t i = 0; i < as->n; i++)
                fprintf(stderr, "%g mL/h: note: alarm %s active at the end (%s)\n", rate_ml_h, as->items[i].id,
                        as->items[i].message);

        trumpet_compute(ret, rate_nl_per_h);
        ret->wall_s = now_wall_s() - wall0;
        r = 0;
out:
        sim_pump_close(&sp);
        return r;
}

/* A gnuplot single-quoted string: '' stands for '. */
static void gp_quote(FILE *f, const char *s) {
        fputc('\'', f);
        for (; *s; s++) {
                if (*s == '\'')
                        fputc('\'', f);
                fputc(*s, f);
        }
        fputc('\'', f);
}

/* Runs gnuplot on bench/trumpet.gp. 0 done; -ENOENT when there is no
 * gnuplot; another negative errno when it failed. */
static int run_gnuplot(const char *dat_path, const char *png_path, const char *date,
                       const struct replay *replays) {
        char *assign = NULL;
        size_t assign_size = 0;
        FILE *f = open_memstream(&assign, &assign_size);
        if (!f)
                return -ENOMEM;
        fputs("datafile=", f);
        gp_quote(f, dat_path);
        fputs("; outfile=", f);
        gp_quote(f, png_path);
        fputs("; rundate=", f);
        gp_quote(f, date);
        for (size_t i = 0; i < N_RATES; i++) {
                char what[PATH_MAX + 128];
                if (replays[i].path) {
                        const char *base = strrchr(replays[i].path, '/');
                        snprintf(what, sizeof(what), "replay: %s, p99 %" PRIi64 " µs",
                                 base ? base + 1 : replays[i].path, replays[i].p99_us);
                } else
                        snprintf(what, sizeof(what), "replay: none (ideal schedule)");
                fprintf(f, "; replay%zu=", i);
                gp_quote(f, what);
                fprintf(f, "; rate%zu=%g", i, rates_ml_h[i]);
        }
        if (fclose(f) != 0) {
                free(assign);
                return -ENOMEM;
        }

        char *argv[] = { "gnuplot", "-e", assign, BENCH_SOURCE_ROOT "/bench/trumpet.gp", NULL };
        pid_t pid;
        int r = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
        free(assign);
        if (r != 0)
                return -r;
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EPROTO;
        return 0;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: bench-trumpet [--lateness RATE=FILE]... [--out DIR]\n"
                "  --lateness RATE=FILE  replay a real-time run's step lateness at RATE mL/h (1 or 25):\n"
                "                        FILE holds one lateness in µs per line, in step order\n"
                "                        (bench/results/steps-lateness-RATE.txt from bench/steps)\n"
                "  --out DIR             where trumpet.csv, .dat and .png go (default %s/bench/results)\n",
                BENCH_SOURCE_ROOT);
}

int main(int argc, char **argv) {
        struct replay replays[N_RATES] = {};
        const char *out_dir = BENCH_SOURCE_ROOT "/bench/results";

        for (int i = 1; i < argc; i++) {
                const char *arg = argv[i];
                const char *val = NULL;
                if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
                        usage(stdout);
                        return EXIT_SUCCESS;
                }
                bool is_lateness = strncmp(arg, "--lateness", 10) == 0 && (arg[10] == '\0' || arg[10] == '=');
                bool is_out = strncmp(arg, "--out", 5) == 0 && (arg[5] == '\0' || arg[5] == '=');
                if (!is_lateness && !is_out) {
                        fprintf(stderr, "bench-trumpet: unknown option '%s'\n", arg);
                        usage(stderr);
                        return 2;
                }
                const char *eq = strchr(arg, '=');
                if (eq)
                        val = eq + 1;
                else if (i + 1 < argc)
                        val = argv[++i];
                else {
                        fprintf(stderr, "bench-trumpet: %s needs a value\n", arg);
                        return 2;
                }
                if (is_out) {
                        out_dir = val;
                        continue;
                }
                /* RATE=FILE */
                const char *sep = strchr(val, '=');
                char *end = NULL;
                double rate = sep ? strtod(val, &end) : 0;
                size_t ri = N_RATES;
                for (size_t k = 0; sep && end == sep && k < N_RATES; k++)
                        if (rate == rates_ml_h[k])
                                ri = k;
                if (ri == N_RATES || sep[1] == '\0') {
                        fprintf(stderr, "bench-trumpet: --lateness '%s': expected RATE=FILE with RATE 1 or 25 (mL/h)\n",
                                val);
                        return 2;
                }
                if (replays[ri].path) {
                        fprintf(stderr, "bench-trumpet: --lateness given twice for %g mL/h\n", rates_ml_h[ri]);
                        return 2;
                }
                if (replay_load(sep + 1, &replays[ri]) < 0)
                        return 2;
        }

        if (mkdir(out_dir, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "bench-trumpet: mkdir %s: %m\n", out_dir);
                return 2;
        }

        static struct trumpet results[N_RATES];
        double wall0 = now_wall_s();
        for (size_t i = 0; i < N_RATES; i++) {
                int r = run_rate(rates_ml_h[i], &replays[i], &results[i]);
                if (r < 0) {
                        fprintf(stderr, "bench-trumpet: the run at %g mL/h failed: %s\n", rates_ml_h[i], strerror(-r));
                        return EXIT_FAILURE;
                }
        }

        printf("Trumpet curve (IEC 60601-2-24): sim mechanism (1 mm lead, 200 steps/rev x 16, 26.6 mm syringe),\n"
               "line C = 1.4 uL/mmHg, R = 0.3 mmHg/(mL/h), no patient movement; virtual time. Delivered volume\n"
               "sampled every %d s for %d min; figures over the second hour (%d samples). Percent of the set rate.\n",
               (int) (SAMPLE_US / US_PER_SEC), (int) (N_SAMPLES * SAMPLE_US / US_PER_MIN), N_ANALYSED);
        for (size_t i = 0; i < N_RATES; i++) {
                const struct trumpet *t = &results[i];
                char desc[PATH_MAX + 128];
                replay_describe(&replays[i], desc, sizeof(desc));
                printf("\n%g mL/h  replay: %s\n", rates_ml_h[i], desc);
                printf("  %10s  %10s  %10s  %14s  %14s\n", "window_min", "Ep(max) %", "Ep(min) %", "Ep(max) win nL",
                       "Ep(min) win nL");
                for (size_t w = 0; w < N_WINDOWS; w++)
                        printf("  %10d  %+10.5f  %+10.5f  %+14.2f  %+14.2f\n", windows_min[w], t->ep_max_pct[w],
                               t->ep_min_pct[w], t->ep_max_nl[w], t->ep_min_nl[w]);
                printf("  A (overall, second hour) = %+.5f %%; single 30 s samples %+.5f .. %+.5f %%\n", t->a_pct,
                       t->q_min_pct, t->q_max_pct);
                printf("  delivered in 2 h: %" PRIi64 " nL; %.1f s wall clock\n", t->delivered_nl[N_SAMPLES],
                       t->wall_s);
        }
        printf("\n(win nL: what that window delivered beyond the set rate's volume; the balance reads whole nL.)\n");
        printf("Anchor: syringe pumps are accurate to +-2 %% (CLINICAL.md); our software target is within\n"
               "+-0.5 %% at the 2 min window.\n");

        /* CSV and the plot's data. */
        char csv_path[PATH_MAX], dat_path[PATH_MAX], png_path[PATH_MAX];
        snprintf(csv_path, sizeof(csv_path), "%s/trumpet.csv", out_dir);
        snprintf(dat_path, sizeof(dat_path), "%s/trumpet.dat", out_dir);
        snprintf(png_path, sizeof(png_path), "%s/trumpet.png", out_dir);
        FILE *csv = fopen(csv_path, "we");
        FILE *dat = csv ? fopen(dat_path, "we") : NULL;
        if (!csv || !dat) {
                fprintf(stderr, "bench-trumpet: %s: %m\n", csv ? dat_path : csv_path);
                if (csv)
                        fclose(csv);
                return EXIT_FAILURE;
        }
        fprintf(csv, "metric,value,unit\n");
        fprintf(dat, "# bench-trumpet: IEC 60601-2-24 trumpet curve, one block per rate (gnuplot index 0, 1)\n");
        for (size_t i = 0; i < N_RATES; i++) {
                const struct trumpet *t = &results[i];
                double rate = rates_ml_h[i];
                fprintf(csv, "%gmlh_A,%.5f,%%\n", rate, t->a_pct);
                for (size_t w = 0; w < N_WINDOWS; w++) {
                        fprintf(csv, "%gmlh_ep_max_%dmin,%.5f,%%\n", rate, windows_min[w], t->ep_max_pct[w]);
                        fprintf(csv, "%gmlh_ep_min_%dmin,%.5f,%%\n", rate, windows_min[w], t->ep_min_pct[w]);
                }
                fprintf(csv, "%gmlh_sample_min,%.5f,%%\n", rate, t->q_min_pct);
                fprintf(csv, "%gmlh_sample_max,%.5f,%%\n", rate, t->q_max_pct);
                fprintf(csv, "%gmlh_replay_steps,%zu,steps\n", rate, replays[i].n);
                fprintf(csv, "%gmlh_replay_p99,%" PRIi64 ",us\n", rate, replays[i].p99_us);

                fprintf(dat, "%s# rate_ml_h %g\n# window_min ep_max_pct ep_min_pct a_pct\n", i ? "\n\n" : "", rate);
                for (size_t w = 0; w < N_WINDOWS; w++)
                        fprintf(dat, "%d %.6f %.6f %.6f\n", windows_min[w], t->ep_max_pct[w], t->ep_min_pct[w],
                                t->a_pct);
        }
        bool write_failed = fclose(csv) != 0;
        write_failed |= fclose(dat) != 0;
        if (write_failed) {
                fprintf(stderr, "bench-trumpet: writing %s or %s failed\n", csv_path, dat_path);
                return EXIT_FAILURE;
        }

        char date[32];
        time_t now = time(NULL);
        struct tm tm;
        strftime(date, sizeof(date), "%Y-%m-%d", gmtime_r(&now, &tm));
        int r = run_gnuplot(dat_path, png_path, date, replays);
        printf("\nWrote %s, %s", csv_path, dat_path);
        if (r == -ENOENT) {
                printf("\n");
                fprintf(stderr, "gnuplot not found: no PNG (install gnuplot-nox: scripts/setup-deps)\n");
                return EXIT_FAILURE;
        }
        if (r < 0) {
                printf("\n");
                fprintf(stderr, "bench-trumpet: gnuplot failed (%s): no PNG\n", strerror(-r));
                return EXIT_FAILURE;
        }
        printf(", %s\n(%.1f s wall clock)\n", png_path, now_wall_s() - wall0);

        for (size_t i = 0; i < N_RATES; i++)
                free(replays[i].lateness_us);
        return EXIT_SUCCESS;
}
