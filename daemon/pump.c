/* SPDX-License-Identifier: MIT */
#include "daemon/pump.h"
#include "daemon/pump-private.h"
#include "daemon/rig.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macros.h"
#include "common/units.h"
#include "common/utf8.h"
#include "daemon/executor.h"
#include "daemon/log.h"
#include "db/db.h"
#include "db/library-json.h"
#include "hal/sim.h"
#include "safety/gate.h"
#include "safety/pca-check.h"


static int64_t clock_us(clockid_t id) {
        struct timespec ts;
        clock_gettime(id, &ts);
        return (int64_t) ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t pump_now_us(const struct pump *p) {
        return p->virtual_clock ? p->vnow_us : clock_us(CLOCK_MONOTONIC);
}

int64_t pump_utc_us(const struct pump *p) {
        return p->virtual_clock ? p->utc_base_us + p->vnow_us : clock_us(CLOCK_REALTIME);
}

struct db *pump_db(struct pump *p) {
        return p->db;
}

/* The audit chain's head in the journal, at start-up and at stop: a copy
 * outside the database file, so that rows cut off the end of the chain
 * (which the chain itself cannot show) show against it. */
static void log_audit_head(struct pump *p, const char *when) {
        char sha256[65];
        int64_t id;
        int r = db_audit_head(p->db, &id, sha256);
        if (r < 0) {
                log_warning_errno(r, "Failed to read the audit chain's head: %s, ignoring", db_last_error(p->db));
                return;
        }
        log_struct(LOG_INFO, MESSAGE_ID_AUDIT_HEAD, "Audit chain head at %s: row %" PRIi64 ", sha256 %s", when, id,
                   sha256);
}

static int64_t sim_clock(void *userdata) {
        return pump_now_us(userdata);
}

int pump_set_error(struct pump_error *err, const char *name, int r, const char *fmt, ...) {
        if (err) {
                va_list ap;
                err->name = name;
                va_start(ap, fmt);
                vsnprintf(err->message, sizeof(err->message), fmt, ap);
                va_end(ap);
                utf8_scrub(err->message);       /* "%.32s" can cut a character */
        }
        return r;
}

/* ---- recording ------------------------------------------------------ */

void notify(struct pump *p, unsigned what) {
        if (p->obs.changed)
                p->obs.changed(p->obs.userdata, what);
}

int record_event(struct pump *p, const char *kind, const char *from, const char *to,
                        const char *detail) {
        struct db_event e = {
                .infusion_id = p->infusion_id,
                .channel = p->ch.index,
                .utc_us = pump_utc_us(p),
                .mono_us = pump_now_us(p),
                .kind = kind,
                .from_state = from,
                .to_state = to,
                .volume_nl = channel_volume_nl(&p->ch),
                .detail = detail,
        };
        int r = db_event_add(p->db, &e);
        /* While the disk refuses writes, pump-storage.c said so once. */
        if (r < 0 && !pump_storage_failing(p))
                log_error_errno(r, "Failed to record %s event (%s -> %s): %s", kind,
                                from ?: "-", to ?: "-", db_last_error(p->db));
        pump_storage_result(p, r);
        return r;
}

/* Samples at every change of motion, and this often between them, make
 * the delivered volume a piecewise linear function of time in the
 * history: the volume in any window can be computed from it. */
#define SAMPLE_PERIOD_US (60 * US_PER_SEC)

void delivery_sample(struct pump *p, bool force) {
        if (p->infusion_id <= 0)
                return;
        int64_t now = pump_now_us(p);
        if (!force && now - p->last_sample_us < SAMPLE_PERIOD_US)
                return;
        p->last_sample_us = now;
        struct db_delivery_sample smp = {
                .infusion_id = p->infusion_id,
                .channel = p->ch.index,
                .utc_us = pump_utc_us(p),
                .mono_us = now,
                .volume_nl = channel_volume_nl(&p->ch),
                .rate_nl_per_h = channel_current_rate_nl_per_h(&p->ch),
        };
        int r = db_delivery_sample_add(p->db, &smp);
        if (r < 0 && !pump_storage_failing(p))
                log_warning_errno(r, "Failed to record a delivery sample: %s, ignoring", db_last_error(p->db));
        pump_storage_result(p, r);
}

void checkpoint(struct pump *p, bool force) {
        if (p->infusion_id <= 0)
                return;
        int64_t now = pump_now_us(p);
        if (!force && now - p->last_checkpoint_us < p->checkpoint_period_us)
                return;
        p->last_checkpoint_us = now;
        int r = db_infusion_checkpoint(p->db, p->infusion_id, channel_volume_nl(&p->ch), pump_utc_us(p));
        if (r < 0 && !pump_storage_failing(p))
                log_warning_errno(r, "Failed to checkpoint infusion %" PRIi64 ": %s, ignoring",
                                  p->infusion_id, db_last_error(p->db));
        pump_storage_result(p, r);
}

static void end_infusion(struct pump *p, const char *status) {
        if (p->infusion_id <= 0)
                return;
        int64_t id = p->infusion_id, vol = channel_volume_nl(&p->ch);
        delivery_sample(p, true);
        int r = db_infusion_end(p->db, id, status, vol, pump_utc_us(p));
        if (r < 0)
                log_error_errno(r, "Failed to close infusion %" PRIi64 ": %s", id, db_last_error(p->db));
        pump_storage_result(p, r);
        log_struct(LOG_NOTICE, MESSAGE_ID_INFUSION_ENDED,
                   "Infusion %" PRIi64 " %s: %.3f mL delivered", id, status, units_nl_to_ml(vol));
        p->infusion_id = 0;
        pump_pca_infusion_ended(p, id);
        if (p->obs.infusion_ended)
                p->obs.infusion_ended(p->obs.userdata, id, status, vol);
}

/* ---- motion --------------------------------------------------------- */

void emit_transition(struct pump *p, enum channel_state from, enum channel_event ev) {
        const char *to = channel_state_to_string(p->ch.state);
        record_event(p, "state", channel_state_to_string(from), to, channel_event_to_string(ev));
        notify(p, PUMP_CHANGED_STATE | PUMP_CHANGED_PROGRESS);
}

/* Give the channel the steps the executor took in the current segment
 * (up to `taken`, the last of them at last_step_us). A transition it
 * causes (next segment, VTBI reached) is recorded, and dated at that last
 * step: the next segment is anchored where the previous one really ended,
 * not at the tick that noticed, so a plan stays on schedule to the step. */
static void account(struct pump *p, int64_t taken, int64_t last_step_us) {
        int64_t delta = taken - p->seg_accounted;
        if (delta == 0)
                return;
        p->seg_accounted = taken;
        p->sup.net_steps += delta;

        enum channel_state from = p->ch.state;
        enum channel_event ev;
        int64_t when_us = last_step_us > 0 && last_step_us <= pump_now_us(p) ? last_step_us : pump_now_us(p);
        int r = channel_account_steps(&p->ch, delta, when_us, &ev);
        if (r < 0) {
                /* The executor moved more than the engine allowed. */
                pump_raise_alarm(p, ALARM_SAFETY_GATE, true,
                            "Motor took %" PRIi64 " steps beyond what was allowed; delivery halted", delta);
                return;
        }
        if (r == 0)
                return;
        emit_transition(p, from, ev);
        if (ev == CHANNEL_EVENT_VTBI_COMPLETE)
                end_infusion(p, "completed");
        else if (ev == CHANNEL_EVENT_KVO_STARTED)
                pump_raise_alarm(p, ALARM_VTBI_COMPLETE, false,
                            "VTBI of %.3f mL delivered; keeping the vein open at %.3f mL/h",
                            units_nl_to_ml(p->ch.prog.vtbi_nl), units_nl_to_ml(p->ch.prog.kvo_rate_nl_per_h));
        checkpoint(p, true);
}

/* Stop the executor and account every step it took, exactly. After this
 * the motor is still and the channel's count is the truth. */
void settle(struct pump *p) {
        struct executor_segment idle = { .generation = ++p->exec_gen, .active = false };
        struct executor_status st;
        int64_t taken = executor_set_segment(p->ex, &idle);
        executor_get_status(p->ex, &st);
        if (p->sup.relief_active) {
                /* Reverse steps are relief, not delivery. */
                pump_relief_account(p, taken);
                p->sup.relief_active = false;
        } else
                account(p, taken, st.last_step_us);
        p->seg_accounted = 0;
}

/* When the virtual clock next wakes the executor, given the time it asked
 * for. A replayed lateness delays a wake the way the step thread woke late
 * in the measured run; a step already due (catch-up) runs at once there
 * too, so it gets none. */
static int64_t virtual_wake_us(struct pump *p, int64_t next_us) {
        if (!p->replay_lateness_us || next_us == INT64_MAX || next_us <= p->vnow_us)
                return next_us;
        struct executor_status st;
        executor_get_status(p->ex, &st);
        return next_us + p->replay_lateness_us[(uint64_t) st.total_steps % p->replay_n];
}

static void refresh_virtual_next(struct pump *p) {
        if (p->virtual_clock)
                p->vnext_step_us = virtual_wake_us(p, executor_poll(p->ex, p->vnow_us));
}

int pump_replay_step_lateness(struct pump *p, const int64_t *lateness_us, size_t n) {
        if (!p->virtual_clock)
                return -EOPNOTSUPP;
        for (size_t i = 0; i < n; i++)
                if (lateness_us[i] < 0 || lateness_us[i] > 10 * US_PER_SEC)
                        return -EINVAL;
        int64_t *copy = NULL;
        if (n > 0) {
                copy = malloc(n * sizeof(*copy));
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, lateness_us, n * sizeof(*copy));
        }
        free(p->replay_lateness_us);
        p->replay_lateness_us = copy;
        p->replay_n = n;
        refresh_virtual_next(p);
        return 0;
}

