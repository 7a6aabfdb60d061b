/* SPDX-License-Identifier: MIT */
/* PCA in the pump: one path for every demand (button, D-Bus, simulator),
 * each recorded before anything moves; the doses the failsafe counts; the
 * limit state; and the history reloaded at start-up so that a restart
 * never resets a lockout or a window. The rules themselves are
 * safety/pca.c's. */
#include "daemon/pump.h"
#include "daemon/pump-private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/muldiv.h"
#include "common/macros.h"
#include "common/units.h"
#include "daemon/log.h"
#include "db/db.h"

static bool is_pca(const struct pump *p) {
        return p->ch.prog.mode == PROGRAM_PCA && p->ch.n_segments > 0;
}

/* A time from the history on this run's pump clock. A record dated after
 * now (a clock set back, or a virtual clock restarted) counts as now:
 * the failsafe must never see a dose as older than it is. */
static int64_t utc_to_mono(const struct pump *p, int64_t utc_us) {
        int64_t age_us = pump_utc_us(p) - utc_us;
        return pump_now_us(p) - MAX(age_us, INT64_C(0));
}

struct reload {
        struct pump *p;
        int64_t crash_bound_mono_us;    /* no open dose ran past this */
        size_t n;
};

static void reload_dose(const struct db_pca_demand *e, void *userdata) {
        struct reload *rl = userdata;
        struct pca_dose d = {
                .id = e->id,
                .start_us = utc_to_mono(rl->p, e->utc_us),
                .volume_nl = e->dose_nl,
                .counts = e->counts,
                .kind = streq(e->source, "loading") ? PCA_DOSE_LOADING :
                        streq(e->source, "clinician") ? PCA_DOSE_CLINICIAN : PCA_DOSE_DEMAND,
        };
        if (e->ended_utc_us > 0)
                d.end_us = utc_to_mono(rl->p, e->ended_utc_us);
        else
                /* Open when the daemon died: it ran at most until the
                 * last thing the dead daemon wrote, or its full time. */
                d.end_us = MIN(pump_now_us(rl->p), MAX(d.start_us + e->duration_us, rl->crash_bound_mono_us));
        if (pca_add_dose(&rl->p->pca, &d) >= 0)
                rl->n++;
}

/* The basal and limit KVO of an ended PCA infusion: in no dose row, yet
 * in the patient's window. Counted as one dose over the infusion's span,
 * whole until a window after its end: never less than what a window
 * could have held of it. */
static void add_flow(const struct db_pca_flow *fl, void *userdata) {
        struct pump *p = userdata;
        if (fl->volume_nl <= 0)
                return;
        struct pca_dose d = {
                .start_us = utc_to_mono(p, fl->started_utc_us),
                .end_us = utc_to_mono(p, fl->ended_utc_us),
                .volume_nl = fl->volume_nl,
                .kind = PCA_DOSE_FLOW,
                .counts = true,
        };
        if (pca_add_dose(&p->pca, &d) < 0)
                log_warning("PCA history full: the flow of infusion %" PRIi64 " is not counted", fl->infusion_id);
}

void pump_pca_infusion_ended(struct pump *p, int64_t infusion_id) {
        if (p->ch.prog.mode != PROGRAM_PCA)
                return;
        int r = db_pca_flow_since(p->db, p->ch.index, 0, infusion_id, add_flow, p);
        if (r < 0)
                log_error_errno(r, "Failed to count the basal of PCA infusion %" PRIi64 ": %s", infusion_id,
                                db_last_error(p->db));
}

