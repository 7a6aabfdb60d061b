/* SPDX-License-Identifier: MIT */
#include "safety/pca.h"

#include <errno.h>
#include <string.h>

#include "common/muldiv.h"
#include "common/macros.h"
#include "common/units.h"

static const char *const verdict_names[_PCA_VERDICT_MAX] = {
        [PCA_GRANTED] = "granted",
        [PCA_DENIED_LOCKOUT] = "lockout",
        [PCA_DENIED_HOURLY] = "hourly-count",
        [PCA_DENIED_LIMIT] = "cumulative-limit",
        [PCA_DENIED_NOT_RUNNING] = "not-running",
        [PCA_DENIED_ALARM] = "alarm-active",
        [PCA_DENIED_RESERVOIR] = "reservoir",
        [PCA_DENIED_BOLUS] = "bolus-in-progress",
};

const char *pca_verdict_to_string(enum pca_verdict v) {
        return (unsigned) v < _PCA_VERDICT_MAX ? verdict_names[v] : "invalid";
}

void pca_init(struct pca_state *s) {
        *s = (struct pca_state) { .last_press_us = INT64_MIN };
}

void pca_forget(struct pca_state *s) {
        s->n_doses = 0;
        s->demands_total = s->demands_granted = 0;
        s->last_press_us = INT64_MIN;
        s->last_demand_id = 0;
}

int pca_configure(struct pca_state *s, const struct pca_params *p) {
        if (p->dose_nl <= 0 || p->lockout_us < 0 || p->max_doses_per_hour < 1 || p->limit_nl <= 0 ||
            p->window_us < US_PER_HOUR || p->window_us > 12 * US_PER_HOUR || p->continuous_nl_per_h < 0)
                return -EINVAL;
        s->params = *p;
        s->configured = true;
        return 0;
}

void pca_unconfigure(struct pca_state *s) {
        s->configured = false;
}

bool pca_press(struct pca_state *s, int64_t now_us) {
        bool bounce = s->last_press_us != INT64_MIN && now_us - s->last_press_us < PCA_DEBOUNCE_US;
        s->last_press_us = now_us;
        return !bounce;
}

/* The continuous flow over a whole window, rounded up: room kept for it. */
static int64_t continuous_reserve_nl(const struct pca_params *p) {
        int64_t v = INT64_MAX;  /* no room at all if it does not fit */
        (void) muldiv_ceil(p->continuous_nl_per_h, p->window_us, US_PER_HOUR, &v);
        return v;
}

/* A dose is in force at now while some window ending at or after now can
 * hold part of it: from its start until a window after its end. */
static bool in_window(const struct pca_dose *d, int64_t window_us, int64_t now_us) {
        return d->end_us == INT64_MAX || d->end_us > now_us - window_us;
}

int64_t pca_window_volume_nl(const struct pca_state *s, int64_t now_us) {
        if (!s->configured)
                return 0;
        int64_t v = continuous_reserve_nl(&s->params);
        for (size_t i = 0; i < s->n_doses; i++)
                if (s->doses[i].counts && in_window(&s->doses[i], s->params.window_us, now_us))
                        v += s->doses[i].volume_nl;
        return v;
}

bool pca_limit_reached(const struct pca_state *s, int64_t now_us) {
        return s->configured && pca_window_volume_nl(s, now_us) + s->params.dose_nl > s->params.limit_nl;
}

unsigned pca_doses_last_hour(const struct pca_state *s, int64_t now_us) {
        unsigned n = 0;
        for (size_t i = 0; i < s->n_doses; i++)
                if (s->doses[i].kind == PCA_DOSE_DEMAND && s->doses[i].start_us > now_us - US_PER_HOUR &&
                    s->doses[i].start_us <= now_us)
                        n++;
        return n;
}

static const struct pca_dose *last_demand(const struct pca_state *s) {
        for (size_t i = s->n_doses; i > 0; i--)
                if (s->doses[i - 1].kind == PCA_DOSE_DEMAND)
                        return &s->doses[i - 1];
        return NULL;
}

int64_t pca_next_allowed_us(const struct pca_state *s, int64_t now_us) {
        int64_t t = now_us;
        if (!s->configured)
                return t;
        const struct pca_dose *last = last_demand(s);
        if (last)
                t = MAX(t, last->start_us + s->params.lockout_us);
        /* The hourly count: when enough of the last hour's demands have
         * left it. Doses are oldest first, so the k-th from the end of
         * the hour's list is the one whose leaving makes room. */
        unsigned n = pca_doses_last_hour(s, now_us);
        if (n >= s->params.max_doses_per_hour) {
                unsigned skip = n - s->params.max_doses_per_hour;
                for (size_t i = 0; i < s->n_doses; i++) {
                        const struct pca_dose *d = &s->doses[i];
                        if (d->kind != PCA_DOSE_DEMAND || d->start_us <= now_us - US_PER_HOUR || d->start_us > now_us)
                                continue;
                        if (skip-- == 0) {
                                t = MAX(t, d->start_us + US_PER_HOUR);
                                break;
                        }
                }
        }
        return t;
}

enum pca_verdict pca_judge(const struct pca_state *s, int64_t now_us) {
        if (!s->configured)
                return PCA_DENIED_NOT_RUNNING;
        const struct pca_dose *last = last_demand(s);
        if (last && now_us < last->start_us + s->params.lockout_us)
                return PCA_DENIED_LOCKOUT;
        if (pca_doses_last_hour(s, now_us) >= s->params.max_doses_per_hour)
                return PCA_DENIED_HOURLY;
        if (pca_limit_reached(s, now_us))
                return PCA_DENIED_LIMIT;
        return PCA_GRANTED;
}

void pca_count_demand(struct pca_state *s, bool granted, int64_t demand_id) {
        s->demands_total++;
        if (granted)
                s->demands_granted++;
        s->last_demand_id = demand_id;
}

void pca_prune(struct pca_state *s, int64_t now_us) {
        int64_t window_us = s->configured ? s->params.window_us : 12 * US_PER_HOUR;
        int64_t lockout_us = s->configured ? s->params.lockout_us : 0;
        size_t keep = 0;
        for (size_t i = 0; i < s->n_doses; i++) {
                const struct pca_dose *d = &s->doses[i];
                /* Keep what any rule still looks at: the window, the
                 * hourly count, the lockout, and anything within the
                 * history's span (a reprogram may widen the window). */
                bool needed = in_window(d, MAX(window_us, PCA_HISTORY_US), now_us) ||
                              d->start_us > now_us - MAX(US_PER_HOUR, lockout_us);
                if (needed)
                        s->doses[keep++] = *d;
        }
        s->n_doses = keep;
}

int pca_add_dose(struct pca_state *s, const struct pca_dose *d) {
        if (s->n_doses >= PCA_DOSES_MAX) {
                pca_prune(s, d->start_us);
                if (s->n_doses >= PCA_DOSES_MAX)
                        return -ENOSPC;
        }
        s->doses[s->n_doses++] = *d;
        return 0;
}

void pca_dose_ended(struct pca_state *s, int64_t now_us) {
        for (size_t i = s->n_doses; i > 0; i--)
                if (s->doses[i - 1].end_us == INT64_MAX) {
                        s->doses[i - 1].end_us = now_us;
                        return;
                }
}

bool pca_dose_running(const struct pca_state *s) {
        for (size_t i = 0; i < s->n_doses; i++)
                if (s->doses[i].end_us == INT64_MAX)
                        return true;
        return false;
}