/* Ask the gate for a lease for the current segment and hand it over. */
static void grant(struct pump *p) {
        const struct channel_motion *m = channel_motion(&p->ch);
        if (!m->active)
                return;

        struct executor_status st;
        executor_get_status(p->ex, &st);

        bool kvo = p->ch.state == CHANNEL_KVO;
        struct gate_request req = {
                .generation = p->exec_gen,
                .delivering = p->ch.state == CHANNEL_RUNNING || kvo,
                .halting_alarm = alarm_set_halting(&p->alarms),
                .rate_nl_per_h = m->rate_nl_per_h,
                .pl_per_step = p->mech.pl_per_step,
                .steps_taken = st.steps_taken,
                .phase_volume_nl = kvo ? channel_kvo_volume_nl(&p->ch) : channel_primary_volume_nl(&p->ch),
                .phase_limit_nl = kvo ? INT64_MAX : p->ch.prog.vtbi_nl,
        };
        struct lease l;
        enum gate_refusal why = gate_grant(&p->gate, &req, pump_now_us(p), &l);
        if (why != GATE_GRANTED) {
                pump_raise_alarm(p, ALARM_SAFETY_GATE, true, "Safety gate refused motion (%s); delivery halted",
                            gate_refusal_to_string(why));
                return;
        }
        if (executor_grant(p->ex, &l) < 0)
                log_debug("Lease for an old segment dropped");
        refresh_virtual_next(p);
}

/* Start the executor on whatever motion the channel now wants. */
void apply_motion(struct pump *p) {
        /* The same motion again (after a settle that changed nothing in
         * the channel): its schedule starts afresh from now, or the
         * executor, counting from zero against the old anchor, would catch
         * up on every step "due" since then in one burst. */
        if (channel_motion(&p->ch)->active && channel_motion(&p->ch)->generation == p->applied_motion_gen)
                channel_restart_motion(&p->ch, pump_now_us(p));
        const struct channel_motion *m = channel_motion(&p->ch);
        p->applied_motion_gen = m->generation;
        /* The channel's anchor: now for a command, the exact end of the
         * previous segment for a plan moving on. */
        struct executor_segment seg = {
                .generation = ++p->exec_gen,
                .active = m->active,
                .anchor_us = m->anchor_us,
        };
        if (m->active) {
                mechanism_step_interval(&p->mech, m->rate_nl_per_h, &seg.interval_num_us, &seg.interval_den);
                seg.step_budget = m->step_budget - p->ch.segment_steps;
        }
        executor_set_segment(p->ex, &seg);
        p->seg_accounted = 0;
        grant(p);
        refresh_virtual_next(p);
        delivery_sample(p, true);
}

/* ---- pressure relief ----------------------------------------------- */

/* Pull back at a brisk but gentle rate: fast enough that the pressure is
 * down within seconds, slow enough not to drag at the line. */
#define RELIEF_RATE_NL_PER_H (600 * NL_PER_ML)

void pump_relief_account(struct pump *p, int64_t steps) {
        int64_t delta = steps - p->sup.relief_steps_done;
        if (delta <= 0)
                return;
        p->sup.relief_steps_done = steps;
        p->sup.relief_total_steps += delta;
        p->sup.net_steps -= delta;
}

static void grant_relief(struct pump *p) {
        struct executor_status st;
        struct lease l;
        executor_get_status(p->ex, &st);
        enum gate_refusal why = gate_grant_relief(&p->gate, p->exec_gen, MIN(RELIEF_RATE_NL_PER_H, p->gate.max_rate_nl_per_h),
                                                  p->mech.pl_per_step, st.steps_taken, p->sup.relief_steps_wanted,
                                                  pump_now_us(p), &l);
        if (why != GATE_GRANTED || executor_grant(p->ex, &l) < 0) {
                /* Done (the cap or the asked volume reached) or refused:
                 * either way stand still. */
                settle(p);
                apply_motion(p);
                return;
        }
        refresh_virtual_next(p);
}

void pump_relief_start(struct pump *p) {
        struct pump_supervision *s = &p->sup;
        double excess_mmhg = p->pressure_mmhg - s->baseline_mmhg;
        if (!(excess_mmhg > 0))
                return;

        /* What the line's compliance holds above the resting pressure is
         * what would rush into the patient when the occlusion clears:
         * take back that much, no more (the gate caps it too). */
        double held_nl = s->compliance_nl_per_mmhg * excess_mmhg;
        settle(p);
        s->relief_steps_wanted = (int64_t) (held_nl * PL_PER_NL / (double) p->mech.pl_per_step);
        s->relief_steps_done = 0;
        if (s->relief_steps_wanted <= 0)
                return;

        int64_t rate = MIN(RELIEF_RATE_NL_PER_H, p->gate.max_rate_nl_per_h);
        struct executor_segment seg = {
                .generation = ++p->exec_gen,
                .active = true,
                .reverse = true,
                .anchor_us = pump_now_us(p),
                .step_budget = s->relief_steps_wanted,
        };
        mechanism_step_interval(&p->mech, rate, &seg.interval_num_us, &seg.interval_den);
        executor_set_segment(p->ex, &seg);
        p->seg_accounted = 0;
        s->relief_active = true;
        char detail[96];
        snprintf(detail, sizeof(detail), "withdrawing up to %.1f µL at %.0f mmHg", held_nl / 1000, p->pressure_mmhg);
        record_event(p, "pressure-relief", NULL, NULL, detail);
        grant_relief(p);
}

/* Each tick while relieving: stop once the pressure is back near where it
 * rested, else renew the lease. */
static void relief_tick(struct pump *p) {
        struct executor_status st;
        executor_get_status(p->ex, &st);
        if (st.generation != p->exec_gen)
                return;
        pump_relief_account(p, st.steps_taken);
        if (st.fault < 0 || st.lapsed || st.steps_taken >= p->sup.relief_steps_wanted ||
            p->pressure_mmhg <= p->sup.baseline_mmhg + 2.0) {
                settle(p);
                apply_motion(p);
                return;
        }
        grant_relief(p);
}

void halt(struct pump *p) {
        settle(p);
        enum channel_state from = p->ch.state;
        enum channel_event ev;
        if (channel_halt(&p->ch, pump_now_us(p), &ev) >= 0)
                emit_transition(p, from, ev);
        apply_motion(p);
        checkpoint(p, true);
}

