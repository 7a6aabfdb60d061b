/* SPDX-License-Identifier: MIT */
/* org.infusiond.pump1.History: the history database read through the
 * bus, paged, and the exports for hospital IT (docs/API.md). Reads change
 * nothing and are not audited; each reply is bounded by its page size. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-id128.h>

#include "build-config.h"
#include "common/macros.h"
#include "daemon/bus.h"
#include "daemon/log.h"
#include "db/export.h"

#define PAGE_DEFAULT 100u
/* An export page is one document; a hundred infusions of HL7 is about
 * 300 kB, well inside a D-Bus message's 128 MiB and quick to build. */
#define EXPORT_PAGE_MAX 100u

/* Makes the EUI-64 the same across restarts but useless for tracking the
 * board elsewhere: sd_id128_get_machine_app_specific() hashes the machine
 * id with this application id. */
#define DEVICE_ID_APP SD_ID128_MAKE(7c,2f,0e,54,a1,9b,4d,33,8e,51,c6,0a,d4,17,93,b2)

struct history_query {
        int64_t since_utc_us;
        int64_t until_utc_us;
        struct db_page page;
        char *drug;                     /* owned */
        int64_t infusion_id;
};

static void history_query_done(struct history_query *q) {
        free(q->drug);
}

static int invalid(sd_bus_error *error, const char *format, ...) __attribute__((format(printf, 2, 3)));
static int invalid(sd_bus_error *error, const char *format, ...) {
        char text[512];
        va_list ap;

        va_start(ap, format);
        vsnprintf(text, sizeof text, format, ap);
        va_end(ap);
        return bus_error_setf(error, PUMP_ERROR_INVALID_ARGUMENT, "%s", text);
}

enum option_use {
        USE_DRUG = 1 << 0,
        USE_INFUSION = 1 << 1,
};

/* Read (x since, x until, a{sv} options) into q. Every option must be one
 * this method knows, with its type and in range. */