void pump_pca_init(struct pump *p, int64_t latest_utc) {
        int64_t since_utc = 0;
        int r;

        pca_init(&p->pca);
        r = db_event_last_utc_us(p->db, p->ch.index, "pca-new-patient", &since_utc);
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Failed to read the last PCA new-patient mark: %s; reloading the whole PCA history",
                                  db_last_error(p->db));
        r = db_pca_demand_counts(p->db, p->ch.index, since_utc, &p->pca.demands_total, &p->pca.demands_granted);
        if (r < 0)
                log_warning_errno(r, "Failed to count PCA demands: %s", db_last_error(p->db));

        struct reload rl = {
                .p = p,
                .crash_bound_mono_us = latest_utc > 0 ? utc_to_mono(p, latest_utc) : pump_now_us(p),
        };
        r = db_pca_doses_since(p->db, p->ch.index, MAX(since_utc, pump_utc_us(p) - PCA_HISTORY_US), reload_dose, &rl);
        if (r >= 0)
                r = db_pca_flow_since(p->db, p->ch.index, MAX(since_utc, pump_utc_us(p) - PCA_HISTORY_US), 0, add_flow, p);
        if (r < 0) {
                /* Without its history the failsafe could grant a dose the
                 * patient already had: no PCA until someone looks. */
                log_error_errno(r, "Failed to reload the PCA history: %s", db_last_error(p->db));
                p->pca_history_lost = true;
                return;
        }
        if (rl.n)
                log_info("PCA history reloaded: %zu dose%s in the last %d h, %" PRIu64 " demands (%" PRIu64 " granted)",
                         rl.n, rl.n == 1 ? "" : "s", (int) (PCA_HISTORY_US / US_PER_HOUR), p->pca.demands_total,
                         p->pca.demands_granted);
}

void pump_pca_program(struct pump *p, const struct program *prog, bool new_patient, bool clinician_counts) {
        if (prog->mode != PROGRAM_PCA) {
                pca_unconfigure(&p->pca);
                return;
        }
        struct pca_params params = {
                .dose_nl = prog->pca_dose_nl,
                .lockout_us = prog->lockout_us,
                .max_doses_per_hour = prog->max_doses_per_hour,
                .limit_nl = prog->limit_nl,
                .window_us = prog->limit_window_us,
                .continuous_nl_per_h = prog->basal_nl_per_h > 0 ? prog->basal_nl_per_h : prog->limit_kvo_nl_per_h,
                .clinician_counts = clinician_counts,
        };
        if (new_patient) {
                pca_forget(&p->pca);
                record_event(p, "pca-new-patient", NULL, NULL, "PCA history cleared for a new patient");
        }
        /* The channel accepted the plan only within these ranges; should
         * the failsafe still refuse them, it stays unconfigured and every
         * demand is denied. */
        if (pca_configure(&p->pca, &params) < 0) {
                pca_unconfigure(&p->pca);
                log_error("PCA settings the failsafe cannot enforce: demands will be denied");
        }
}

/* The pump's own reasons come first: a demand that cannot be delivered
 * now is refused for that, whatever the failsafe would say. */
static enum pca_verdict judge(const struct pump *p, int64_t now_us) {
        const struct channel *c = &p->ch;
        if (!is_pca(p) || !p->pca.configured)
                return PCA_DENIED_NOT_RUNNING;
        if (c->state == CHANNEL_HALTED || alarm_set_halting(&p->alarms))
                return PCA_DENIED_ALARM;
        if (c->state != CHANNEL_RUNNING)
                return PCA_DENIED_NOT_RUNNING;
        enum pca_verdict v = pca_judge(&p->pca, now_us);
        if (v != PCA_GRANTED)
                return v;
        if (c->plan[c->segment].bolus || pca_dose_running(&p->pca))
                return PCA_DENIED_BOLUS;
        if (mechanism_nl_to_steps_floor(c->mech, c->prog.pca_dose_nl) >= channel_steps_left(c))
                return PCA_DENIED_RESERVOIR;
        return PCA_GRANTED;
}

int64_t pump_pca_next_allowed_sec(const struct pump *p) {
        int64_t now = pump_now_us(p), wait_us = pca_next_allowed_us(&p->pca, now) - now;
        return (MAX(wait_us, INT64_C(0)) + US_PER_SEC - 1) / US_PER_SEC;
}

