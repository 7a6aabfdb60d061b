/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/macros.h"
#include "common/units.h"
#include "daemon/log.h"
#include "daemon/pump-private.h"

/* BD Alaris "checking line" (CLINICAL.md): resume if the pressure falls
 * under half the limit within 15 s, at most N times per rolling 10 min. */
#define CHECKING_LINE_US (15 * US_PER_SEC)
#define RESTART_WINDOW_US (10 * US_PER_MIN)

/* Upstream: a blocked supply lets the pump pull a vacuum. -150 mmHg is
 * well past what a bag hung at the pump's height gives (about 0) and
 * short of cavitation; -50 mmHg on the way back clears it. */
#define UPSTREAM_OCCLUDED_MMHG (-150.0)
#define UPSTREAM_CLEAR_MMHG (-50.0)

/* Each sensor's physical range: a reading outside is a broken sensor,
 * never a value to act on. */
static const struct sensor_health_params sensor_ranges[_HAL_SENSOR_MAX] = {
        [HAL_SENSOR_PRESSURE_DOWNSTREAM] = { -300.0, 2000.0, 2, 10 * US_PER_SEC },
        [HAL_SENSOR_PRESSURE_UPSTREAM]   = { -800.0, 800.0, 2, 10 * US_PER_SEC },
        [HAL_SENSOR_PLUNGER_POSITION]    = { -1.0, 1000.0, 2, 10 * US_PER_SEC },
        [HAL_SENSOR_BATTERY_VOLTAGE]     = { 0.0, 20.0, 2, 10 * US_PER_SEC },
};

void pump_supervise_init(struct pump *p, const struct config *cfg) {
        struct pump_supervision *s = &p->sup;
        struct occlusion_params op;
        struct air_params ap;
        struct accuracy_params acp;

        s->config_occlusion_limit_mmhg = cfg->occlusion_limit_mmhg;
        s->occlusion_limit_mmhg = cfg->occlusion_limit_mmhg;
        s->occlusion_trend = cfg->occlusion_trend;
        s->occlusion_back_off = cfg->occlusion_back_off;
        /* The detector's idea of the line: the configured tubing. On a rig
         * this is measured once per syringe and tubing set. */
        s->compliance_nl_per_mmhg = cfg->line_compliance_nl_per_mmhg;
        occlusion_params_default(&op, s->occlusion_limit_mmhg, s->compliance_nl_per_mmhg);
        op.trend = s->occlusion_trend;
        occlusion_init(&s->occlusion, &op);
        s->config_auto_restarts = (int) cfg->occlusion_auto_restarts;
        s->auto_restarts = s->config_auto_restarts;
        s->checking_line_until_us = -1;

        air_params_default(&ap);
        ap.bubble_limit_nl = cfg->air_bubble_nl;
        ap.accumulated_limit_nl = cfg->air_accumulated_nl;
        ap.window_us = cfg->air_window_us;
        air_init(&s->air, &ap);

        accuracy_params_default(&acp);
        acp.tolerance_pct = cfg->accuracy_tolerance_pct;
        accuracy_init(&s->accuracy, &acp);
        s->nl_per_mm = (double) p->mech.pl_per_step * (double) p->mech.steps_per_mm / PL_PER_NL;

        for (int i = 0; i < _HAL_SENSOR_MAX; i++)
                sensor_health_init(&s->health[i], &sensor_ranges[i]);

        s->battery = (struct battery_params) { .low_s = cfg->battery_low_s, .depleted_s = cfg->battery_depleted_s };
        /* The plunger position counts travel from where the syringe was
         * loaded, so what is left is the fill less the travel. */
        s->syringe_volume_nl = cfg->syringe_fill_nl > 0 ? cfg->syringe_fill_nl : cfg->syringe_volume_nl;
        s->near_end_us = cfg->near_end_us;
        s->remaining_nl = -1;
        s->idle_alert_us = cfg->idle_alert_us;
        s->idle_alarm_us = cfg->idle_alarm_us;
        s->idle_since_us = -1;
        p->escalate_after_us = cfg->escalate_after_us;
}

static void set_occlusion_limit(struct pump *p, double limit_mmhg) {
        struct pump_supervision *s = &p->sup;
        struct occlusion_params op;

        s->occlusion_limit_mmhg = limit_mmhg;
        occlusion_params_default(&op, limit_mmhg, s->compliance_nl_per_mmhg);
        op.trend = s->occlusion_trend;
        occlusion_init(&s->occlusion, &op);
        s->occlusion_armed = false;
}

