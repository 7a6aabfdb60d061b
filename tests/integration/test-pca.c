/* SPDX-License-Identifier: MIT */
/* PCA end to end: the real infusiond on a private dbus-daemon, in virtual
 * time. A patient pressing every 10 s for 4 hours, with every window of
 * delivered volume checked from the delivery samples in the history (not
 * from the daemon's own counter); lockout, debounce, a kill -9 in the
 * middle of a lockout, the library's hard limits, and basal delivery
 * through lockouts and the limit state up to the end of the reservoir. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"

#define US 1000000ULL
#define ERR_HARD "org.infusiond.pump1.Error.HardLimit"

struct fixture {
        struct harness h;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        harness_setup(&f->h);
        harness_write_config(&f->h, "virtual", NULL);
        harness_start_daemon(&f->h);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        harness_teardown(&f->h);
        free(f);
        return 0;
}

static void advance_s(struct fixture *f, double s) {
        call_advance(&f->h, (uint64_t) llround(s * US));
}

static bool get_bool(struct fixture *f, const char *prop) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int v = 0;
        if (sd_bus_get_property_trivial(f->h.bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, prop, &e, 'b', &v) < 0)
                fail_msg("Get %s: %s", prop, e.message);
        return v;
}

static void assert_state(struct fixture *f, const char *want) {
        char *s = get_string(&f->h, CH_PATH, CH_IFACE, "State");
        assert_string_equal(s, want);
        free(s);
}

/* PcaDemand: the outcome (static buffer) and the demand id. */
static const char *demand(struct fixture *f, uint64_t *ret_id) {
        static char outcome[32];
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *o;
        uint64_t id, next;
        int r = sd_bus_call_method(f->h.bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "PcaDemand", &e, &reply, NULL);
        if (r < 0)
                fail_msg("PcaDemand failed: %s: %s", e.name, e.message);
        assert_true(sd_bus_message_read(reply, "stt", &o, &id, &next) >= 0);
        snprintf(outcome, sizeof(outcome), "%s", o);
        if (ret_id)
                *ret_id = id;
        sd_bus_message_unref(reply);
        return outcome;
}

static void ack_all(struct fixture *f) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *id, *cond, *pr, *msg;
        uint64_t raised;
        char ids[16][64];
        int n = 0;
        assert_true(sd_bus_get_property(f->h.bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "ActiveAlarms", &e, &reply,
                                        "a(sssts)") >= 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(sssts)") >= 0);
        while (n < 16 && sd_bus_message_read(reply, "(sssts)", &id, &cond, &pr, &raised, &msg) > 0)
                snprintf(ids[n++], 64, "%s", id);
        sd_bus_message_unref(reply);
        for (int i = 0; i < n; i++)
                assert_true(sd_bus_call_method(f->h.bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "AcknowledgeAlarm", &e,
                                               NULL, "s", ids[i]) >= 0);
}

static bool alarm_active(struct fixture *f, const char *condition, char prio_out[16]) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *id, *cond, *pr, *msg;
        uint64_t raised;
        bool found = false;
        assert_true(sd_bus_get_property(f->h.bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "ActiveAlarms", &e, &reply,
                                        "a(sssts)") >= 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(sssts)") >= 0);
        while (sd_bus_message_read(reply, "(sssts)", &id, &cond, &pr, &raised, &msg) > 0)
                if (strcmp(cond, condition) == 0) {
                        found = true;
                        if (prio_out)
                                snprintf(prio_out, 16, "%s", pr);
                }
        sd_bus_message_unref(reply);
        return found;
}

/* A basic PCA (no library loaded): dose mL, lockout s, max per hour,
 * limit mL over window s, basal mL/h (0: none), reservoir mL. */