/* ---- control loop --------------------------------------------------- */

void pump_tick(struct pump *p) {
        struct executor_status st;
        executor_get_status(p->ex, &st);

        /* Time-driven transitions first: the end of a hold in an
         * intermittent plan starts the next dose. */
        enum channel_state from = p->ch.state;
        enum channel_event ev;
        if (channel_tick(&p->ch, pump_now_us(p), &ev) > 0) {
                emit_transition(p, from, ev);
                settle(p);
                apply_motion(p);
                executor_get_status(p->ex, &st);
        }

        if (st.generation == p->exec_gen && (st.fault < 0 || st.lapsed)) {
                /* The sim's drive refuses a step with nothing left in the
                 * syringe: that is the end stop, not a broken motor. */
                if (st.fault == -ENOSPC)
                        pump_raise_alarm(p, ALARM_SYRINGE_EMPTY, false, "Syringe empty: the plunger reached the end stop; "
                                         "delivery stopped");
                else if (st.fault < 0)
                        pump_raise_alarm(p, ALARM_MOTOR_FAULT, true, "Motor drive failed: %s; delivery halted",
                                         strerror(-st.fault));
                else
                        pump_raise_alarm(p, ALARM_CONTROL_LOOP_STALLED, true,
                                         "The motor lease ran out before the control loop renewed it; delivery halted");
                /* A new halting alarm settled the motor already; one that
                 * was active before did not, and relief must still end. */
                if (p->sup.relief_active) {
                        settle(p);
                        apply_motion(p);
                }
        } else if (p->sup.relief_active)
                relief_tick(p);
        else if (st.generation == p->exec_gen) {
                uint64_t gen = channel_motion(&p->ch)->generation;
                account(p, st.steps_taken, st.last_step_us);
                if (channel_motion(&p->ch)->generation != gen) {
                        /* The engine moved on (VTBI -> KVO or completion). */
                        settle(p);
                        apply_motion(p);
                } else
                        grant(p);
        }

        pump_pca_tick(p);
        pump_supervise(p);
        pump_alarms_tick(p);

        checkpoint(p, false);
        delivery_sample(p, false);
        notify(p, PUMP_CHANGED_PROGRESS);
}

int pump_advance(struct pump *p, int64_t usec, struct pump_error *err) {
        if (!p->virtual_clock)
                return pump_set_error(err, PUMP_ERROR_NOT_SUPPORTED, -EOPNOTSUPP,
                                 "AdvanceTime needs the virtual clock; this daemon runs on the real clock ([simulation] clock=real)");
        if (usec < 0 || usec > INT64_MAX / 4 - p->vnow_us)
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, -EINVAL,
                                 "AdvanceTime %" PRIi64 " µs is out of range", usec);

        int64_t target = p->vnow_us + usec;
        while (p->vnow_us < target) {
                int64_t next = MIN(MIN(p->vnext_tick_us, p->vnext_step_us), MIN(p->next_output_us, target));
                if (next > p->vnow_us)
                        p->vnow_us = next;
                /* Only at the time the executor asked for: the step thread
                 * sleeps until then too (a replayed late wake must not be
                 * cut short by a buzzer pulse or the end of this call).
                 * What changes its schedule polls it (refresh_virtual_next). */
                if (p->vnow_us >= p->vnext_step_us)
                        p->vnext_step_us = virtual_wake_us(p, executor_poll(p->ex, p->vnow_us));
                /* Buzzer pulses are shorter than a tick: drive them at
                 * their own times, as the real-time loop's timer does. */
                if (p->vnow_us >= p->next_output_us)
                        pump_update_outputs(p);
                if (p->vnow_us >= p->vnext_tick_us) {
                        p->vnext_tick_us += p->control_period_us;
                        pump_tick(p);
                        refresh_virtual_next(p);
                }
        }
        if (p->sim)
                sim_update(p->sim, p->vnow_us);
        return 0;
}

/* ---- commands ------------------------------------------------------- */

static int state_error(struct pump *p, struct pump_error *err, const char *what, const char *allowed) {
        return pump_set_error(err, PUMP_ERROR_INVALID_STATE, -EBUSY, "Cannot %s while the channel is %s (allowed when %s)",
                         what, channel_state_to_string(p->ch.state), allowed);
}

static const char *ders_error_name(enum ders_outcome o) {
        switch (o) {
        case DERS_HARD_LIMIT:       return PUMP_ERROR_HARD_LIMIT;
        case DERS_SOFT_UNCONFIRMED: return PUMP_ERROR_SOFT_LIMIT;
        case DERS_UNKNOWN:          return PUMP_ERROR_UNKNOWN_DRUG;
        case DERS_NOT_ALLOWED:      return PUMP_ERROR_BASIC_NOT_ALLOWED;
        default:                    return PUMP_ERROR_INVALID_ARGUMENT;
        }
}

/* Pharmacy reviews every override and every refusal by the library. */
static void record_limit_event(struct pump *p, const char *kind, const struct ders_request *req,
                               const struct ders_result *res, int64_t uid) {
        char unit[DOSE_UNIT_STRING_MAX] = "";
        if (res->drug)
                dose_unit_to_string(&res->drug->dose_unit, unit, sizeof(unit));
        struct db_limit_event e = {
                .utc_us = pump_utc_us(p),
                .channel = p->ch.index,
                .care_area = req->care_area,
                .drug_id = req->drug,
                .kind = kind,
                .value = res->dose_rate,
                .unit = unit[0] ? unit : NULL,
                .reason = strcmp(kind, "soft-override") == 0 ? req->override_reason : NULL,
                .message = res->message,
                .uid = uid,
                .library_sha256 = p->library ? p->library_sha256 : NULL,
        };
        int r = db_limit_event_add(p->db, &e);
        if (r < 0)
                log_warning_errno(r, "Failed to record a %s limit event: %s, ignoring", kind, db_last_error(p->db));
        if (strcmp(kind, "soft-override") == 0)
                log_struct(LOG_NOTICE, MESSAGE_ID_LIMIT_OVERRIDE, "Soft limit overridden by uid %" PRIi64 ": %s",
                           uid, res->message);
}

static int refuse_ders(struct pump *p, const struct ders_request *req, const struct ders_result *res, int64_t uid,
                       struct pump_error *err) {
        static const char *const kinds[_DERS_OUTCOME_MAX] = {
                [DERS_HARD_LIMIT] = "hard-refused",
                [DERS_SOFT_UNCONFIRMED] = "soft-refused",
                [DERS_NOT_ALLOWED] = "basic-refused",
        };
        if (kinds[res->outcome])
                record_limit_event(p, kinds[res->outcome], req, res, uid);
        return pump_set_error(err, ders_error_name(res->outcome), -EINVAL, "%s", res->message);
}

/* 0.1 mL/h: what CADD-Solis drops to at the limit (CLINICAL.md). */
#define PCA_LIMIT_KVO_NL_PER_H (NL_PER_ML / 10)

/* Mode=pca: resolve the drug, judge every PCA parameter against the
 * library, and put the volumes into prog. */