int pump_supervise_program(struct pump *p, const char *care_area, double asked_limit_mmhg, struct pump_error *err) {
        double limit = p->sup.config_occlusion_limit_mmhg;
        int restarts = p->sup.config_auto_restarts;
        const struct care_area *a = p->library && care_area ? drug_library_find_care_area(p->library, care_area) : NULL;

        if (a && a->has_occlusion) {
                /* The pharmacy's levels for this care area: a clinician
                 * picks one of them, never a value of their own. */
                int r = care_area_occlusion_level(a, asked_limit_mmhg, &limit);
                if (r < 0) {
                        char levels[64] = "";
                        size_t used = 0;
                        for (size_t i = 0; i < a->occlusion.n_levels && used < sizeof(levels); i++)
                                used += (size_t) snprintf(levels + used, sizeof(levels) - used, "%s%d",
                                                          i ? ", " : "", a->occlusion.levels_mmhg[i]);
                        return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, r,
                                              "OcclusionLimitMmHg %g is not one of care area %s's levels (%s mmHg)",
                                              asked_limit_mmhg, care_area, levels);
                }
                restarts = a->occlusion.auto_restarts;
        } else if (!isnan(asked_limit_mmhg)) {
                if (!(asked_limit_mmhg >= 50 && asked_limit_mmhg <= 1000))
                        return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, -EINVAL,
                                              "OcclusionLimitMmHg %g is out of range (50 to 1000 mmHg)", asked_limit_mmhg);
                limit = asked_limit_mmhg;
        }
        set_occlusion_limit(p, limit);
        p->sup.auto_restarts = restarts;
        return 0;
}

void pump_supervise_acknowledged(struct pump *p, enum alarm_condition c) {
        /* The person cleared the line: old bubbles no longer count. */
        if (c == ALARM_AIR_IN_LINE || c == ALARM_AIR_ACCUMULATED)
                air_init(&p->sup.air, &p->sup.air.params);
        if (c == ALARM_OCCLUSION_DOWNSTREAM)
                p->sup.occlusion_armed = false;
}

double pump_occlusion_limit_mmhg(const struct pump *p) {
        return p->sup.occlusion_limit_mmhg;
}

bool pump_power(const struct pump *p, struct hal_power_status *ret) {
        if (p->sup.power_known && ret)
                *ret = p->sup.power;
        return p->sup.power_known;
}

/* ---- sensors -------------------------------------------------------- */

struct readings {
        bool ok[_HAL_SENSOR_MAX];
        double value[_HAL_SENSOR_MAX];
};

static void read_sensors(struct pump *p, bool moving, struct readings *ret) {
        struct pump_supervision *s = &p->sup;
        int64_t now = pump_now_us(p);
        char bad[ALARM_MESSAGE_MAX] = "";
        size_t used = 0;

        for (int i = 0; i < _HAL_SENSOR_MAX; i++) {
                double v = NAN;
                int r = p->hal.sensors ? p->hal.sensors->read(p->hal.sensors_ctx, i, &v) : -ENODEV;
                /* A sensor the rig does not have (the self-test found
                 * none): its checks stand down. One that was there and
                 * now says -ENODEV is failing, not absent. */
                if (!s->sensor_fitted[i]) {
                        ret->ok[i] = false;
                        ret->value[i] = NAN;
                        continue;
                }
                /* Only the downstream pressure must move while the motor
                 * does: a frozen plunger reading is a stall, which the
                 * accuracy monitor names, and the battery moves slowly. */
                bool must_move = moving && i == HAL_SENSOR_PRESSURE_DOWNSTREAM;
                enum sensor_health_verdict h = sensor_health_sample(&s->health[i], now, r, v, must_move);
                ret->ok[i] = r >= 0 && h == SENSOR_OK;
                ret->value[i] = v;
                if (h != SENSOR_OK && used < sizeof(bad))
                        used += (size_t) snprintf(bad + used, sizeof(bad) - used, "%s%s: %s", used ? "; " : "",
                                                  hal_sensor_to_string(i), sensor_health_verdict_to_string(h));
        }

        /* A detector without its sensor cannot say the line is safe, so a
         * failed sensor stops delivery (it never just stops checking). */
        if (bad[0])
                pump_raise_alarm(p, ALARM_SENSOR_FAILURE, false, "Sensor failure (%s); delivery stopped", bad);
        else
                pump_alarm_cause_gone(p, ALARM_SENSOR_FAILURE);

        if (ret->ok[HAL_SENSOR_PRESSURE_DOWNSTREAM])
                p->pressure_mmhg = ret->value[HAL_SENSOR_PRESSURE_DOWNSTREAM];
        s->remaining_nl = ret->ok[HAL_SENSOR_PLUNGER_POSITION]
                ? s->syringe_volume_nl - llround(ret->value[HAL_SENSOR_PLUNGER_POSITION] * s->nl_per_mm)
                : -1;
}