static int program_pca(struct fixture *f, char *err_out, double dose_ml, unsigned lockout_s, unsigned per_h,
                       double limit_ml, unsigned window_s, double basal_ml_h, double vtbi_ml, bool new_patient) {
        char msg[512], err[128];
        int r;
        if (basal_ml_h > 0)
                r = CALL_DICT(&f->h, "Program", err, msg, 9, "Mode", "s", "pca", "PcaDoseMl", "d", dose_ml,
                              "LockoutSec", "u", lockout_s, "MaxDosesPerHour", "u", per_h, "LimitMl", "d", limit_ml,
                              "LimitWindowSec", "u", window_s, "VtbiMl", "d", vtbi_ml, "BasalRateMlPerHour", "d", basal_ml_h,
                              "NewPatient", "b", new_patient);
        else
                r = CALL_DICT(&f->h, "Program", err, msg, 8, "Mode", "s", "pca", "PcaDoseMl", "d", dose_ml,
                              "LockoutSec", "u", lockout_s, "MaxDosesPerHour", "u", per_h, "LimitMl", "d", limit_ml,
                              "LimitWindowSec", "u", window_s, "VtbiMl", "d", vtbi_ml, "NewPatient", "b", new_patient);
        if (r < 0)
                print_message("Program: %s: %s\n", err, msg);
        snprintf(err_out, 128, "%s", err);
        return r;
}

/* ---- the delivered volume in every window, from the history ---------- */

struct sample {
        double t_s;
        double volume_ml;
};