static int program_pca(struct pump *p, struct program *prog, struct ders_request *req, struct ders_result *res,
                       struct pca_check_result *pres, bool *ret_clinician_counts, int64_t uid, struct pump_error *err) {
        struct pca_program *pca = req->pca;
        if (!pca)
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, -EINVAL, "Mode pca needs its PCA settings");
        req->resolve_only = true;
        ders_check(p->library, req, res);
        req->resolve_only = false;
        if (res->outcome != DERS_ACCEPTED)
                return refuse_ders(p, req, res, uid, err);

        const struct drug_limits *dl = res->drug ? drug_limits_for(res->drug, res->care_area->id) : NULL;
        pca_check(res->drug, dl, req->care_area, res->concentration, &req->patient, req->confirm_soft_limits,
                  req->override_reason, pca, pres);
        if (pres->outcome != DERS_ACCEPTED && pres->outcome != DERS_OVERRIDDEN) {
                struct ders_result o = { .outcome = pres->outcome, .dose_rate = NAN, .drug = res->drug };
                snprintf(o.message, sizeof(o.message), "%s", pres->message);
                return refuse_ders(p, req, &o, uid, err);
        }

        prog->pca_dose_nl = pca->dose.nl;
        prog->lockout_us = pca->lockout_us;
        prog->max_doses_per_hour = pca->max_doses_per_hour;
        prog->limit_nl = pca->limit.nl;
        prog->limit_window_us = pca->window_us;
        prog->basal_nl_per_h = pca->basal.nl;
        prog->loading_volume_nl = pca->loading.nl;
        prog->pca_bolus_rate_nl_per_h = pca->bolus_rate_nl_per_h > 0 ? pca->bolus_rate_nl_per_h : p->default_pca_bolus_nl_per_h;
        if (pca->limit_kvo_nl_per_h >= 0)
                prog->limit_kvo_nl_per_h = pca->limit_kvo_nl_per_h;
        else
                prog->limit_kvo_nl_per_h = dl && dl->pca.limit_action == PCA_LIMIT_STOP ? 0 : PCA_LIMIT_KVO_NL_PER_H;
        *ret_clinician_counts = dl ? dl->pca.clinician_bolus_counts : true;
        return 0;
}

int pump_program(struct pump *p, const struct program *prog_in, const struct ders_request *req_in, int64_t uid,
                 struct pump_error *err) {
        struct ders_request req = req_in ? *req_in : (struct ders_request) { .concentration = -1 };
        struct program prog = *prog_in;
        struct ders_result res, seg_res;
        struct channel_error cerr = {};
        int r;

        if (p->ch.state != CHANNEL_IDLE && p->ch.state != CHANNEL_PROGRAMMED)
                return state_error(p, err, "program", "idle or programmed");
        if (req.have_dose && prog.mode != PROGRAM_CONTINUOUS)
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, -EINVAL,
                                 "DoseRate applies to continuous mode; mode %s takes its rates in mL/h, which are checked against the library",
                                 program_mode_to_string(prog.mode));

        bool clinician_counts = true, pca_overridden = false;
        struct pca_check_result pres = { .outcome = DERS_ACCEPTED };
        if (prog.mode == PROGRAM_PCA) {
                r = program_pca(p, &prog, &req, &res, &pres, &clinician_counts, uid, err);
                if (r < 0)
                        return r;
                pca_overridden = pres.outcome == DERS_OVERRIDDEN;
        }

        /* The drug, care area and dose first: a continuous dose becomes
         * the rate the plan is built from. */
        req.rate_nl_per_h = prog.mode == PROGRAM_CONTINUOUS ? prog.rate_nl_per_h : 0;
        if (!req.have_dose && req.drug && prog.mode != PROGRAM_CONTINUOUS)
                req.rate_nl_per_h = -1;         /* judged per segment below */
        if (prog.mode == PROGRAM_PCA)
                ;                               /* judged by program_pca() */
        else if (req.rate_nl_per_h >= 0 || req.have_dose || !req.drug) {
                ders_check(p->library, &req, &res);
                if (res.outcome != DERS_ACCEPTED && res.outcome != DERS_OVERRIDDEN &&
                    !(res.outcome == DERS_INVALID && req.rate_nl_per_h < 0))
                        return refuse_ders(p, &req, &res, uid, err);
        } else
                res = (struct ders_result) { .outcome = DERS_ACCEPTED, .dose_rate = NAN };
        if (req.have_dose)
                prog.rate_nl_per_h = res.rate_nl_per_h;

        struct channel probe = p->ch;
        r = channel_program(&probe, &prog, &cerr);
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, r, "%s", cerr.text);

        /* Every delivery rate of the plan, judged as the dose it gives. A
         * loading dose is an amount, not a rate: only the maintenance part
         * of a loading program is judged here. Intermittent doses are
         * amounts too (not yet checked against per-dose limits). */
        bool overridden = res.outcome == DERS_OVERRIDDEN;
        if (req.drug && prog.mode != PROGRAM_INTERMITTENT && prog.mode != PROGRAM_PCA) {
                unsigned first = prog.mode == PROGRAM_LOADING ? probe.n_segments - 1 : 0;
                for (unsigned i = first; i < probe.n_segments; i++) {
                        if (probe.plan[i].rate_nl_per_h <= 0)
                                continue;
                        struct ders_request q = req;
                        q.have_dose = false;
                        q.rate_nl_per_h = probe.plan[i].rate_nl_per_h;
                        ders_check(p->library, &q, &seg_res);
                        if (seg_res.outcome != DERS_ACCEPTED && seg_res.outcome != DERS_OVERRIDDEN)
                                return refuse_ders(p, &q, &seg_res, uid, err);
                        if (seg_res.outcome == DERS_OVERRIDDEN && !overridden) {
                                overridden = true;
                                res = seg_res;
                        }
                        if (i == first && !req.have_dose)
                                res.dose_rate = seg_res.dose_rate;
                        res.drug = seg_res.drug;
                        res.care_area = seg_res.care_area;
                        res.concentration = seg_res.concentration;
                }
        }

        if (prog.mode == PROGRAM_PCA && p->pca_history_lost && !(req.pca && req.pca->new_patient))
                return pump_set_error(err, PUMP_ERROR_STORAGE, -EIO,
                                      "The PCA history could not be read at start-up, so lockout and limits cannot be enforced: "
                                      "restart the daemon, or program with NewPatient=true for a new patient");

        /* Last of the checks, first of the changes: it fails only on a
         * bad limit, and then nothing has changed yet. */
        r = pump_supervise_program(p, req.care_area, req.occlusion_limit_mmhg > 0 ? req.occlusion_limit_mmhg : NAN, err);
        if (r < 0)
                return r;
        p->ch = probe;
        if (req.pca && req.pca->new_patient)
                p->pca_history_lost = false;
        pump_pca_program(p, &p->ch.prog, req.pca && req.pca->new_patient, clinician_counts);
        if (overridden)
                record_limit_event(p, "soft-override", &req, &res, uid);
        if (pca_overridden) {
                struct ders_result o = { .dose_rate = NAN, .drug = res.drug };
                snprintf(o.message, sizeof(o.message), "%s", pres.message);
                record_limit_event(p, "soft-override", &req, &o, uid);
        }

        struct pump_program_info *info = &p->info;
        *info = (struct pump_program_info) { .dose_rate = NAN };
        snprintf(info->care_area, sizeof(info->care_area), "%s", req.care_area ?: "");
        if (res.drug) {
                snprintf(info->drug_id, sizeof(info->drug_id), "%s", res.drug->id);
                snprintf(info->drug_name, sizeof(info->drug_name), "%s", res.drug->name);
                dose_unit_to_string(&res.drug->dose_unit, info->dose_unit, sizeof(info->dose_unit));
                info->dose_rate = res.dose_rate;
        }
        info->patient = req.patient;
        if (res.concentration) {
                info->has_strength = true;
                info->strength = *res.concentration;
        }
        if (res.concentration) {
                char a[LIBRARY_NUMBER_MAX], v[LIBRARY_NUMBER_MAX];
                snprintf(info->concentration, sizeof(info->concentration), "%s %s / %s mL",
                         library_number_to_string(res.concentration->amount, a),
                         dose_amount_to_string(res.concentration->amount_unit),
                         library_number_to_string(res.concentration->volume_ml, v));
        }

        char detail[320];
        snprintf(detail, sizeof(detail), "%s: %s%s%s first rate %.6g mL/h, total %.6g mL in %u segments, KVO %.6g mL/h",
                 program_mode_to_string(p->ch.prog.mode), info->drug_id[0] ? info->drug_name : "basic infusion",
                 info->care_area[0] ? " in " : "", info->care_area, units_nl_to_ml(p->ch.prog.rate_nl_per_h),
                 units_nl_to_ml(p->ch.prog.vtbi_nl), p->ch.n_segments, units_nl_to_ml(prog.kvo_rate_nl_per_h));
        record_event(p, "programmed", NULL, "programmed", detail);
        notify(p, PUMP_CHANGED_STATE | PUMP_CHANGED_PROGRESS);
        return 0;
}

