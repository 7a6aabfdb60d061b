/* SPDX-License-Identifier: MIT */
/* infusiond end to end on a private dbus-daemon, in virtual time. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

#define STEP_ML 0.000173661     /* the test mechanism's step (see test-channel.c) */
#define ERR_INVALID_ARGUMENT "org.infusiond.pump1.Error.InvalidArgument"
#define ERR_INVALID_STATE "org.infusiond.pump1.Error.InvalidState"

static int setup(void **state) {
        struct harness *h = calloc(1, sizeof(*h));
        harness_setup(h);
        harness_write_config(h, "virtual", NULL);
        harness_start_daemon(h);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness_teardown(*state);
        free(*state);
        return 0;
}

static void assert_state(struct harness *h, const char *want) {
        char *s = get_string(h, CH_PATH, CH_IFACE, "State");
        assert_string_equal(s, want);
        free(s);
}


static void introspection_lists_every_member(void **state) {
        struct harness *h = *state;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *xml;
        assert_true(sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH,
                                       "org.freedesktop.DBus.Introspectable", "Introspect", &e, &reply, "") >= 0);
        assert_true(sd_bus_message_read(reply, "s", &xml) > 0);
        const char *members[] = {
                "\"org.infusiond.pump1.Channel\"", "\"Program\"", "\"Start\"", "\"Pause\"", "\"Resume\"",
                "\"Stop\"", "\"State\"", "\"RateMlPerHour\"", "\"VtbiMl\"", "\"VolumeInfusedMl\"",
                "\"TimeRemainingSec\"", "\"PressureMmHg\"", "\"ActiveAlarms\"", "\"AcknowledgeAlarm\"",
                "name=\"settings\"",
        };
        for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
                if (!strstr(xml, members[i]))
                        fail_msg("introspection lacks %s", members[i]);
        sd_bus_message_unref(reply);

        char *backend = get_string(h, "/org/infusiond/pump1", "org.infusiond.pump1.Manager", "Backend");
        assert_string_equal(backend, "sim");
        free(backend);
}

/* 10 mL at 100 mL/h takes 360 s. Check every 10 s that the volume never
 * runs ahead of the ideal line nor more than one step behind it, and
 * never exceeds the VTBI; at 360 s it is 10.000 mL within a step and the
 * channel keeps the vein open. */
static void ten_ml_at_100_ml_per_h_completes_in_360_s_then_kvo(void **state) {
        struct harness *h = *state;
        char err[128];
        assert_int_equal(call_program(h, err, sizeof(err), "RateMlPerHour", 100.0, "VtbiMl", 10.0, NULL), 0);
        assert_state(h, "programmed");
        assert_int_equal(get_u64(h, CH_PATH, CH_IFACE, "TimeRemainingSec"), 360);
        assert_int_equal(call_simple(h, "Start", err, sizeof(err)), 0);
        assert_state(h, "running");

        for (int t = 10; t <= 350; t += 10) {
                call_advance(h, 10 * 1000000ULL);
                double v = get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
                double ideal = 100.0 * t / 3600.0;
                assert_true(v <= ideal + 1e-9);
                assert_true(ideal - v < STEP_ML + 1e-9);
                assert_true(v <= 10.0);
        }
        call_advance(h, 10 * 1000000ULL);     /* t = 360 s */
        double v = get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        assert_true(v <= 10.0);
        assert_true(10.0 - v < STEP_ML);
        assert_state(h, "kvo");
        assert_int_equal(get_i64(h, SIM_PATH, SIM_IFACE, "PlungerSteps"), 57583);
        char prio[16] = "";
        assert_int_equal(harness_find_alarm(h, "vtbi-complete", NULL, prio), 1);
        assert_string_equal(prio, "low");

        /* An hour of KVO at 1 mL/h: the primary volume never grows. */
        call_advance(h, 3600 * 1000000ULL);
        assert_state(h, "kvo");
        double kvo = get_double(h, CH_PATH, CH_IFACE, "KvoVolumeMl");
        assert_true(fabs(kvo - 1.0) < 2 * STEP_ML);
        double total = get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        assert_true(fabs(total - kvo - 57583 * STEP_ML) < 1e-6);
        assert_int_equal(call_simple(h, "Stop", err, sizeof(err)), 0);
        assert_state(h, "idle");
        /* leaving KVO clears its notice */
        assert_int_equal(harness_find_alarm(h, "vtbi-complete", NULL, NULL), 0);
}

