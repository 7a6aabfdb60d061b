/* SPDX-License-Identifier: MIT */
/* Occlusion benchmark: time to alarm, pressure at alarm and the
 * post-occlusion bolus, on the simulated line, for the trend detector and
 * for the threshold alone (CLINICAL.md, "Occlusion and air"; the IEC
 * 60601-2-24 test: close the line, record time to alarm and the pressure
 * at alarm, then open it and measure the unintended bolus).
 *
 * Each case builds its own pump on the virtual clock (fresh database in a
 * temp dir, same seed, same line), infuses until the line has settled,
 * closes the line and runs in control-period steps until the downstream
 * occlusion alarm. Then it lets the pump finish its pressure relief, opens
 * the line, waits two minutes and weighs what reached the patient after
 * the alarm. Prints figures; exits non-zero if an alarm never came. */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "daemon/pump.h"
#include "hal/sim.h"
#include "safety/alarm.h"

#define USEC_PER_SEC  INT64_C(1000000)
#define NL_PER_ML     INT64_C(1000000)

#define SETTLE_US          (5 * 60 * USEC_PER_SEC)  /* infuse before closing the line */
#define ALARM_CAP_US       (3 * 3600 * USEC_PER_SEC)
#define RELIEF_CAP_US      (60 * USEC_PER_SEC)
#define RELIEF_QUIET_US    (2 * USEC_PER_SEC)      /* plunger still this long: relief done */
#define OPEN_LINE_US       (120 * USEC_PER_SEC)

struct bench_case {
        double rate_ml_h;
        bool trend;
        double limit_mmhg;
};

struct bench_result {
        bool alarmed;
        double time_to_alarm_s;
        double pressure_at_alarm_mmhg;          /* the line's, noise-free (a test rig's transducer) */
        double sensor_at_alarm_mmhg;            /* what the pump read */
        double held_at_alarm_ml;                /* pushed - delivered: what the line holds */
        double relief_ml;                       /* withdrawn by the back-off */
        double bolus_ml;                        /* reached the patient after the alarm */
        double wall_s;
};

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
        "[alarms]\n"
        "occlusion_limit_mmhg = %g\n"
        "occlusion_trend = %s\n"
        "occlusion_auto_restarts = 0\n"
        "[simulation]\n"
        "clock = virtual\n"
        "seed = 42\n"
        "line_compliance_ul_per_mmhg = 1.4\n"
        "line_resistance_mmhg_per_ml_per_h = 0.3\n"
        "patient_pressure_mmhg = 8\n"
        "pressure_noise_mmhg = 0.5\n"
        "movement_amplitude_mmhg = 0\n";

static void remove_tree(const char *dir) {
        DIR *d = opendir(dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        char path[4096];
                        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                        (void) unlink(path);
                }
                closedir(d);
        }
        (void) rmdir(dir);
}

static double now_wall_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int advance(struct pump *p, int64_t usec) {
        struct pump_error err = {};
        int r = pump_advance(p, usec, &err);
        if (r < 0)
                fprintf(stderr, "pump_advance: %s: %s\n", err.name ? err.name : "?", err.message);
        return r;
}