int pump_titrate(struct pump *p, int64_t rate_nl_per_h, bool have_dose, double dose_rate, bool confirm_soft,
                 const char *override_reason, int64_t uid, struct pump_error *err) {
        struct pump_program_info *info = &p->info;
        struct channel_error cerr = {};
        struct ders_result res = { .outcome = DERS_ACCEPTED, .dose_rate = NAN };
        int r;

        if (have_dose && !info->drug_id[0])
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, -EINVAL,
                                 "DoseRate needs a library drug; this is a basic infusion: titrate with RateMlPerHour");
        struct ders_request req = {
                .care_area = info->care_area[0] ? info->care_area : NULL,
                .drug = info->drug_id[0] ? info->drug_id : NULL,
                .concentration = -1,
                .have_dose = have_dose,
                .dose_rate = dose_rate,
                .rate_nl_per_h = rate_nl_per_h,
                .confirm_soft_limits = confirm_soft,
                .override_reason = override_reason,
        };
        /* The concentration the program chose, by value. */
        req.have_strength = info->has_strength;
        req.strength = info->strength;
        if (req.drug && !(p->library && drug_library_find_drug(p->library, req.drug)))
                return pump_set_error(err, PUMP_ERROR_UNKNOWN_DRUG, -EINVAL,
                                 "%s is no longer in the drug library in use: stop and reprogram", info->drug_name);
        if (req.drug) {
                ders_check(p->library, &req, &res);
                if (res.outcome != DERS_ACCEPTED && res.outcome != DERS_OVERRIDDEN)
                        return refuse_ders(p, &req, &res, uid, err);
                rate_nl_per_h = res.rate_nl_per_h;
        }

        /* Probe first: a refused titration must not have stopped anything. */
        struct channel probe = p->ch;
        r = channel_titrate(&probe, rate_nl_per_h, pump_now_us(p), &cerr);
        if (r == -EBUSY)
                return state_error(p, err, "titrate", "running or paused, in a continuous program or the maintenance part of a loading one");
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, r, "%s", cerr.text);

        int64_t old_rate = channel_current_rate_nl_per_h(&p->ch) ?: p->ch.plan[p->ch.segment].rate_nl_per_h;
        settle(p);
        r = channel_titrate(&p->ch, rate_nl_per_h, pump_now_us(p), &cerr);
        if (r < 0) {
                /* Settling ended the phase just now (VTBI reached). */
                apply_motion(p);
                return state_error(p, err, "titrate", "running or paused, before the end of the VTBI");
        }
        if (res.outcome == DERS_OVERRIDDEN)
                record_limit_event(p, "soft-override", &req, &res, uid);
        if (req.drug)
                info->dose_rate = res.dose_rate;

        char detail[200];
        snprintf(detail, sizeof(detail), "rate %.6g -> %.6g mL/h%s", units_nl_to_ml(old_rate), units_nl_to_ml(rate_nl_per_h),
                 res.outcome == DERS_OVERRIDDEN ? " (soft limit overridden)" : "");
        record_event(p, "titrated", NULL, NULL, detail);
        apply_motion(p);
        checkpoint(p, true);
        notify(p, PUMP_CHANGED_STATE | PUMP_CHANGED_PROGRESS);
        return 0;
}

int pump_bolus(struct pump *p, int64_t volume_nl, bool have_amount, double amount, int64_t rate_nl_per_h,
               bool confirm_soft, const char *override_reason, int64_t uid, struct pump_error *err) {
        struct pump_program_info *info = &p->info;
        struct channel_error cerr = {};
        char unit[DOSE_UNIT_STRING_MAX] = "", msg[320] = "";
        bool overridden = false;
        int r;

        if (have_amount && !info->drug_id[0])
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, -EINVAL,
                                 "BolusDose needs a library drug; this is a basic infusion: give BolusMl");

        if (info->drug_id[0]) {
                const struct drug *drug = p->library ? drug_library_find_drug(p->library, info->drug_id) : NULL;
                const struct drug_limits *dl = drug ? drug_limits_for(drug, info->care_area) : NULL;
                if (!dl)
                        return pump_set_error(err, PUMP_ERROR_UNKNOWN_DRUG, -EINVAL,
                                         "%s in %s is no longer in the drug library in use", info->drug_name, info->care_area);
                const struct amount_limits *bl = &dl->bolus;
                if (!bl->allowed)
                        return pump_set_error(err, PUMP_ERROR_HARD_LIMIT, -EINVAL,
                                         "The library allows no bolus of %s in %s", drug->name, info->care_area);
                const struct concentration *conc = info->has_strength ? drug_find_concentration(drug, &info->strength) : NULL;
                if (info->has_strength && !conc)
                        return pump_set_error(err, PUMP_ERROR_UNKNOWN_DRUG, -EINVAL,
                                         "%s %s is no longer stocked in the drug library in use", drug->name,
                                         info->concentration);
                struct dose_error derr = {};
                r = have_amount ? dose_amount_to_nl(amount, &bl->unit, conc, &info->patient, &volume_nl, &derr)
                                : dose_amount_from_nl(volume_nl, &bl->unit, conc, &info->patient, &amount, &derr);
                if (r < 0)
                        return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, r, "%s", derr.text);

                dose_unit_to_string(&bl->unit, unit, sizeof(unit));
                char a[LIBRARY_NUMBER_MAX], l[LIBRARY_NUMBER_MAX];
                enum limit_verdict v = limit_check(&bl->limits, amount);
                bool high = v == LIMIT_HARD_HIGH || v == LIMIT_SOFT_HIGH;
                if (v == LIMIT_HARD_HIGH || v == LIMIT_HARD_LOW || v == LIMIT_INVALID) {
                        snprintf(msg, sizeof(msg), "Bolus of %.4g %s is %s the hard %s of %s %s for %s in %s: it cannot be given",
                                 amount, unit, high ? "above" : "below", high ? "maximum" : "minimum",
                                 library_number_to_string(high ? bl->limits.hard_max : bl->limits.hard_min, l), unit,
                                 drug->name, info->care_area);
                        struct ders_result res = { .dose_rate = amount, .drug = drug };
                        snprintf(res.message, sizeof(res.message), "%s", msg);
                        record_limit_event(p, "hard-refused", &(struct ders_request) { .care_area = info->care_area,
                                           .drug = info->drug_id }, &res, uid);
                        return pump_set_error(err, PUMP_ERROR_HARD_LIMIT, -EINVAL, "%s", msg);
                }
                if (v == LIMIT_SOFT_HIGH || v == LIMIT_SOFT_LOW) {
                        snprintf(msg, sizeof(msg), "Bolus of %s %s is %s the soft %s of %s %s for %s in %s",
                                 library_number_to_string(amount, a), unit, high ? "above" : "below",
                                 high ? "maximum" : "minimum",
                                 library_number_to_string(high ? bl->limits.soft_max : bl->limits.soft_min, l), unit,
                                 drug->name, info->care_area);
                        if (!confirm_soft || !override_reason || !override_reason[0])
                                return pump_set_error(err, PUMP_ERROR_SOFT_LIMIT, -EINVAL,
                                                 "%s: confirm with ConfirmSoftLimits=true and give an OverrideReason", msg);
                        overridden = true;
                }
        }

        struct channel probe = p->ch;
        r = channel_bolus(&probe, volume_nl, rate_nl_per_h, pump_now_us(p), &cerr);
        if (r == -EBUSY)
                return state_error(p, err, "give a bolus", "running a delivery, not already giving a bolus");
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, r, "%s", cerr.text);

        settle(p);
        r = channel_bolus(&p->ch, volume_nl, rate_nl_per_h, pump_now_us(p), &cerr);
        if (r < 0) {
                apply_motion(p);
                return state_error(p, err, "give a bolus", "running, before the end of the VTBI");
        }
        if (overridden) {
                struct ders_result res = { .dose_rate = amount };
                snprintf(res.message, sizeof(res.message), "%s; overridden: %.120s", msg, override_reason);
                record_limit_event(p, "soft-override", &(struct ders_request) { .care_area = info->care_area,
                                   .drug = info->drug_id, .override_reason = override_reason }, &res, uid);
        }
        char detail[200];
        if (unit[0])
                snprintf(detail, sizeof(detail), "%.6g mL (%.4g %s) at %.6g mL/h%s", units_nl_to_ml(volume_nl), amount, unit,
                         units_nl_to_ml(rate_nl_per_h), overridden ? ", soft limit overridden" : "");
        else
                snprintf(detail, sizeof(detail), "%.6g mL at %.6g mL/h", units_nl_to_ml(volume_nl), units_nl_to_ml(rate_nl_per_h));
        record_event(p, "bolus", NULL, NULL, detail);
        pump_pca_clinician_bolus(p, volume_nl, rate_nl_per_h, uid);
        apply_motion(p);
        notify(p, PUMP_CHANGED_STATE | PUMP_CHANGED_PROGRESS);
        return 0;
}