static void bad_program_values_are_refused_by_name_and_change_nothing(void **state) {
        struct harness *h = *state;
        char err[128];
        /* A good program first, so "unchanged" means something. */
        assert_int_equal(call_program(h, err, sizeof(err), "RateMlPerHour", 50.0, "VtbiMl", 5.0, NULL), 0);

        struct { double rate; } bad[] = { { -1 }, { NAN }, { INFINITY }, { 1e9 }, { 0 } };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_true(call_program(h, err, sizeof(err), "RateMlPerHour", bad[i].rate, "VtbiMl", 1.0, NULL) < 0);
                assert_string_equal(err, ERR_INVALID_ARGUMENT);
                assert_state(h, "programmed");
                assert_true(get_double(h, CH_PATH, CH_IFACE, "RateMlPerHour") == 50.0);
                assert_true(get_double(h, CH_PATH, CH_IFACE, "VtbiMl") == 5.0);
        }
        /* Missing VtbiMl, unknown key, NaN VTBI */
        assert_true(call_program(h, err, sizeof(err), "RateMlPerHour", 10.0, NULL) < 0);
        assert_string_equal(err, ERR_INVALID_ARGUMENT);
        assert_true(call_program(h, err, sizeof(err), "RateMlPerHour", 10.0, "VtbiMl", 1.0, "Vtbi", 1.0, NULL) < 0);
        assert_string_equal(err, ERR_INVALID_ARGUMENT);
        assert_true(call_program(h, err, sizeof(err), "RateMlPerHour", 10.0, "VtbiMl", NAN, NULL) < 0);
        assert_string_equal(err, ERR_INVALID_ARGUMENT);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "RateMlPerHour") == 50.0);

        /* A string where a double belongs */
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        assert_true(sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "Program", &e, &reply,
                                       "a{sv}", 2, "RateMlPerHour", "s", "fast", "VtbiMl", "d", 1.0) < 0);
        assert_string_equal(e.name, ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(e.message, "RateMlPerHour"));
        sd_bus_error_free(&e);
        /* Wrong signature altogether */
        assert_true(sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "Program", &e, &reply,
                                       "s", "rate=1") < 0);
        sd_bus_error_free(&e);
        assert_state(h, "programmed");

        /* The daemon is still alive and serving. */
        assert_int_equal(call_simple(h, "Stop", err, sizeof(err)), 0);
        assert_state(h, "idle");
}

static void start_without_a_program_is_an_invalid_state(void **state) {
        struct harness *h = *state;
        char err[128];
        assert_true(call_simple(h, "Start", err, sizeof(err)) < 0);
        assert_string_equal(err, ERR_INVALID_STATE);
        assert_true(call_simple(h, "Pause", err, sizeof(err)) < 0);
        assert_string_equal(err, ERR_INVALID_STATE);
        assert_true(call_simple(h, "Resume", err, sizeof(err)) < 0);
        assert_string_equal(err, ERR_INVALID_STATE);
        assert_state(h, "idle");
}

static void pause_holds_the_volume_and_resume_continues(void **state) {
        struct harness *h = *state;
        char err[128];
        call_program(h, err, sizeof(err), "RateMlPerHour", 36.0, "VtbiMl", 2.0, "KvoRateMlPerHour", 0.0, NULL);
        call_simple(h, "Start", err, sizeof(err));
        call_advance(h, 100 * 1000000ULL);              /* 1.0 mL */
        assert_int_equal(call_simple(h, "Pause", err, sizeof(err)), 0);
        double at_pause = get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
        assert_true(fabs(at_pause - 1.0) < STEP_ML);
        call_advance(h, 600 * 1000000ULL);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl") == at_pause);
        assert_state(h, "paused");
        assert_int_equal(call_simple(h, "Resume", err, sizeof(err)), 0);
        call_advance(h, 101 * 1000000ULL);
        /* KVO 0: the infusion completes and the channel goes idle */
        assert_state(h, "idle");
        assert_true(get_i64(h, SIM_PATH, SIM_IFACE, "PlungerSteps") == (int64_t) (2.0 / STEP_ML));
}


