/* SPDX-License-Identifier: MIT */
/* The occlusion benchmark's runs: each builds its own pump from a config
 * text on the virtual clock, drives it through the same API the D-Bus
 * layer uses, and reads the results from the sim's ground truth
 * (sim_delivered_nl, sim_pushed_nl, sim_line_pressure_mmhg). */
#include "bench/occlusion-run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/sim-pump.h"
#include "config/config.h"
#include "daemon/pump.h"
#include "hal/sim.h"
#include "safety/alarm.h"

#define NL_PER_ML INT64_C(1000000)

/* Closure runs use config/sim.conf's 60 mL syringe. A day at 25 mL/h is
 * 600 mL: the day runs get a 700 mL "syringe" of 30 mm bore, so the
 * plunger's travel (849 mm) stays inside the position sensor's plausible
 * 0 to 1000 mm (daemon/pump-supervise.c) with no refill, which would
 * restart the detector. The line is the same. */
#define CLOSURE_SYRINGE_DIAMETER_MM 26.6
#define CLOSURE_SYRINGE_ML 60.0
#define CLOSURE_VTBI_ML 50.0
#define DAY_SYRINGE_DIAMETER_MM 30.0
#define DAY_SYRINGE_ML 700.0

struct pump_setup {
        double syringe_diameter_mm, syringe_ml;
        double limit_mmhg;
        bool trend, back_off;
        double noise_mmhg, movement_mmhg;
};

static const char config_template[] =
        "[pump]\n"
        "backend = sim\n"
        "[mechanism]\n"
        "lead_pitch_mm = 1\n"
        "steps_per_rev = 200\n"
        "microsteps = 16\n"
        "syringe_inner_diameter_mm = %g\n"
        "syringe_volume_ml = %g\n"
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
        "occlusion_back_off = %s\n"
        "occlusion_auto_restarts = 0\n"
        "[simulation]\n"
        "clock = virtual\n"
        "seed = %d\n"
        "line_compliance_ul_per_mmhg = %g\n"
        "line_resistance_mmhg_per_ml_per_h = %g\n"
        "patient_pressure_mmhg = %g\n"
        "pressure_noise_mmhg = %g\n"
        "movement_amplitude_mmhg = %g\n"
        "movement_mean_interval_s = %g\n";

static int advance(struct pump *p, int64_t usec) {
        struct pump_error err = {};
        int r = pump_advance(p, usec, &err);
        return r < 0 ? sim_pump_report(r, "pump_advance", &err) : r;
}

/* A fresh pump on a fresh database, one second at rest (so it has read
 * the resting pressure the back-off returns to), then running rate_ml_h
 * towards vtbi_ml. */
static int bench_pump_start(struct sim_pump *b, const struct pump_setup *ps, double rate_ml_h, double vtbi_ml) {
        char text[sizeof(config_template) + 512];
        struct pump_error err = {};
        int r = sim_pump_make_dir(b, "bench-occlusion");
        if (r < 0)
                return r;
        snprintf(text, sizeof(text), config_template, ps->syringe_diameter_mm, ps->syringe_ml, b->dir, ps->limit_mmhg,
                 ps->trend ? "yes" : "no", ps->back_off ? "yes" : "no", SEED, LINE_COMPLIANCE_UL_PER_MMHG,
                 LINE_RESISTANCE_MMHG_PER_ML_H, PATIENT_PRESSURE_MMHG, ps->noise_mmhg, ps->movement_mmhg,
                 DAY_MOVEMENT_INTERVAL_S);
        r = sim_pump_open(b, "bench-occlusion.conf", text);
        if (r < 0)
                return r;
        r = advance(b->p, US_PER_S);
        if (r < 0)
                return r;

        struct program prog = {
                .mode = PROGRAM_CONTINUOUS,
                .rate_nl_per_h = (int64_t) (rate_ml_h * NL_PER_ML + 0.5),
                .vtbi_nl = (int64_t) (vtbi_ml * NL_PER_ML + 0.5),
                .kvo_rate_nl_per_h = 0,
        };
        r = pump_program(b->p, &prog, NULL, -1, &err);
        if (r < 0)
                return sim_pump_report(r, "pump_program", &err);
        r = pump_start(b->p, &err);
        if (r < 0)
                return sim_pump_report(r, "pump_start", &err);
        return 0;
}