static int read_input(struct pump *p, enum hal_input i, bool *ret) {
        /* A door switch or end stop the rig does not have reads as closed
         * and not at the end; the plunger position still finds the end. */
        if (!p->sup.input_fitted[i]) {
                *ret = false;
                return 0;
        }
        int r = p->hal.inputs ? p->hal.inputs->read(p->hal.inputs_ctx, i, ret) : -ENODEV;
        if (r < 0)
                pump_raise_alarm(p, ALARM_SENSOR_FAILURE, false, "Sensor failure (%s detector: %s); delivery stopped",
                                 hal_input_to_string(i), strerror(-r));
        return r;
}

/* ---- occlusion ------------------------------------------------------ */

static unsigned restarts_in_window(struct pump *p, int64_t now) {
        unsigned n = 0;
        for (unsigned i = 0; i < p->sup.n_restarts; i++)
                if (now - p->sup.restart_us[i] < RESTART_WINDOW_US)
                        n++;
        return n;
}

static void raise_occlusion(struct pump *p, const char *how) {
        bool back_off = p->sup.occlusion_back_off;
        pump_raise_alarm(p, ALARM_OCCLUSION_DOWNSTREAM, false,
                         "Downstream occlusion (%s): %.0f mmHg, limit %.0f mmHg; delivery stopped%s",
                         how, p->pressure_mmhg, p->sup.occlusion_limit_mmhg,
                         back_off ? ", relieving the pressure" : "");
        /* Without the back-off ([alarms] occlusion_back_off = no) the
         * plunger stays where the alarm stopped it: what the line's
         * compliance holds goes to the patient when the line opens. */
        if (back_off)
                pump_relief_start(p);
}

static void on_occlusion(struct pump *p, enum occlusion_verdict v) {
        struct pump_supervision *s = &p->sup;
        int64_t now = pump_now_us(p);
        const char *how = occlusion_verdict_to_string(v);

        if (s->auto_restarts > 0 && restarts_in_window(p, now) < (unsigned) s->auto_restarts) {
                /* Stop and watch: a kinked line the patient straightens
                 * relieves itself, and an alarm would only add to the
                 * noise (CLINICAL.md: occlusion is 23 % of alarms). */
                settle(p);
                enum channel_state from = p->ch.state;
                enum channel_event ev;
                if (channel_halt(&p->ch, now, &ev) >= 0)
                        emit_transition(p, from, ev);
                apply_motion(p);
                s->checking_line_until_us = now + CHECKING_LINE_US;
                s->checking_from_mmhg = p->pressure_mmhg;
                char detail[96];
                snprintf(detail, sizeof(detail), "%s at %.0f mmHg", how, p->pressure_mmhg);
                record_event(p, "checking-line", NULL, NULL, detail);
                log_notice("Possible downstream occlusion (%s, %.0f mmHg): checking the line for 15 s", how,
                           p->pressure_mmhg);
                return;
        }
        raise_occlusion(p, how);
}

static void check_line(struct pump *p) {
        struct pump_supervision *s = &p->sup;
        int64_t now = pump_now_us(p);

        if (s->checking_line_until_us < 0)
                return;
        if (p->ch.state != CHANNEL_HALTED) {
                /* Someone stopped or resumed it meanwhile. */
                s->checking_line_until_us = -1;
                return;
        }
        /* Alaris resumes under half the limit. A trend catches an
         * occlusion far below the limit, so "half" is taken of the rise
         * above the resting pressure: a line still blocked holds its
         * pressure (the pump is still), an open one lets it fall. */
        double half_mmhg = s->baseline_mmhg + (MIN(s->checking_from_mmhg, s->occlusion_limit_mmhg) - s->baseline_mmhg) / 2;
        if (p->pressure_mmhg < half_mmhg) {
                s->checking_line_until_us = -1;
                if (s->n_restarts >= ELEMENTSOF(s->restart_us)) {
                        memmove(s->restart_us, s->restart_us + 1, sizeof(s->restart_us) - sizeof(s->restart_us[0]));
                        s->n_restarts--;
                }
                s->restart_us[s->n_restarts++] = now;
                enum channel_state from = p->ch.state;
                enum channel_event ev;
                if (channel_resume(&p->ch, now, &ev) >= 0)
                        emit_transition(p, from, ev);
                record_event(p, "auto-restart", NULL, NULL, "line cleared while checking");
                log_notice("Line cleared itself (%.0f mmHg): delivery restarted (%u of %d in 10 min)", p->pressure_mmhg,
                           restarts_in_window(p, now), s->auto_restarts);
                apply_motion(p);
                return;
        }
        if (now >= s->checking_line_until_us) {
                s->checking_line_until_us = -1;
                raise_occlusion(p, "confirmed after checking the line");
        }
}