static void kill_9_mid_infusion_reports_it_interrupted_and_never_resumes(void **state) {
        struct harness *h = *state;
        char err[128];
        call_program(h, err, sizeof(err), "RateMlPerHour", 100.0, "VtbiMl", 10.0, NULL);
        assert_int_equal(call_simple(h, "Start", err, sizeof(err)), 0);
        call_advance(h, 120 * 1000000ULL + 300000);
        int64_t true_steps = get_i64(h, SIM_PATH, SIM_IFACE, "PlungerSteps");
        int64_t true_nl = true_steps * 173661 / 1000;
        assert_true(true_steps > 0);

        int status = harness_kill_daemon(h, SIGKILL);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        harness_start_daemon(h);

        assert_state(h, "idle");
        assert_int_equal(get_u64(h, CH_PATH, CH_IFACE, "InfusionId"), 0);

        /* The history says interrupted, with the volume of the last
         * checkpoint: at most one checkpoint (1 s at 100 mL/h = 27.8 µL)
         * behind the truth, never ahead of it. */
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM infusions WHERE status = 'interrupted'"), 1);
        int64_t recorded_nl = harness_query_i64(h, "SELECT volume_nl FROM infusions WHERE status = 'interrupted'");
        assert_true(recorded_nl <= true_nl);
        assert_true(true_nl - recorded_nl <= 27778 + 174);

        /* And the daemon says so, with a high-priority alarm. */
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        assert_true(sd_bus_get_property(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "ActiveAlarms", &e,
                                        &reply, "a(sssts)") >= 0);
        const char *id, *cond, *prio, *msg;
        uint64_t raised;
        assert_true(sd_bus_message_enter_container(reply, 'a', "(sssts)") > 0);
        assert_true(sd_bus_message_read(reply, "(sssts)", &id, &cond, &prio, &raised, &msg) > 0);
        assert_string_equal(cond, "interrupted-by-restart");
        assert_string_equal(prio, "high");
        assert_non_null(strstr(msg, "interrupted"));
        char alarm_id[64];
        snprintf(alarm_id, sizeof(alarm_id), "%s", id);
        sd_bus_message_unref(reply);

        /* Nothing moves by itself, however long we wait. */
        call_advance(h, 600 * 1000000ULL);
        assert_state(h, "idle");
        assert_int_equal(get_i64(h, SIM_PATH, SIM_IFACE, "PlungerSteps"), 0);

        /* A new infusion needs the alarm acknowledged first. */
        call_program(h, err, sizeof(err), "RateMlPerHour", 100.0, "VtbiMl", 1.0, NULL);
        assert_true(call_simple(h, "Start", err, sizeof(err)) < 0);
        assert_string_equal(err, "org.infusiond.pump1.Error.AlarmActive");
        assert_true(sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "AcknowledgeAlarm", &e,
                                       NULL, "s", alarm_id) >= 0);
        assert_int_equal(call_simple(h, "Start", err, sizeof(err)), 0);
        assert_state(h, "running");
}

static void every_command_is_audited_with_uid_and_outcome(void **state) {
        struct harness *h = *state;
        char err[128], sql[256];
        call_simple(h, "Start", err, sizeof(err));      /* refused */
        call_program(h, err, sizeof(err), "RateMlPerHour", 10.0, "VtbiMl", 1.0, NULL);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM audit WHERE method = 'Channel.Start' AND uid = %d AND outcome = '%s'",
                 (int) geteuid(), ERR_INVALID_STATE);
        assert_int_equal(harness_query_i64(h, sql), 1);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM audit WHERE method = 'Channel.Program' AND uid = %d AND outcome = 'ok'",
                 (int) geteuid());
        assert_int_equal(harness_query_i64(h, sql), 1);
        /* transitions are events with both clocks */
        assert_true(harness_query_i64(h, "SELECT count(*) FROM events WHERE kind = 'programmed' AND utc_us > 0") >= 1);
}

/* Program through sd-bus varargs (any key types), printing a refusal. */
static char err_msg[512];
#define PROGRAM(h, err, n, ...)                                                                         \
        ({                                                                                              \
                int _p = CALL_DICT(h, "Program", err, err_msg, n, __VA_ARGS__);                         \
                if (_p < 0)                                                                             \
                        fprintf(stderr, "Program: %s\n", err_msg);                                      \
                _p;                                                                                     \
        })