static size_t read_samples(struct fixture *f, struct sample **ret) {
        sqlite3 *db;
        sqlite3_stmt *st;
        size_t n = 0, cap = 1024;
        struct sample *v = malloc(cap * sizeof(*v));
        assert_non_null(v);
        assert_int_equal(sqlite3_open_v2(f->h.db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT mono_us, volume_nl FROM delivery_samples ORDER BY mono_us, id",
                                            -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                if (n == cap)
                        assert_non_null(v = realloc(v, (cap *= 2) * sizeof(*v)));
                v[n++] = (struct sample) { sqlite3_column_int64(st, 0) / 1e6, sqlite3_column_int64(st, 1) / 1e6 };
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        *ret = v;
        return n;
}

/* The delivered volume at t: linear between two samples (the history
 * samples at every change of motion), flat before the first. */
static double volume_at(const struct sample *s, size_t n, double t) {
        if (t <= s[0].t_s)
                return 0;
        for (size_t i = 1; i < n; i++)
                if (t <= s[i].t_s) {
                        double span = s[i].t_s - s[i - 1].t_s;
                        double k = span > 0 ? (t - s[i - 1].t_s) / span : 1;
                        return s[i - 1].volume_ml + k * (s[i].volume_ml - s[i - 1].volume_ml);
                }
        return s[n - 1].volume_ml;
}

/* The most delivered in any window of window_s: V(t) - V(t - w) is linear
 * between the sample times and the sample times plus w, so its maximum is
 * at one of those. */
static double max_window_ml(const struct sample *s, size_t n, double window_s) {
        double most = 0;
        for (size_t i = 0; i < n; i++)
                for (int shifted = 0; shifted < 2; shifted++) {
                        double t = s[i].t_s + (shifted ? window_s : 0);
                        if (t > s[n - 1].t_s)
                                continue;
                        double v = volume_at(s, n, t) - volume_at(s, n, t - window_s);
                        if (v > most)
                                most = v;
                }
        return most;
}

/* ---- tests ------------------------------------------------------------ */

/* 1 mL doses (60 s each at the default 60 mL/h), lockout 10 min, at most
 * 4 an hour, 10 mL per 4 h, basal 0.5 mL/h (2 mL of the 10 kept for it),
 * reservoir 50 mL. The patient presses every 10 s for 4 hours: presses
 * at t = 0, 10, ..., 14390 s after Start, 1440 in all.
 *
 * By hand (lockout first, then the hourly count, then the limit):
 *   t = 0, 600, 1200, 1800      granted (lockout ends every 600 s)
 *   t = 2400 .. 3590            hourly-count: 4 doses in the last hour
 *                               until the dose at 0 leaves it at 3600
 *   t = 3600, 4200, 4800, 5400  granted: 5th to 8th dose; after the 8th,
 *                               8 mL of doses + 2 mL basal = the limit
 *   t = 6000 .. 7190            hourly-count again (3600..5400 in the hour)
 *   t = 7200 .. 14390           cumulative-limit: a 9th dose would make 11
 *                               mL, until the first dose (ended at 60 s)
 *                               leaves the 4 h window at 14460 s
 *   lockout: the 59 presses after each of the 8 grants
 * So granted 8, lockout 8 * 59 = 472, hourly-count 2 * 120 = 240,
 * cumulative-limit 720: 1440 in all. */
static void four_hours_of_presses_every_10_s_never_exceed_the_limit(void **state) {
        struct fixture *f = *state;
        char err[128];
        unsigned granted = 0, lockout = 0, hourly = 0, limit = 0, other = 0;

        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 10.0, 4 * 3600, 0.5, 50, false), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        for (unsigned k = 0; k < 1440; k++) {
                const char *o = demand(f, NULL);
                if (strcmp(o, "granted") == 0)
                        granted++;
                else if (strcmp(o, "lockout") == 0)
                        lockout++;
                else if (strcmp(o, "hourly-count") == 0)
                        hourly++;
                else if (strcmp(o, "cumulative-limit") == 0)
                        limit++;
                else {
                        print_message("press %u at %u s: %s\n", k, k * 10, o);
                        other++;
                }
                advance_s(f, 10);
        }
        assert_int_equal(granted, 8);
        assert_int_equal(lockout, 472);
        assert_int_equal(hourly, 240);
        assert_int_equal(limit, 720);
        assert_int_equal(other, 0);

        /* The daemon's own counters and the history say the same. */
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "PcaDemandsTotal"), 1440);
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "PcaDemandsGranted"), 8);
        assert_int_equal(harness_query_i64(&f->h, "SELECT count(*) FROM pca_demands WHERE outcome = 'granted' AND source = 'dbus'"), 8);
        assert_int_equal(harness_query_i64(&f->h, "SELECT count(*) FROM pca_demands WHERE outcome = 'cumulative-limit'"), 720);

        /* The limit state: a medium alarm, and basal goes on. */
        char prio[16];
        assert_true(alarm_active(f, "pca-limit", prio));
        assert_string_equal(prio, "medium");
        assert_true(fabs(get_double(&f->h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") - 0.5) < 1e-9);

        /* Every window of 4 h, from the delivery samples in the database. */
        struct sample *s;
        size_t n = read_samples(f, &s);
        assert_true(n > 4 * 60);                        /* at least one a minute */
        double most = max_window_ml(s, n, 4 * 3600);
        print_message("most delivered in any 4 h window: %.4f mL (limit 10 mL)\n", most);
        assert_true(most <= 10.0);
        /* And the test can see a crossing: 8 doses and 4 h of basal is
         * close to the limit, so a 9th dose would have shown. */
        assert_true(most > 9.5);
        free(s);
}

static void a_demand_in_the_lockout_is_denied_and_a_rattle_counts_once(void **state) {
        struct fixture *f = *state;
        char err[128];
        uint64_t id1, id2;

        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 10.0, 3600, 0, 50, false), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        /* Five presses within 50 ms: one demand. */
        assert_string_equal(demand(f, &id1), "granted");
        for (int i = 0; i < 4; i++) {
                advance_s(f, 0.01);
                assert_string_equal(demand(f, &id2), "debounced");
                assert_int_equal(id2, id1);
        }
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "PcaDemandsTotal"), 1);
        assert_int_equal(harness_query_i64(&f->h, "SELECT count(*) FROM pca_demands"), 1);

        /* The button (a HAL input edge) takes the same path. */
        advance_s(f, 30);
        for (int i = 0; i < 5; i++) {
                assert_true(sd_bus_call_method(f->h.bus, "org.infusiond.pump1", SIM_PATH, SIM_IFACE, "PressPcaButton",
                                               NULL, NULL, NULL) >= 0);
                advance_s(f, 0.01);
        }
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "PcaDemandsTotal"), 2);
        assert_int_equal(harness_query_i64(&f->h, "SELECT count(*) FROM pca_demands WHERE source = 'simulator' AND "
                                                  "outcome = 'lockout'"), 1);
        /* 30 s after a granted demand with a 10 min lockout. */
        advance_s(f, 1);
        assert_string_equal(demand(f, NULL), "lockout");
        uint64_t next = get_u64(&f->h, CH_PATH, CH_IFACE, "NextDemandAllowedSec");
        assert_true(next > 500 && next <= 600 - 31);
        advance_s(f, (double) next);
        assert_string_equal(demand(f, NULL), "granted");
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "PcaDemandsGranted"), 2);
}