static int run_case(const struct bench_case *bc, struct bench_result *ret) {
        char dir[] = "/tmp/bench-occlusion-XXXXXX";
        char text[sizeof(config_template) + 4096];
        struct config *cfg = NULL;
        struct pump *p = NULL;
        struct pump_error err = {};
        struct bench_result res = {};
        double wall0 = now_wall_s();
        int r;

        if (!mkdtemp(dir)) {
                fprintf(stderr, "mkdtemp: %m\n");
                return -errno;
        }
        snprintf(text, sizeof(text), config_template, dir, bc->limit_mmhg, bc->trend ? "yes" : "no");

        r = config_load_string("bench-occlusion.conf", text, stderr, &cfg);
        if (r < 0)
                goto out;
        r = pump_new(cfg, &p, &err);
        if (r < 0) {
                fprintf(stderr, "pump_new: %s: %s\n", err.name ? err.name : "?", err.message);
                goto out;
        }
        struct sim *s = pump_sim(p);
        if (!s) {
                fprintf(stderr, "pump has no sim backend\n");
                r = -ENODEV;
                goto out;
        }

        /* One second at rest so the pump has read the resting pressure it
         * relieves back to. */
        r = advance(p, USEC_PER_SEC);
        if (r < 0)
                goto out;

        struct program prog = {
                .mode = PROGRAM_CONTINUOUS,
                .rate_nl_per_h = (int64_t) (bc->rate_ml_h * NL_PER_ML),
                .vtbi_nl = 50 * NL_PER_ML,
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
        r = advance(p, SETTLE_US);
        if (r < 0)
                goto out;
        if (alarm_set_find(pump_alarms(p), ALARM_OCCLUSION_DOWNSTREAM)) {
                fprintf(stderr, "occlusion alarm before the line was closed\n");
                r = -EPROTO;
                goto out;
        }

        /* Close the line. Step one control period at a time: the alarm
         * starts the back-off in the same tick, and within a second it
         * would already have taken much of the pressure away. */
        sim_set_occlusion(s, true);
        int64_t occluded_us = pump_now_us(p);
        int64_t period_us = pump_control_period_us(p);
        const struct alarm *a = NULL;
        while (pump_now_us(p) - occluded_us < ALARM_CAP_US) {
                r = advance(p, period_us);
                if (r < 0)
                        goto out;
                a = alarm_set_find(pump_alarms(p), ALARM_OCCLUSION_DOWNSTREAM);
                if (a)
                        break;
        }
        if (!a) {
                res.time_to_alarm_s = (double) (pump_now_us(p) - occluded_us) / USEC_PER_SEC;
                res.pressure_at_alarm_mmhg = sim_line_pressure_mmhg(s);
                res.sensor_at_alarm_mmhg = pump_pressure_mmhg(p);
                res.wall_s = now_wall_s() - wall0;
                *ret = res;
                r = 0;
                goto out;
        }
        res.alarmed = true;
        res.time_to_alarm_s = (double) (a->raised_us - occluded_us) / USEC_PER_SEC;
        res.pressure_at_alarm_mmhg = sim_line_pressure_mmhg(s);
        res.sensor_at_alarm_mmhg = pump_pressure_mmhg(p);
        int64_t delivered_at_alarm = sim_delivered_nl(s);
        int64_t pushed_at_alarm = sim_pushed_nl(s);
        res.held_at_alarm_ml = (double) (pushed_at_alarm - delivered_at_alarm) / NL_PER_ML;

        /* Let the back-off finish: the plunger has stood still a while. */
        int64_t steps = sim_plunger_steps(s), still_since = pump_now_us(p), relief_started = pump_now_us(p);
        while (pump_now_us(p) - relief_started < RELIEF_CAP_US && pump_now_us(p) - still_since < RELIEF_QUIET_US) {
                r = advance(p, period_us);
                if (r < 0)
                        goto out;
                int64_t now_steps = sim_plunger_steps(s);
                if (now_steps != steps) {
                        steps = now_steps;
                        still_since = pump_now_us(p);
                }
        }
        res.relief_ml = (double) (pushed_at_alarm - sim_pushed_nl(s)) / NL_PER_ML;

        /* Open the line and let it settle. */
        sim_set_occlusion(s, false);
        r = advance(p, OPEN_LINE_US);
        if (r < 0)
                goto out;
        res.bolus_ml = (double) (sim_delivered_nl(s) - delivered_at_alarm) / NL_PER_ML;
        res.wall_s = now_wall_s() - wall0;
        *ret = res;
        r = 0;
out:
        if (p) {
                pump_shutdown(p);
                pump_free(p);
        }
        config_free(cfg);
        remove_tree(dir);
        return r;
}

int main(void) {
        static const double rates_ml_h[] = { 1, 25 };
        static const double limits_mmhg[] = { 300, 100 };
        struct bench_case cases[8];
        struct bench_result results[8];
        size_t n = 0;
        bool all_alarmed = true;

        for (size_t l = 0; l < 2; l++)
                for (size_t ri = 0; ri < 2; ri++)
                        for (int t = 1; t >= 0; t--)
                                cases[n++] = (struct bench_case) {
                                        .rate_ml_h = rates_ml_h[ri], .trend = t, .limit_mmhg = limits_mmhg[l],
                                };

        for (size_t i = 0; i < n; i++) {
                int r = run_case(&cases[i], &results[i]);
                if (r < 0) {
                        fprintf(stderr, "case %zu (%g mL/h, %s, %g mmHg) failed: %s\n", i, cases[i].rate_ml_h,
                                cases[i].trend ? "trend" : "threshold", cases[i].limit_mmhg, strerror(-r));
                        return EXIT_FAILURE;
                }
        }

        printf("Occlusion benchmark: sim line C = 1.4 uL/mmHg, R = 0.3 mmHg/(mL/h), P_b = 8 mmHg, noise 0.5 mmHg, seed 42;\n"
               "line closed after %d min of infusion; bolus = volume reaching the patient from the alarm until\n"
               "%d s after the line is reopened (reopened once the pressure relief has finished).\n"
               "held_ml = volume the line's compliance held at the alarm (sim truth: pushed - delivered),\n"
               "i.e. about the bolus a pump without pressure relief would give.\n\n",
               (int) (SETTLE_US / USEC_PER_SEC / 60), (int) (OPEN_LINE_US / USEC_PER_SEC));
        printf("%9s  %-9s  %10s  %15s  %22s  %11s  %7s  %9s  %8s\n", "rate_ml_h", "detector", "limit_mmhg",
               "time_to_alarm_s", "pressure_at_alarm_mmhg", "sensor_mmhg", "held_ml", "relief_ml", "bolus_ml");
        for (size_t i = 0; i < n; i++) {
                const struct bench_case *c = &cases[i];
                const struct bench_result *rs = &results[i];
                if (!rs->alarmed) {
                        printf("%9g  %-9s  %10g  %15s  %22.1f  %11.1f  %7s  %9s  %8s   (no alarm after %.0f s)\n",
                               c->rate_ml_h, c->trend ? "trend" : "threshold", c->limit_mmhg, "NONE",
                               rs->pressure_at_alarm_mmhg, rs->sensor_at_alarm_mmhg, "-", "-", "-",
                               rs->time_to_alarm_s);
                        all_alarmed = false;
                        continue;
                }
                printf("%9g  %-9s  %10g  %15.1f  %22.1f  %11.1f  %7.3f  %9.3f  %8.3f\n", c->rate_ml_h,
                       c->trend ? "trend" : "threshold", c->limit_mmhg, rs->time_to_alarm_s,
                       rs->pressure_at_alarm_mmhg, rs->sensor_at_alarm_mmhg, rs->held_at_alarm_ml, rs->relief_ml,
                       rs->bolus_ml);
        }
        printf("\n");

        /* Cases come in (trend, threshold) pairs per rate and limit. */
        for (size_t i = 0; i + 1 < n; i += 2) {
                const struct bench_result *tr = &results[i], *th = &results[i + 1];
                if (tr->alarmed && th->alarmed)
                        printf("At %g mL/h, %g mmHg: trend is %.1fx faster than threshold (%.0f s vs %.0f s)\n",
                               cases[i].rate_ml_h, cases[i].limit_mmhg, th->time_to_alarm_s / tr->time_to_alarm_s,
                               tr->time_to_alarm_s, th->time_to_alarm_s);
        }

        double wall = 0;
        for (size_t i = 0; i < n; i++)
                wall += results[i].wall_s;
        printf("(%zu cases, %.1f s wall clock)\n", n, wall);

        if (!all_alarmed) {
                fprintf(stderr, "An occlusion alarm never came within %d h\n", (int) (ALARM_CAP_US / USEC_PER_SEC / 3600));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