static void supervise_occlusion(struct pump *p, const struct readings *rd, bool moving) {
        struct pump_supervision *s = &p->sup;
        const struct channel_motion *m = channel_motion(&p->ch);
        int64_t now = pump_now_us(p);

        check_line(p);

        if (moving && rd->ok[HAL_SENSOR_PRESSURE_DOWNSTREAM]) {
                if (!s->occlusion_armed || m->generation != s->occlusion_motion_gen) {
                        /* New rate or a restart: the pressure settles to a
                         * new level, which is not an occlusion. */
                        occlusion_reset(&s->occlusion, now);
                        s->occlusion_motion_gen = m->generation;
                        s->occlusion_armed = true;
                }
                enum occlusion_verdict v = occlusion_sample(&s->occlusion, now, p->pressure_mmhg, m->rate_nl_per_h);
                if (v != OCCLUSION_NONE) {
                        on_occlusion(p, v);
                        return;
                }
        } else if (!moving)
                s->occlusion_armed = false;

        if (rd->ok[HAL_SENSOR_PRESSURE_DOWNSTREAM] && p->pressure_mmhg < s->occlusion_limit_mmhg / 2 &&
            s->checking_line_until_us < 0 && !s->relief_active)
                pump_alarm_cause_gone(p, ALARM_OCCLUSION_DOWNSTREAM);

        if (rd->ok[HAL_SENSOR_PRESSURE_UPSTREAM]) {
                double up = rd->value[HAL_SENSOR_PRESSURE_UPSTREAM];
                if (moving && up < UPSTREAM_OCCLUDED_MMHG)
                        pump_raise_alarm(p, ALARM_OCCLUSION_UPSTREAM, false,
                                         "Upstream occlusion: %.0f mmHg on the supply side (limit %.0f mmHg); "
                                         "delivery stopped, check the clamp and the bag or syringe", up,
                                         UPSTREAM_OCCLUDED_MMHG);
                else if (up > UPSTREAM_CLEAR_MMHG)
                        pump_alarm_cause_gone(p, ALARM_OCCLUSION_UPSTREAM);
        }
}

/* ---- air, door, syringe --------------------------------------------- */

static void supervise_air(struct pump *p) {
        struct pump_supervision *s = &p->sup;
        bool air = false;

        if (read_input(p, HAL_INPUT_AIR_IN_LINE, &air) < 0)
                return;
        int64_t pushed_nl = s->net_steps * p->mech.pl_per_step / PL_PER_NL;
        enum air_verdict v = air_sample(&s->air, pump_now_us(p), air, pushed_nl);
        /* Raise while air is at the detector; once it reads clear the
         * cause is gone, so a person can acknowledge after priming even
         * though the window still remembers the bubbles. */
        if (!air)
                v = AIR_NONE;
        if (v == AIR_BUBBLE)
                pump_raise_alarm(p, ALARM_AIR_IN_LINE, false,
                                 "Air in line: a bubble of %.0f µL (limit %.0f µL); delivery stopped",
                                 (double) air_last_bubble_nl(&s->air) / 1000, (double) s->air.params.bubble_limit_nl / 1000);
        else if (v == AIR_ACCUMULATED)
                pump_raise_alarm(p, ALARM_AIR_ACCUMULATED, false,
                                 "Air in line: %.0f µL in the last %" PRIi64 " min (limit %.0f µL); delivery stopped",
                                 (double) air_window_nl(&s->air, pump_now_us(p)) / 1000,
                                 s->air.params.window_us / US_PER_MIN, (double) s->air.params.accumulated_limit_nl / 1000);
        if (!air) {
                pump_alarm_cause_gone(p, ALARM_AIR_IN_LINE);
                pump_alarm_cause_gone(p, ALARM_AIR_ACCUMULATED);
        }
}