int run_closure(const struct closure_case *c, struct closure_result *ret) {
        const struct pump_setup ps = {
                .syringe_diameter_mm = CLOSURE_SYRINGE_DIAMETER_MM,
                .syringe_ml = CLOSURE_SYRINGE_ML,
                .limit_mmhg = c->limit_mmhg,
                .trend = c->trend,
                .back_off = c->back_off,
                .noise_mmhg = CLOSURE_NOISE_MMHG,
                .movement_mmhg = 0,
        };
        struct sim_pump b;
        struct closure_result res = {};
        int r;

        r = bench_pump_start(&b, &ps, c->rate_ml_h, CLOSURE_VTBI_ML);
        if (r < 0)
                goto out;
        r = advance(b.p, SETTLE_US);
        if (r < 0)
                goto out;
        if (pump_channel(b.p)->state != CHANNEL_RUNNING || alarm_set_find(pump_alarms(b.p), ALARM_OCCLUSION_DOWNSTREAM)) {
                fprintf(stderr, "not running, or an occlusion alarm, before the line was closed\n");
                r = -EPROTO;
                goto out;
        }

        /* Close the line. Step one control period at a time: the alarm
         * starts the back-off in the same tick, and within a second it
         * would already have taken much of the pressure away. */
        sim_set_occlusion(b.sim, true);
        int64_t closed_us = pump_now_us(b.p), period_us = pump_control_period_us(b.p);
        const struct alarm *a = NULL;
        while (!a && pump_now_us(b.p) - closed_us < ALARM_CAP_US) {
                r = advance(b.p, period_us);
                if (r < 0)
                        goto out;
                a = alarm_set_find(pump_alarms(b.p), ALARM_OCCLUSION_DOWNSTREAM);
        }
        res.pressure_at_alarm_mmhg = sim_line_pressure_mmhg(b.sim);
        res.sensor_at_alarm_mmhg = pump_pressure_mmhg(b.p);
        if (!a) {
                res.time_to_alarm_s = (double) (pump_now_us(b.p) - closed_us) / US_PER_S;
                goto done;
        }
        res.alarmed = true;
        res.time_to_alarm_s = (double) (a->raised_us - closed_us) / US_PER_S;
        int64_t delivered_at_alarm_nl = sim_delivered_nl(b.sim), pushed_at_alarm_nl = sim_pushed_nl(b.sim);
        res.held_at_alarm_ml = (double) (pushed_at_alarm_nl - delivered_at_alarm_nl) / NL_PER_ML;

        /* Keep the line closed; the back-off must be over before it opens
         * (the plunger still for the last 10 s), or the bolus would not
         * be the one a clinician reopening the line sees. */
        r = advance(b.p, CLOSED_AFTER_ALARM_US - 10 * US_PER_S);
        if (r < 0)
                goto out;
        int64_t steps = sim_plunger_steps(b.sim);
        r = advance(b.p, 10 * US_PER_S);
        if (r < 0)
                goto out;
        if (sim_plunger_steps(b.sim) != steps)
                fprintf(stderr, "note: at %g mL/h the plunger still moved %d s after the alarm\n", c->rate_ml_h,
                        (int) (CLOSED_AFTER_ALARM_US / US_PER_S));
        res.relief_ml = (double) (pushed_at_alarm_nl - sim_pushed_nl(b.sim)) / NL_PER_ML;

        sim_set_occlusion(b.sim, false);
        r = advance(b.p, OPEN_LINE_US);
        if (r < 0)
                goto out;
        res.bolus_ml = (double) (sim_delivered_nl(b.sim) - delivered_at_alarm_nl) / NL_PER_ML;
done:
        *ret = res;
        r = 0;
out:
        sim_pump_close(&b);
        return r;
}

/* ---- a day on an open line ---------------------------------------- */

struct day_count {
        int64_t start_us;
        struct day_result *res;
};

static void on_alarm_raised(void *userdata, const struct alarm *a) {
        struct day_count *dc = userdata;
        if (a->condition == ALARM_OCCLUSION_DOWNSTREAM) {
                if (dc->res->occlusion_alarms++ == 0)
                        dc->res->first_alarm_s = (double) (a->raised_us - dc->start_us) / US_PER_S;
        } else {
                dc->res->other_alarms++;
                fprintf(stderr, "note: alarm %s during the day run: %s\n", a->id, a->message);
        }
}

/* What a nurse does at a false alarm: acknowledge it once its cause is
 * gone (the back-off has let the pressure down) and resume. */
static void answer_alarms(struct pump *p) {
        char ids[ALARM_SET_MAX][ALARM_ID_MAX];
        const struct alarm_set *set = pump_alarms(p);
        size_t n = set->n;
        struct pump_error err = {};

        for (size_t i = 0; i < n; i++)
                snprintf(ids[i], sizeof(ids[i]), "%s", set->items[i].id);
        for (size_t i = 0; i < n; i++)
                (void) pump_acknowledge_alarm(p, ids[i], -1, &err);     /* -EBUSY: cause still there, next second */
        if (pump_channel(p)->state == CHANNEL_HALTED)
                (void) pump_resume(p, &err);
}

int run_day(double rate_ml_h, bool trend, double limit_mmhg, double movement_mmhg, struct day_result *ret) {
        const struct pump_setup ps = {
                .syringe_diameter_mm = DAY_SYRINGE_DIAMETER_MM,
                .syringe_ml = DAY_SYRINGE_ML,
                .limit_mmhg = limit_mmhg,
                .trend = trend,
                .back_off = true,
                .noise_mmhg = DAY_NOISE_MMHG,
                .movement_mmhg = movement_mmhg,
        };
        struct sim_pump b;
        struct day_result res = {};
        struct day_count dc = { .res = &res };
        int r;

        /* An hour more than the day: the infusion must not end in it. */
        r = bench_pump_start(&b, &ps, rate_ml_h, rate_ml_h * 25);
        if (r < 0)
                goto out;
        dc.start_us = pump_now_us(b.p);
        pump_set_observer(b.p, &(struct pump_observer) { .userdata = &dc, .alarm_raised = on_alarm_raised });
        int64_t delivered0_nl = sim_delivered_nl(b.sim);

        while (pump_now_us(b.p) - dc.start_us < DAY_US) {
                r = advance(b.p, US_PER_S);
                if (r < 0)
                        goto out;
                enum channel_state st = pump_channel(b.p)->state;
                if (st == CHANNEL_HALTED)
                        answer_alarms(b.p);
                else if (st != CHANNEL_RUNNING) {
                        fprintf(stderr, "the day run at %g mL/h left running: %s\n", rate_ml_h,
                                channel_state_to_string(st));
                        r = -EPROTO;
                        goto out;
                }
        }
        res.delivered_ml = (double) (sim_delivered_nl(b.sim) - delivered0_nl) / NL_PER_ML;
        *ret = res;
        r = 0;
out:
        sim_pump_close(&b);
        return r;
}