static void a_kill_in_the_lockout_does_not_buy_a_dose(void **state) {
        struct fixture *f = *state;
        char err[128];

        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 10.0, 3600, 0, 50, false), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 120);                      /* the dose is given; 8 min of lockout left */

        assert_true(WIFSIGNALED(harness_kill_daemon(&f->h, SIGKILL)));
        harness_start_daemon(&f->h);
        /* Nothing resumes by itself; the history came back. */
        assert_state(f, "idle");
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "PcaDemandsTotal"), 1);
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "PcaDemandsGranted"), 1);
        ack_all(f);
        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 10.0, 3600, 0, 50, false), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_string_equal(demand(f, NULL), "lockout");
        /* The lockout went on where it was, not from the restart. */
        uint64_t next = get_u64(&f->h, CH_PATH, CH_IFACE, "NextDemandAllowedSec");
        assert_true(next <= 600 - 121 && next > 400);
        advance_s(f, (double) next);
        assert_string_equal(demand(f, NULL), "granted");
}

static void a_new_patient_starts_a_fresh_history(void **state) {
        struct fixture *f = *state;
        char err[128];

        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 10.0, 3600, 0, 50, false), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 120);
        assert_int_equal(call_simple(&f->h, "Stop", err, sizeof(err)), 0);
        /* A reprogram alone keeps the lockout ... */
        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 10.0, 3600, 0, 50, false), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_string_equal(demand(f, NULL), "lockout");
        assert_int_equal(call_simple(&f->h, "Stop", err, sizeof(err)), 0);
        /* ... a new patient does not inherit it. */
        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 10.0, 3600, 0, 50, true), 0);
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "PcaDemandsTotal"), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_string_equal(demand(f, NULL), "granted");
}

static void demands_when_not_running_are_recorded_as_denied(void **state) {
        struct fixture *f = *state;
        char err[128];

        assert_string_equal(demand(f, NULL), "not-running");
        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 10.0, 3600, 0, 50, false), 0);
        advance_s(f, 1);
        assert_string_equal(demand(f, NULL), "not-running");
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_true(sd_bus_call_method(f->h.bus, "org.infusiond.pump1", SIM_PATH, SIM_IFACE, "SetDoorOpen", NULL, NULL,
                                       "b", true) >= 0);
        advance_s(f, 1);
        assert_state(f, "halted");
        assert_string_equal(demand(f, NULL), "alarm-active");
        assert_int_equal(harness_query_i64(&f->h, "SELECT count(*) FROM pca_demands WHERE outcome = 'not-running'"), 2);
        assert_int_equal(harness_query_i64(&f->h, "SELECT count(*) FROM pca_demands WHERE outcome = 'alarm-active'"), 1);
}

/* Basal 1 mL/h; 0.5 mL doses; at most 2.5 mL an hour, 1 of it kept for
 * the basal: three doses fill the window. Reservoir 3 mL. */