static void supervise_door(struct pump *p, bool delivering) {
        bool open = false;
        if (read_input(p, HAL_INPUT_DOOR_OPEN, &open) < 0)
                return;
        if (open && delivering)
                pump_raise_alarm(p, ALARM_DOOR_OPEN, false,
                                 "Door or syringe clamp open during delivery; delivery stopped (free flow risk)");
        else if (!open)
                pump_alarm_cause_gone(p, ALARM_DOOR_OPEN);
}

static void supervise_syringe(struct pump *p, bool delivering) {
        struct pump_supervision *s = &p->sup;
        bool end_stop = false;

        if (read_input(p, HAL_INPUT_END_STOP, &end_stop) < 0)
                return;
        /* Less than one step left is empty: the drive cannot move on. */
        int64_t empty_nl = p->mech.pl_per_step / PL_PER_NL + 1;
        int64_t rate = channel_current_rate_nl_per_h(&p->ch);
        enum syringe_verdict v = SYRINGE_OK;
        if (s->remaining_nl >= 0 || end_stop)
                v = syringe_judge(s->remaining_nl >= 0 ? s->remaining_nl : 0, end_stop, rate, s->near_end_us, empty_nl);

        if (delivering && v == SYRINGE_EMPTY)
                pump_raise_alarm(p, ALARM_SYRINGE_EMPTY, false, "Syringe empty; delivery stopped");
        else if (v != SYRINGE_EMPTY)
                pump_alarm_cause_gone(p, ALARM_SYRINGE_EMPTY);

        if (delivering && v == SYRINGE_NEAR_END && rate > 0)
                pump_raise_alarm(p, ALARM_NEAR_END, false, "Syringe near end: %.2f mL left, empty in about %" PRIi64 " min",
                                 units_nl_to_ml(s->remaining_nl),
                                 (s->remaining_nl * (US_PER_HOUR / US_PER_MIN)) / rate + 1);
        else if (v == SYRINGE_OK || !delivering)
                pump_alarm_cause_gone(p, ALARM_NEAR_END);
}

/* ---- battery, accuracy, idle ----------------------------------------- */

static void supervise_battery(struct pump *p) {
        struct pump_supervision *s = &p->sup;
        struct hal_power_status st;

        int r = p->hal.power ? p->hal.power->read(p->hal.power_ctx, &st) : -ENODEV;
        if (r < 0) {
                pump_raise_alarm(p, ALARM_SENSOR_FAILURE, false, "Sensor failure (power: %s); delivery stopped",
                                 strerror(-r));
                return;
        }
        /* An estimate from a voltage that stopped moving is frozen with
         * it: the time left is unknown. A voltage at or above the table's
         * full mark may be held there by a charger, and this backend cannot
         * see the mains (a divider on the battery), so a full battery is
         * not judged, like one on mains; a sensor stuck reading full is
         * then not seen (docs/SAFETY.md). */
        bool stuck = st.time_from_voltage &&
                battery_voltage_stuck(&s->battery_voltage, pump_now_us(p), st.on_mains || st.capacity_pct >= 100,
                                      st.voltage_v);
        if (stuck) {
                st.time_to_empty_s = -1;
                st.capacity_pct = -1;
        }
        s->power = st;
        s->power_known = true;

        switch (battery_judge(&s->battery, st.on_mains, st.time_to_empty_s)) {
        case BATTERY_DEPLETED:
                pump_raise_alarm(p, ALARM_BATTERY_DEPLETED, false,
                                 "Battery depleted: %" PRIi64 " min left; delivery stopped, connect mains power",
                                 st.time_to_empty_s / 60);
                break;
        case BATTERY_LOW:
                pump_raise_alarm(p, ALARM_BATTERY_LOW, false, "Battery low: %" PRIi64 " min left (%d %%); connect mains power",
                                 st.time_to_empty_s / 60, st.capacity_pct);
                break;
        case BATTERY_UNKNOWN:
                if (stuck)
                        pump_raise_alarm(p, ALARM_BATTERY_LOW, false,
                                         "The battery's time left is unknown: its voltage has read %.4f V "
                                         "for %lld min (a stuck sensor?); connect mains power",
                                         st.voltage_v, BATTERY_VOLTAGE_STUCK_US / 60000000LL);
                else
                        pump_raise_alarm(p, ALARM_BATTERY_LOW, false,
                                         "On battery and the time left is unknown; connect mains power");
                break;
        case BATTERY_OK:
                pump_alarm_cause_gone(p, ALARM_BATTERY_LOW);
                pump_alarm_cause_gone(p, ALARM_BATTERY_DEPLETED);
                break;
        }
}

