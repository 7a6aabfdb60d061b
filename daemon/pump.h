/* SPDX-License-Identifier: MIT */
#pragma once

/* The pump: one channel's delivery engine, safety gate, executor, alarms,
 * hardware and history, wired together. Everything that changes the pump
 * goes through here, whether it came from D-Bus, a timer or the virtual
 * clock. No D-Bus in this file: the bus layer observes through callbacks.
 *
 * Control loop (pump_tick, every control_period): account the steps the
 * executor really took, move the state machine on (VTBI -> KVO), ask the
 * gate for a fresh lease, read the sensors, checkpoint the volume. */

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/channel.h"
#include "hal/hal.h"
#include "safety/alarm.h"
#include "safety/ders.h"
#include "safety/library.h"

struct pump;

/* Named errors, for the bus layer to send as they are. */
#define PUMP_ERROR_PREFIX            "org.infusiond.pump1.Error."
#define PUMP_ERROR_INVALID_ARGUMENT  PUMP_ERROR_PREFIX "InvalidArgument"
#define PUMP_ERROR_INVALID_STATE     PUMP_ERROR_PREFIX "InvalidState"
#define PUMP_ERROR_ALARM_ACTIVE      PUMP_ERROR_PREFIX "AlarmActive"
#define PUMP_ERROR_UNKNOWN_ALARM     PUMP_ERROR_PREFIX "UnknownAlarm"
#define PUMP_ERROR_ALARM_CAUSE       PUMP_ERROR_PREFIX "AlarmCauseActive"
#define PUMP_ERROR_NOT_SUPPORTED     PUMP_ERROR_PREFIX "NotSupported"
#define PUMP_ERROR_HARD_LIMIT        PUMP_ERROR_PREFIX "HardLimit"
#define PUMP_ERROR_SOFT_LIMIT        PUMP_ERROR_PREFIX "SoftLimitUnconfirmed"
#define PUMP_ERROR_UNKNOWN_DRUG      PUMP_ERROR_PREFIX "UnknownDrug"
#define PUMP_ERROR_BASIC_NOT_ALLOWED PUMP_ERROR_PREFIX "BasicInfusionNotAllowed"
#define PUMP_ERROR_HARDWARE          PUMP_ERROR_PREFIX "Hardware"
#define PUMP_ERROR_STORAGE           PUMP_ERROR_PREFIX "Storage"

struct pump_error {
        const char *name;               /* one of PUMP_ERROR_* */
        /* Long enough for a refused library's list of problems. */
        char message[4096];
};

enum {
        PUMP_CHANGED_STATE    = 1 << 0, /* state, program, infusion id */
        PUMP_CHANGED_PROGRESS = 1 << 1, /* volume, time remaining, pressure */
        PUMP_CHANGED_ALARMS   = 1 << 2,
};

struct pump_observer {
        void *userdata;
        void (*changed)(void *userdata, unsigned what);
        void (*alarm_raised)(void *userdata, const struct alarm *a);
        void (*alarm_cleared)(void *userdata, const struct alarm *a);
        void (*alarm_escalated)(void *userdata, const struct alarm *a);
        void (*infusion_ended)(void *userdata, int64_t infusion_id, const char *status, int64_t volume_nl);
        void (*pca_demanded)(void *userdata, int64_t demand_id, const char *source, const char *outcome);
};

/* Build the pump from a loaded config: hardware backend, self-test, the
 * database (recovering any infusion a dead daemon left open, which raises
 * the interrupted alarm). The motor is left disabled. On failure *err says
 * what failed. */
int pump_new(const struct config *cfg, struct pump **ret, struct pump_error *err);
struct pump *pump_free(struct pump *p);

void pump_set_observer(struct pump *p, const struct pump_observer *o);

/* Real time: start the step thread. Virtual time: nothing to start. */
int pump_start_executor(struct pump *p, int rt_priority, bool *ret_rt_ok);
/* The motor executor, for a stepping driver other than its thread
 * (daemon/stepping.h: bench/steps' baseline). */
