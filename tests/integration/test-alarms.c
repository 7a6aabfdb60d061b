/* SPDX-License-Identifier: MIT */
/* Every alarm condition end to end: the real infusiond on a private
 * dbus-daemon, each fault injected through the Simulator interface, in
 * virtual time. For each: the condition and priority in ActiveAlarms,
 * delivery halted where it must be, the signal, the buzzer and light
 * pattern the sim recorded, and the rows in the history database; then
 * clearing the fault and acknowledging leaves a clean pump. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "harness.h"

#define ERR_CAUSE "org.infusiond.pump1.Error.AlarmCauseActive"
#define US 1000000ULL

enum { OUT_BUZZER, OUT_RED, OUT_YELLOW, OUT_NURSE, OUT_MAX };
static const char *const out_names[OUT_MAX] = { "buzzer", "led-red", "led-yellow", "nurse-call" };

struct outputs {
        bool on[OUT_MAX];
        unsigned changes[OUT_MAX];
};

struct fixture {
        struct harness h;
        sd_bus_slot *slot;
        char raised[64][48];            /* conditions of AlarmRaised, in order */
        unsigned n_raised;
        char cleared[64][48];
        unsigned n_cleared;
        char escalated[64][48];
        unsigned n_escalated;
};

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *e) {
        struct fixture *f = userdata;
        const char *member = sd_bus_message_get_member(m), *id = NULL, *cond = NULL;
        if (sd_bus_message_read(m, "ss", &id, &cond) < 0)
                return 0;
        if (strcmp(member, "AlarmRaised") == 0 && f->n_raised < 64)
                snprintf(f->raised[f->n_raised++], 48, "%s", cond);
        else if (strcmp(member, "AlarmCleared") == 0 && f->n_cleared < 64)
                snprintf(f->cleared[f->n_cleared++], 48, "%s", cond);
        else if (strcmp(member, "AlarmEscalated") == 0 && f->n_escalated < 64)
                snprintf(f->escalated[f->n_escalated++], 48, "%s", cond);
        return 0;
}

static void drain(struct fixture *f) {
        while (sd_bus_process(f->h.bus, NULL) > 0)
                ;
}

static struct fixture *start(const char *tail) {
        struct fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        harness_setup(&f->h);
        harness_write_config_ex(&f->h, "virtual", NULL, tail);
        harness_start_daemon(&f->h);
        assert_true(sd_bus_match_signal(f->h.bus, &f->slot, NULL, CH_PATH, CH_IFACE, NULL, on_signal, f) >= 0);
        return f;
}

static int setup(void **state) {
        *state = start(NULL);
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        sd_bus_slot_unref(f->slot);
        harness_teardown(&f->h);
        free(f);
        return 0;
}

static void advance_s(struct fixture *f, double s) {
        call_advance(&f->h, (uint64_t) llround(s * US));
        drain(f);
}

static void read_outputs(struct fixture *f, struct outputs *ret) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *name;
        int on;
        unsigned changes;

        memset(ret, 0, sizeof(*ret));
        assert_true(sd_bus_get_property(f->h.bus, "org.infusiond.pump1", SIM_PATH, SIM_IFACE, "Outputs", &e, &reply,
                                        "a(sbu)") >= 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(sbu)") >= 0);
        while (sd_bus_message_read(reply, "(sbu)", &name, &on, &changes) > 0)
                for (int i = 0; i < OUT_MAX; i++)
                        if (strcmp(name, out_names[i]) == 0) {
                                ret->on[i] = on;
                                ret->changes[i] = changes;
                        }
        sd_bus_message_unref(reply);
}

static int find_alarm(struct fixture *f, const char *condition, char *id_out, char *prio_out) {
        return harness_find_alarm(&f->h, condition, id_out, prio_out);
}

static bool seen(char list[][48], unsigned n, const char *condition) {
        for (unsigned i = 0; i < n; i++)
                if (strcmp(list[i], condition) == 0)
                        return true;
        return false;
}

