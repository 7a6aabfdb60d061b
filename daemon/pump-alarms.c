/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/macros.h"
#include "common/units.h"
#include "daemon/log.h"
#include "daemon/pump-private.h"

/* One row in alarm_events per thing that happens to an alarm, with the
 * pressure and volume at that moment: what a reviewer needs to see what
 * the pump saw. */
static void record_alarm(struct pump *p, const struct alarm *a, const char *action, int64_t uid) {
        struct db_alarm_event e = {
                .alarm_id = a->id,
                .seq = a->seq,
                .infusion_id = p->infusion_id,
                .channel = p->ch.index,
                .action = action,
                .condition = alarm_condition_to_string(a->condition),
                .priority = alarm_priority_to_string(a->priority),
                .utc_us = pump_utc_us(p),
                .mono_us = pump_now_us(p),
                .uid = uid,
                .pressure_mmhg = p->pressure_mmhg,
                .volume_nl = channel_volume_nl(&p->ch),
                .message = streq(action, "raised") || streq(action, "escalated") ? a->message : NULL,
        };
        int r = db_alarm_event_add(p->db, &e);
        if (r < 0 && !pump_storage_failing(p))
                log_error_errno(r, "Failed to record alarm %s %s: %s", a->id, action, db_last_error(p->db));
        pump_storage_result(p, r);
}

void pump_raise_alarm(struct pump *p, enum alarm_condition c, bool event_like, const char *fmt, ...) {
        char msg[ALARM_MESSAGE_MAX];
        const struct alarm *a = NULL;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        int r = alarm_raise(&p->alarms, c, pump_now_us(p), pump_utc_us(p), msg, &a);
        if (r < 0) {
                /* No room to show it: that is itself reason to stop. */
                log_error_errno(r, "Alarm set full, cannot raise %s: %s", alarm_condition_to_string(c), msg);
                halt(p);
                return;
        }
        if (event_like)
                alarm_cause_gone(&p->alarms, c, NULL);
        if (r == 0)
                return;         /* already active */

        char detail[ALARM_MESSAGE_MAX + 64];
        snprintf(detail, sizeof(detail), "%s %s: %s", a->id, alarm_priority_to_string(a->priority), msg);
        record_event(p, "alarm-raised", NULL, NULL, detail);
        record_alarm(p, a, "raised", -1);
        log_struct(LOG_WARNING, MESSAGE_ID_ALARM_RAISED, "Alarm %s (%s priority): %s",
                   a->id, alarm_priority_to_string(a->priority), msg);
        if (p->obs.alarm_raised)
                p->obs.alarm_raised(p->obs.userdata, a);
        notify(p, PUMP_CHANGED_ALARMS);
        bool halts = a->halts;
        /* Sound at once, not at the next tick. */
        pump_update_outputs(p);
        if (halts)
                halt(p);
}

static void cleared(struct pump *p, const struct alarm *removed, const char *action, int64_t uid) {
        record_event(p, streq(action, "acknowledged") ? "alarm-acknowledged" : "alarm-cleared", NULL, NULL,
                     removed->id);
        record_alarm(p, removed, action, uid);
        if (streq(action, "acknowledged"))
                log_struct(LOG_NOTICE, MESSAGE_ID_ALARM_ACKNOWLEDGED, "Alarm %s acknowledged by uid %" PRIi64,
                           removed->id, uid);
        else
                log_info("Alarm %s cleared: its cause is gone", removed->id);
        if (p->obs.alarm_cleared)
                p->obs.alarm_cleared(p->obs.userdata, removed);
        notify(p, PUMP_CHANGED_ALARMS);
        pump_update_outputs(p);
}

void pump_alarm_cause_gone(struct pump *p, enum alarm_condition c) {
        struct alarm removed;
        if (alarm_cause_gone(&p->alarms, c, &removed) > 0)
                cleared(p, &removed, "cleared", -1);
}

void pump_escalate_alarm(struct pump *p, enum alarm_condition c, enum alarm_priority prio) {
        if (alarm_escalate(&p->alarms, c, prio, pump_now_us(p)) < 0)
                return;
        const struct alarm *a = alarm_set_find(&p->alarms, c);
        record_alarm(p, a, "escalated", -1);
        log_struct(LOG_WARNING, MESSAGE_ID_ALARM_RAISED, "Alarm %s escalated to %s priority: %s", a->id,
                   alarm_priority_to_string(a->priority), a->message);
        if (p->obs.alarm_escalated)
                p->obs.alarm_escalated(p->obs.userdata, a);
        notify(p, PUMP_CHANGED_ALARMS);
        pump_update_outputs(p);
}