const struct pump_program_info *pump_program_info(const struct pump *p) {
        return &p->info;
}

/* Load the library in use from the database. A stored library that no
 * longer parses means the file was damaged or written by something else:
 * refuse to run rather than run without limits. */
static int load_library(struct pump *p, struct pump_error *err) {
        struct db_library stored;
        struct library_errors errs;
        int r = db_library_current(p->db, &stored);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_STORAGE, r, "Cannot read the drug library from the database: %s",
                                 db_last_error(p->db));
        r = library_from_json(stored.json, strlen(stored.json), &p->library, &errs);
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_STORAGE, r, "The stored drug library %s (id %" PRIi64 ") does not load: %s",
                                 stored.version, stored.id, errs.n ? errs.text[0] : strerror(-r));
        snprintf(p->library_sha256, sizeof(p->library_sha256), "%s", stored.sha256);
        return 0;
}

int pump_library_import(struct pump *p, const char *json, size_t len, int64_t uid, struct pump_error *err) {
        _cleanup_(drug_library_freep) struct drug_library *lib = NULL;
        _cleanup_(freep) char *canonical = NULL;
        static struct library_errors errs;     /* large: keep it off the stack */
        int r;

        r = library_from_json(json, len, &lib, &errs);
        if (r < 0) {
                size_t used = 0;
                err->name = PUMP_ERROR_INVALID_ARGUMENT;
                used += snprintf(err->message, sizeof(err->message), "The drug library was refused (%zu problem%s%s); the library in use is unchanged:",
                                 errs.n, errs.n == 1 ? "" : "s", errs.truncated ? ", and more" : "");
                /* One problem per line; if they do not all fit, say how many were left out. */
                size_t shown = 0;
                for (size_t i = 0; i < errs.n; i++) {
                        size_t need = strlen(errs.text[i]) + 2;
                        if (used + need + 40 >= sizeof(err->message))
                                break;
                        used += snprintf(err->message + used, sizeof(err->message) - used, "\n%s", errs.text[i]);
                        shown++;
                }
                if (shown < errs.n)
                        snprintf(err->message + used, sizeof(err->message) - used, "\n(%zu more)", errs.n - shown);
                return r;
        }
        r = library_to_json(lib, &canonical);
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, r, "The drug library cannot be written back: %s", strerror(-r));

        struct db_library stored = {
                .version = lib->version,
                .imported_utc_us = pump_utc_us(p),
                .imported_by_uid = uid,
                .json = canonical,
        };
        r = db_library_store(p->db, &stored, NULL);
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_STORAGE, r, "The drug library could not be stored (%s); the library in use is unchanged",
                                 db_last_error(p->db));

        /* The running program keeps its own copy of what it needs (ids,
         * names, rates), so swapping the library under it is safe. */
        drug_library_free(p->library);
        p->library = TAKE_PTR(lib);
        snprintf(p->library_sha256, sizeof(p->library_sha256), "%s", stored.sha256);

        char detail[200];
        snprintf(detail, sizeof(detail), "%s sha256 %s", p->library->version, p->library_sha256);
        record_event(p, "library-imported", NULL, NULL, detail);
        log_struct(LOG_NOTICE, MESSAGE_ID_LIBRARY_IMPORTED, "Drug library %s imported by uid %" PRIi64 " (sha256 %s)",
                   p->library->version, uid, p->library_sha256);
        return 0;
}

const struct drug_library *pump_library(const struct pump *p) {
        return p->library;
}

const char *pump_library_sha256(const struct pump *p) {
        return p->library ? p->library_sha256 : "";
}

int pump_library_export(const struct pump *p, char **ret_json) {
        if (!p->library)
                return -ENOENT;
        return library_to_json(p->library, ret_json);
}

static const struct alarm *blocking_alarm(const struct pump *p, bool resuming) {
        for (size_t i = 0; i < p->alarms.n; i++) {
                /* Resuming carries on the programmed infusion, which a
                 * history that cannot be written does not stop either. */
                if (resuming && p->alarms.items[i].condition == ALARM_HISTORY_UNAVAILABLE)
                        continue;
                /* Halting alarms, and latched high ones (a restart): not a
                 * reminder that escalated, which starting answers. */
                if (p->alarms.items[i].halts ||
                    (p->alarms.items[i].latches && p->alarms.items[i].priority == ALARM_PRIORITY_HIGH))
                        return &p->alarms.items[i];
        }
        return NULL;
}

static bool door_open(const struct pump *p) {
        bool open = false;
        return p->hal.inputs && p->hal.inputs->read(p->hal.inputs_ctx, HAL_INPUT_DOOR_OPEN, &open) >= 0 && open;
}

int pump_start(struct pump *p, struct pump_error *err) {
        if (p->ch.state != CHANNEL_PROGRAMMED)
                return state_error(p, err, "start", "programmed");
        /* A new infusion needs its record: the restart recovery, the PCA
         * failsafe and the clinician's review all read it. */
        if (pump_storage_failing(p))
                return pump_set_error(err, PUMP_ERROR_STORAGE, -EIO,
                                      "Cannot start: the history database cannot record (see the history-unavailable "
                                      "alarm); free space or replace the pump, then acknowledge the alarm");
        const struct alarm *a = blocking_alarm(p, false);
        if (a)
                return pump_set_error(err, PUMP_ERROR_ALARM_ACTIVE, -EBUSY,
                                 "Cannot start while alarm %s is active (%s): acknowledge it first", a->id, a->message);
        if (door_open(p))
                return pump_set_error(err, PUMP_ERROR_HARDWARE, -EBUSY,
                                      "Cannot start with the door or syringe clamp open: close it first");

        /* Record before moving: a start the history cannot hold is refused. */
        struct db_infusion inf = {
                .channel = p->ch.index,
                .mode = program_mode_to_string(p->ch.prog.mode),
                .rate_nl_per_h = p->ch.prog.rate_nl_per_h,
                .vtbi_nl = p->ch.prog.vtbi_nl,
                .kvo_rate_nl_per_h = p->ch.prog.kvo_rate_nl_per_h,
                .started_utc_us = pump_utc_us(p),
                .started_mono_us = pump_now_us(p),
                .status = "active",
                .care_area = p->info.care_area[0] ? p->info.care_area : NULL,
                .drug_id = p->info.drug_id[0] ? p->info.drug_id : NULL,
                .drug_name = p->info.drug_id[0] ? p->info.drug_name : NULL,
                .dose_rate = p->info.dose_rate,
                .dose_unit = p->info.dose_unit[0] ? p->info.dose_unit : NULL,
                .concentration = p->info.concentration[0] ? p->info.concentration : NULL,
                .library_sha256 = p->library ? p->library_sha256 : NULL,
        };
        int64_t id;
        int r = db_infusion_begin(p->db, &inf, &id);
        pump_storage_result(p, r);
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_STORAGE, r,
                                 "Cannot start: the history database did not record the infusion (%s); nothing was changed",
                                 db_last_error(p->db));

        enum channel_event ev;
        enum channel_state from = p->ch.state;
        channel_start(&p->ch, pump_now_us(p), &ev);
        /* The line at rest, before it moves: what pressure relief after an
         * occlusion brings it back to. */
        p->sup.baseline_mmhg = p->pressure_mmhg;
        p->infusion_id = id;
        p->last_checkpoint_us = pump_now_us(p);
        emit_transition(p, from, ev);
        log_struct(LOG_NOTICE, MESSAGE_ID_INFUSION_STARTED,
                   "Infusion %" PRIi64 " started: %.3f mL/h, VTBI %.3f mL", id,
                   units_nl_to_ml(p->ch.prog.rate_nl_per_h), units_nl_to_ml(p->ch.prog.vtbi_nl));
        apply_motion(p);
        pump_pca_started(p);
        return 0;
}