static void assert_state(struct fixture *f, const char *want) {
        char *s = get_string(&f->h, CH_PATH, CH_IFACE, "State");
        assert_string_equal(s, want);
        free(s);
}

static void start_infusion(struct fixture *f, double rate_ml_h, double vtbi_ml) {
        char err[128];
        assert_int_equal(call_program(&f->h, err, sizeof(err), "RateMlPerHour", rate_ml_h, "VtbiMl", vtbi_ml, NULL), 0);
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 5);
        assert_state(f, "running");
}

static int64_t db_count(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t db_count(struct fixture *f, const char *fmt, ...) {
        char sql[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        return harness_query_i64(&f->h, sql);
}

/* The buzzer and lights over one full pattern period: a window as long as
 * the period holds exactly one period's edges, wherever it starts. */
static void assert_pattern(struct fixture *f, const char *priority) {
        struct outputs a, b;
        read_outputs(f, &a);
        if (strcmp(priority, "high") == 0) {
                advance_s(f, 6);                /* the high burst repeats every 6 s */
                read_outputs(f, &b);
                assert_int_equal(b.changes[OUT_BUZZER] - a.changes[OUT_BUZZER], 20);    /* 10 pulses */
                assert_int_equal(b.changes[OUT_RED] - a.changes[OUT_RED], 24);          /* 2 Hz */
                assert_true(b.on[OUT_NURSE]);
                assert_false(b.on[OUT_YELLOW]);
        } else if (strcmp(priority, "medium") == 0) {
                advance_s(f, 10);
                read_outputs(f, &b);
                assert_int_equal(b.changes[OUT_BUZZER] - a.changes[OUT_BUZZER], 6);     /* 3 pulses */
                assert_int_equal(b.changes[OUT_YELLOW] - a.changes[OUT_YELLOW], 10);    /* 0.5 Hz */
                assert_false(b.on[OUT_RED]);
                assert_false(b.on[OUT_NURSE]);
        } else {
                advance_s(f, 30);
                read_outputs(f, &b);
                assert_int_equal(b.changes[OUT_BUZZER] - a.changes[OUT_BUZZER], 2);     /* 1 pulse */
                assert_true(b.on[OUT_YELLOW]);
                assert_int_equal(b.changes[OUT_YELLOW], a.changes[OUT_YELLOW]);         /* steady */
                assert_false(b.on[OUT_RED]);
        }
}

/* Everything a raised alarm must show. */
static void assert_alarm(struct fixture *f, const char *condition, const char *priority, bool halts) {
        char prio[16] = "";
        assert_int_equal(find_alarm(f, condition, NULL, prio), 1);
        assert_string_equal(prio, priority);
        if (halts)
                assert_state(f, "halted");
        assert_true(seen(f->raised, f->n_raised, condition));
        assert_int_equal(db_count(f, "SELECT count(*) FROM alarm_events WHERE condition = '%s' AND action = 'raised'",
                                  condition), 1);
        /* The record carries the line pressure and volume of the moment. */
        assert_int_equal(db_count(f, "SELECT count(*) FROM alarm_events WHERE condition = '%s' AND action = 'raised'"
                                     " AND volume_nl IS NOT NULL AND pressure_mmhg IS NOT NULL", condition), 1);
        assert_pattern(f, priority);
}

/* Acknowledge every alarm; then nothing is active and every output is off. */
static void assert_clean_after_ack(struct fixture *f) {
        char id[64], err[128];
        for (int guard = 0; guard < 24 && find_alarm(f, NULL, id, NULL) > 0; guard++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                int r = sd_bus_call_method(f->h.bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "AcknowledgeAlarm", &e,
                                           NULL, "s", id);
                snprintf(err, sizeof(err), "%s", e.name ?: "");
                sd_bus_error_free(&e);
                if (r < 0)
                        fail_msg("AcknowledgeAlarm %s failed: %s", id, err);
        }
        drain(f);
        assert_int_equal(find_alarm(f, NULL, NULL, NULL), 0);
        advance_s(f, 1);
        struct outputs o;
        read_outputs(f, &o);
        for (int i = 0; i < OUT_MAX; i++)
                assert_false(o.on[i]);
        assert_true(f->n_cleared > 0);
        assert_true(db_count(f, "SELECT count(*) FROM alarm_events WHERE action = '%s'", "acknowledged") > 0);
}

static int ack_error(struct fixture *f, const char *condition, char *err, size_t n) {
        char id[64];
        assert_int_equal(find_alarm(f, condition, id, NULL), 1);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(f->h.bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "AcknowledgeAlarm", &e, NULL,
                                   "s", id);
        snprintf(err, n, "%s", e.name ?: "");
        sd_bus_error_free(&e);
        return r;
}

static void sim_call(struct fixture *f, const char *method, const char *sig, ...) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL;
        va_list ap;
        assert_true(sd_bus_message_new_method_call(f->h.bus, &m, "org.infusiond.pump1", SIM_PATH, SIM_IFACE, method) >= 0);
        va_start(ap, sig);
        assert_true(sd_bus_message_appendv(m, sig, ap) >= 0);
        va_end(ap);
        int r = sd_bus_call(f->h.bus, m, 0, &e, NULL);
        if (r < 0)
                fail_msg("%s failed: %s: %s", method, e.name, e.message);
        sd_bus_message_unref(m);
        drain(f);
}

static int64_t plunger_steps(struct fixture *f) {
        return get_i64(&f->h, SIM_PATH, SIM_IFACE, "PlungerSteps");
}

/* Close the line and run a second at a time until the downstream
 * occlusion alarm. Returns the plunger's net steps one second before the
 * alarm was seen: in that second the pump still moved forward, so a
 * plunger now behind that count has been drawn back. */
static int64_t run_until_occlusion_alarm(struct fixture *f) {
        int64_t steps = plunger_steps(f);
        sim_call(f, "SetOcclusion", "b", 1);
        for (int s = 0; s < 600 && find_alarm(f, "occlusion-downstream", NULL, NULL) == 0; s++) {
                steps = plunger_steps(f);
                advance_s(f, 1);
        }
        return steps;
}

/* ---- the conditions --------------------------------------------------- */

static void downstream_occlusion_is_high_halts_relieves_the_pressure_and_clears(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        int64_t steps_before = run_until_occlusion_alarm(f);
        double at_alarm_ml = get_double(&f->h, SIM_PATH, SIM_IFACE, "TrueDeliveredMl");
        assert_alarm(f, "occlusion-downstream", "high", true);
        /* The pump pulled back: the plunger reversed and the pressure is
         * near where it rested. */
        assert_true(plunger_steps(f) < steps_before);
        assert_true(get_double(&f->h, CH_PATH, CH_IFACE, "PressureMmHg") < 50);
        assert_int_equal(db_count(f, "SELECT count(*) FROM events WHERE kind = '%s'", "pressure-relief"), 1);

        sim_call(f, "SetOcclusion", "b", 0);
        advance_s(f, 60);
        /* GIP: the bolus when the line opens is 0.5 mL or less. */
        double bolus_ml = get_double(&f->h, SIM_PATH, SIM_IFACE, "TrueDeliveredMl") - at_alarm_ml;
        print_message("post-occlusion bolus at 25 mL/h: %.4f mL\n", bolus_ml);
        assert_true(bolus_ml <= 0.5);
        assert_clean_after_ack(f);
}

static int setup_no_back_off(void **state) {
        *state = start("[alarms]\nocclusion_back_off = no\n");
        return 0;
}

static void without_back_off_an_occlusion_stops_the_pump_but_does_not_reverse_it(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        int64_t steps_before = run_until_occlusion_alarm(f);
        double at_alarm_ml = get_double(&f->h, SIM_PATH, SIM_IFACE, "TrueDeliveredMl");
        assert_alarm(f, "occlusion-downstream", "high", true);
        /* Stopped where the alarm found it: forward up to the alarm, not a
         * step back since, and the closed line keeps its pressure. */
        int64_t steps_at_alarm = plunger_steps(f);
        assert_true(steps_at_alarm >= steps_before);
        advance_s(f, 10);
        assert_int_equal(plunger_steps(f), steps_at_alarm);
        assert_true(get_double(&f->h, CH_PATH, CH_IFACE, "PressureMmHg") > 200);
        assert_int_equal(db_count(f, "SELECT count(*) FROM events WHERE kind = '%s'", "pressure-relief"), 0);

        /* Opened, the line gives the patient what its compliance held
         * (1.4 µL/mmHg over 200 mmHg and more: above 0.28 mL). */
        sim_call(f, "SetOcclusion", "b", 0);
        advance_s(f, 60);
        double bolus_ml = get_double(&f->h, SIM_PATH, SIM_IFACE, "TrueDeliveredMl") - at_alarm_ml;
        print_message("post-occlusion bolus at 25 mL/h without back-off: %.4f mL\n", bolus_ml);
        assert_true(bolus_ml > 0.28);
        assert_int_equal(plunger_steps(f), steps_at_alarm);
        assert_clean_after_ack(f);
}

static void upstream_occlusion_is_high_and_halts(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 100, 50);
        sim_call(f, "SetUpstreamOcclusion", "b", 1);
        advance_s(f, 30);
        assert_alarm(f, "occlusion-upstream", "high", true);
        sim_call(f, "SetUpstreamOcclusion", "b", 0);
        advance_s(f, 1);
        assert_clean_after_ack(f);
}

