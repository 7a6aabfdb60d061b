/* SPDX-License-Identifier: MIT */
#include "safety/supervise.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "common/muldiv.h"
#include "common/units.h"

/* ---- delivery accuracy and motion ----------------------------------- */

/* A 50 mL syringe of 26.6 mm bore holds 555.7 uL per mm of travel; the
 * potentiometer's noise of 0.005 mm is then 2.78 uL per reading. */
#define DEFAULT_POSITION_NOISE_NL 2780.0

/* An error is believed only when it is this many standard errors of the
 * fit: at 5 sigma, noise alone crosses it about once in 3.5 million
 * independent windows, and a day holds 720 windows of 120 s. */
#define NOISE_SIGMAS 5.0

/* Stall: the plunger made less than this fraction of the commanded
 * travel. A healthy drive makes all of it, so the gap to a stall verdict
 * is 1 - 0.25 of the stretch, and the stretch is lengthened until noise
 * cannot close that gap. */
#define STALL_PROGRESS_FRACTION 0.25

/* Fewer blocks than this are not a stretch: one glitched block could
 * make a slope on its own. */
#define STALL_MIN_BLOCKS 3

/* GIP 1.2.2/1.2.3 allow 15 min; we never take longer. */
#define GIP_ACCURACY_US (15 * US_PER_MIN)

static const char *const accuracy_verdict_names[_ACCURACY_VERDICT_MAX] = {
        [ACCURACY_OK] = "ok",
        [ACCURACY_OVER] = "over-infusion",
        [ACCURACY_UNDER] = "under-infusion",
        [ACCURACY_STALL] = "stall",
};

const char *accuracy_verdict_to_string(enum accuracy_verdict v) {
        return (unsigned) v < _ACCURACY_VERDICT_MAX ? accuracy_verdict_names[v] : "invalid";
}

void accuracy_params_default(struct accuracy_params *ret) {
        *ret = (struct accuracy_params) {
                .tolerance_pct = 10.0,
                /* At 1 mL/h a 120 s window commands 33 uL: its 10 % is
                 * 3.3 uL against a fit error of ~0.28 uL (1200 readings).
                 * An error that starts mid-delivery fills half the window
                 * before the fit crosses 10 % at gain 0.8 or 1.2. */
                .window_us = 120 * US_PER_SEC,
                .persistence_us = 30 * US_PER_SEC,
                /* 0.036 mm of travel, 13 readings' sigma: below this the
                 * window is judged by nothing but noise and backlash.
                 * With 120 s it supervises from 0.6 mL/h. */
                .min_window_nl = 20000,
                .position_resolution_nl = DEFAULT_POSITION_NOISE_NL,
                .stall_nl = 20000,
        };
}

int accuracy_params_check(const struct accuracy_params *p, const char **ret_why) {
        const char *why = NULL;

        if (!(p->tolerance_pct > 0 && p->tolerance_pct < 100))
                why = "tolerance must be above 0 % and below 100 %";
        else if (p->window_us < 10 * ACCURACY_BLOCK_US)
                why = "window must hold at least ten blocks (5 s)";
        else if (p->window_us > ACCURACY_HORIZON_US - ACCURACY_BLOCK_US)
                why = "window must fit the history";
        else if (p->persistence_us < 0)
                why = "persistence must not be negative";
        else if (p->persistence_us > GIP_ACCURACY_US - p->window_us)
                why = "window plus persistence must not exceed GIP's 15 min";
        else if (p->min_window_nl <= 0)
                why = "minimum window volume must be above zero";
        else if (!(p->position_resolution_nl >= 0 && isfinite(p->position_resolution_nl)))
                why = "position resolution must be a finite number, not negative";
        else if (p->stall_nl <= 0)
                why = "stall volume must be above zero";

        if (why) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        return 0;
}

void accuracy_init(struct accuracy_monitor *m, const struct accuracy_params *p) {
        m->params = *p;
        accuracy_reset(m);
}

void accuracy_reset(struct accuracy_monitor *m) {
        m->head = m->len = 0;
        m->block_start_us = -1;
        m->block_n = 0;
        m->block_commanded_sum_nl = 0;
        m->block_measured_sum_nl = 0;
        m->last_us = -1;
        m->last_commanded_nl = 0;
        m->judged = ACCURACY_OK;
        m->bad_since_us = -1;
        m->bad_kind = ACCURACY_OK;
        m->last_error_pct = 0;
}