typedef int (*transition_fn)(struct channel *c, int64_t now_us, enum channel_event *ret);

/* Pause, Resume, Stop: settle the executor first so every step is counted
 * in the phase it belongs to, then transition. Reducing motion never
 * waits on the database: the motor stops even if recording fails. */
static int transition(struct pump *p, transition_fn fn, const char *what, const char *allowed,
                      struct pump_error *err) {
        enum channel_state from = p->ch.state;
        struct channel probe = p->ch;
        enum channel_event ev;
        if (fn(&probe, pump_now_us(p), &ev) < 0)
                return state_error(p, err, what, allowed);

        settle(p);
        from = p->ch.state;
        if (fn(&p->ch, pump_now_us(p), &ev) < 0) {
                /* Settling ended the phase (e.g. VTBI reached just now). */
                apply_motion(p);
                return state_error(p, err, what, allowed);
        }
        emit_transition(p, from, ev);
        if (p->ch.state != CHANNEL_KVO)
                /* The VTBI notice belongs to the KVO phase; leaving it clears it. */
                pump_alarm_cause_gone(p, ALARM_VTBI_COMPLETE);
        if (ev == CHANNEL_EVENT_STOPPED)
                end_infusion(p, p->ch.primary_steps >= p->ch.primary_steps_target ? "completed" : "stopped");
        apply_motion(p);
        checkpoint(p, true);
        return 0;
}

int pump_pause(struct pump *p, struct pump_error *err) {
        return transition(p, channel_pause, "pause", "running or kvo", err);
}

int pump_resume(struct pump *p, struct pump_error *err) {
        const struct alarm *a = blocking_alarm(p, true);
        if (a && (p->ch.state == CHANNEL_PAUSED || p->ch.state == CHANNEL_HALTED))
                return pump_set_error(err, PUMP_ERROR_ALARM_ACTIVE, -EBUSY,
                                 "Cannot resume while alarm %s is active (%s): acknowledge it first", a->id, a->message);
        /* As Start: a door that flaps shut just long enough for the
         * door-open alarm to be acknowledged must not let the motor move
         * with the syringe unclamped, not even until the next tick. */
        if ((p->ch.state == CHANNEL_PAUSED || p->ch.state == CHANNEL_HALTED) && door_open(p))
                return pump_set_error(err, PUMP_ERROR_HARDWARE, -EBUSY,
                                      "Cannot resume with the door or syringe clamp open: close it first");
        return transition(p, channel_resume, "resume", "paused, or halted once its alarms are acknowledged", err);
}

int pump_stop(struct pump *p, struct pump_error *err) {
        return transition(p, channel_stop, "stop", "programmed, running, paused, kvo or halted", err);
}

/* ---- life cycle ----------------------------------------------------- */

static void on_interrupted(const struct db_infusion *inf, void *userdata) {
        struct pump *p = userdata;
        log_struct(LOG_WARNING, MESSAGE_ID_INTERRUPTED,
                   "Infusion %" PRIi64 " was interrupted by a restart after %.3f mL of %.3f mL; it will not resume by itself",
                   inf->id, units_nl_to_ml(inf->volume_nl), units_nl_to_ml(inf->vtbi_nl));
        pump_raise_alarm(p, ALARM_INTERRUPTED_BY_RESTART, true,
                    "Infusion %" PRIi64 " was interrupted by a restart after %.3f mL of %.3f mL; check the patient and reprogram",
                    inf->id, units_nl_to_ml(inf->volume_nl), units_nl_to_ml(inf->vtbi_nl));
}

int pump_new(const struct config *cfg, struct pump **ret, struct pump_error *err) {
        _cleanup_(freep) struct pump *p = calloc(1, sizeof(*p));
        int r;

        if (!p)
                return pump_set_error(err, PUMP_ERROR_HARDWARE, -ENOMEM, "Out of memory");

        r = mechanism_from_geometry(&cfg->geometry, &p->mech);
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, r,
                                 "%s: [mechanism]: the geometry gives no usable step volume", cfg->path);

        p->virtual_clock = cfg->clock == CONFIG_CLOCK_VIRTUAL;
        p->utc_base_us = clock_us(CLOCK_REALTIME);
        p->control_period_us = cfg->control_period_us;
        p->checkpoint_period_us = cfg->checkpoint_period_us;
        p->default_kvo_nl_per_h = cfg->kvo_rate_nl_per_h;
        p->vnext_tick_us = cfg->control_period_us;
        p->vnext_step_us = INT64_MAX;

        struct channel_limits limits = {
                .max_rate_nl_per_h = MIN(cfg->max_rate_nl_per_h, p->mech.max_rate_nl_per_h),
                .max_vtbi_nl = MIN(cfg->max_vtbi_nl, cfg->syringe_volume_nl),
                .max_kvo_rate_nl_per_h = cfg->max_kvo_rate_nl_per_h,
        };
        channel_init(&p->ch, 0, &p->mech, &limits);
        alarm_set_init(&p->alarms);
        pump_supervise_init(p, cfg);
        p->next_output_us = INT64_MAX;
        p->gate = (struct gate_limits) {
                .max_rate_nl_per_h = limits.max_rate_nl_per_h,
                .min_step_interval_us = p->mech.min_step_interval_us,
                .lease_us = cfg->lease_us,
                /* GIP: a post-occlusion bolus of at most 0.5 mL; relief
                 * never takes back more than that. */
                .max_relief_nl = NL_PER_ML / 2,
        };

        if (streq(cfg->backend, "sim")) {
                struct sim_params sp = {
                        .mech = p->mech,
                        .syringe_volume_nl = cfg->syringe_fill_nl > 0 ? cfg->syringe_fill_nl : cfg->syringe_volume_nl,
                        .line_compliance_nl_per_mmhg = cfg->line_compliance_nl_per_mmhg,
                        .line_resistance_mmhg_per_ml_per_h = cfg->line_resistance_mmhg_per_ml_per_h,
                        .patient_pressure_mmhg = cfg->patient_pressure_mmhg,
                        .pressure_noise_mmhg = cfg->pressure_noise_mmhg,
                        .seed = cfg->seed,
                        .movement_amplitude_mmhg = cfg->movement_amplitude_mmhg,
                        .movement_mean_interval_s = cfg->movement_mean_interval_s,
                        .position_noise_mm = cfg->position_noise_mm,
                        .battery_runtime_min = cfg->battery_runtime_min,
                };
                r = sim_new(&sp, sim_clock, p, &p->sim);
                if (r < 0)
                        return pump_set_error(err, PUMP_ERROR_HARDWARE, r, "Cannot create the simulated pump: %s",
                                              strerror(-r));
                sim_fill_hal(p->sim, &p->hal);
                if (cfg->step_log_path && *cfg->step_log_path) {
                        p->step_log_path = strdup(cfg->step_log_path);
                        r = p->step_log_path ? sim_step_log_start(p->sim, PUMP_STEP_LOG_CAPACITY) : -ENOMEM;
                        if (r < 0) {
                                pump_set_error(err, PUMP_ERROR_HARDWARE, r, "Cannot keep the step log: %s",
                                               strerror(-r));
                                goto fail;
                        }
                }
                if (cfg->plunger_file_path && *cfg->plunger_file_path) {
                        r = sim_keep_plunger(p->sim, cfg->plunger_file_path);
                        if (r < 0) {
                                pump_set_error(err, PUMP_ERROR_HARDWARE, r, "%s: [simulation] plunger_file %s: %s",
                                               cfg->path, cfg->plunger_file_path, strerror(-r));
                                goto fail;
                        }
                        log_info("Simulated plunger %s: %.6f mL pushed (%s)",
                                 r > 0 ? "where it was left" : "at the start of a full syringe",
                                 units_nl_to_ml(sim_pushed_nl(p->sim)), cfg->plunger_file_path);
                }
        } else
                p->hal.backend = "rig";

        /* The real devices the config names, over the sim's where both. */
        char why[256];
        r = rig_open(cfg, &p->hal, &p->rig, why, sizeof(why));
        if (r < 0) {
                pump_set_error(err, PUMP_ERROR_HARDWARE, r, "Self-test failed: %s", why);
                goto fail;
        }

        r = executor_new(p->hal.drive, p->hal.drive_ctx, &p->ex);
        if (r < 0) {
                pump_set_error(err, PUMP_ERROR_HARDWARE, r, "Cannot create the motor executor: %s", strerror(-r));
                goto fail;
        }

        r = pump_self_test(p, err);
        if (r < 0)
                goto fail;

        r = db_open(cfg->database_path, &p->db);
        if (r < 0) {
                pump_set_error(err, PUMP_ERROR_STORAGE, r, "Cannot open the history database %s: %s",
                          cfg->database_path, strerror(-r));
                goto fail;
        }
        log_audit_head(p, "start-up");
        int64_t latest_utc = 0;
        (void) db_latest_utc_us(p->db, &latest_utc);
        /* A virtual day passes in a second of wall time: carry on from the
         * newest record so the history stays in order and the PCA history
         * keeps its age across a restart. */
        if (p->virtual_clock && latest_utc >= p->utc_base_us)
                p->utc_base_us = latest_utc + 1;
        /* Alarm ids never repeat on this pump, across restarts too. */
        r = db_alarm_next_seq(p->db, &p->alarms.next_seq);
        if (r < 0) {
                pump_set_error(err, PUMP_ERROR_STORAGE, r, "Cannot read the alarm history from %s: %s",
                               cfg->database_path, db_last_error(p->db));
                goto fail;
        }
        r = db_recover_interrupted(p->db, pump_utc_us(p), on_interrupted, p);
        if (r < 0) {
                pump_set_error(err, PUMP_ERROR_STORAGE, r, "Cannot recover interrupted infusions from %s: %s",
                          cfg->database_path, db_last_error(p->db));
                goto fail;
        }
        r = load_library(p, err);
        if (r < 0)
                goto fail;
        p->default_pca_bolus_nl_per_h = MIN(cfg->pca_bolus_rate_nl_per_h, limits.max_rate_nl_per_h);
        pump_pca_init(p, latest_utc);
        pump_pca_watch_button(p);
        p->info.dose_rate = NAN;
        record_event(p, "startup", NULL, "idle", p->virtual_clock ? "virtual clock" : "real clock");
        pump_retention_start(p, cfg);

        *ret = TAKE_PTR(p);
        return 0;