static void one_bubble_over_the_limit_is_high_and_halts(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 100, 50);
        sim_call(f, "InjectAir", "d", 250.0);
        advance_s(f, 15);
        assert_alarm(f, "air-in-line", "high", true);
        /* The bubble sits at the detector: its cause remains. */
        char err[128];
        assert_true(ack_error(f, "air-in-line", err, sizeof(err)) < 0);
        assert_string_equal(err, ERR_CAUSE);
        /* The clinician primes the line: now it can be acknowledged. */
        sim_call(f, "PrimeLine", "");
        advance_s(f, 1);
        assert_clean_after_ack(f);
}

static void many_small_bubbles_add_up_to_an_accumulated_air_alarm(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 100, 50);
        /* Each under the single-bubble limit of 100 µL; together 600 µL. */
        for (int i = 0; i < 8; i++)
                sim_call(f, "InjectAir", "d", 75.0);
        for (int s = 0; s < 120 && find_alarm(f, "air-accumulated", NULL, NULL) == 0; s++)
                advance_s(f, 1);
        assert_int_equal(find_alarm(f, "air-in-line", NULL, NULL), 0);
        assert_alarm(f, "air-accumulated", "high", true);
        sim_call(f, "PrimeLine", "");
        advance_s(f, 1);
        assert_clean_after_ack(f);
}

