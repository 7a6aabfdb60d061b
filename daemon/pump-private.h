/* SPDX-License-Identifier: MIT */
#pragma once

/* What the pump's own files share: daemon/pump.c (commands, motion, the
 * control loop), daemon/pump-alarms.c (raising, recording and showing
 * alarms) and daemon/pump-supervise.c (the detectors each tick). Nobody
 * else includes this. */

#include <stdbool.h>
#include <stdint.h>

#include "daemon/executor.h"
#include "daemon/pump.h"
#include "db/db.h"
#include "hal/sim.h"
#include "safety/air.h"
#include "safety/alarm-pattern.h"
#include "safety/gate.h"
#include "safety/occlusion.h"
#include "safety/pca.h"
#include "safety/supervise.h"

/* The detectors and what they remember between ticks. */
struct pump_supervision {
        /* What this pump has, as the start-up self-test found it. A part
         * not fitted stands its checks down; a fitted one that stops
         * answering, even with -ENODEV (a device being removed), is a
         * failure. */
        bool sensor_fitted[_HAL_SENSOR_MAX];
        bool input_fitted[_HAL_INPUT_MAX];

        /* Downstream occlusion. */
        struct occlusion_detector occlusion;
        double config_occlusion_limit_mmhg;     /* from the config */
        double occlusion_limit_mmhg;            /* in force: the program's care area, or the config */
        bool occlusion_trend;
        bool occlusion_back_off;                /* relieve the pressure after the alarm */
        double compliance_nl_per_mmhg;
        uint64_t occlusion_motion_gen;          /* channel motion the detector was reset for */
        bool occlusion_armed;
        double baseline_mmhg;                   /* pressure before the infusion moved */
        int config_auto_restarts;
        int auto_restarts;                      /* per 10 min, for this program */
        int64_t restart_us[10];                 /* times of recent auto-restarts */
        unsigned n_restarts;
        int64_t checking_line_until_us;         /* -1: not checking */
        double checking_from_mmhg;              /* pressure when the check began */

        /* Pressure relief after an occlusion: reverse steps. */
        bool relief_active;
        int64_t relief_steps_wanted;
        int64_t relief_steps_done;              /* in this relief */
        int64_t relief_total_steps;             /* in all reliefs, for SAFETY.md figures */

        /* Net plunger steps the motor was told to take (forward minus
         * reverse): the commanded side of accuracy and air. */
        int64_t net_steps;

        struct air_detector air;

        struct accuracy_monitor accuracy;
        bool accuracy_armed;
        uint64_t accuracy_motion_gen;
        int64_t accuracy_origin_steps;
        double accuracy_origin_nl;
        double nl_per_mm;                       /* plunger travel to volume */

        struct sensor_health health[_HAL_SENSOR_MAX];

        struct battery_params battery;
        struct same_value battery_voltage;
        struct hal_power_status power;          /* last read */
        bool power_known;

        int64_t syringe_volume_nl;
        int64_t near_end_us;
        int64_t remaining_nl;                   /* by the plunger position; -1 unknown */

        int64_t idle_alert_us, idle_alarm_us;
        int64_t idle_since_us;                  /* -1: not idle */
        bool idle_escalated;
};

/* [simulation] step_log keeps this many step times: 36 min at 1200 mL/h
 * on the sim mechanism, 32 MB, allocated only when asked for. */
#define PUMP_STEP_LOG_CAPACITY ((size_t) 4 * 1024 * 1024)

/* The history database's health as the writes found it (pump-storage.c). */
struct pump_storage {
        bool failing;                   /* the last write failed */
        bool reporting;                 /* raising or recording the gap: writes only noted */
        bool nested_failed;             /* a write made while reporting failed */
        bool raise_recorded;            /* the alarm's "raised" row is on disk */
        int first_errno;                /* what the first failed write returned */
        int64_t failed_since_utc_us;
        uint64_t writes_lost;           /* failed writes since failed_since_utc_us */
        int64_t raised_infusion_id;     /* the moment of the raise, for its late row */
        double raised_pressure_mmhg;
        int64_t raised_volume_nl;
};

struct pump {
        struct mechanism mech;
        struct channel ch;
        struct alarm_set alarms;
        struct gate_limits gate;
        int64_t default_kvo_nl_per_h;
        int64_t control_period_us;
        int64_t checkpoint_period_us;

        struct hal hal;
        struct sim *sim;                /* NULL on a rig */
        struct rig *rig;                /* the real devices in use, NULL if none */
        struct executor *ex;
        struct db *db;

        /* Clock. Virtual: pump time starts at 0 and moves only in
         * pump_advance; UTC is the wall clock at start-up plus that. */
        bool virtual_clock;
        int64_t vnow_us;
        int64_t utc_base_us;
        int64_t vnext_tick_us;
        int64_t vnext_step_us;
        /* Benchmarks: a real-time run's step lateness, replayed on the
         * virtual clock (pump_replay_step_lateness()); NULL: none. */
        int64_t *replay_lateness_us;
        size_t replay_n;
        /* [simulation] step_log: where the sim's step times go at exit. */
        char *step_log_path;

        /* Executor bookkeeping: our own generation for its segments, and
         * the steps of the current segment already given to the channel. */
        uint64_t exec_gen;
        int64_t seg_accounted;
        uint64_t applied_motion_gen;    /* the channel motion last given to the executor */