fail:
        p->library = drug_library_free(p->library);
        p->db = db_close(p->db);
        p->ex = executor_free(p->ex);
        p->rig = rig_close(p->rig);
        p->sim = sim_free(p->sim);
        free(p->step_log_path);
        p->step_log_path = NULL;
        return r;
}

void pump_set_observer(struct pump *p, const struct pump_observer *o) {
        p->obs = *o;
}

int pump_start_executor(struct pump *p, int rt_priority, bool *ret_rt_ok) {
        if (p->virtual_clock) {
                if (ret_rt_ok)
                        *ret_rt_ok = false;
                return 0;
        }
        return executor_start_thread(p->ex, rt_priority, ret_rt_ok);
}

void pump_shutdown(struct pump *p) {
        settle(p);
        checkpoint(p, true);
        record_event(p, "shutdown", channel_state_to_string(p->ch.state), NULL,
                     channel_infusion_open(&p->ch) ? "infusion left open: reported interrupted at next start" : NULL);
        log_audit_head(p, "stop");
}

struct pump *pump_free(struct pump *p) {
        if (!p)
                return NULL;
        /* The step thread stops before its drive goes away. */
        executor_free(p->ex);
        rig_close(p->rig);
        drug_library_free(p->library);
        pump_retention_free(p);
        db_close(p->db);
        if (p->step_log_path) {
                /* After the step thread stopped: the log is complete. */
                int r = sim_write_step_log(p->sim, p->step_log_path);
                if (r < 0)
                        log_error("Cannot write the step log %s: %s", p->step_log_path, strerror(-r));
                else
                        log_info("Step log written to %s", p->step_log_path);
                free(p->step_log_path);
        }
        sim_free(p->sim);
        free(p->replay_lateness_us);
        free(p);
        return NULL;
}

bool pump_is_virtual(const struct pump *p) { return p->virtual_clock; }
struct executor *pump_executor(struct pump *p) { return p->ex; }
int64_t pump_control_period_us(const struct pump *p) { return p->control_period_us; }
const struct channel *pump_channel(const struct pump *p) { return &p->ch; }
const struct alarm_set *pump_alarms(const struct pump *p) { return &p->alarms; }
const char *pump_backend(const struct pump *p) { return p->hal.backend; }
const char *pump_devices(const struct pump *p) { return p->rig ? rig_describe(p->rig) : p->hal.backend; }
const struct hal *pump_hal(const struct pump *p) { return &p->hal; }
int64_t pump_default_kvo_rate_nl_per_h(const struct pump *p) { return p->default_kvo_nl_per_h; }
int64_t pump_infusion_id(const struct pump *p) { return p->infusion_id; }
double pump_pressure_mmhg(const struct pump *p) { return p->pressure_mmhg; }
bool pump_has_sim(const struct pump *p) { return p->sim != NULL; }
struct sim *pump_sim(struct pump *p) { return p->sim; }

void pump_note_simulator(struct pump *p, const char *what) {
        record_event(p, "simulator", NULL, NULL, what);
}
int64_t pump_sim_delivered_nl(const struct pump *p) { return p->sim ? sim_delivered_nl(p->sim) : 0; }
int64_t pump_sim_plunger_steps(const struct pump *p) { return p->sim ? sim_plunger_steps(p->sim) : 0; }

void pump_status_line(const struct pump *p, char *buf, size_t size) {
        const struct channel *c = &p->ch;
        if (c->state == CHANNEL_IDLE)
                snprintf(buf, size, "Idle%s", p->alarms.n ? ", alarm active" : "");
        else
                snprintf(buf, size, "%s at %.3f mL/h, %.3f of %.3f mL%s",
                         channel_state_to_string(c->state),
                         units_nl_to_ml(channel_current_rate_nl_per_h(c)),
                         units_nl_to_ml(channel_volume_nl(c)), units_nl_to_ml(c->prog.vtbi_nl),
                         p->alarms.n ? ", alarm active" : "");
}

void pump_audit(struct pump *p, int64_t uid, const char *method, const char *object, const char *args,
                const char *outcome, const char *message) {
        /* The chain hashes what is stored: text IT can read, whatever
         * bytes a truncating "%.32s" left in args. */
        _cleanup_(freep) char *args_text = args ? strdup(args) : NULL;
        _cleanup_(freep) char *message_text = message ? strdup(message) : NULL;
        if ((args && !args_text) || (message && !message_text)) {
                log_error_errno(-ENOMEM, "Failed to audit %s by uid %" PRIi64 ": out of memory", method, uid);
                pump_storage_result(p, -ENOMEM);
                return;
        }
        if (args_text)
                utf8_scrub(args_text);
        if (message_text)
                utf8_scrub(message_text);
        struct db_audit a = {
                .utc_us = pump_utc_us(p),
                .uid = uid,
                .method = method,
                .object = object,
                .args = args_text,
                .outcome = outcome,
                .message = message_text,
        };
        int r = db_audit_add(p->db, &a);
        if (r < 0 && !pump_storage_failing(p))
                log_warning_errno(r, "Failed to audit %s by uid %" PRIi64 ": %s, ignoring", method, uid,
                                  db_last_error(p->db));
        pump_storage_result(p, r);
}