static void open_door_is_high_halts_and_cannot_be_acknowledged_until_closed(void **state) {
        struct fixture *f = *state;
        char err[128];
        start_infusion(f, 100, 50);
        sim_call(f, "SetDoorOpen", "b", 1);
        advance_s(f, 1);
        assert_alarm(f, "door-open", "high", true);
        assert_true(ack_error(f, "door-open", err, sizeof(err)) < 0);
        assert_string_equal(err, ERR_CAUSE);
        sim_call(f, "SetDoorOpen", "b", 0);
        advance_s(f, 1);
        assert_clean_after_ack(f);
        /* And delivery carries on when a person resumes. */
        assert_int_equal(call_simple(&f->h, "Resume", err, sizeof(err)), 0);
        advance_s(f, 2);
        assert_state(f, "running");
}

static void stalled_motor_is_a_high_malfunction_and_halts(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        sim_call(f, "StallMotor", "b", 1);
        for (int s = 0; s < 120 && find_alarm(f, "motor-malfunction", NULL, NULL) == 0; s++)
                advance_s(f, 1);
        assert_alarm(f, "motor-malfunction", "high", true);
        sim_call(f, "StallMotor", "b", 0);
        assert_clean_after_ack(f);
}

static void slipping_drive_is_an_under_infusion_alarm(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        sim_call(f, "SetMotorGain", "d", 0.8);
        int s = 0;
        for (; s < 900 && find_alarm(f, "under-infusion", NULL, NULL) == 0; s++)
                advance_s(f, 1);
        print_message("under-infusion (gain 0.8) at 25 mL/h found after %d s (GIP allows 900 s)\n", s);
        assert_alarm(f, "under-infusion", "high", true);
        sim_call(f, "SetMotorGain", "d", 1.0);
        assert_clean_after_ack(f);
}