struct executor *pump_executor(struct pump *p);

bool pump_is_virtual(const struct pump *p);
int64_t pump_now_us(const struct pump *p);
int64_t pump_utc_us(const struct pump *p);
/* The history database, for readers (the History object). */
struct db *pump_db(struct pump *p);
int64_t pump_control_period_us(const struct pump *p);

/* One pass of the control loop at the current pump time. */
void pump_tick(struct pump *p);

/* Virtual clock only: run usec of pump time, stepping and ticking exactly
 * as the real-time loop would. -EOPNOTSUPP with a real clock. */
int pump_advance(struct pump *p, int64_t usec, struct pump_error *err);

/* Virtual clock only, for benchmarks: wake the executor late by what a
 * real-time run measured, the k-th step (counted since the executor
 * started) by lateness_us[k % n], as the step thread woke in that run. A
 * step already due runs at once, as it does on the thread. The array is
 * copied; n = 0 turns replay off. -EOPNOTSUPP on the real clock, -EINVAL
 * unless every lateness is in [0, 10 s]. */
int pump_replay_step_lateness(struct pump *p, const int64_t *lateness_us, size_t n);

/* What the current program infuses, as the library named it. */
struct pump_program_info {
        char care_area[DRUG_LIBRARY_ID_MAX + 1];
        char drug_id[DRUG_LIBRARY_ID_MAX + 1];  /* "" for a basic infusion */
        char drug_name[DRUG_LIBRARY_TEXT_MAX + 1];
        char dose_unit[DOSE_UNIT_STRING_MAX];
        char concentration[64];
        double dose_rate;                       /* NAN for a basic infusion */
        bool has_strength;                      /* a concentration was chosen: */
        struct concentration strength;          /* matched by value, not by index */
        struct patient patient;                 /* as programmed, for /kg and /m2 doses */
};

/* Commands. Each returns 0, or a negative errno with *err filled. */

/* Program the channel. req carries the drug library side (care area,
 * drug, dose, patient, soft-limit confirmation); it may be NULL for a
 * plain program with no library keys. Every delivery rate of the plan is
 * judged against the library; overrides and refusals are recorded with
 * uid for pharmacy. */
int pump_program(struct pump *p, const struct program *prog, const struct ders_request *req, int64_t uid,
                 struct pump_error *err);
const struct pump_program_info *pump_program_info(const struct pump *p);

/* A clinician bolus while running: volume_nl (or, for a library drug,
 * have_amount with amount in the library's bolus unit) at rate_nl_per_h,
 * from the same syringe (it counts toward the VTBI). Judged against the
 * library's bolus limits for the drug and care area. */
int pump_bolus(struct pump *p, int64_t volume_nl, bool have_amount, double amount, int64_t rate_nl_per_h,
               bool confirm_soft, const char *override_reason, int64_t uid, struct pump_error *err);

/* Change the rate of a running or paused continuous infusion (or the
 * maintenance part of a loading one): by a new rate in mL/h, or a new
 * dose in the drug's unit (have_dose). Judged against the same library
 * limits as Program; recorded with the old and new rate. */
int pump_titrate(struct pump *p, int64_t rate_nl_per_h, bool have_dose, double dose_rate, bool confirm_soft,
                 const char *override_reason, int64_t uid, struct pump_error *err);

/* Replace the drug library as a whole from JSON text. On a bad file *err
 * lists the problems at their JSON paths and nothing changes. */
int pump_library_import(struct pump *p, const char *json, size_t len, int64_t uid, struct pump_error *err);
/* The library in use (NULL: none), and the SHA-256 of its canonical JSON. */
const struct drug_library *pump_library(const struct pump *p);
const char *pump_library_sha256(const struct pump *p);
/* Canonical JSON of the library in use (caller frees); -ENOENT if none. */
int pump_library_export(const struct pump *p, char **ret_json);
int pump_start(struct pump *p, struct pump_error *err);
int pump_pause(struct pump *p, struct pump_error *err);
int pump_resume(struct pump *p, struct pump_error *err);
int pump_stop(struct pump *p, struct pump_error *err);
/* A person acknowledges alarm id (uid: who, -1 unknown): refused while
 * its cause remains. */