static double volume_ml(struct harness *h) {
        return get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
}

/* The volume at a checkpoint is within one step of the plan. Within one
 * segment it is never ahead (see the continuous test); across segment
 * boundaries each segment ends on a whole step, so a later segment can
 * run a fraction of a step ahead of the ideal line. */
static void assert_on_plan(struct harness *h, double plan_ml) {
        double v = volume_ml(h);
        if (fabs(v - plan_ml) >= STEP_ML)
                fail_msg("volume %.6f mL is not within one step (%.6f mL) of the plan's %.6f mL", v, STEP_ML, plan_ml);
}

static void volume_time_mode_delivers_the_vtbi_over_the_duration(void **state) {
        struct harness *h = *state;
        char err[128];
        /* 50 mL over 30 min = 100 mL/h */
        assert_int_equal(PROGRAM(h, err, 3, "Mode", "s", "volume-time", "VtbiMl", "d", 50.0,
                                 "DurationSec", "u", 1800), 0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "RateMlPerHour") == 100.0);
        call_simple(h, "Start", err, sizeof(err));
        for (int min = 5; min <= 25; min += 5) {
                call_advance(h, 300 * 1000000ULL);
                assert_on_plan(h, 100.0 * min / 60.0);
        }
        call_advance(h, 300 * 1000000ULL + 200000);
        assert_state(h, "kvo");
        assert_on_plan(h, 50.0);
}