static void plunger_running_ahead_is_an_over_infusion_alarm(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        sim_call(f, "SetMotorGain", "d", 1.2);
        int s = 0;
        for (; s < 900 && find_alarm(f, "over-infusion", NULL, NULL) == 0; s++)
                advance_s(f, 1);
        print_message("over-infusion (gain 1.2) at 25 mL/h found after %d s (GIP allows 900 s)\n", s);
        assert_alarm(f, "over-infusion", "high", true);
        sim_call(f, "SetMotorGain", "d", 1.0);
        assert_clean_after_ack(f);
}

static void failed_pressure_sensor_is_high_and_halts(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        sim_call(f, "FailSensor", "ss", "pressure-downstream", "read-error");
        advance_s(f, 1);
        assert_alarm(f, "sensor-failure", "high", true);
        sim_call(f, "FailSensor", "ss", "pressure-downstream", "ok");
        advance_s(f, 1);
        assert_clean_after_ack(f);
}

/* A sensor the self-test found that then reads -ENODEV (unplugged) is a
 * failure: its checks must not stand down as if it were never fitted. */
static void a_fitted_sensor_that_vanishes_is_a_failure_not_an_absence(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        sim_call(f, "FailSensor", "ss", "plunger-position", "gone");
        advance_s(f, 1);
        assert_alarm(f, "sensor-failure", "high", true);
        sim_call(f, "FailSensor", "ss", "plunger-position", "ok");
        advance_s(f, 1);
        assert_clean_after_ack(f);
}

static void stuck_pressure_sensor_is_caught_while_the_motor_moves(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        sim_call(f, "FailSensor", "ss", "pressure-downstream", "stuck");
        advance_s(f, 9);
        assert_int_equal(find_alarm(f, "sensor-failure", NULL, NULL), 0);
        advance_s(f, 3);
        assert_alarm(f, "sensor-failure", "high", true);
}

static void low_battery_is_medium_and_escalates_when_nobody_answers(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        /* 6 % of a 240 min battery: 14.4 min left. */
        sim_call(f, "SetBattery", "bd", 0, 6.0);
        advance_s(f, 1);
        assert_alarm(f, "battery-low", "medium", false);
        assert_state(f, "running");
        advance_s(f, 120);
        char prio[16];
        assert_int_equal(find_alarm(f, "battery-low", NULL, prio), 1);
        assert_string_equal(prio, "high");
        assert_true(seen(f->escalated, f->n_escalated, "battery-low"));
        assert_int_equal(db_count(f, "SELECT count(*) FROM alarm_events WHERE condition = '%s' AND action = 'escalated'",
                                  "battery-low"), 1);
        sim_call(f, "SetBattery", "bd", 1, 6.0);
        advance_s(f, 1);
        assert_int_equal(find_alarm(f, NULL, NULL, NULL), 0);
}

static void depleted_battery_is_high_and_stops_delivery(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        sim_call(f, "SetBattery", "bd", 0, 2.0);         /* 4.8 min left */
        advance_s(f, 1);
        assert_alarm(f, "battery-depleted", "high", true);
        sim_call(f, "SetBattery", "bd", 1, 2.0);
        advance_s(f, 1);
        assert_clean_after_ack(f);
}