/* i-th entry from the oldest. */
static unsigned history_index(const struct accuracy_monitor *m, unsigned i) {
        return (m->head + ACCURACY_HISTORY_MAX - m->len + i) % ACCURACY_HISTORY_MAX;
}

static void history_push_block(struct accuracy_monitor *m) {
        unsigned i = m->head;

        m->history[i].t_us = m->block_start_us;
        m->history[i].commanded_nl = (double) m->block_commanded_sum_nl / m->block_n;
        m->history[i].measured_nl = m->block_measured_sum_nl / m->block_n;
        m->history[i].n_samples = m->block_n;
        m->head = (m->head + 1) % ACCURACY_HISTORY_MAX;
        if (m->len < ACCURACY_HISTORY_MAX)
                m->len++;
}

/* Weighted least squares of measured against commanded volume. A block
 * mean of n readings has variance sigma^2/n, so weighting by n makes the
 * fit what it would have been on every reading, and its standard error
 * is sigma / sqrt(Sxx). Slope against commanded volume, not time, so a
 * window across a rate change still has one expected slope: 1.
 * Coordinates are taken relative to the newest block: cumulative volumes
 * reach 5e7 nL and their squares would swamp the spread. */
struct fit {
        double sw, swx, swy, swxx, swxy;
        double x_min;                   /* relative to the newest: <= 0 */
        unsigned n;
};

static void fit_add(struct fit *f, double w, double x, double y) {
        f->sw += w;
        f->swx += w * x;
        f->swy += w * y;
        f->swxx += w * x * x;
        f->swxy += w * x * y;
        if (f->n == 0 || x < f->x_min)
                f->x_min = x;
        f->n++;
}

/* False when the window commanded nothing to fit a slope against. */
static bool fit_solve(const struct fit *f, double *ret_slope, double *ret_sxx) {
        if (f->n < 2 || f->sw <= 0)
                return false;
        double sxx = f->swxx - f->swx * f->swx / f->sw;
        double sxy = f->swxy - f->swx * f->swy / f->sw;
        if (!(sxx > 0))
                return false;
        *ret_slope = sxy / sxx;
        *ret_sxx = sxx;
        return true;
}

/* Walk back from the newest block until the stretch commanded stall_nl
 * and noise cannot turn a healthy slope of 1 into one under the stall
 * fraction; then judge that stretch. Not the accuracy window: at
 * 0.1 mL/h, 20 uL takes 12 min. */
static bool judge_stall(struct accuracy_monitor *m, double *ret_progress) {
        const struct accuracy_params *p = &m->params;
        unsigned newest = history_index(m, m->len - 1);
        double x0 = m->history[newest].commanded_nl, y0 = m->history[newest].measured_nl;
        struct fit f = {};

        for (unsigned k = 0; k < m->len; k++) {
                unsigned i = history_index(m, m->len - 1 - k);
                fit_add(&f, m->history[i].n_samples, m->history[i].commanded_nl - x0,
                        m->history[i].measured_nl - y0);

                if (f.n < STALL_MIN_BLOCKS || -f.x_min < (double) p->stall_nl)
                        continue;
                double slope, sxx;
                if (!fit_solve(&f, &slope, &sxx))
                        continue;
                if (NOISE_SIGMAS * p->position_resolution_nl / sqrt(sxx) > 1.0 - STALL_PROGRESS_FRACTION)
                        continue;
                *ret_progress = slope;
                return slope < STALL_PROGRESS_FRACTION;
        }
        return false;
}

static enum accuracy_verdict judge_window(struct accuracy_monitor *m) {
        const struct accuracy_params *p = &m->params;
        unsigned newest = history_index(m, m->len - 1);
        int64_t newest_us = m->history[newest].t_us;
        double x0 = m->history[newest].commanded_nl, y0 = m->history[newest].measured_nl;
        struct fit f = {};

