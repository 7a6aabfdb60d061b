/* SPDX-License-Identifier: MIT */
#pragma once

/* The occlusion benchmark's runs on the simulated pump (bench/occlusion.c
 * prints them): one pump per run, on the virtual clock. */

#include <stdbool.h>
#include <stdint.h>

#define US_PER_S INT64_C(1000000)

/* The line every run uses (config/sim.conf's), and its seed. */
#define LINE_COMPLIANCE_UL_PER_MMHG 1.4
#define LINE_RESISTANCE_MMHG_PER_ML_H 0.3
#define PATIENT_PRESSURE_MMHG 8.0
#define SEED 42

/* Closure runs: sensor noise, patient still. Infuse 20 min before closing
 * the line: the trend detector's history (1024 s at most, at 0.1 mL/h) is
 * then full at every rate, so each detector is measured at steady state;
 * the threshold does not care. */
#define CLOSURE_NOISE_MMHG 0.5
#define SETTLE_US (20 * 60 * US_PER_S)
/* Give up after this long with the line closed: the threshold at 0.1 mL/h
 * needs about 4 h (rising Q/C, about 71 mmHg/h). */
#define ALARM_CAP_US (12 * 3600 * US_PER_S)
/* The line stays closed this long after the alarm (the back-off takes a
 * few seconds), then is reopened for OPEN_LINE_US. */
#define CLOSED_AFTER_ALARM_US (60 * US_PER_S)
#define OPEN_LINE_US (120 * US_PER_S)

/* Day runs: noise plus a patient who moves (the amplitude is the run's:
 * bench/occlusion.c runs 20 mmHg and the 40 mmHg the trend detector is
 * built to ignore, safety/occlusion.h). */
#define DAY_US (24 * 3600 * US_PER_S)
#define DAY_NOISE_MMHG 0.5
#define DAY_MOVEMENT_INTERVAL_S 120.0

struct closure_case {
        double rate_ml_h;
        double limit_mmhg;
        bool trend;                     /* occlusion_trend */
        bool back_off;                  /* occlusion_back_off */
};

struct closure_result {
        bool alarmed;
        double time_to_alarm_s;         /* line closed to alarm raised (or to the cap) */
        double pressure_at_alarm_mmhg;  /* the line's, noise-free (a test rig's transducer) */
        double sensor_at_alarm_mmhg;    /* what the pump read */
        double held_at_alarm_ml;        /* pushed - delivered: what the line's compliance holds */
        double relief_ml;               /* pulled back by the back-off */
        double bolus_ml;                /* reached the patient from the alarm to OPEN_LINE_US after reopening */
};

struct day_result {
        unsigned occlusion_alarms;      /* downstream occlusion alarms raised */
        double first_alarm_s;           /* after the start, if any */
        unsigned other_alarms;          /* any other condition (expected: none) */
        double delivered_ml;            /* reached the patient in the 24 h */
};

/* Each returns 0 (an alarm that never came is res->alarmed = false, not
 * an error), or a negative errno if the run could not be made. */
int run_closure(const struct closure_case *c, struct closure_result *res);
int run_day(double rate_ml_h, bool trend, double limit_mmhg, double movement_mmhg, struct day_result *res);