static void idle_programmed_channel_reminds_then_alarms(void **state) {
        struct fixture *f = *state;
        char err[128], prio[16];
        assert_int_equal(call_program(&f->h, err, sizeof(err), "RateMlPerHour", 10.0, "VtbiMl", 5.0, NULL), 0);
        advance_s(f, 119);
        assert_int_equal(find_alarm(f, "idle", NULL, NULL), 0);
        advance_s(f, 2);
        assert_int_equal(find_alarm(f, "idle", NULL, prio), 1);
        assert_string_equal(prio, "low");
        assert_alarm(f, "idle", "low", false);
        advance_s(f, 300 - 121 - 30 + 1);
        assert_int_equal(find_alarm(f, "idle", NULL, prio), 1);
        assert_string_equal(prio, "medium");
        assert_true(seen(f->escalated, f->n_escalated, "idle"));
        assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_int_equal(find_alarm(f, NULL, NULL, NULL), 0);
        assert_true(seen(f->cleared, f->n_cleared, "idle"));
}

static void restart_mid_infusion_is_a_high_alarm_that_sounds_and_must_be_acknowledged(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);
        advance_s(f, 60);
        assert_true(WIFSIGNALED(harness_kill_daemon(&f->h, SIGKILL)));
        harness_start_daemon(&f->h);
        /* Raised while the daemon started, before anyone could listen: the
         * property and the record carry it (no signal to see). */
        char prio[16];
        assert_int_equal(find_alarm(f, "interrupted-by-restart", NULL, prio), 1);
        assert_string_equal(prio, "high");
        assert_state(f, "idle");
        assert_int_equal(db_count(f, "SELECT count(*) FROM alarm_events WHERE condition = '%s' AND action = 'raised'",
                                  "interrupted-by-restart"), 1);
        assert_pattern(f, "high");
        assert_clean_after_ack(f);
}

static void vtbi_complete_is_low_keeps_the_vein_open_and_clears_at_stop(void **state) {
        struct fixture *f = *state;
        char err[128];
        start_infusion(f, 100, 1);
        advance_s(f, 40);
        assert_state(f, "kvo");
        assert_alarm(f, "vtbi-complete", "low", false);
        assert_state(f, "kvo");
        assert_int_equal(call_simple(&f->h, "Stop", err, sizeof(err)), 0);
        advance_s(f, 1);
        assert_int_equal(find_alarm(f, NULL, NULL, NULL), 0);
        assert_true(seen(f->cleared, f->n_cleared, "vtbi-complete"));
        assert_int_equal(db_count(f, "SELECT count(*) FROM alarm_events WHERE condition = '%s' AND action = 'cleared'",
                                  "vtbi-complete"), 1);
        struct outputs o;
        read_outputs(f, &o);
        for (int i = 0; i < OUT_MAX; i++)
                assert_false(o.on[i]);
}

/* ---- checking line ------------------------------------------------------ */

static int setup_auto_restart(void **state) {
        *state = start("[alarms]\nocclusion_auto_restarts = 2\n");
        return 0;
}

static void a_line_that_clears_itself_restarts_and_one_that_stays_blocked_alarms(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 25, 50);

        /* A kink the patient straightens within the 15 s check. */
        sim_call(f, "SetOcclusion", "b", 1);
        for (int i = 0; i < 6000 && db_count(f, "SELECT count(*) FROM events WHERE kind = '%s'", "checking-line") == 0; i++)
                advance_s(f, 0.1);
        assert_state(f, "halted");
        assert_int_equal(find_alarm(f, NULL, NULL, NULL), 0);
        sim_call(f, "SetOcclusion", "b", 0);
        advance_s(f, 5);
        assert_state(f, "running");
        assert_int_equal(db_count(f, "SELECT count(*) FROM events WHERE kind = '%s'", "auto-restart"), 1);
        assert_int_equal(find_alarm(f, NULL, NULL, NULL), 0);

        /* A line that stays blocked: checked for 15 s, then the alarm. */
        advance_s(f, 30);
        sim_call(f, "SetOcclusion", "b", 1);
        for (int i = 0; i < 6000 && db_count(f, "SELECT count(*) FROM events WHERE kind = '%s'", "checking-line") < 2; i++)
                advance_s(f, 0.1);
        advance_s(f, 14);
        assert_int_equal(find_alarm(f, "occlusion-downstream", NULL, NULL), 0);
        advance_s(f, 1.5);
        assert_alarm(f, "occlusion-downstream", "high", true);
        assert_int_equal(db_count(f, "SELECT count(*) FROM events WHERE kind = '%s'", "auto-restart"), 1);
}