static void denial_detail(const struct pump *p, enum pca_verdict v, int64_t now_us, char *buf, size_t size) {
        const struct pca_params *pp = &p->pca.params;
        int64_t next_s = pump_pca_next_allowed_sec(p);
        switch (v) {
        case PCA_DENIED_LOCKOUT:
                snprintf(buf, size, "within the %" PRIi64 " s lockout; next in %" PRIi64 " s", pp->lockout_us / US_PER_SEC, next_s);
                break;
        case PCA_DENIED_HOURLY:
                snprintf(buf, size, "%u doses in the last hour, the most allowed; next in %" PRIi64 " s",
                         pp->max_doses_per_hour, next_s);
                break;
        case PCA_DENIED_LIMIT:
                snprintf(buf, size, "a %.6g mL dose would cross the limit of %.6g mL per %.6g h (%.6g mL counted, "
                         "with room for %.6g mL/h of continuous flow); refused, not reduced",
                         units_nl_to_ml(pp->dose_nl), units_nl_to_ml(pp->limit_nl), (double) pp->window_us / US_PER_HOUR,
                         units_nl_to_ml(pca_window_volume_nl(&p->pca, now_us)), units_nl_to_ml(pp->continuous_nl_per_h));
                break;
        case PCA_DENIED_NOT_RUNNING:
                snprintf(buf, size, "the channel is %s%s", channel_state_to_string(p->ch.state),
                         is_pca(p) ? "" : ", not in a PCA program");
                break;
        case PCA_DENIED_ALARM:
                snprintf(buf, size, "delivery is halted by an alarm");
                break;
        case PCA_DENIED_RESERVOIR:
                snprintf(buf, size, "%.6g mL left in the reservoir, less than a dose",
                         units_nl_to_ml(mechanism_steps_to_nl(p->ch.mech, channel_steps_left(&p->ch))));
                break;
        case PCA_DENIED_BOLUS:
                snprintf(buf, size, "a dose is being given");
                break;
        default:
                buf[0] = 0;
        }
}

static int record_dose_row(struct pump *p, const char *source, const char *outcome, int64_t dose_nl, int64_t duration_us,
                           bool counts, int64_t uid, const char *detail, int64_t *ret_id) {
        struct db_pca_demand e = {
                .infusion_id = p->infusion_id,
                .channel = p->ch.index,
                .utc_us = pump_utc_us(p),
                .mono_us = pump_now_us(p),
                .source = source,
                .outcome = outcome,
                .dose_nl = dose_nl,
                .duration_us = duration_us,
                .counts = counts,
                .uid = uid,
                .detail = detail && detail[0] ? detail : NULL,
        };
        int r = db_pca_demand_add(p->db, &e, ret_id);
        if (r < 0)
                log_error_errno(r, "Failed to record a PCA %s (%s): %s", source, outcome, db_last_error(p->db));
        return r;
}

static int64_t dose_duration_us(int64_t volume_nl, int64_t rate_nl_per_h) {
        int64_t us = INT64_MAX;
        if (rate_nl_per_h <= 0)
                return 0;
        (void) muldiv_ceil(volume_nl, US_PER_HOUR, rate_nl_per_h, &us);
        return us;
}

static void start_counted_dose(struct pump *p, int64_t id, int64_t volume_nl, enum pca_dose_kind kind, bool counts) {
        struct pca_dose d = {
                .id = id,
                .start_us = pump_now_us(p),
                .end_us = INT64_MAX,
                .volume_nl = volume_nl,
                .kind = kind,
                .counts = counts,
        };
        /* Room is kept for a day of doses; a full history means doses in
         * force we would lose track of: halt rather than forget one. */
        if (pca_add_dose(&p->pca, &d) < 0) {
                pump_raise_alarm(p, ALARM_SAFETY_GATE, true, "PCA history full: cannot count another dose; delivery halted");
                return;
        }
        p->pca_dose_id = id;
        p->pca_dose_start_steps = p->ch.primary_steps;
}

