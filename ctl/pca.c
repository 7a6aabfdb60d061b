/* SPDX-License-Identifier: MIT */
/* infusionctl demand | pca [--json] [--count N], and the PCA line of status. */

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "ctl/ctl.h"
#include "ctl/format.h"
#include "ctl/pca.h"

#define CHANNEL_IFACE           BUS_NAME ".Channel"

enum {
        Q_DEMANDS_TOTAL,
        Q_DEMANDS_GRANTED,
        Q_NEXT_ALLOWED,
        Q_WINDOW_VOLUME,
        Q_WINDOW_LIMIT,
        Q_LIMIT_WINDOW,
        Q_LIMIT_REACHED,
        Q_DOSE,
        Q_LOCKOUT,
        Q_MAX_PER_HOUR,
        Q_BASAL,
        _Q_PCA_MAX,             /* the PCA properties end here: all of them are needed */
        Q_MODE = _Q_PCA_MAX,
        Q_STATE,
        _Q_MAX,
};

static const struct {
        const char *name;
        char type;
        size_t offset;
} pca_properties[_Q_MAX] = {
        [Q_DEMANDS_TOTAL]   = { "PcaDemandsTotal",      't', offsetof(PcaStatus, demands_total) },
        [Q_DEMANDS_GRANTED] = { "PcaDemandsGranted",    't', offsetof(PcaStatus, demands_granted) },
        [Q_NEXT_ALLOWED]    = { "NextDemandAllowedSec", 't', offsetof(PcaStatus, next_allowed_sec) },
        [Q_WINDOW_VOLUME]   = { "WindowVolumeMl",       'd', offsetof(PcaStatus, window_volume_ml) },
        [Q_WINDOW_LIMIT]    = { "WindowLimitMl",        'd', offsetof(PcaStatus, window_limit_ml) },
        [Q_LIMIT_WINDOW]    = { "LimitWindowSec",       'u', offsetof(PcaStatus, limit_window_sec) },
        [Q_LIMIT_REACHED]   = { "PcaLimitReached",      'b', offsetof(PcaStatus, limit_reached) },
        [Q_DOSE]            = { "PcaDoseMl",            'd', offsetof(PcaStatus, dose_ml) },
        [Q_LOCKOUT]         = { "LockoutSec",           'u', offsetof(PcaStatus, lockout_sec) },
        [Q_MAX_PER_HOUR]    = { "MaxDosesPerHour",      'u', offsetof(PcaStatus, max_doses_per_hour) },
        [Q_BASAL]           = { "BasalRateMlPerHour",   'd', offsetof(PcaStatus, basal_ml_per_h) },
        [Q_MODE]            = { "Mode",                 's', offsetof(PcaStatus, mode) },
        [Q_STATE]           = { "State",                's', offsetof(PcaStatus, state) },
};

/* Reads the value of one property into s; the variant is already entered. */
static int read_property(sd_bus_message *m, unsigned q, PcaStatus *s) {
        void *field = (uint8_t *) s + pca_properties[q].offset;
        const char *text;
        int b, r;

        switch (pca_properties[q].type) {
        case 's':
                r = sd_bus_message_read_basic(m, 's', &text);
                if (r < 0)
                        return r;
                /* mode and state are char[32]: a word, never longer. */
                snprintf(field, sizeof s->mode, "%s", text);
                one_line(field);
                return 0;
        case 'b':
                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r < 0)
                        return r;
                *(bool *) field = b;
                return 0;
        default:
                return sd_bus_message_read_basic(m, pca_properties[q].type, field);
        }
}

int pca_status_from_reply(sd_bus_message *reply, PcaStatus *ret) {
        PcaStatus s = {};
        unsigned present = 0;
        int r;

        _Static_assert(_Q_MAX <= 32, "present is a 32-bit mask");
        _Static_assert(sizeof s.state == sizeof s.mode, "read_property() sizes both strings as mode");

        r = sd_bus_message_rewind(reply, true);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;

        for (;;) {
                const char *name, *contents;
                unsigned q;

                r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(reply, NULL, &contents);
                if (r < 0)
                        return r;

                for (q = 0; q < _Q_MAX; q++)
                        if (strcmp(name, pca_properties[q].name) == 0)
                                break;

                if (q == _Q_MAX || !contents || contents[0] != pca_properties[q].type || contents[1] != '\0') {
                        /* Mode and State are status's to warn about. */
                        if (q < _Q_PCA_MAX)
                                fprintf(stderr, "infusionctl: property %s has type '%s', expected '%c', ignoring.\n",
                                        name, contents ?: "", pca_properties[q].type);
                        r = sd_bus_message_skip(reply, "v");
                } else {
                        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_VARIANT, contents);
                        if (r >= 0)
                                r = read_property(reply, q, &s);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                        if (r >= 0)
                                present |= 1u << q;
                }
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return r;
        /* Leave it as it came, for whoever reads it next. */
        r = sd_bus_message_rewind(reply, true);
        if (r < 0)
                return r;

        /* A PCA display with one figure missing would show it as 0: a
         * lockout of 0 s is a claim, not a gap. All or nothing. */
        if ((present & ((1u << _Q_PCA_MAX) - 1)) != (1u << _Q_PCA_MAX) - 1)
                return -ENODATA;

        *ret = s;
        return 0;
}