/* ---- near end and empty need a part-filled syringe ---------------------- */

static int setup_part_filled(void **state) {
        *state = start("syringe_fill_ml = 5\n");
        return 0;
}

static void near_end_warns_then_an_empty_syringe_stops_delivery(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 60, 10);
        /* 5 mL at 60 mL/h: empty in 5 min, so near end at once. */
        assert_int_equal(find_alarm(f, "near-end", NULL, NULL), 1);
        assert_alarm(f, "near-end", "low", false);
        for (int s = 0; s < 400 && find_alarm(f, "syringe-empty", NULL, NULL) == 0; s++)
                advance_s(f, 1);
        assert_alarm(f, "syringe-empty", "high", true);
}

/* ---- silence ----------------------------------------------------------- */

static uint64_t silence(struct fixture *f) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        uint64_t until = 0;
        assert_true(sd_bus_call_method(f->h.bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "SilenceAlarms", &e, &reply,
                                       "") >= 0);
        assert_true(sd_bus_message_read(reply, "t", &until) > 0);
        sd_bus_message_unref(reply);
        drain(f);
        return until;
}

static void silence_lasts_120_s_then_the_alarm_sounds_again(void **state) {
        struct fixture *f = *state;
        struct outputs a, b;
        start_infusion(f, 25, 50);
        sim_call(f, "SetBattery", "bd", 0, 6.0);
        advance_s(f, 1);
        assert_int_equal(find_alarm(f, "battery-low", NULL, NULL), 1);
        uint64_t until = silence(f);
        assert_true(until > 0);
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "AudioPausedUntilUsec"), until);
        advance_s(f, 0.5);
        read_outputs(f, &a);
        advance_s(f, 119);
        read_outputs(f, &b);
        assert_int_equal(b.changes[OUT_BUZZER], a.changes[OUT_BUZZER]);         /* quiet */
        assert_true(b.changes[OUT_YELLOW] > a.changes[OUT_YELLOW]);             /* still flashing */
        advance_s(f, 10.5);
        read_outputs(f, &a);
        assert_true(a.changes[OUT_BUZZER] > b.changes[OUT_BUZZER]);             /* sounds again */
        assert_int_equal(get_u64(&f->h, CH_PATH, CH_IFACE, "AudioPausedUntilUsec"), 0);
        assert_int_equal(db_count(f, "SELECT count(*) FROM alarm_events WHERE action = '%s'", "silenced"), 1);
}

static void a_new_high_alarm_sounds_through_a_silence(void **state) {
        struct fixture *f = *state;
        struct outputs a, b;
        start_infusion(f, 25, 50);
        sim_call(f, "SetBattery", "bd", 0, 6.0);
        advance_s(f, 1);
        silence(f);
        advance_s(f, 5);
        read_outputs(f, &a);
        sim_call(f, "SetDoorOpen", "b", 1);
        advance_s(f, 6);
        read_outputs(f, &b);
        assert_int_equal(b.changes[OUT_BUZZER] - a.changes[OUT_BUZZER], 20);    /* the high burst */
        assert_true(b.on[OUT_NURSE]);
}

static void silence_without_an_alarm_is_an_invalid_state(void **state) {
        struct fixture *f = *state;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        assert_true(sd_bus_call_method(f->h.bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "SilenceAlarms", &e, NULL,
                                       "") < 0);
        assert_string_equal(e.name, "org.infusiond.pump1.Error.InvalidState");
        sd_bus_error_free(&e);
}

/* ---- no false alarms ----------------------------------------------------- */

static int setup_moving_patient(void **state) {
        /* Pressure noise (0.5 mmHg) plus a patient who moves: swings of up
         * to 40 mmHg lasting 2 to 30 s, every 2 min on average. */
        *state = start("movement_amplitude_mmhg = 40\nmovement_mean_interval_s = 120\n");
        return 0;
}