int pump_acknowledge_alarm(struct pump *p, const char *id, int64_t uid, struct pump_error *err);
/* Pause the alarm audio for 120 s (the GIP maximum); alarms raised after
 * this sound at once. *ret_until_utc_us: when the pause ends. */
int pump_silence_alarms(struct pump *p, int64_t uid, int64_t *ret_until_utc_us, struct pump_error *err);
/* UTC µs the audio pause ends; 0 when the audio is not paused. */
int64_t pump_audio_paused_until_utc_us(const struct pump *p);
/* Pump time the alarm outputs next change (INT64_MAX: not before a new
 * alarm); the real-time loop sleeps until then and calls
 * pump_update_outputs(). */
int64_t pump_next_output_us(const struct pump *p);
void pump_update_outputs(struct pump *p);

/* The downstream occlusion limit in force (mmHg). */
double pump_occlusion_limit_mmhg(const struct pump *p);
/* The last power reading; false when none was read yet. */
bool pump_power(const struct pump *p, struct hal_power_status *ret);

/* The sim backend (NULL otherwise), for the Simulator interface to inject
 * faults; what it did is recorded with pump_note_simulator(). */
struct sim *pump_sim(struct pump *p);
void pump_note_simulator(struct pump *p, const char *what);

/* A patient's PCA demand from source ("button", "dbus", "simulator"; uid
 * -1 for the button). Every demand is recorded with its outcome; a denial
 * is not an error. Returns a negative errno with *err only when the
 * demand could not be recorded (then no dose was given). */
struct pump_demand_result {
        const char *outcome;            /* "granted", "debounced", or a denial reason */
        int64_t demand_id;
        int64_t next_allowed_sec;
};
int pump_pca_demand(struct pump *p, const char *source, int64_t uid, struct pump_demand_result *ret,
                    struct pump_error *err);
struct pca_state;
const struct pca_state *pump_pca(const struct pump *p);
/* Seconds until lockout and hourly count next allow a demand (0: now). */
int64_t pump_pca_next_allowed_sec(const struct pump *p);
struct db_pca_demand;
int pump_pca_demands_recent(struct pump *p, unsigned count, void (*cb)(const struct db_pca_demand *e, void *userdata),
                            void *userdata);
/* The Simulator presses the PCA button: the input handler then records
 * the demand as the simulator's. */
int pump_sim_press_pca(struct pump *p);

/* Shutdown: stop the motor, checkpoint the volume. An open infusion stays
 * open in the database, so the next start reports it interrupted. */
void pump_shutdown(struct pump *p);

/* Read-only views for the bus layer and tests. */
const struct channel *pump_channel(const struct pump *p);
const struct alarm_set *pump_alarms(const struct pump *p);
const char *pump_backend(const struct pump *p);
/* Every device's backend, for the start-up log line. */
const char *pump_devices(const struct pump *p);
const struct hal *pump_hal(const struct pump *p);
int64_t pump_default_kvo_rate_nl_per_h(const struct pump *p);
int64_t pump_infusion_id(const struct pump *p);
double pump_pressure_mmhg(const struct pump *p);
/* Sim truth (0 when the backend is not the sim). */
int64_t pump_sim_delivered_nl(const struct pump *p);
int64_t pump_sim_plunger_steps(const struct pump *p);
bool pump_has_sim(const struct pump *p);
/* Short status line for systemd's STATUS=. */
void pump_status_line(const struct pump *p, char *buf, size_t size);

/* Append an audit row for a command (uid -1 = unknown). Logged, not fatal,
 * on failure: the command's own outcome stands. */
void pump_audit(struct pump *p, int64_t uid, const char *method, const char *object, const char *args,
                const char *outcome, const char *message);
