/* SPDX-License-Identifier: MIT */
#pragma once

/* The PCA failsafe: which demands may be granted. Lockout, the hourly
 * count and the cumulative limit over a sliding window, judged from the
 * doses given so far. Pure logic on pump time (µs): no clock, no I/O. The
 * pump records every verdict and reloads the doses after a restart.
 *
 * The cumulative limit, provably: a dose counts in the window from its
 * start until window_us after its end (any window that holds a drop of it
 * sees all of it), and the continuous flow (basal, or the KVO that runs
 * in the limit state) is counted at its rate for the whole window. A
 * demand is granted only if those plus the new dose fit under the limit,
 * so no window ever holds more than the limit, however the doses fall. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Presses closer together than this are one press: a bouncing contact,
 * or a patient pressing repeatedly in one go. */
#define PCA_DEBOUNCE_US (250 * INT64_C(1000))

/* How long the history is kept: the longest window (12 h), plus an hour
 * for the hourly count around it. */
#define PCA_HISTORY_US (13 * INT64_C(3600000000))

/* Doses kept: 60 demands an hour for 13 h, with room for clinician doses. */
#define PCA_DOSES_MAX 1024

enum pca_verdict {
        PCA_GRANTED,
        PCA_DENIED_LOCKOUT,
        PCA_DENIED_HOURLY,
        PCA_DENIED_LIMIT,
        PCA_DENIED_NOT_RUNNING,
        PCA_DENIED_ALARM,
        PCA_DENIED_RESERVOIR,
        PCA_DENIED_BOLUS,
        _PCA_VERDICT_MAX,
};

/* "granted", "lockout", "hourly-count", "cumulative-limit", "not-running",
 * "alarm-active", "reservoir", "bolus-in-progress" (the history's words). */
const char *pca_verdict_to_string(enum pca_verdict v);

enum pca_dose_kind {
        PCA_DOSE_DEMAND,                /* the patient's: lockout and hourly count */
        PCA_DOSE_LOADING,
        PCA_DOSE_CLINICIAN,
        PCA_DOSE_FLOW,                  /* basal and limit KVO of an ended program */
};

struct pca_params {
        int64_t dose_nl;
        int64_t lockout_us;
        unsigned max_doses_per_hour;
        int64_t limit_nl;
        int64_t window_us;
        /* Flow that runs whatever the demands: the basal rate, or with no
         * basal the KVO rate of the limit state. Kept room for over the
         * whole window. */
        int64_t continuous_nl_per_h;
        bool clinician_counts;          /* loading and clinician doses count toward the limit */
};

struct pca_dose {
        int64_t id;                     /* the history's row id, 0 unknown */
        int64_t start_us;
        int64_t end_us;                 /* INT64_MAX while being delivered */
        int64_t volume_nl;
        enum pca_dose_kind kind;
        bool counts;                    /* toward the cumulative limit */
};

struct pca_state {
        bool configured;                /* params hold a PCA program */
        struct pca_params params;
        struct pca_dose doses[PCA_DOSES_MAX];   /* oldest first */
        size_t n_doses;
        uint64_t demands_total;         /* patient demands, any outcome */
        uint64_t demands_granted;
        int64_t last_press_us;          /* for the debounce; INT64_MIN none */
        int64_t last_demand_id;         /* the demand a debounced press merges into */
};

/* Empty history, no program. */
void pca_init(struct pca_state *s);
/* Forget the history (a new patient). The program stays. */
void pca_forget(struct pca_state *s);
/* A PCA program's parameters; the history stays (a reprogram does not
 * buy a dose). -EINVAL for values the failsafe cannot work with. */
int pca_configure(struct pca_state *s, const struct pca_params *p);
void pca_unconfigure(struct pca_state *s);

/* A press at now: true if it is a new demand, false if it falls within
 * the debounce interval of the last press (which then moves on, so a
 * held-down rattle stays one press). */
bool pca_press(struct pca_state *s, int64_t now_us);

/* The verdict of lockout, hourly count and cumulative limit for a demand
 * now (the pump adds its own: not running, alarm, reservoir). No change. */
enum pca_verdict pca_judge(const struct pca_state *s, int64_t now_us);

/* Count a demand's outcome (after pca_judge and the pump's own checks). */
void pca_count_demand(struct pca_state *s, bool granted, int64_t demand_id);

/* A dose starts now (a granted demand, the loading dose, a clinician
 * bolus). end_us INT64_MAX: still being delivered. -ENOSPC when the
 * history is full of doses still in force: refuse the dose. */
int pca_add_dose(struct pca_state *s, const struct pca_dose *d);
/* The dose being delivered ended at now (delivered or cut short). */
void pca_dose_ended(struct pca_state *s, int64_t now_us);
/* A dose is being delivered. */
bool pca_dose_running(const struct pca_state *s);

/* Drop doses no longer in any window or hour. */
void pca_prune(struct pca_state *s, int64_t now_us);

/* Counted doses in force at now plus the continuous flow over the window:
 * what the limit is judged on. */
int64_t pca_window_volume_nl(const struct pca_state *s, int64_t now_us);
/* The next full dose would cross the limit. */
bool pca_limit_reached(const struct pca_state *s, int64_t now_us);
/* Granted demands that started in (now - 1 h, now]. */
unsigned pca_doses_last_hour(const struct pca_state *s, int64_t now_us);
/* When lockout and hourly count next allow a demand (<= now: now). */
int64_t pca_next_allowed_us(const struct pca_state *s, int64_t now_us);