static void a_day_at_1_ml_per_h_with_a_moving_patient_raises_no_occlusion(void **state) {
        struct fixture *f = *state;
        start_infusion(f, 1, 50);
        for (int hour = 0; hour < 24; hour++) {
                advance_s(f, 3600);
                assert_int_equal(find_alarm(f, "occlusion-downstream", NULL, NULL), 0);
        }
        assert_state(f, "running");
        /* 24 h of 1 mL/h really ran. */
        assert_true(fabs(get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl") - 24.0) < 0.01);
        assert_false(seen(f->raised, f->n_raised, "occlusion-downstream"));
        assert_int_equal(db_count(f, "SELECT count(*) FROM events WHERE kind = '%s'", "checking-line"), 0);
        /* Nothing else fired either (battery on mains, line clear). */
        assert_int_equal(f->n_raised, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(downstream_occlusion_is_high_halts_relieves_the_pressure_and_clears, setup, teardown),
                cmocka_unit_test_setup_teardown(without_back_off_an_occlusion_stops_the_pump_but_does_not_reverse_it,
                                                setup_no_back_off, teardown),
                cmocka_unit_test_setup_teardown(upstream_occlusion_is_high_and_halts, setup, teardown),
                cmocka_unit_test_setup_teardown(one_bubble_over_the_limit_is_high_and_halts, setup, teardown),
                cmocka_unit_test_setup_teardown(many_small_bubbles_add_up_to_an_accumulated_air_alarm, setup, teardown),
                cmocka_unit_test_setup_teardown(open_door_is_high_halts_and_cannot_be_acknowledged_until_closed, setup, teardown),
                cmocka_unit_test_setup_teardown(stalled_motor_is_a_high_malfunction_and_halts, setup, teardown),
                cmocka_unit_test_setup_teardown(slipping_drive_is_an_under_infusion_alarm, setup, teardown),
                cmocka_unit_test_setup_teardown(plunger_running_ahead_is_an_over_infusion_alarm, setup, teardown),
                cmocka_unit_test_setup_teardown(failed_pressure_sensor_is_high_and_halts, setup, teardown),
                cmocka_unit_test_setup_teardown(a_fitted_sensor_that_vanishes_is_a_failure_not_an_absence, setup, teardown),
                cmocka_unit_test_setup_teardown(stuck_pressure_sensor_is_caught_while_the_motor_moves, setup, teardown),
                cmocka_unit_test_setup_teardown(low_battery_is_medium_and_escalates_when_nobody_answers, setup, teardown),
                cmocka_unit_test_setup_teardown(depleted_battery_is_high_and_stops_delivery, setup, teardown),
                cmocka_unit_test_setup_teardown(idle_programmed_channel_reminds_then_alarms, setup, teardown),
                cmocka_unit_test_setup_teardown(vtbi_complete_is_low_keeps_the_vein_open_and_clears_at_stop, setup, teardown),
                cmocka_unit_test_setup_teardown(restart_mid_infusion_is_a_high_alarm_that_sounds_and_must_be_acknowledged, setup, teardown),
                cmocka_unit_test_setup_teardown(a_line_that_clears_itself_restarts_and_one_that_stays_blocked_alarms,
                                                setup_auto_restart, teardown),
                cmocka_unit_test_setup_teardown(near_end_warns_then_an_empty_syringe_stops_delivery, setup_part_filled, teardown),
                cmocka_unit_test_setup_teardown(silence_lasts_120_s_then_the_alarm_sounds_again, setup, teardown),
                cmocka_unit_test_setup_teardown(a_new_high_alarm_sounds_through_a_silence, setup, teardown),
                cmocka_unit_test_setup_teardown(silence_without_an_alarm_is_an_invalid_state, setup, teardown),
                cmocka_unit_test_setup_teardown(a_day_at_1_ml_per_h_with_a_moving_patient_raises_no_occlusion, setup_moving_patient, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