int pump_pca_demand(struct pump *p, const char *source, int64_t uid, struct pump_demand_result *ret,
                    struct pump_error *err) {
        int64_t now = pump_now_us(p);
        char detail[256];
        int64_t id = 0;
        int r;

        *ret = (struct pump_demand_result) { .outcome = "debounced", .demand_id = p->pca.last_demand_id };
        if (!pca_press(&p->pca, now)) {
                ret->next_allowed_sec = pump_pca_next_allowed_sec(p);
                return 0;
        }

        /* Judged on the steps counted at the last tick; a grant is judged
         * again on the exact count once the motor is settled. Settling
         * only for a grant: a denial must not disturb the step schedule. */
        enum pca_verdict v = judge(p, now);
        int64_t dose = p->ch.prog.pca_dose_nl, rate = p->ch.prog.pca_bolus_rate_nl_per_h;
        bool settled = false;
        if (v == PCA_GRANTED) {
                settle(p);
                settled = true;
                v = judge(p, now);
        }
        if (v == PCA_GRANTED) {
                /* Record before moving: a dose the history does not hold
                 * would be given again after a restart. */
                snprintf(detail, sizeof(detail), "%.6g mL at %.6g mL/h", units_nl_to_ml(dose), units_nl_to_ml(rate));
                r = record_dose_row(p, source, "granted", dose, dose_duration_us(dose, rate), true, uid, detail, &id);
                struct channel_error cerr = {};
                if (r >= 0)
                        r = channel_bolus(&p->ch, dose, rate, now, &cerr);
                if (r < 0) {
                        /* Unrecorded, or (judge() rules it out) refused by
                         * the channel: no dose; the basal goes on as it was. */
                        if (id > 0)
                                (void) db_pca_dose_ended(p->db, id, pump_utc_us(p), 0);
                        apply_motion(p);
                        return pump_set_error(err, id > 0 ? PUMP_ERROR_INVALID_STATE : PUMP_ERROR_STORAGE, r,
                                              "No dose was given: %s", id > 0 ? (cerr.text[0] ? cerr.text : strerror(-r)) :
                                              "the demand could not be recorded in the history");
                }
                start_counted_dose(p, id, dose, PCA_DOSE_DEMAND, true);
                apply_motion(p);
                pca_count_demand(&p->pca, true, id);
                log_info("PCA demand %" PRIi64 " (%s) granted: %s", id, source, detail);
        } else {
                if (settled)
                        /* Settled for a grant that did not hold up. */
                        apply_motion(p);
                denial_detail(p, v, now, detail, sizeof(detail));
                (void) record_dose_row(p, source, pca_verdict_to_string(v), dose, 0, false, uid, detail, &id);
                pca_count_demand(&p->pca, false, id);
                log_info("PCA demand %" PRIi64 " (%s) denied, %s: %s", id, source, pca_verdict_to_string(v), detail);
        }

        ret->outcome = pca_verdict_to_string(v);
        ret->demand_id = id;
        ret->next_allowed_sec = pump_pca_next_allowed_sec(p);
        if (p->obs.pca_demanded)
                p->obs.pca_demanded(p->obs.userdata, id, source, ret->outcome);
        pump_pca_update_limit(p);
        notify(p, PUMP_CHANGED_STATE | PUMP_CHANGED_PROGRESS);
        return 0;
}

/* A dose the patient did not ask for (loading, clinician): recorded and
 * counted toward the limit where the library says so, no lockout. */
static void count_given_dose(struct pump *p, const char *source, enum pca_dose_kind kind, int64_t volume_nl,
                             int64_t rate_nl_per_h, int64_t uid) {
        bool counts = p->pca.params.clinician_counts;
        char detail[96];
        int64_t id = 0;
        snprintf(detail, sizeof(detail), "%s %.6g mL at %.6g mL/h%s", kind == PCA_DOSE_LOADING ? "loading dose" : "clinician bolus",
                 units_nl_to_ml(volume_nl), units_nl_to_ml(rate_nl_per_h), counts ? "" : " (not counted toward the limit)");
        (void) record_dose_row(p, source, "granted", volume_nl, dose_duration_us(volume_nl, rate_nl_per_h), counts, uid,
                               detail, &id);
        start_counted_dose(p, id, volume_nl, kind, counts);
}

void pump_pca_started(struct pump *p) {
        /* The loading dose: the first segment of the plan. */
        if (is_pca(p) && p->ch.plan[p->ch.segment].bolus)
                count_given_dose(p, "loading", PCA_DOSE_LOADING, p->ch.prog.loading_volume_nl,
                                 p->ch.prog.pca_bolus_rate_nl_per_h, -1);
}

void pump_pca_clinician_bolus(struct pump *p, int64_t volume_nl, int64_t rate_nl_per_h, int64_t uid) {
        if (is_pca(p))
                count_given_dose(p, "clinician", PCA_DOSE_CLINICIAN, volume_nl, rate_nl_per_h, uid);
}