        for (unsigned k = 0; k < m->len; k++) {
                unsigned i = history_index(m, m->len - 1 - k);
                if (newest_us - m->history[i].t_us >= p->window_us)
                        break;
                fit_add(&f, m->history[i].n_samples, m->history[i].commanded_nl - x0,
                        m->history[i].measured_nl - y0);
        }

        double span_nl = -f.x_min, slope, sxx;
        if (span_nl < (double) p->min_window_nl || !fit_solve(&f, &slope, &sxx))
                return ACCURACY_OK;

        double error = slope - 1.0;
        double error_nl = fabs(error) * span_nl;
        m->last_error_pct = 100.0 * error;

        /* The error must beat the tolerance, the fit's noise expressed in
         * nL over the window, and one reading's noise: the fit's standard
         * error assumes white noise, and the last bound keeps correlated
         * noise from passing for an error at low rates. */
        if (100.0 * fabs(error) <= p->tolerance_pct)
                return ACCURACY_OK;
        if (error_nl <= NOISE_SIGMAS * p->position_resolution_nl * span_nl / sqrt(sxx))
                return ACCURACY_OK;
        if (error_nl <= p->position_resolution_nl)
                return ACCURACY_OK;
        return error > 0 ? ACCURACY_OVER : ACCURACY_UNDER;
}

static void judge(struct accuracy_monitor *m, int64_t now_us) {
        double progress;

        if (judge_stall(m, &progress)) {
                m->judged = ACCURACY_STALL;
                m->last_error_pct = 100.0 * (progress - 1.0);
        } else
                m->judged = judge_window(m);

        if (m->judged == ACCURACY_OVER || m->judged == ACCURACY_UNDER) {
                if (m->bad_since_us < 0 || m->bad_kind != m->judged) {
                        m->bad_since_us = now_us;
                        m->bad_kind = m->judged;
                }
        } else {
                /* A window that cannot be judged (too little commanded)
                 * breaks persistence too: the error was not seen to hold. */
                m->bad_since_us = -1;
                m->bad_kind = ACCURACY_OK;
        }
}

enum accuracy_verdict accuracy_sample(struct accuracy_monitor *m, int64_t now_us, int64_t commanded_nl,
                                      double measured_nl) {
        if (!isfinite(measured_nl) || (m->last_us >= 0 && now_us <= m->last_us))
                goto verdict;

        if (m->last_us >= 0 && commanded_nl < m->last_commanded_nl)
                accuracy_reset(m);
        m->last_us = now_us;
        m->last_commanded_nl = commanded_nl;

        if (m->block_start_us >= 0 && now_us - m->block_start_us >= ACCURACY_BLOCK_US) {
                history_push_block(m);
                m->block_start_us = -1;
                judge(m, now_us);
        }
        if (m->block_start_us < 0) {
                m->block_start_us = now_us;
                m->block_n = 0;
                m->block_commanded_sum_nl = 0;
                m->block_measured_sum_nl = 0;
        }
        m->block_n++;
        m->block_commanded_sum_nl += commanded_nl;
        m->block_measured_sum_nl += measured_nl;

verdict:
        if (m->judged == ACCURACY_STALL)
                return ACCURACY_STALL;
        if (m->bad_since_us >= 0 && now_us - m->bad_since_us >= m->params.persistence_us)
                return m->bad_kind;
        return ACCURACY_OK;
}

double accuracy_last_error_pct(const struct accuracy_monitor *m) {
        return m->last_error_pct;
}

/* ---- sensor health --------------------------------------------------- */

static const char *const sensor_health_verdict_names[_SENSOR_HEALTH_VERDICT_MAX] = {
        [SENSOR_OK] = "ok",
        [SENSOR_READ_ERROR] = "read-error",
        [SENSOR_OUT_OF_RANGE] = "out-of-range",
        [SENSOR_STUCK] = "stuck",
};

const char *sensor_health_verdict_to_string(enum sensor_health_verdict v) {
        return (unsigned) v < _SENSOR_HEALTH_VERDICT_MAX ? sensor_health_verdict_names[v] : "invalid";
}

int sensor_health_params_check(const struct sensor_health_params *p, const char **ret_why) {
        const char *why = NULL;

        if (!(isfinite(p->min_value) && isfinite(p->max_value) && p->min_value < p->max_value))
                why = "range must be finite with its minimum below its maximum";
        else if (p->max_read_errors < 0)
                why = "tolerated read errors must not be negative";
        else if (p->stuck_us <= 0)
                why = "stuck time must be above zero";

        if (why) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        return 0;
}