static void multistep_mode_follows_each_step(void **state) {
        struct harness *h = *state;
        char err[128];
        /* 10 mL at 50 mL/h (12 min), 20 mL at 100 mL/h (12 min), 5 mL at 25 mL/h (12 min) */
        assert_int_equal(PROGRAM(h, err, 3, "Mode", "s", "multistep",
                                 "Steps", "a(dd)", 3, 50.0, 10.0, 100.0, 20.0, 25.0, 5.0,
                                 "KvoRateMlPerHour", "d", 0.0), 0);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "VtbiMl") == 35.0);
        call_simple(h, "Start", err, sizeof(err));
        call_advance(h, 6 * 60 * 1000000ULL);
        assert_on_plan(h, 5.0);
        call_advance(h, 6 * 60 * 1000000ULL + 200000);  /* step 1 done, step 2 begins */
        assert_true(get_double(h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 100.0);
        call_advance(h, 6 * 60 * 1000000ULL - 200000);  /* t = 18 min: 10 mL + 6 min at 100 mL/h */
        assert_on_plan(h, 20.0);
        call_advance(h, 6 * 60 * 1000000ULL + 200000);
        assert_true(get_double(h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 25.0);
        call_advance(h, 6 * 60 * 1000000ULL - 200000);  /* t = 30 min: 30 mL + 6 min at 25 mL/h */
        assert_on_plan(h, 32.5);
        call_advance(h, 13 * 60 * 1000000ULL);
        assert_state(h, "idle");
        assert_int_equal(get_i64(h, SIM_PATH, SIM_IFACE, "PlungerSteps"), 201542);
}

static void loading_mode_gives_the_loading_dose_then_maintenance(void **state) {
        struct harness *h = *state;
        char err[128];
        /* 5 mL at 300 mL/h (60 s), then 20 mL/h to a 10 mL total (15 min) */
        assert_int_equal(PROGRAM(h, err, 5, "Mode", "s", "loading", "VtbiMl", "d", 10.0,
                                 "RateMlPerHour", "d", 20.0, "LoadingVolumeMl", "d", 5.0,
                                 "LoadingRateMlPerHour", "d", 300.0), 0);
        call_simple(h, "Start", err, sizeof(err));
        call_advance(h, 30 * 1000000ULL);
        assert_on_plan(h, 2.5);
        call_advance(h, 31 * 1000000ULL);               /* t = 61 s: 5 mL + 1 s at 20 mL/h */
        assert_true(get_double(h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 20.0);
        assert_on_plan(h, 5.0 + 20.0 / 3600.0);
        call_advance(h, 299 * 1000000ULL);              /* t = 6 min */
        assert_on_plan(h, 5.0 + 20.0 * 300 / 3600.0);
        call_advance(h, 15 * 60 * 1000000ULL + 200000);
        assert_state(h, "kvo");
        assert_true(10.0 - get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl") < STEP_ML);
}

static void intermittent_mode_repeats_the_dose_after_each_interval(void **state) {
        struct harness *h = *state;
        char err[128];
        /* 3 doses of 10 mL over 30 min (20 mL/h), every 4 h */
        assert_int_equal(PROGRAM(h, err, 6, "Mode", "s", "intermittent", "DoseVolumeMl", "d", 10.0,
                                 "DurationSec", "u", 1800, "IntervalSec", "u", 4 * 3600, "Doses", "u", 3,
                                 "KvoRateMlPerHour", "d", 0.0), 0);
        call_simple(h, "Start", err, sizeof(err));
        call_advance(h, 15 * 60 * 1000000ULL);          /* half the first dose */
        assert_on_plan(h, 5.0);
        call_advance(h, 16 * 60 * 1000000ULL);          /* first dose done */
        assert_on_plan(h, 10.0);
        assert_state(h, "running");
        assert_true(get_double(h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 0.0);
        call_advance(h, 3 * 3600 * 1000000ULL);         /* t = 3 h 31 min: still holding */
        assert_true(fabs(volume_ml(h) - 10.0) < STEP_ML);
        call_advance(h, 44 * 60 * 1000000ULL);          /* t = 4 h 15 min: second dose half way */
        assert_on_plan(h, 15.0);
        call_advance(h, 5 * 3600 * 1000000ULL);         /* t = 9 h 15 min: third dose done */
        assert_state(h, "idle");
        assert_true(30.0 - get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl") < STEP_ML);
}

static void ramp_mode_climbs_holds_and_tapers(void **state) {
        struct harness *h = *state;
        char err[128];
        /* 50 mL over 12 h with 1 h ramps: plateau 50/11 mL/h; ramp steps of
         * 15 min at 1/5 .. 4/5 of it */
        /* the default KVO (1 mL/h) is faster than the first ramp step
         * (0.91 mL/h), which the pump refuses; 0.5 mL/h is not */
        assert_true(PROGRAM(h, err, 5, "Mode", "s", "ramp", "VtbiMl", "d", 50.0, "DurationSec", "u", 12 * 3600,
                            "RampUpSec", "u", 3600, "RampDownSec", "u", 3600) < 0);
        assert_string_equal(err, ERR_INVALID_ARGUMENT);
        assert_int_equal(PROGRAM(h, err, 6, "Mode", "s", "ramp", "VtbiMl", "d", 50.0, "DurationSec", "u", 12 * 3600,
                                 "RampUpSec", "u", 3600, "RampDownSec", "u", 3600, "KvoRateMlPerHour", "d", 0.5), 0);
        call_simple(h, "Start", err, sizeof(err));
        double plateau = 50.0 / 11.0;
        call_advance(h, 25 * 60 * 1000000ULL);
        /* mid-step: 15 min at 1/5 and 10 min at 2/5 of the plateau */
        assert_on_plan(h, plateau * (0.2 * 15 + 0.4 * 10) / 60);
        assert_true(fabs(get_double(h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") - plateau * 0.4) < 1e-5);
        call_advance(h, 5 * 3600 * 1000000ULL);
        assert_true(fabs(get_double(h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") - plateau) < 1e-5);
        call_advance(h, 6 * 3600 * 1000000ULL + 40 * 60 * 1000000ULL);     /* t = 12 h 05 min */
        assert_state(h, "kvo");
        assert_true(50.0 - get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl") < STEP_ML);
}

static void keys_that_do_not_fit_the_mode_are_refused(void **state) {
        struct harness *h = *state;
        char err[128];
        assert_true(PROGRAM(h, err, 2, "Mode", "s", "volume-time", "VtbiMl", "d", 10.0) < 0);
        assert_string_equal(err, ERR_INVALID_ARGUMENT);          /* DurationSec missing */
        assert_true(PROGRAM(h, err, 4, "Mode", "s", "volume-time", "VtbiMl", "d", 10.0,
                            "DurationSec", "u", 600, "RateMlPerHour", "d", 60.0) < 0);
        assert_string_equal(err, ERR_INVALID_ARGUMENT);          /* a rate does not apply */
        assert_true(PROGRAM(h, err, 2, "Mode", "s", "pca", "VtbiMl", "d", 10.0) < 0);
        assert_string_equal(err, ERR_INVALID_ARGUMENT);
        assert_true(PROGRAM(h, err, 2, "DurationSec", "d", 600.0, "VtbiMl", "d", 10.0) < 0);
        assert_string_equal(err, ERR_INVALID_ARGUMENT);          /* wrong type */
        assert_state(h, "idle");
}

/* A SIGHUP (an admin's reflexive "reload") must not end the daemon: it
 * would end cleanly in systemd's eyes and not be restarted. */
static void sighup_is_not_the_end_of_the_daemon(void **state) {
        struct harness *h = *state;
        char err[128];
        call_program(h, err, sizeof(err), "RateMlPerHour", 100.0, "VtbiMl", 10.0, NULL);
        assert_int_equal(call_simple(h, "Start", err, sizeof(err)), 0);
        assert_int_equal(kill(h->daemon_pid, SIGHUP), 0);
        call_advance(h, 60 * 1000000ULL);
        int status;
        assert_int_equal(waitpid(h->daemon_pid, &status, WNOHANG), 0);
        assert_state(h, "running");
        assert_true(get_double(h, CH_PATH, CH_IFACE, "VolumeInfusedMl") > 1.6);
}

/* D-Bus lets a method call leave out its interface, and the spec lets
 * a service dispatch it by member name alone. This sd-bus answers
 * UnknownObject instead, but the access check does not rely on that: it
 * refuses such calls outright, named and audited (daemon/bus-access.c). */
static void a_call_without_an_interface_is_refused_and_audited(void **state) {
        struct harness *h = *state;
        char err[128];
        assert_int_equal(call_program(h, err, sizeof(err), "RateMlPerHour", 100.0, "VtbiMl", 10.0, NULL), 0);
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        assert_true(sd_bus_message_new_method_call(h->bus, &m, "org.infusiond.pump1", CH_PATH, NULL, "Start") >= 0);
        assert_true(sd_bus_call(h->bus, m, 0, &e, &reply) < 0);
        assert_string_equal(e.name, "org.infusiond.pump1.Error.AccessDenied");
        assert_non_null(strstr(e.message, "must name its interface"));
        sd_bus_error_free(&e);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        assert_state(h, "programmed");
        assert_int_equal(harness_query_i64(h, "SELECT count(*) FROM audit WHERE outcome = "
                                              "'org.infusiond.pump1.Error.AccessDenied'"), 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(introspection_lists_every_member, setup, teardown),
                cmocka_unit_test_setup_teardown(ten_ml_at_100_ml_per_h_completes_in_360_s_then_kvo, setup, teardown),
                cmocka_unit_test_setup_teardown(bad_program_values_are_refused_by_name_and_change_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(start_without_a_program_is_an_invalid_state, setup, teardown),
                cmocka_unit_test_setup_teardown(pause_holds_the_volume_and_resume_continues, setup, teardown),
                cmocka_unit_test_setup_teardown(kill_9_mid_infusion_reports_it_interrupted_and_never_resumes, setup, teardown),
                cmocka_unit_test_setup_teardown(every_command_is_audited_with_uid_and_outcome, setup, teardown),
                cmocka_unit_test_setup_teardown(volume_time_mode_delivers_the_vtbi_over_the_duration, setup, teardown),
                cmocka_unit_test_setup_teardown(multistep_mode_follows_each_step, setup, teardown),
                cmocka_unit_test_setup_teardown(loading_mode_gives_the_loading_dose_then_maintenance, setup, teardown),
                cmocka_unit_test_setup_teardown(intermittent_mode_repeats_the_dose_after_each_interval, setup, teardown),
                cmocka_unit_test_setup_teardown(keys_that_do_not_fit_the_mode_are_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(ramp_mode_climbs_holds_and_tapers, setup, teardown),
                cmocka_unit_test_setup_teardown(sighup_is_not_the_end_of_the_daemon, setup, teardown),
                cmocka_unit_test_setup_teardown(a_call_without_an_interface_is_refused_and_audited, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
