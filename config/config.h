/* SPDX-License-Identifier: MIT */
#pragma once

/* /etc/infusiond/infusiond.conf, INI, read with libinih.
 * Every error names the file, line and key: "FILE:LINE: key: what is wrong"
 * (a missing required key has no line: "FILE: [section] key: ..."). An
 * unknown section or key is an error too: a misspelt key must never be
 * silently ignored on a medical device. See config/sim.conf for every key. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/mechanism.h"

enum config_clock {
        CONFIG_CLOCK_REAL,
        CONFIG_CLOCK_VIRTUAL,
};

struct config {
        char *path;                     /* the file it came from */

        /* [pump] */
        char *backend;                  /* "sim" (more backends later) */

        /* [mechanism] */
        struct mechanism_geometry geometry;
        int64_t syringe_volume_nl;

        /* [limits] */
        int64_t max_rate_nl_per_h;
        int64_t max_vtbi_nl;
        int64_t kvo_rate_nl_per_h;      /* default KVO rate; 0 = stop at VTBI */
        int64_t max_kvo_rate_nl_per_h;
        int64_t pca_bolus_rate_nl_per_h;        /* default speed of PCA demand and loading doses */
        int64_t lease_us;
        int64_t control_period_us;
        int64_t checkpoint_period_us;

        /* [database] */
        char *database_path;

        /* [alarms] */
        int64_t escalate_after_us;      /* unanswered medium -> high */
        int64_t idle_alert_us;          /* programmed/paused, not running: low */
        int64_t idle_alarm_us;          /* ... then medium */
        int64_t near_end_us;            /* time to empty that warns */
        double occlusion_limit_mmhg;    /* default when the care area has none */
        bool occlusion_trend;
        int64_t occlusion_auto_restarts;/* default per 10 min when the care area has none */
        int64_t air_bubble_nl;
        int64_t air_accumulated_nl;
        int64_t air_window_us;
        double accuracy_tolerance_pct;
        int64_t battery_low_s;
        int64_t battery_depleted_s;

        /* [simulation] */
        enum config_clock clock;
        uint64_t seed;
        double line_compliance_nl_per_mmhg;
        double line_resistance_mmhg_per_ml_per_h;
        double patient_pressure_mmhg;
        double pressure_noise_mmhg;
        double movement_amplitude_mmhg;
        double movement_mean_interval_s;
        double position_noise_mm;
        double battery_runtime_min;
        int64_t syringe_fill_nl;        /* 0: filled to syringe_volume_ml */
};

/* Parse path into *ret. On any error, writes one line per problem to err
 * (every problem, not just the first), frees what it built and returns
 * -EINVAL (or -errno if the file cannot be read). */
int config_load(const char *path, FILE *err, struct config **ret);

/* Same, from a string; name is what messages call the file. */
int config_load_string(const char *name, const char *text, FILE *err, struct config **ret);

struct config *config_free(struct config *c);
static inline void config_freep(struct config **c) { config_free(*c); }