int pump_acknowledge_alarm(struct pump *p, const char *id, int64_t uid, struct pump_error *err) {
        struct alarm removed;
        int r = alarm_acknowledge(&p->alarms, id, &removed);
        if (r == -ENOENT)
                return pump_set_error(err, PUMP_ERROR_UNKNOWN_ALARM, r,
                                      "No active alarm has id \"%s\" (see the ActiveAlarms property)", id);
        if (r == -EBUSY) {
                const struct alarm *a = alarm_set_find_id(&p->alarms, id);
                return pump_set_error(err, PUMP_ERROR_ALARM_CAUSE, r,
                                      "Alarm %s cannot be acknowledged while its cause remains (%s); "
                                      "remove the cause first", id, a ? a->message : "");
        }
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, r, "Cannot acknowledge %s", id);

        pump_supervise_acknowledged(p, removed.condition);
        cleared(p, &removed, "acknowledged", uid);
        return 0;
}

int pump_silence_alarms(struct pump *p, int64_t uid, int64_t *ret_until_utc_us, struct pump_error *err) {
        int64_t now = pump_now_us(p);
        int r = alarm_silence(&p->alarms, now, ALARM_SILENCE_MAX_US);
        if (r == -ENOENT)
                return pump_set_error(err, PUMP_ERROR_INVALID_STATE, r, "No alarm is active: nothing to silence");
        if (r < 0)
                return pump_set_error(err, PUMP_ERROR_INVALID_ARGUMENT, r, "Cannot silence the alarms");

        for (size_t i = 0; i < p->alarms.n; i++)
                record_alarm(p, &p->alarms.items[i], "silenced", uid);
        record_event(p, "alarms-silenced", NULL, NULL, "audio paused for 120 s");
        log_notice("Alarm audio paused for %" PRIi64 " s by uid %" PRIi64, (int64_t) (ALARM_SILENCE_MAX_US / US_PER_SEC), uid);
        notify(p, PUMP_CHANGED_ALARMS);
        pump_update_outputs(p);
        if (ret_until_utc_us)
                *ret_until_utc_us = pump_utc_us(p) + ALARM_SILENCE_MAX_US;
        return 0;
}

int64_t pump_audio_paused_until_utc_us(const struct pump *p) {
        int64_t now = pump_now_us(p), until = 0;
        for (size_t i = 0; i < p->alarms.n; i++)
                until = MAX(until, p->alarms.items[i].silenced_until_us);
        return until > now ? pump_utc_us(p) + (until - now) : 0;
}

static bool alarm_output_state(const struct alarm_outputs *o, enum hal_output which) {
        switch (which) {
        case HAL_OUTPUT_BUZZER:     return o->buzzer;
        case HAL_OUTPUT_LED_RED:    return o->led_red;
        case HAL_OUTPUT_LED_YELLOW: return o->led_yellow;
        case HAL_OUTPUT_NURSE_CALL: return o->nurse_call;
        default:                    return false;
        }
}

void pump_update_outputs(struct pump *p) {
        struct alarm_outputs o;
        int64_t now = pump_now_us(p), next = INT64_MAX;

        alarm_outputs_at(&p->alarms, now, &o, &next);
        /* A silence that ends, or an escalation that falls due, changes
         * the outputs too. */
        next = MIN(next, alarm_set_next_escalation(&p->alarms, p->escalate_after_us));
        p->next_output_us = next;

        if (!p->hal.outputs)
                return;
        for (int i = 0; i < _HAL_OUTPUT_MAX; i++) {
                bool want = alarm_output_state(&o, i);
                if (p->outputs_known && want == alarm_output_state(&p->outputs, i))
                        continue;
                int r = p->hal.outputs->set(p->hal.outputs_ctx, i, want);
                if (r < 0)
                        /* A mute buzzer is itself a hazard: say so loudly,
                         * but there is no other output to say it with. */
                        log_error_errno(r, "Failed to set %s %s", hal_output_to_string(i), want ? "on" : "off");
        }
        p->outputs = o;
        p->outputs_known = true;
}

int64_t pump_next_output_us(const struct pump *p) {
        return p->next_output_us;
}

void pump_alarms_tick(struct pump *p) {
        size_t idx[ALARM_SET_MAX];
        size_t n = alarm_set_escalate_due(&p->alarms, pump_now_us(p), p->escalate_after_us, idx);
        for (size_t i = 0; i < n; i++) {
                const struct alarm *a = &p->alarms.items[idx[i]];
                record_alarm(p, a, "escalated", -1);
                log_struct(LOG_WARNING, MESSAGE_ID_ALARM_RAISED, "Alarm %s unanswered: escalated to %s priority",
                           a->id, alarm_priority_to_string(a->priority));
                if (p->obs.alarm_escalated)
                        p->obs.alarm_escalated(p->obs.userdata, a);
        }
        if (n > 0)
                notify(p, PUMP_CHANGED_ALARMS);
        if (n > 0 || pump_now_us(p) >= p->next_output_us || !p->outputs_known)
                pump_update_outputs(p);
}