void pca_print_status_line(sd_bus_message *reply) {
        char line[FORMAT_PCA_LINE_MAX];
        PcaStatus s;
        int r;

        r = pca_status_from_reply(reply, &s);
        if (r == -ENODATA)
                return;         /* an infusiond older than PCA: nothing to say */
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the PCA properties, ignoring: %s\n", strerror(-r));
                return;
        }
        if (!pca_status_is_pca(&s))
                return;

        r = format_pca_status_line(line, sizeof line, &s);
        /* A truncated line still says the most important part first. */
        printf("             PCA: %s%s\n", line, r < 0 ? "..." : "");
}

int pca_demand(sd_bus *bus, const char *channel_path, const char *hint) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char line[FORMAT_PCA_LINE_MAX], outcome_text[64];
        const char *outcome;
        uint64_t demand_id, next_allowed_sec;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, channel_path, CHANNEL_IFACE, "PcaDemand", &error, &reply, NULL);
        if (r < 0) {
                r = log_call_error(r, &error, "Failed to send the PCA demand", hint);
                if (sd_bus_error_has_names(&error, SD_BUS_ERROR_ACCESS_DENIED, ERROR_PREFIX "AccessDenied"))
                        fprintf(stderr, "infusionctl: Only the patient may ask for a PCA dose (group "
                                "infusiond-patient, e.g. the PCA button's service); a clinician gives a bolus.\n");
                return r;
        }
        r = sd_bus_message_read(reply, "stt", &outcome, &demand_id, &next_allowed_sec);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the PcaDemand reply: %s\n", strerror(-r));
                return EXIT_ERROR;
        }

        snprintf(outcome_text, sizeof outcome_text, "%s", outcome);
        r = format_pca_demand_result(line, sizeof line, one_line(outcome_text), demand_id, next_allowed_sec);
        printf("%s%s\n", line, r < 0 ? "..." : "");
        if (fflush(stdout) != 0) {
                fprintf(stderr, "infusionctl: Failed to write the outcome: %s\n", strerror(errno));
                /* The demand was made either way: the exit status says how it went. */
        }
        return pca_outcome_granted(outcome) ? EXIT_OK : EXIT_DEMAND_NOT_GRANTED;
}

typedef struct DemandList {
        PcaDemand *demands;
        size_t n;
} DemandList;

static void demand_list_done(DemandList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->demands[i].source);
                free(l->demands[i].outcome);
                free(l->demands[i].detail);
        }
        free(l->demands);
        *l = (DemandList) {};
}

/* Reads the a(ttsssd) of GetPcaDemands into *l, which the caller frees. */
static int read_demands(sd_bus_message *m, DemandList *l) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(ttsssd)");
        if (r < 0)
                return r;
        for (;;) {
                const char *source, *outcome, *detail;
                uint64_t id, utc_usec;
                double dose_ml;
                PcaDemand *d;

                r = sd_bus_message_read(m, "(ttsssd)", &id, &utc_usec, &source, &outcome, &detail, &dose_ml);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                d = realloc(l->demands, (l->n + 1) * sizeof *d);
                if (!d)
                        return -ENOMEM;
                l->demands = d;
                d = &l->demands[l->n++];
                *d = (PcaDemand) {
                        .id = id,
                        .utc_usec = utc_usec,
                        .source = strdup(source),
                        .outcome = strdup(outcome),
                        .detail = strdup(detail),
                        .dose_ml = dose_ml,
                };
                if (!d->source || !d->outcome || !d->detail)
                        return -ENOMEM;
        }
        return sd_bus_message_exit_container(m);
}

int pca_show(sd_bus *bus, const char *channel_path, const char *hint, unsigned channel, bool json, unsigned count) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *properties = NULL, *history = NULL;
        _cleanup_(demand_list_done) DemandList l = {};
        PcaStatus s;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, channel_path, PROPERTIES_IFACE, "GetAll",
                               &error, &properties, "s", CHANNEL_IFACE);
        if (r < 0)
                return log_call_error(r, &error, "Failed to read the channel's properties", hint);
        r = pca_status_from_reply(properties, &s);
        if (r == -ENODATA) {
                fprintf(stderr, "infusionctl: The channel has no PCA properties: "
                        "this infusiond may be older than infusionctl.\n");
                return EXIT_ERROR;
        }
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the channel's properties: %s\n", strerror(-r));
                return EXIT_ERROR;
        }

        r = sd_bus_call_method(bus, BUS_NAME, channel_path, CHANNEL_IFACE, "GetPcaDemands",
                               &error, &history, "u", (uint32_t) count);
        if (r < 0)
                return log_call_error(r, &error, "Failed to read the PCA demands", hint);
        r = read_demands(history, &l);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the GetPcaDemands reply: %s\n", strerror(-r));
                return EXIT_ERROR;
        }

        r = json ? pca_write_json(stdout, &s, l.demands, l.n)
                 : pca_write_report(stdout, channel, &s, l.demands, l.n);
        if (r >= 0 && fflush(stdout) != 0)
                r = -EIO;
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to write the PCA status: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        return EXIT_OK;
}
