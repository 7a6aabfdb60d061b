/* SPDX-License-Identifier: MIT */
#include "daemon/bus.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

#include "common/macros.h"
#include "common/units.h"
#include "common/utf8.h"
#include "daemon/log.h"

static int64_t real_now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int bus_error_setf(sd_bus_error *error, const char *name, const char *fmt, ...) {
        va_list ap;
        char *text = NULL;
        va_start(ap, fmt);
        int k = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (k < 0)
                return sd_bus_error_set(error, name, "(the message could not be formatted: out of memory)");
        utf8_scrub(text);
        int r = sd_bus_error_set(error, name, text);
        free(text);
        return r;
}

/* Asking dbus-daemon for a sender's uid is a synchronous round trip on
 * the loop that renews the motor's lease, and every call needs it twice
 * (the access check, the audit). A unique name is never given to another
 * connection while the bus runs, so its uid can be kept: the last few
 * senders are remembered. */
#define SENDER_CACHE_SIZE 16
static struct {
        char name[64];
        int64_t uid;
} sender_cache[SENDER_CACHE_SIZE];
static unsigned sender_cache_next;

int64_t bus_sender_uid(sd_bus_message *m) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        uid_t uid;

        bool cacheable = sender && sender[0] == ':' && strlen(sender) < sizeof(sender_cache[0].name);
        for (unsigned i = 0; cacheable && i < SENDER_CACHE_SIZE; i++)
                if (streq(sender_cache[i].name, sender))
                        return sender_cache[i].uid;
        if (sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds) < 0 ||
            sd_bus_creds_get_euid(creds, &uid) < 0)
                return -1;      /* not kept: the next call asks again */
        if (cacheable) {
                unsigned i = sender_cache_next++ % SENDER_CACHE_SIZE;
                snprintf(sender_cache[i].name, sizeof(sender_cache[i].name), "%s", sender);
                sender_cache[i].uid = uid;
        }
        return uid;
}

void bus_audit(struct bus_ctx *b, sd_bus_message *m, const char *method, const char *args,
               const char *outcome, const char *message) {
        pump_audit(b->pump, bus_sender_uid(m), method, sd_bus_message_get_path(m), args, outcome, message);
}

int bus_finish_command(struct bus_ctx *b, sd_bus_message *m, const char *method, const char *args,
                       int r, const struct pump_error *perr, sd_bus_error *error) {
        if (r < 0) {
                bus_audit(b, m, method, args, perr->name, perr->message);
                return bus_error_setf(error, perr->name, "%s", perr->message);
        }
        bus_audit(b, m, method, args, "ok", NULL);
        return sd_bus_reply_method_return(m, NULL);
}

static const char *const progress_props[] = {
        "VolumeInfusedMl", "KvoVolumeMl", "TimeRemainingSec", "PressureMmHg", "NextDemandAllowedSec", "WindowVolumeMl",
        NULL,
};

void bus_emit_progress(struct bus_ctx *b) {
        b->progress_pending = false;
        b->last_progress_emit_us = real_now_us();
        (void) sd_bus_emit_properties_changed_strv(b->bus, BUS_PATH_CHANNEL0, BUS_IFACE_CHANNEL,
                                                   (char **) progress_props);
        (void) sd_bus_emit_properties_changed(b->bus, BUS_PATH_MANAGER, BUS_IFACE_MANAGER,
                                              "OnMains", "BatteryPercent", "BatteryMinutesLeft", NULL);
        if (pump_has_sim(b->pump))
                (void) sd_bus_emit_properties_changed(b->bus, BUS_PATH_SIMULATOR, BUS_IFACE_SIMULATOR,
                                                      "NowUsec", "TrueDeliveredMl", "PlungerSteps", "Outputs", NULL);
}

static int on_progress_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        struct bus_ctx *b = userdata;
        if (b->progress_pending)
                bus_emit_progress(b);
        return 0;
}

static void on_changed(void *userdata, unsigned what) {
        struct bus_ctx *b = userdata;

        if (what & PUMP_CHANGED_STATE) {
                (void) sd_bus_emit_properties_changed(b->bus, BUS_PATH_CHANNEL0, BUS_IFACE_CHANNEL,
                                                      "State", "RateMlPerHour", "CurrentRateMlPerHour", "VtbiMl",
                                                      "KvoRateMlPerHour", "InfusionId", "Mode", "CareArea", "Drug",
                                                      "DrugName", "DoseRate", "DoseRateUnit", "Concentration",
                                                      "OcclusionLimitMmHg", NULL);
                (void) sd_bus_emit_properties_changed(b->bus, BUS_PATH_CHANNEL0, BUS_IFACE_CHANNEL,
                                                      "PcaDemandsTotal", "PcaDemandsGranted", "WindowLimitMl",
                                                      "LimitWindowSec", "PcaLimitReached", "PcaDoseMl", "LockoutSec",
                                                      "MaxDosesPerHour", "BasalRateMlPerHour", NULL);
                bus_emit_progress(b);   /* a state change always carries fresh figures */
        }
        if (what & PUMP_CHANGED_ALARMS)
                (void) sd_bus_emit_properties_changed(b->bus, BUS_PATH_CHANNEL0, BUS_IFACE_CHANNEL,
                                                      "ActiveAlarms", "AudioPausedUntilUsec", NULL);
        if ((what & PUMP_CHANGED_PROGRESS) && !(what & PUMP_CHANGED_STATE)) {
                int64_t now = real_now_us();
                if (now - b->last_progress_emit_us >= US_PER_SEC)
                        bus_emit_progress(b);
                else if (!b->progress_pending) {
                        b->progress_pending = true;
                        (void) sd_event_source_set_time(b->progress_timer, b->last_progress_emit_us + US_PER_SEC);
                        (void) sd_event_source_set_enabled(b->progress_timer, SD_EVENT_ONESHOT);
                }
        }
}