        struct drug_library *library;   /* NULL: none imported yet */
        char library_sha256[65];
        struct pump_program_info info;

        int64_t infusion_id;
        int64_t last_checkpoint_us;
        double pressure_mmhg;

        struct pump_observer obs;

        /* Alarm outputs as last driven, and when the pattern next changes
         * (pump time). */
        struct alarm_outputs outputs;
        bool outputs_known;
        int64_t next_output_us;
        int64_t escalate_after_us;
        bool pending_status;            /* an alarm changed since the last notify */

        struct pump_supervision sup;

        /* PCA: the failsafe's state, the dose being delivered (its
         * history row and the step count it began at). */
        struct pca_state pca;
        int64_t pca_dose_id;
        int64_t pca_dose_start_steps;
        bool pca_history_lost;          /* reload failed: no PCA until restart or a new patient */
        int64_t default_pca_bolus_nl_per_h;
        bool sim_pressing;              /* the Simulator is pressing the PCA button */

        /* Delivery samples: the last one's time. */
        int64_t last_sample_us;

        struct pump_retention *retention;       /* NULL: not pruning (set-up failed) */

        struct pump_storage storage;
};

/* pump.c */
int pump_set_error(struct pump_error *err, const char *name, int r, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void notify(struct pump *p, unsigned what);
/* pump-selftest.c: every part answers, or the daemon does not start. */
int pump_self_test(struct pump *p, struct pump_error *err);
int record_event(struct pump *p, const char *kind, const char *from, const char *to, const char *detail);
void checkpoint(struct pump *p, bool force);
void emit_transition(struct pump *p, enum channel_state from, enum channel_event ev);
void settle(struct pump *p);
void apply_motion(struct pump *p);
void halt(struct pump *p);

/* pump-alarms.c */

/* Raise an alarm: record it, log it, signal it, drive the outputs, and
 * halt delivery if it halts. `event_like` conditions (a restart, a lapse)
 * have no lasting cause: they latch until acknowledged. */
void pump_raise_alarm(struct pump *p, enum alarm_condition c, bool event_like, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* The cause of c is gone: a non-latching alarm clears (recorded and
 * signalled); a latching one waits for a person. */
void pump_alarm_cause_gone(struct pump *p, enum alarm_condition c);
/* Raise c's priority (never lowers), recorded and signalled. */
void pump_escalate_alarm(struct pump *p, enum alarm_condition c, enum alarm_priority prio);
/* Per tick: escalate unanswered medium alarms, drive the outputs. */
void pump_alarms_tick(struct pump *p);
/* Drive the outputs to what the alarm set shows now. */
void pump_update_outputs(struct pump *p);

/* pump-pca.c */
/* After the database opened: reload the PCA history. latest_utc: the
 * newest record in the file, which no dose of a dead daemon ran past. */
void pump_pca_init(struct pump *p, int64_t latest_utc);
/* A program was accepted (any mode): take its PCA settings, or drop them. */
void pump_pca_program(struct pump *p, const struct program *prog, bool new_patient, bool clinician_counts);
/* A PCA infusion ended (closed in the history): count its basal. */
void pump_pca_infusion_ended(struct pump *p, int64_t infusion_id);
/* Start: count the loading dose if the plan begins with one. */
void pump_pca_started(struct pump *p);
/* A clinician bolus began in a PCA program. */
void pump_pca_clinician_bolus(struct pump *p, int64_t volume_nl, int64_t rate_nl_per_h, int64_t uid);
/* Per tick: end a dose whose segment ended, prune, the limit state. */
void pump_pca_tick(struct pump *p);
void pump_pca_update_limit(struct pump *p);
/* Send PCA button presses to the demand path. */
void pump_pca_watch_button(struct pump *p);

/* pump.c: a delivery sample now (force: whatever the time since the last). */
void delivery_sample(struct pump *p, bool force);

/* pump-retention.c: prune the history to the config's limits at start-up
 * (once the event loop runs) and hourly, a step per turn of the loop.
 * Failures are logged, never fatal. */
void pump_retention_start(struct pump *p, const struct config *cfg);
void pump_retention_free(struct pump *p);

/* pump-storage.c: judge every history write's result (0 or -errno). The
 * first failure raises the high, latching, non-halting
 * history-unavailable alarm; the first success after it records a
 * history-gap event (and the alarm's raised row if that was lost) and
 * marks the cause gone. */
void pump_storage_result(struct pump *p, int r);
/* History writes are failing now: no new infusion may start. */
bool pump_storage_failing(const struct pump *p);

/* pump-supervise.c */
void pump_supervise_init(struct pump *p, const struct config *cfg);
/* Per tick, after the motion was accounted: read sensors and inputs, run
 * every detector, raise and clear alarms. */
void pump_supervise(struct pump *p);
/* A program was accepted: take its care area's occlusion settings. */
int pump_supervise_program(struct pump *p, const char *care_area, double asked_limit_mmhg, struct pump_error *err);
/* Relief (back-off) motion: account the reverse steps taken so far. */
void pump_relief_account(struct pump *p, int64_t steps);
/* Start pulling back after a downstream occlusion. */
void pump_relief_start(struct pump *p);
/* Re-grant the relief lease each tick; ends it when done. */
void pump_relief_tick(struct pump *p);
/* An acknowledged alarm: reset what the detector must forget. */
void pump_supervise_acknowledged(struct pump *p, enum alarm_condition c);