static int read_query(sd_bus_message *m, const char *method, unsigned uses, unsigned limit_max,
                      struct history_query *q, sd_bus_error *error) {
        int64_t since, until;
        int r;

        r = sd_bus_message_read(m, "xx", &since, &until);
        if (r < 0)
                return invalid(error, "%s takes (x since_usec, x until_usec, a{sv} options): %s", method,
                               strerror(-r));
        if (since < 0)
                return invalid(error, "since_usec %" PRIi64 " is negative: give UTC microseconds since the epoch, "
                               "0 for the beginning", since);
        if (until < 0)
                return invalid(error, "until_usec %" PRIi64 " is negative: give UTC microseconds, 0 for no end", until);
        if (until == 0)
                until = INT64_MAX;
        if (until <= since)
                return invalid(error, "until_usec %" PRIi64 " is not after since_usec %" PRIi64, until, since);
        *q = (struct history_query) {
                .since_utc_us = since,
                .until_utc_us = until,
                .page = { .since_utc_us = since, .until_utc_us = until, .limit = MIN(PAGE_DEFAULT, limit_max) },
        };

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return invalid(error, "%s: the options must be a{sv}: %s", method, strerror(-r));
        /* Each option once: with two limits, which one did the caller mean? */
        static const char *const option_names[] = { "after_id", "limit", "drug", "infusion_id" };
        unsigned seen = 0;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *type;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &type);
                if (r < 0)
                        return r;
                const char *want = streq(key, "after_id") || streq(key, "infusion_id") ? "x" :
                                   streq(key, "limit") ? "u" : streq(key, "drug") ? "s" : NULL;
                bool allowed = want && (!streq(key, "drug") || (uses & USE_DRUG)) &&
                               (!streq(key, "infusion_id") || (uses & USE_INFUSION));
                if (!allowed)
                        return invalid(error, "%s has no option '%s': it takes after_id (x), limit (u)%s%s", method,
                                       key, uses & USE_DRUG ? ", drug (s)" : "",
                                       uses & USE_INFUSION ? ", infusion_id (x)" : "");
                if (!streq(type, want))
                        return invalid(error, "%s option '%s' must be of type %s, not %s", method, key, want, type);
                for (unsigned i = 0; i < ELEMENTSOF(option_names); i++)
                        if (streq(key, option_names[i])) {
                                if (seen & (1u << i))
                                        return invalid(error, "%s option '%s' given twice", method, key);
                                seen |= 1u << i;
                        }

                if (streq(key, "after_id") || streq(key, "infusion_id")) {
                        int64_t v;
                        r = sd_bus_message_read(m, "v", "x", &v);
                        if (r < 0)
                                return r;
                        if (v < 0)
                                return invalid(error, "%s option '%s' %" PRIi64 " is negative", method, key, v);
                        if (streq(key, "after_id"))
                                q->page.after_id = v;
                        else
                                q->infusion_id = v;
                } else if (streq(key, "limit")) {
                        uint32_t v;
                        r = sd_bus_message_read(m, "v", "u", &v);
                        if (r < 0)
                                return r;
                        if (v < 1 || v > limit_max)
                                return invalid(error, "%s option 'limit' %" PRIu32 " is out of range: 1 to %u",
                                               method, v, limit_max);
                        q->page.limit = v;
                } else {
                        const char *v;
                        r = sd_bus_message_read(m, "v", "s", &v);
                        if (r < 0)
                                return r;
                        if (strlen(v) == 0 || strlen(v) > 128)
                                return invalid(error, "%s option 'drug' must be 1 to 128 characters", method);
                        /* The library refuses control characters in drug
                         * ids and names, so such a filter can match nothing. */
                        for (const char *c = v; *c; c++)
                                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                                        return invalid(error, "%s option 'drug' has a control character (0x%02x): "
                                                       "give a drug id or name", method, (unsigned char) *c);
                        free(q->drug);
                        q->drug = strdup(v);
                        if (!q->drug)
                                return -ENOMEM;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int storage_error(struct bus_ctx *b, sd_bus_error *error, int r) {
        log_warning_errno(r, "Failed to read the history: %s", db_last_error(pump_db(b->pump)));
        return bus_error_setf(error, PUMP_ERROR_STORAGE, "The history database could not be read: %s",
                                 db_last_error(pump_db(b->pump)));
}

/* a{sv} entries; NULL strings and NAN doubles are left out. Each returns
 * 0 or a negative errno (sd_bus_message_append's positive success would
 * end a ?: chain early). */
static int ok_or(int r) {
        return r < 0 ? r : 0;
}

static int append_x(sd_bus_message *m, const char *key, int64_t v) {
        return ok_or(sd_bus_message_append(m, "{sv}", key, "x", v));
}

static int append_s(sd_bus_message *m, const char *key, const char *v) {
        return v ? ok_or(sd_bus_message_append(m, "{sv}", key, "s", v)) : 0;
}

static int append_u(sd_bus_message *m, const char *key, unsigned v) {
        return ok_or(sd_bus_message_append(m, "{sv}", key, "u", (uint32_t) v));
}

static int append_d(sd_bus_message *m, const char *key, double v) {
        return isfinite(v) ? ok_or(sd_bus_message_append(m, "{sv}", key, "d", v)) : 0;
}

struct row_writer {
        sd_bus_message *reply;
};

static int infusion_row(const struct db_infusion *inf, void *userdata) {
        struct row_writer *w = userdata;
        sd_bus_message *m = w->reply;
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        r = append_x(m, "id", inf->id) ?: append_u(m, "channel", inf->channel) ?: append_s(m, "mode", inf->mode) ?:
            append_s(m, "status", inf->status) ?: append_x(m, "rate_nl_per_h", inf->rate_nl_per_h) ?:
            append_x(m, "vtbi_nl", inf->vtbi_nl) ?: append_x(m, "kvo_rate_nl_per_h", inf->kvo_rate_nl_per_h) ?:
            append_x(m, "volume_nl", inf->volume_nl) ?: append_x(m, "started_utc_us", inf->started_utc_us) ?:
            append_x(m, "started_mono_us", inf->started_mono_us) ?:
            (inf->ended_utc_us > 0 ? append_x(m, "ended_utc_us", inf->ended_utc_us) : 0) ?:
            append_x(m, "checkpoint_utc_us", inf->checkpoint_utc_us) ?: append_s(m, "care_area", inf->care_area) ?:
            append_s(m, "drug_id", inf->drug_id) ?: append_s(m, "drug_name", inf->drug_name) ?:
            append_d(m, "dose_rate", inf->dose_rate) ?: append_s(m, "dose_unit", inf->dose_unit) ?:
            append_s(m, "concentration", inf->concentration) ?:
            append_s(m, "library_sha256", inf->library_sha256);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static int event_row(const struct db_event *e, void *userdata) {
        struct row_writer *w = userdata;
        sd_bus_message *m = w->reply;
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        r = append_x(m, "id", e->id) ?: (e->infusion_id > 0 ? append_x(m, "infusion_id", e->infusion_id) : 0) ?:
            append_u(m, "channel", e->channel) ?: append_x(m, "utc_us", e->utc_us) ?:
            (e->mono_us >= 0 ? append_x(m, "mono_us", e->mono_us) : 0) ?: append_s(m, "kind", e->kind) ?:
            append_s(m, "from_state", e->from_state) ?: append_s(m, "to_state", e->to_state) ?:
            append_x(m, "volume_nl", e->volume_nl) ?: append_s(m, "detail", e->detail);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static int alarm_row(const struct db_alarm_event *e, void *userdata) {
        struct row_writer *w = userdata;
        sd_bus_message *m = w->reply;
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        r = append_x(m, "id", e->id) ?: append_s(m, "alarm_id", e->alarm_id) ?: append_u(m, "seq", e->seq) ?:
            (e->infusion_id > 0 ? append_x(m, "infusion_id", e->infusion_id) : 0) ?:
            append_u(m, "channel", e->channel) ?: append_s(m, "action", e->action) ?:
            append_s(m, "condition", e->condition) ?: append_s(m, "priority", e->priority) ?:
            append_x(m, "utc_us", e->utc_us) ?: (e->mono_us >= 0 ? append_x(m, "mono_us", e->mono_us) : 0) ?:
            (e->uid >= 0 ? append_x(m, "uid", e->uid) : 0) ?: append_d(m, "pressure_mmhg", e->pressure_mmhg) ?:
            append_x(m, "volume_nl", e->volume_nl) ?: append_s(m, "message", e->message);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

enum list_kind { LIST_INFUSIONS, LIST_EVENTS, LIST_ALARMS };

static int list_method(sd_bus_message *m, struct bus_ctx *b, enum list_kind kind, sd_bus_error *error) {
        static const char *const names[] = { "Infusions", "Events", "Alarms" };
        _cleanup_(history_query_done) struct history_query q = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct row_writer w = {};
        int n, r;

        r = read_query(m, names[kind], kind == LIST_INFUSIONS ? USE_DRUG : USE_INFUSION, DB_PAGE_MAX, &q, error);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        w.reply = reply;
        struct db *d = pump_db(b->pump);
        int64_t next = 0;
        n = kind == LIST_INFUSIONS ? db_infusions_list(d, &q.page, q.drug, infusion_row, &w, &next) :
            kind == LIST_EVENTS    ? db_events_list(d, &q.page, q.infusion_id, event_row, &w, &next) :
                                     db_alarm_events_list(d, &q.page, q.infusion_id, alarm_row, &w, &next);
        if (n < 0)
                return storage_error(b, error, n);
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "x", next);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_infusions(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return list_method(m, userdata, LIST_INFUSIONS, error);
}

static int method_events(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return list_method(m, userdata, LIST_EVENTS, error);
}

static int method_alarms(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return list_method(m, userdata, LIST_ALARMS, error);
}

static void device_eui64(char ret[static 17]) {
        sd_id128_t id;

        /* No machine id (a bare container): all zeros, which says "not
         * known" rather than making one up that changes every boot. */
        if (sd_id128_get_machine_app_specific(DEVICE_ID_APP, &id) < 0)
                id = SD_ID128_NULL;
        for (int i = 0; i < 8; i++)
                snprintf(ret + 2 * i, 3, "%02X", id.bytes[i]);
}

struct export_ctx {
        const struct export_source *src;
        int64_t created_utc_us;
        FILE *hl7;
        uint64_t seq;
        struct export_fhir *fhir;
};

static int export_row(const struct db_infusion *inf, void *userdata) {
        struct export_ctx *x = userdata;
        int r;

        /* MSH-10 from the infusion and its event (2 id: start, 2 id + 1:
         * end): unique on this pump whatever range is exported, and the
         * same message always has the same id, so a receiver's duplicate
         * check works across exports. */
        x->seq = (uint64_t) inf->id * 2;
        r = x->hl7 ? export_hl7_infusion(x->hl7, x->src, inf, x->created_utc_us, &x->seq)
                   : export_fhir_add(x->fhir, inf);
        return r < 0 ? r : 0;
}

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static int method_export(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        _cleanup_(history_query_done) struct history_query q = {};
        _cleanup_(freep) char *text = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        char eui64[17];
        const char *format;
        size_t size = 0;
        int n, r;

        r = sd_bus_message_read(m, "s", &format);
        if (r < 0)
                return r;
        if (!streq(format, "hl7") && !streq(format, "fhir"))
                return invalid(error, "Unknown export format '%s': use hl7 (IHE PCD-10 ORU^R42) or fhir (FHIR R4 Bundle)",
                               format);
        r = read_query(m, "Export", USE_DRUG, EXPORT_PAGE_MAX, &q, error);
        if (r < 0)
                return r;

        device_eui64(eui64);
        const struct export_source src = { .device_eui64 = eui64, .software_version = INFUSIOND_VERSION };
        struct export_ctx x = { .src = &src, .created_utc_us = pump_utc_us(b->pump) };
        if (streq(format, "hl7")) {
                f = x.hl7 = open_memstream(&text, &size);
                if (!f)
                        return -ENOMEM;
        } else {
                r = export_fhir_new(&src, x.created_utc_us, &x.fhir);
                if (r < 0)
                        return r;
        }

        int64_t next = 0;
        n = db_infusions_list(pump_db(b->pump), &q.page, q.drug, export_row, &x, &next);
        if (n < 0) {
                export_fhir_free(x.fhir);
                if (n == -EINVAL || n == -EIO)
                        return bus_error_setf(error, PUMP_ERROR_STORAGE,
                                                 "An infusion could not be exported as %s: %s", format, strerror(-n));
                return storage_error(b, error, n);
        }

        if (x.fhir) {
                r = sd_bus_reply_method_return(m, "sx", export_fhir_json(x.fhir), next);
                export_fhir_free(x.fhir);
                return r;
        }
        if (fflush(f) != 0)
                return -ENOMEM;
        return sd_bus_reply_method_return(m, "sx", text ?: "", next);
}

static const sd_bus_vtable history_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Infusions", SD_BUS_ARGS("x", since_usec, "x", until_usec, "a{sv}", options),
                                SD_BUS_RESULT("aa{sv}", infusions, "x", next_after_id), method_infusions,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Events", SD_BUS_ARGS("x", since_usec, "x", until_usec, "a{sv}", options),
                                SD_BUS_RESULT("aa{sv}", events, "x", next_after_id), method_events,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Alarms", SD_BUS_ARGS("x", since_usec, "x", until_usec, "a{sv}", options),
                                SD_BUS_RESULT("aa{sv}", alarms, "x", next_after_id), method_alarms,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Export",
                                SD_BUS_ARGS("s", format, "x", since_usec, "x", until_usec, "a{sv}", options),
                                SD_BUS_RESULT("s", document, "x", next_after_id), method_export,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int bus_add_history(struct bus_ctx *b) {
        return sd_bus_add_object_vtable(b->bus, NULL, BUS_PATH_HISTORY, BUS_IFACE_HISTORY, history_vtable, b);
}