void pump_pca_update_limit(struct pump *p) {
        bool open = is_pca(p) && channel_infusion_open(&p->ch) && p->pca.configured;
        bool reached = open && pca_limit_reached(&p->pca, pump_now_us(p));

        if (reached != p->ch.pca_limited && is_pca(p)) {
                /* Settle before the flow changes so each step is counted
                 * in the phase it belongs to. */
                const struct channel *c = &p->ch;
                bool moves = c->state == CHANNEL_RUNNING && c->plan[c->segment].wait && c->prog.limit_kvo_nl_per_h > 0;
                if (moves)
                        settle(p);
                (void) channel_set_pca_limited(&p->ch, reached, pump_now_us(p));
                if (moves)
                        apply_motion(p);
                record_event(p, "pca-limit", NULL, NULL, reached ? "cumulative limit reached" : "a dose fits again");
        }
        if (reached && !alarm_set_find(&p->alarms, ALARM_PCA_LIMIT))
                pump_raise_alarm(p, ALARM_PCA_LIMIT, false,
                                 "PCA limit reached: %.6g of %.6g mL per %.6g h counted; demands are refused until a dose fits, %s",
                                 units_nl_to_ml(pca_window_volume_nl(&p->pca, pump_now_us(p))),
                                 units_nl_to_ml(p->pca.params.limit_nl), (double) p->pca.params.window_us / US_PER_HOUR,
                                 p->ch.prog.basal_nl_per_h > 0 ? "basal continues" :
                                 p->ch.prog.limit_kvo_nl_per_h > 0 ? "keeping the vein open" : "no flow meanwhile");
        else if (!reached && alarm_set_find(&p->alarms, ALARM_PCA_LIMIT))
                pump_alarm_cause_gone(p, ALARM_PCA_LIMIT);
}

void pump_pca_tick(struct pump *p) {
        const struct channel *c = &p->ch;
        if (p->pca_dose_id > 0 || pca_dose_running(&p->pca)) {
                /* A dose is over once its segment is: delivered, or cut
                 * short by Stop. A halt or pause keeps it going. */
                bool in_dose = (c->state == CHANNEL_RUNNING || c->state == CHANNEL_PAUSED || c->state == CHANNEL_HALTED) &&
                               c->plan[c->segment].bolus;
                if (!in_dose) {
                        int64_t delivered = mechanism_steps_to_nl(c->mech, c->primary_steps - p->pca_dose_start_steps);
                        pca_dose_ended(&p->pca, pump_now_us(p));
                        if (p->pca_dose_id > 0) {
                                int r = db_pca_dose_ended(p->db, p->pca_dose_id, pump_utc_us(p), MAX(delivered, INT64_C(0)));
                                if (r < 0)
                                        log_warning_errno(r, "Failed to record the end of PCA dose %" PRIi64 ": %s",
                                                          p->pca_dose_id, db_last_error(p->db));
                        }
                        p->pca_dose_id = 0;
                        notify(p, PUMP_CHANGED_STATE);
                }
        }
        pca_prune(&p->pca, pump_now_us(p));
        pump_pca_update_limit(p);
}

const struct pca_state *pump_pca(const struct pump *p) {
        return &p->pca;
}

int pump_pca_demands_recent(struct pump *p, unsigned count, void (*cb)(const struct db_pca_demand *e, void *userdata),
                            void *userdata) {
        return db_pca_demands_recent(p->db, p->ch.index, count, cb, userdata);
}

static void on_input(enum hal_input i, bool active, int64_t when_us, void *userdata) {
        struct pump *p = userdata;
        struct pump_demand_result res;
        struct pump_error err = {};
        (void) when_us;
        /* A press is the active edge; the release means nothing. */
        if (i != HAL_INPUT_PCA_BUTTON || !active)
                return;
        if (pump_pca_demand(p, p->sim_pressing ? "simulator" : "button", -1, &res, &err) < 0)
                log_error("PCA button: %s", err.message);
}

void pump_pca_watch_button(struct pump *p) {
        if (!p->hal.inputs || !p->hal.inputs->set_handler)
                return;
        int r = p->hal.inputs->set_handler(p->hal.inputs_ctx, on_input, p);
        if (r < 0)
                log_warning_errno(r, "Cannot watch the PCA button; demands come only over D-Bus");
}

int pump_sim_press_pca(struct pump *p) {
        if (!p->sim)
                return -EOPNOTSUPP;
        p->sim_pressing = true;
        int r = sim_set_input(p->sim, HAL_INPUT_PCA_BUTTON, true);
        if (r >= 0)
                r = sim_set_input(p->sim, HAL_INPUT_PCA_BUTTON, false);
        p->sim_pressing = false;
        return r;
}