int64_t same_value_for_us(struct same_value *s, int64_t now_us, double value) {
        if (!s->have || memcmp(&value, &s->value, sizeof value) != 0) {
                *s = (struct same_value) { .have = true, .value = value, .since_us = now_us };
                return 0;
        }
        return now_us - s->since_us;
}

void sensor_health_init(struct sensor_health *h, const struct sensor_health_params *p) {
        *h = (struct sensor_health) { .params = *p };
}

enum sensor_health_verdict sensor_health_sample(struct sensor_health *h, int64_t now_us, int read_result,
                                                double value, bool must_move) {
        if (read_result < 0) {
                /* Saturate: a sensor that never answers again must not
                 * wrap back under the limit. */
                if (h->read_errors <= h->params.max_read_errors)
                        h->read_errors++;
                return h->read_errors > h->params.max_read_errors ? SENSOR_READ_ERROR : SENSOR_OK;
        }
        h->read_errors = 0;

        /* Written so that NaN is out of range too. */
        if (!(value >= h->params.min_value && value <= h->params.max_value)) {
                same_value_forget(&h->same);
                return SENSOR_OUT_OF_RANGE;
        }

        /* A resting part may hold still: forget the value, so the stuck
         * clock starts when motion does. */
        if (!must_move) {
                same_value_forget(&h->same);
                return SENSOR_OK;
        }
        return same_value_for_us(&h->same, now_us, value) >= h->params.stuck_us ? SENSOR_STUCK : SENSOR_OK;
}

/* ---- battery --------------------------------------------------------- */

enum battery_verdict battery_judge(const struct battery_params *p, bool on_mains, int64_t time_to_empty_s) {
        if (on_mains)
                return BATTERY_OK;
        if (time_to_empty_s < 0)
                return BATTERY_UNKNOWN;
        if (time_to_empty_s < p->depleted_s)
                return BATTERY_DEPLETED;
        if (time_to_empty_s < p->low_s)
                return BATTERY_LOW;
        return BATTERY_OK;
}

bool battery_voltage_stuck(struct same_value *w, int64_t now_us, bool on_mains, double volts) {
        if (on_mains || isnan(volts)) {
                same_value_forget(w);
                return false;
        }
        /* Any change at all, up or down, is a live sensor. */
        return same_value_for_us(w, now_us, volts) >= BATTERY_VOLTAGE_STUCK_US;
}

/* ---- syringe --------------------------------------------------------- */

enum syringe_verdict syringe_judge(int64_t remaining_nl, bool end_stop, int64_t rate_nl_per_h,
                                   int64_t near_end_us, int64_t empty_nl) {
        if (end_stop || remaining_nl <= empty_nl)
                return SYRINGE_EMPTY;
        if (rate_nl_per_h <= 0 || near_end_us <= 0)
                return SYRINGE_OK;

        /* time_to_empty_us < near_end_us, cross-multiplied to stay in
         * integers: (remaining - empty) * 3.6e9 overflows int64 from
         * 2.5 L, near_end * rate from minutes at litres per hour. */
        int64_t left_nl;
        if (__builtin_sub_overflow(remaining_nl, empty_nl, &left_nl))
                left_nl = remaining_nl < 0 ? INT64_MIN : INT64_MAX;
        if (mul_cmp(left_nl, US_PER_HOUR, near_end_us, rate_nl_per_h) < 0)
                return SYRINGE_NEAR_END;
        return SYRINGE_OK;
}

/* ---- idle ------------------------------------------------------------ */

enum idle_verdict idle_judge(int64_t now_us, int64_t idle_since_us, int64_t alert_after_us, int64_t alarm_after_us) {
        if (idle_since_us < 0 || now_us < idle_since_us)
                return IDLE_OK;

        int64_t idle_us = now_us - idle_since_us;
        if (idle_us >= alarm_after_us)
                return IDLE_ALARM;
        if (idle_us >= alert_after_us)
                return IDLE_ALERT;
        return IDLE_OK;
}