static void basal_runs_through_lockouts_and_the_limit_and_stops_at_the_reservoir(void **state) {
        struct fixture *f = *state;
        char err[128];

        assert_int_equal(program_pca(f, err, 0.5, 600, 4, 2.5, 3600, 1.0, 3.0, false), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 60);                               /* 0.5 mL at 60 mL/h takes 30 s */
        /* In the lockout: basal. */
        assert_string_equal(demand(f, NULL), "lockout");
        assert_true(fabs(get_double(&f->h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") - 1.0) < 1e-9);
        double v0 = get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        advance_s(f, 360);
        double v1 = get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        assert_true(fabs((v1 - v0) - 0.1) < 0.001);     /* 6 min at 1 mL/h */

        advance_s(f, 600 - 61 - 360 + 1);
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 600);
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 60);
        /* 1.5 mL of doses + 1 mL kept for basal: the next would cross 2.5. */
        assert_true(get_bool(f, "PcaLimitReached"));
        char prio[16];
        assert_true(alarm_active(f, "pca-limit", prio));
        assert_string_equal(prio, "medium");
        advance_s(f, 600);
        assert_string_equal(demand(f, NULL), "cumulative-limit");
        /* Basal through the limit state. */
        assert_true(fabs(get_double(&f->h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") - 1.0) < 1e-9);
        v0 = get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        advance_s(f, 360);
        v1 = get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        assert_true(fabs((v1 - v0) - 0.1) < 0.001);

        /* 1.5 mL of doses and about 0.6 mL of basal so far: the rest of the
         * 3 mL reservoir at 1 mL/h is under an hour. The pump stops there. */
        advance_s(f, 3600);
        assert_state(f, "idle");
        double v = get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        assert_true(fabs(v - 3.0) < 0.001);
        assert_true(get_double(&f->h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 0);
        assert_false(alarm_active(f, "pca-limit", NULL));
        advance_s(f, 600);
        assert_true(get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl") == v);
        assert_int_equal(harness_query_i64(&f->h, "SELECT count(*) FROM infusions WHERE status = 'completed'"), 1);
}

/* No basal: at the limit the pump keeps the vein open at 0.1 mL/h, and
 * that flow is kept room for. */
static void without_basal_the_limit_keeps_the_vein_open(void **state) {
        struct fixture *f = *state;
        char err[128];

        /* 1 mL doses, 3 mL per hour: 0.1 mL kept for the limit KVO, so two doses fit. */
        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 3.0, 3600, 0, 50, false), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_true(get_double(&f->h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 0);
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 600);
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 61);
        assert_true(get_bool(f, "PcaLimitReached"));
        assert_true(fabs(get_double(&f->h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") - 0.1) < 1e-9);
        advance_s(f, 600);
        assert_string_equal(demand(f, NULL), "cumulative-limit");
        /* When the first dose has left the hour, a dose fits again and the flow stops. */
        advance_s(f, 3600 - 600 - 61 - 600 + 63);
        assert_false(get_bool(f, "PcaLimitReached"));
        assert_true(get_double(&f->h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 0);
        assert_false(alarm_active(f, "pca-limit", NULL));
        assert_string_equal(demand(f, NULL), "granted");
}

/* Without a library saying otherwise, a clinician bolus counts toward the
 * limit (docs/API.md): it takes room a demand would have had. */
static void a_clinician_bolus_counts_toward_the_limit(void **state) {
        struct fixture *f = *state;
        char err[128], msg[512];

        /* 1 mL doses, 3 mL an hour, 0.1 mL kept for the limit KVO. */
        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 3.0, 3600, 0, 50, false), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_true(fabs(get_double(&f->h, CH_PATH, CH_IFACE, "WindowVolumeMl") - 0.1) < 1e-9);
        assert_int_equal(CALL_DICT(&f->h, "Bolus", err, msg, 2, "BolusMl", "d", 1.5, "BolusRateMlPerHour", "d", 60.0), 0);
        advance_s(f, 1);
        assert_true(fabs(get_double(&f->h, CH_PATH, CH_IFACE, "WindowVolumeMl") - 1.6) < 1e-9);
        /* While the bolus runs, no demand. */
        assert_string_equal(demand(f, NULL), "bolus-in-progress");
        advance_s(f, 120);
        /* 1.6 + 1 fits under 3; then 2.6 + 1 does not. */
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 600);
        assert_string_equal(demand(f, NULL), "cumulative-limit");
        assert_int_equal(harness_query_i64(&f->h, "SELECT count(*) FROM pca_demands WHERE source = 'clinician' AND "
                                                  "counts = 1 AND delivered_nl > 0"), 1);
        /* The clinician's dose is no patient demand. */
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "PcaDemandsTotal"), 3);
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "PcaDemandsGranted"), 1);
}

/* The basal of an earlier program was in the patient's window too: a Stop
 * and a reprogram without basal, or a restart, must not forget it. */
static void basal_given_under_an_earlier_program_still_counts(void **state) {
        struct fixture *f = *state;
        char err[128], msg[512];
#define NO_BASAL()                                                                                                   \
        CALL_DICT(&f->h, "Program", err, msg, 8, "Mode", "s", "pca", "PcaDoseMl", "d", 1.0, "LockoutSec", "u", 600,   \
                  "MaxDosesPerHour", "u", 4, "LimitMl", "d", 3.0, "LimitWindowSec", "u", 3600, "VtbiMl", "d", 50.0,    \
                  "LimitKvoRateMlPerHour", "d", 0.0)

        /* 50 min at 1 mL/h: 0.83 mL of basal. */
        assert_int_equal(program_pca(f, err, 1.0, 600, 4, 3.0, 3600, 1.0, 50, false), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 3000);
        assert_int_equal(call_simple(&f->h, "Stop", err, sizeof(err)), 0);
        assert_int_equal(NO_BASAL(), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        /* 0.83 + 1, 0.83 + 2 fit under 3 mL; 0.83 + 3 does not. */
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 600);
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 600);
        assert_string_equal(demand(f, NULL), "cumulative-limit");

        /* And after a kill -9, from the history. */
        assert_true(WIFSIGNALED(harness_kill_daemon(&f->h, SIGKILL)));
        harness_start_daemon(&f->h);
        ack_all(f);
        assert_int_equal(NO_BASAL(), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_string_equal(demand(f, NULL), "cumulative-limit");
#undef NO_BASAL
}

/* ---- the library's limits ---------------------------------------------- */

static char *read_file(const char *path) {
        FILE *fp = fopen(path, "re");
        assert_non_null(fp);
        char *buf = malloc(1 << 20);
        assert_non_null(buf);
        size_t n = fread(buf, 1, (1 << 20) - 1, fp);
        buf[n] = 0;
        fclose(fp);
        return buf;
}

static void pca_beyond_the_library_hard_limits_is_refused(void **state) {
        struct fixture *f = *state;
        char path[512], err[128], msg[512];
        snprintf(path, sizeof(path), "%s/drug-library.sample.json", getenv("CONFIG_DIR"));
        char *json = read_file(path);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(f->h.bus, "org.infusiond.pump1", "/org/infusiond/pump1/library",
                                   "org.infusiond.pump1.DrugLibrary", "Import", &e, NULL, "s", json);
        if (r < 0)
                fail_msg("Import: %s", e.message);
        free(json);

#define MORPHINE(dose_mg, lockout_s, per_h, limit_mg)                                                              \
        CALL_DICT(&f->h, "Program", err, msg, 9, "Mode", "s", "pca", "CareArea", "s", "ICU", "Drug", "s", "morphine-pca", \
                  "PcaDose", "d", (double) (dose_mg), "LockoutSec", "u", (unsigned) (lockout_s), "MaxDosesPerHour", "u",   \
                  (unsigned) (per_h), "LimitDose", "d", (double) (limit_mg), "LimitWindowSec", "u", 4 * 3600,            \
                  "VtbiMl", "d", 50.0)

        /* Within every limit. */
        assert_int_equal(MORPHINE(1, 600, 6, 12), 0);
        assert_true(fabs(get_double(&f->h, CH_PATH, CH_IFACE, "PcaDoseMl") - 1.0) < 1e-9);
        /* Each parameter beyond its hard limit, one at a time. */
        assert_true(MORPHINE(5, 600, 6, 12) < 0);              /* dose above 3 mg */
        assert_string_equal(err, ERR_HARD);
        assert_non_null(strstr(msg, "PcaDose"));
        assert_true(MORPHINE(1, 120, 6, 12) < 0);              /* lockout under 5 min */
        assert_string_equal(err, ERR_HARD);
        assert_non_null(strstr(msg, "LockoutSec"));
        assert_true(MORPHINE(1, 600, 20, 12) < 0);             /* more than 12 an hour */
        assert_string_equal(err, ERR_HARD);
        assert_non_null(strstr(msg, "MaxDosesPerHour"));
        assert_true(MORPHINE(1, 600, 6, 40) < 0);              /* more than 30 mg per 4 h */
        assert_string_equal(err, ERR_HARD);
        assert_non_null(strstr(msg, "LimitDose"));
        /* The refusals are there for pharmacy to review, and the good
         * program stands. */
        assert_true(harness_query_i64(&f->h, "SELECT count(*) FROM limit_events WHERE kind = 'hard-refused'") >= 4);
        assert_true(fabs(get_double(&f->h, CH_PATH, CH_IFACE, "WindowLimitMl") - 12.0) < 1e-9);

        /* Med-Surg allows no basal rate with PCA ... */
        assert_true(CALL_DICT(&f->h, "Program", err, msg, 10, "Mode", "s", "pca", "CareArea", "s", "Med-Surg", "Drug", "s",
                              "morphine-pca", "PcaDose", "d", 1.0, "LockoutSec", "u", 600, "MaxDosesPerHour", "u", 4,
                              "LimitDose", "d", 2.0, "LimitWindowSec", "u", 4 * 3600, "VtbiMl", "d", 50.0,
                              "BasalDose", "d", 0.5) < 0);
        assert_string_equal(err, ERR_HARD);
        assert_non_null(strstr(msg, "BasalDose"));
        /* ... and says "stop" at the limit: two 1 mg doses fill 2 mg per
         * 4 h, and then nothing flows (in the ICU the limit KVO would). */
        assert_int_equal(CALL_DICT(&f->h, "Program", err, msg, 9, "Mode", "s", "pca", "CareArea", "s", "Med-Surg", "Drug",
                                   "s", "morphine-pca", "PcaDose", "d", 1.0, "LockoutSec", "u", 600, "MaxDosesPerHour", "u", 4,
                                   "LimitDose", "d", 2.0, "LimitWindowSec", "u", 4 * 3600, "VtbiMl", "d", 50.0), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 600);
        assert_string_equal(demand(f, NULL), "granted");
        advance_s(f, 120);
        assert_true(get_bool(f, "PcaLimitReached"));
        assert_true(get_double(&f->h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 0);
        double v = get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        advance_s(f, 1800);
        assert_true(get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl") == v);
        assert_string_equal(demand(f, NULL), "cumulative-limit");
#undef MORPHINE
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(four_hours_of_presses_every_10_s_never_exceed_the_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(a_demand_in_the_lockout_is_denied_and_a_rattle_counts_once, setup, teardown),
                cmocka_unit_test_setup_teardown(a_kill_in_the_lockout_does_not_buy_a_dose, setup, teardown),
                cmocka_unit_test_setup_teardown(a_new_patient_starts_a_fresh_history, setup, teardown),
                cmocka_unit_test_setup_teardown(demands_when_not_running_are_recorded_as_denied, setup, teardown),
                cmocka_unit_test_setup_teardown(basal_runs_through_lockouts_and_the_limit_and_stops_at_the_reservoir, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(without_basal_the_limit_keeps_the_vein_open, setup, teardown),
                cmocka_unit_test_setup_teardown(a_clinician_bolus_counts_toward_the_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(basal_given_under_an_earlier_program_still_counts, setup, teardown),
                cmocka_unit_test_setup_teardown(pca_beyond_the_library_hard_limits_is_refused, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