static void on_alarm_raised(void *userdata, const struct alarm *a) {
        struct bus_ctx *b = userdata;
        (void) sd_bus_emit_signal(b->bus, BUS_PATH_CHANNEL0, BUS_IFACE_CHANNEL, "AlarmRaised", "ssss", a->id,
                                  alarm_condition_to_string(a->condition), alarm_priority_to_string(a->priority),
                                  a->message);
}

static void on_alarm_cleared(void *userdata, const struct alarm *a) {
        struct bus_ctx *b = userdata;
        (void) sd_bus_emit_signal(b->bus, BUS_PATH_CHANNEL0, BUS_IFACE_CHANNEL, "AlarmCleared", "ss", a->id,
                                  alarm_condition_to_string(a->condition));
}

static void on_alarm_escalated(void *userdata, const struct alarm *a) {
        struct bus_ctx *b = userdata;
        (void) sd_bus_emit_signal(b->bus, BUS_PATH_CHANNEL0, BUS_IFACE_CHANNEL, "AlarmEscalated", "sss", a->id,
                                  alarm_condition_to_string(a->condition), alarm_priority_to_string(a->priority));
}

static void on_infusion_ended(void *userdata, int64_t id, const char *status, int64_t volume_nl) {
        struct bus_ctx *b = userdata;
        (void) sd_bus_emit_signal(b->bus, BUS_PATH_CHANNEL0, BUS_IFACE_CHANNEL, "InfusionEnded", "tsd",
                                  (uint64_t) id, status, units_nl_to_ml(volume_nl));
}

static void on_pca_demanded(void *userdata, int64_t id, const char *source, const char *outcome) {
        struct bus_ctx *b = userdata;
        (void) sd_bus_emit_signal(b->bus, BUS_PATH_CHANNEL0, BUS_IFACE_CHANNEL, "PcaDemanded", "tss", (uint64_t) id,
                                  source, outcome);
}

int bus_setup(sd_event *e, struct pump *p, struct bus_ctx **ret) {
        _cleanup_(bus_freep) struct bus_ctx *b = calloc(1, sizeof(*b));
        int r;

        if (!b)
                return log_error_errno(-ENOMEM, "Out of memory");
        b->pump = p;
        b->event = sd_event_ref(e);

        /* sd_bus_open_system() honours DBUS_SYSTEM_BUS_ADDRESS. */
        r = sd_bus_open_system(&b->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = sd_bus_attach_event(b->bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");

        r = sd_event_add_time(e, &b->progress_timer, CLOCK_MONOTONIC, 0, 0, on_progress_timer, b);
        if (r < 0)
                return log_error_errno(r, "Failed to add the progress timer: %m");
        (void) sd_event_source_set_enabled(b->progress_timer, SD_EVENT_OFF);

        /* The access check first: no call reaches a handler without it. */
        r = bus_add_access_check(b);
        if (r < 0)
                return log_error_errno(r, "Failed to add the access check: %m");
        r = sd_bus_add_object_manager(b->bus, NULL, BUS_PATH_MANAGER);
        if (r < 0)
                return log_error_errno(r, "Failed to add the object manager: %m");
        r = bus_add_manager(b);
        if (r >= 0)
                r = bus_add_channel(b);
        if (r >= 0)
                r = bus_add_library(b);
        if (r >= 0)
                r = bus_add_history(b);
        if (r >= 0 && pump_has_sim(p))
                r = bus_add_simulator(b);
        if (r < 0)
                return log_error_errno(r, "Failed to publish the D-Bus objects: %m");

        pump_set_observer(p, &(struct pump_observer) {
                .userdata = b,
                .changed = on_changed,
                .alarm_raised = on_alarm_raised,
                .alarm_cleared = on_alarm_cleared,
                .alarm_escalated = on_alarm_escalated,
                .infusion_ended = on_infusion_ended,
                .pca_demanded = on_pca_demanded,
        });

        /* Take the name last, once everything is in place: a client that
         * sees the name can use every object at once. */
        r = sd_bus_request_name(b->bus, BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to acquire the bus name %s: %m", BUS_NAME);

        *ret = TAKE_PTR(b);
        return 0;
}

struct bus_ctx *bus_free(struct bus_ctx *b) {
        if (!b)
                return NULL;
        sd_event_source_disable_unref(b->progress_timer);
        sd_event_source_disable_unref(b->denial_flush);
        sd_bus_flush_close_unref(b->bus);
        sd_event_unref(b->event);
        free(b);
        return NULL;
}