static void supervise_accuracy(struct pump *p, const struct readings *rd, bool moving) {
        struct pump_supervision *s = &p->sup;
        const struct channel_motion *m = channel_motion(&p->ch);

        if (!moving || !rd->ok[HAL_SENSOR_PLUNGER_POSITION]) {
                s->accuracy_armed = false;
                return;
        }
        double measured_nl = rd->value[HAL_SENSOR_PLUNGER_POSITION] * s->nl_per_mm;
        if (!s->accuracy_armed || m->generation != s->accuracy_motion_gen) {
                accuracy_reset(&s->accuracy);
                s->accuracy_origin_steps = s->net_steps;
                s->accuracy_origin_nl = measured_nl;
                s->accuracy_motion_gen = m->generation;
                s->accuracy_armed = true;
        }
        int64_t commanded_nl = (s->net_steps - s->accuracy_origin_steps) * p->mech.pl_per_step / PL_PER_NL;
        enum accuracy_verdict v = accuracy_sample(&s->accuracy, pump_now_us(p), commanded_nl,
                                                  measured_nl - s->accuracy_origin_nl);
        /* The cause cannot be seen once the motor stops, so these latch
         * as events: a person must look at the pump. */
        switch (v) {
        case ACCURACY_STALL:
                pump_raise_alarm(p, ALARM_MOTOR_MALFUNCTION, true,
                                 "Motor malfunction: the plunger did not move as commanded (stall); delivery stopped");
                break;
        case ACCURACY_OVER:
                pump_raise_alarm(p, ALARM_OVER_INFUSION, true,
                                 "Over-infusion: measured volume %+.1f %% off the commanded; delivery stopped",
                                 accuracy_last_error_pct(&s->accuracy));
                break;
        case ACCURACY_UNDER:
                pump_raise_alarm(p, ALARM_UNDER_INFUSION, true,
                                 "Under-infusion: measured volume %+.1f %% off the commanded; delivery stopped",
                                 accuracy_last_error_pct(&s->accuracy));
                break;
        default:
                break;
        }
}

static void supervise_idle(struct pump *p) {
        struct pump_supervision *s = &p->sup;
        int64_t now = pump_now_us(p);
        bool idle = p->ch.state == CHANNEL_PROGRAMMED || p->ch.state == CHANNEL_PAUSED;

        if (!idle) {
                s->idle_since_us = -1;
                s->idle_escalated = false;
                pump_alarm_cause_gone(p, ALARM_IDLE);
                return;
        }
        if (s->idle_since_us < 0)
                s->idle_since_us = now;

        enum idle_verdict v = idle_judge(now, s->idle_since_us, s->idle_alert_us, s->idle_alarm_us);
        if (v == IDLE_OK)
                return;
        pump_raise_alarm(p, ALARM_IDLE, false, "Channel %s for %" PRIi64 " min without running: start or stop it",
                         channel_state_to_string(p->ch.state), (now - s->idle_since_us) / US_PER_MIN);
        if (v == IDLE_ALARM && !s->idle_escalated) {
                s->idle_escalated = true;
                pump_escalate_alarm(p, ALARM_IDLE, ALARM_PRIORITY_MEDIUM);
        }
}

void pump_supervise(struct pump *p) {
        const struct channel_motion *m = channel_motion(&p->ch);
        bool delivering = p->ch.state == CHANNEL_RUNNING || p->ch.state == CHANNEL_KVO;
        bool moving = delivering && m->active && m->rate_nl_per_h > 0 && !p->sup.relief_active;
        struct readings rd;

        read_sensors(p, moving, &rd);
        supervise_occlusion(p, &rd, moving);
        supervise_air(p);
        supervise_door(p, delivering);
        supervise_syringe(p, delivering);
        supervise_battery(p);
        /* A halting alarm above may have stopped the motor: look again. */
        m = channel_motion(&p->ch);
        moving = moving && m->active && (p->ch.state == CHANNEL_RUNNING || p->ch.state == CHANNEL_KVO);
        supervise_accuracy(p, &rd, moving);
        supervise_idle(p);
}
