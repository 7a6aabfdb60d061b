/* SPDX-License-Identifier: MIT */
/* infusionctl: the command-line client of infusiond. It talks to the daemon
 * only through the D-Bus API of docs/API.md, on the system bus (or wherever
 * DBUS_SYSTEM_BUS_ADDRESS points). */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "build-config.h"
#include "common/macros.h"
#include "ctl/alarms.h"
#include "ctl/ctl.h"
#include "ctl/format.h"
#include "ctl/history.h"
#include "ctl/library.h"
#include "ctl/pca.h"
#include "ctl/program.h"
#include "ctl/simulator.h"

#define MANAGER_IFACE           BUS_NAME ".Manager"
#define CHANNEL_IFACE           BUS_NAME ".Channel"
#define SIMULATOR_PATH          ROOT_PATH "/simulator"
#define SIMULATOR_IFACE         BUS_NAME ".Simulator"

#define USEC_PER_MSEC           UINT64_C(1000)
#define USEC_PER_SECOND         UINT64_C(1000000)
#define MONITOR_INTERVAL_USEC   (500 * USEC_PER_MSEC)
/* A poll that takes this long means the daemon is stuck: say so rather
 * than showing a frozen bar for the default 25 s. */
#define MONITOR_CALL_TIMEOUT_USEC (5 * USEC_PER_SECOND)
/* How long monitor waits for InfusionEnded after seeing the channel idle. */
#define MONITOR_END_GRACE_USEC  (250 * USEC_PER_MSEC)
#define PROGRESS_BAR_WIDTH      20u

static unsigned arg_channel = 0;
static bool arg_json = false;
static unsigned arg_count = PCA_DEMANDS_DEFAULT;                         /* pca --count */
static bool arg_count_given = false;
static ProgramRequest arg_program = {};                                 /* parsed by check_program() */
static SimCommand arg_sim = {};                                         /* parsed by check_sim() */
static char channel_path[sizeof(ROOT_PATH "/channel/") + 16];

static volatile sig_atomic_t interrupted = 0;

/* ---- channel properties ------------------------------------------------ */

typedef struct ChannelStatus {
        char *state;
        double rate_ml_per_h;
        double current_rate_ml_per_h;
        double vtbi_ml;
        double kvo_rate_ml_per_h;
        double volume_infused_ml;
        double kvo_volume_ml;
        double pressure_mmhg;
        uint64_t time_remaining_sec;
        uint64_t infusion_id;
        /* The program's drug library settings; absent from an infusiond
         * older than the drug library (present tells). */
        char *mode;
        char *care_area;
        char *drug;
        char *drug_name;
        double dose_rate;
        char *dose_rate_unit;
        char *concentration;
        Alarm *alarms;                  /* sorted by alarms_sort() */
        size_t n_alarms;
        /* Absent from an infusiond older than the alarm audio pause and the
         * occlusion limit (present tells). */
        uint64_t audio_paused_until_usec;
        double occlusion_limit_mmhg;
        unsigned present;               /* bit (1u << P_*) per property the daemon sent */
} ChannelStatus;

enum {
        P_STATE,
        P_RATE,
        P_CURRENT_RATE,
        P_VTBI,
        P_KVO_RATE,
        P_VOLUME_INFUSED,
        P_KVO_VOLUME,
        P_TIME_REMAINING,
        P_PRESSURE,
        P_INFUSION_ID,
        P_MODE,
        P_CARE_AREA,
        P_DRUG,
        P_DRUG_NAME,
        P_DOSE_RATE,
        P_DOSE_RATE_UNIT,
        P_CONCENTRATION,
        P_ACTIVE_ALARMS,
        P_AUDIO_PAUSED_UNTIL,
        P_OCCLUSION_LIMIT,
        _P_MAX,
};

#define ALARMS_SIGNATURE "a(sssts)"

static const struct {
        const char *name;
        const char *signature;
        size_t offset;
} channel_properties[_P_MAX] = {
        [P_STATE]           = { "State",                "s", offsetof(ChannelStatus, state) },
        [P_RATE]            = { "RateMlPerHour",        "d", offsetof(ChannelStatus, rate_ml_per_h) },
        [P_CURRENT_RATE]    = { "CurrentRateMlPerHour", "d", offsetof(ChannelStatus, current_rate_ml_per_h) },
        [P_VTBI]            = { "VtbiMl",               "d", offsetof(ChannelStatus, vtbi_ml) },
        [P_KVO_RATE]        = { "KvoRateMlPerHour",     "d", offsetof(ChannelStatus, kvo_rate_ml_per_h) },
        [P_VOLUME_INFUSED]  = { "VolumeInfusedMl",      "d", offsetof(ChannelStatus, volume_infused_ml) },
        [P_KVO_VOLUME]      = { "KvoVolumeMl",          "d", offsetof(ChannelStatus, kvo_volume_ml) },
        [P_TIME_REMAINING]  = { "TimeRemainingSec",     "t", offsetof(ChannelStatus, time_remaining_sec) },
        [P_PRESSURE]        = { "PressureMmHg",         "d", offsetof(ChannelStatus, pressure_mmhg) },
        [P_INFUSION_ID]     = { "InfusionId",           "t", offsetof(ChannelStatus, infusion_id) },
        [P_MODE]            = { "Mode",                 "s", offsetof(ChannelStatus, mode) },
        [P_CARE_AREA]       = { "CareArea",             "s", offsetof(ChannelStatus, care_area) },
        [P_DRUG]            = { "Drug",                 "s", offsetof(ChannelStatus, drug) },
        [P_DRUG_NAME]       = { "DrugName",             "s", offsetof(ChannelStatus, drug_name) },
        [P_DOSE_RATE]       = { "DoseRate",             "d", offsetof(ChannelStatus, dose_rate) },
        [P_DOSE_RATE_UNIT]  = { "DoseRateUnit",         "s", offsetof(ChannelStatus, dose_rate_unit) },
        [P_CONCENTRATION]   = { "Concentration",        "s", offsetof(ChannelStatus, concentration) },
        [P_ACTIVE_ALARMS]   = { "ActiveAlarms",         ALARMS_SIGNATURE, 0 },
        [P_AUDIO_PAUSED_UNTIL] = { "AudioPausedUntilUsec", "t", offsetof(ChannelStatus, audio_paused_until_usec) },
        [P_OCCLUSION_LIMIT] = { "OcclusionLimitMmHg",   "d", offsetof(ChannelStatus, occlusion_limit_mmhg) },
};

/* Every "s" property is a char * at its offset, owned by the status. */
static char **string_property(ChannelStatus *s, unsigned p) {
        return (char **) ((uint8_t *) s + channel_properties[p].offset);
}

static void channel_status_done(ChannelStatus *s) {
        for (unsigned p = 0; p < _P_MAX; p++)
                if (streq_ptr(channel_properties[p].signature, "s"))
                        free(*string_property(s, p));
        for (size_t i = 0; i < s->n_alarms; i++) {
                free(s->alarms[i].id);
                free(s->alarms[i].condition);
                free(s->alarms[i].priority);
                free(s->alarms[i].message);
        }
        free(s->alarms);
        *s = (ChannelStatus) {};
}

static bool has(const ChannelStatus *s, unsigned p) {
        return s->present & (1u << p);
}

/* Reads the a(sssts) of ActiveAlarms; the variant is already entered. */
static int read_alarms(sd_bus_message *m, ChannelStatus *s) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(sssts)");
        if (r < 0)
                return r;
        for (;;) {
                const char *id, *condition, *priority, *message;
                uint64_t raised_usec;
                Alarm *a;

                r = sd_bus_message_read(m, "(sssts)", &id, &condition, &priority, &raised_usec, &message);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                a = realloc(s->alarms, (s->n_alarms + 1) * sizeof *a);
                if (!a)
                        return -ENOMEM;
                s->alarms = a;
                a = &s->alarms[s->n_alarms++];
                *a = (Alarm) {
                        .id = strdup(id),
                        .condition = strdup(condition),
                        .priority = strdup(priority),
                        .raised_usec = raised_usec,
                        .message = strdup(message),
                };
                if (!a->id || !a->condition || !a->priority || !a->message)
                        return -ENOMEM;
        }
        return sd_bus_message_exit_container(m);
}

/* Parses the a{sv} reply of GetAll into *s. Unknown properties are
 * skipped (the daemon may be newer than this client); a known property
 * of an unexpected type is skipped with a warning and shows as n/a. */
static int parse_channel_properties(sd_bus_message *m, ChannelStatus *s) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;

        for (;;) {
                const char *name, *contents;
                unsigned p;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;

                for (p = 0; p < _P_MAX; p++)
                        if (strcmp(name, channel_properties[p].name) == 0)
                                break;

                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;

                if (p == _P_MAX || !streq_ptr(contents, channel_properties[p].signature)) {
                        if (p < _P_MAX)
                                fprintf(stderr, "infusionctl: property %s has type '%s', expected '%s', ignoring.\n",
                                        name, contents ?: "", channel_properties[p].signature);
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                return r;
                } else {
                        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
                        if (r < 0)
                                return r;

                        if (p == P_ACTIVE_ALARMS)
                                r = read_alarms(m, s);
                        else if (contents[0] == SD_BUS_TYPE_STRING) {
                                char **field = string_property(s, p);
                                const char *v;

                                r = sd_bus_message_read_basic(m, 's', &v);
                                if (r >= 0) {
                                        free(*field);
                                        *field = strdup(v);
                                        if (!*field)
                                                r = -ENOMEM;
                                }
                        } else
                                r = sd_bus_message_read_basic(m, contents[0],
                                                              (uint8_t *) s + channel_properties[p].offset);
                        if (r < 0)
                                return r;

                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                        s->present |= 1u << p;
                }

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }

        return sd_bus_message_exit_container(m);
}

static int channel_get_all(sd_bus *bus, sd_bus_error *error, sd_bus_message **ret_reply) {
        return sd_bus_call_method(bus, BUS_NAME, channel_path, PROPERTIES_IFACE, "GetAll",
                                  error, ret_reply, "s", CHANNEL_IFACE);
}

static const char *channel_hint(void) {
        static char hint[128];

        snprintf(hint, sizeof hint, "There is no channel %u on this pump (see --channel).", arg_channel);
        return hint;
}

/* Fetches and parses the channel's properties; on failure prints why and
 * returns EXIT_ERROR. */
static int channel_fetch(sd_bus *bus, ChannelStatus *s, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = channel_get_all(bus, &error, &reply);
        if (r < 0)
                return log_call_error(r, &error, "Failed to read the channel's properties", channel_hint());

        channel_status_done(s);
        r = parse_channel_properties(reply, s);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the channel's properties: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        alarms_sort(s->alarms, s->n_alarms);

        if (ret_reply)
                *ret_reply = TAKE_PTR(reply);
        return EXIT_OK;
}

/* ---- manager --------------------------------------------------------- */

/* Reads a variant holding one value of the basic type. */
static int read_variant_basic(sd_bus_message *m, char type, void *ret) {
        const char contents[2] = { type, '\0' };
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
        if (r < 0)
                return r;
        r = sd_bus_message_read_basic(m, type, ret);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* Reads OnMains, BatteryPercent and BatteryMinutesLeft from the Manager's
 * GetAll reply; the others, and one of an unexpected type, are skipped. */
static int parse_power(sd_bus_message *m, PowerStatus *p) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;

        for (;;) {
                const char *name, *contents;
                int on_mains = 0;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;

                if (strcmp(name, "OnMains") == 0 && streq_ptr(contents, "b")) {
                        r = read_variant_basic(m, SD_BUS_TYPE_BOOLEAN, &on_mains);
                        p->on_mains = on_mains;
                        p->has_on_mains = r >= 0;
                } else if (strcmp(name, "BatteryPercent") == 0 && streq_ptr(contents, "i")) {
                        r = read_variant_basic(m, SD_BUS_TYPE_INT32, &p->battery_percent);
                        p->has_battery_percent = r >= 0;
                } else if (strcmp(name, "BatteryMinutesLeft") == 0 && streq_ptr(contents, "x")) {
                        r = read_variant_basic(m, SD_BUS_TYPE_INT64, &p->battery_minutes_left);
                        p->has_battery_minutes_left = r >= 0;
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }

        return sd_bus_message_exit_container(m);
}

/* The pump's power state for status. An infusiond older than battery
 * support has none of the properties, and a failure to read them costs
 * status only its power line: *ret then says nothing is known. */
static void manager_power_fetch(sd_bus *bus, PowerStatus *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        PowerStatus p = {};
        int r;

        *ret = p;
        r = sd_bus_call_method(bus, BUS_NAME, ROOT_PATH, PROPERTIES_IFACE, "GetAll",
                               &error, &reply, "s", MANAGER_IFACE);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to read the pump's power state, ignoring: %s\n",
                        sd_bus_error_is_set(&error) && error.message ? error.message : strerror(-r));
                return;
        }
        r = parse_power(reply, &p);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the pump's power state, ignoring: %s\n", strerror(-r));
                return;
        }
        *ret = p;
}

/* ---- status ---------------------------------------------------------- */

typedef int (*number_formatter)(char *buf, size_t size, double v);

static const char *fmt_number(char *buf, size_t size, const ChannelStatus *s, unsigned p,
                              number_formatter f, double v, const char *unit) {
        size_t n;

        if (!has(s, p) || f(buf, size, v) < 0)
                return "n/a";
        n = strlen(buf);
        snprintf(buf + n, size - n, " %s", unit);
        return buf;
}

static void print_alarm(const char *indent, const Alarm *a) {
        printf("%s%-6s  %s  %s\n", indent, one_line(a->priority), one_line(a->id), one_line(a->message));
}

static bool has_text(const ChannelStatus *s, unsigned p) {
        return has(s, p) && (*string_property((ChannelStatus *) s, p))[0] != '\0';
}

/* Mode, care area, drug, dose and concentration, each when the daemon has
 * it and it is set ("" and NaN are "none"); an infusiond older than the
 * drug library has none of them. */
static void print_program_settings(ChannelStatus *s) {
        char dose[FORMAT_DOSE_MAX];

        if (has_text(s, P_MODE))
                printf("            Mode: %s\n", one_line(s->mode));
        if (has_text(s, P_CARE_AREA))
                printf("       Care area: %s\n", one_line(s->care_area));

        if (has_text(s, P_DRUG)) {
                if (has_text(s, P_DRUG_NAME))
                        printf("            Drug: %s (%s)\n", one_line(s->drug_name), one_line(s->drug));
                else
                        printf("            Drug: %s\n", one_line(s->drug));
        } else if (has(s, P_DRUG) && has_text(s, P_CARE_AREA))
                printf("            Drug: none (basic infusion)\n");

        if (has(s, P_DOSE_RATE) && isfinite(s->dose_rate) &&
            format_dose(dose, sizeof dose, s->dose_rate,
                        has(s, P_DOSE_RATE_UNIT) ? one_line(s->dose_rate_unit) : NULL) >= 0)
                printf("            Dose: %s\n", dose);
        if (has_text(s, P_CONCENTRATION))
                printf("   Concentration: %s\n", one_line(s->concentration));
}

static void print_status(ChannelStatus *s, const PowerStatus *power, sd_bus_message *reply) {
        char rate[FORMAT_NUMBER_MAX + 16], current[FORMAT_NUMBER_MAX + 16], vtbi[FORMAT_NUMBER_MAX + 16],
                volume[FORMAT_NUMBER_MAX + 16], kvo_volume[FORMAT_NUMBER_MAX + 16],
                kvo_rate[FORMAT_NUMBER_MAX + 16], pressure[FORMAT_NUMBER_MAX + 16],
                limit[FORMAT_NUMBER_MAX + 16], hms[FORMAT_HMS_MAX], clock[FORMAT_CLOCK_MAX],
                power_text[FORMAT_POWER_MAX];

        printf("Channel %u (%s)\n", arg_channel, channel_path);
        printf("           State: %s\n", has(s, P_STATE) ? one_line(s->state) : "n/a");
        print_program_settings(s);
        pca_print_status_line(reply);

        printf("            Rate: %s", fmt_number(rate, sizeof rate, s, P_RATE, format_rate_ml_per_h,
                                                  s->rate_ml_per_h, "mL/h"));
        /* The rate now differs from the program in kvo, paused, halted. */
        if (has(s, P_CURRENT_RATE) && has(s, P_RATE) && s->current_rate_ml_per_h != s->rate_ml_per_h)
                printf(" (now %s)", fmt_number(current, sizeof current, s, P_CURRENT_RATE, format_rate_ml_per_h,
                                               s->current_rate_ml_per_h, "mL/h"));
        putchar('\n');

        printf("            VTBI: %s\n", fmt_number(vtbi, sizeof vtbi, s, P_VTBI, format_volume_ml, s->vtbi_ml, "mL"));

        printf("  Volume infused: %s", fmt_number(volume, sizeof volume, s, P_VOLUME_INFUSED, format_volume_ml,
                                                  s->volume_infused_ml, "mL"));
        if (has(s, P_KVO_VOLUME) && s->kvo_volume_ml > 0)
                printf(" (of which %s at KVO rate)", fmt_number(kvo_volume, sizeof kvo_volume, s, P_KVO_VOLUME,
                                                              format_volume_ml, s->kvo_volume_ml, "mL"));
        putchar('\n');

        printf("  Time remaining: %s\n",
               has(s, P_TIME_REMAINING) && format_hms(hms, sizeof hms, s->time_remaining_sec) >= 0 ? hms : "n/a");
        printf("        Pressure: %s\n", fmt_number(pressure, sizeof pressure, s, P_PRESSURE, format_pressure_mmhg,
                                                    s->pressure_mmhg, "mmHg"));
        if (has(s, P_OCCLUSION_LIMIT))
                printf(" Occlusion limit: %s\n", fmt_number(limit, sizeof limit, s, P_OCCLUSION_LIMIT,
                                                            format_pressure_mmhg, s->occlusion_limit_mmhg, "mmHg"));
        printf("        KVO rate: %s\n", fmt_number(kvo_rate, sizeof kvo_rate, s, P_KVO_RATE, format_rate_ml_per_h,
                                                    s->kvo_rate_ml_per_h, "mL/h"));

        if (!has(s, P_INFUSION_ID))
                printf("     Infusion id: n/a\n");
        else if (s->infusion_id == 0)
                printf("     Infusion id: none\n");
        else
                printf("     Infusion id: %" PRIu64 "\n", s->infusion_id);

        if (!has(s, P_ACTIVE_ALARMS))
                printf("   Active alarms: n/a\n");
        else if (s->n_alarms == 0)
                printf("   Active alarms: none\n");
        else
                for (size_t i = 0; i < s->n_alarms; i++)
                        print_alarm(i == 0 ? "   Active alarms: " : "                  ", &s->alarms[i]);

        if (has(s, P_AUDIO_PAUSED_UNTIL)) {
                if (s->audio_paused_until_usec == 0)
                        printf("     Alarm audio: on\n");
                else {
                        (void) format_clock_usec(clock, sizeof clock, s->audio_paused_until_usec);
                        printf("     Alarm audio: paused until %s\n", clock);
                }
        }

        if (format_power(power_text, sizeof power_text, power) >= 0)
                printf("           Power: %s\n", power_text);
}

/* ---- JSON ------------------------------------------------------------ */

static int json_print_string(FILE *f, const char *s) {
        _cleanup_(freep) char *q = json_quote(s);

        if (!q)
                return -ENOMEM;
        fputs(q, f);
        return 0;
}

/* Writes the next complete value of m, whatever its type, as JSON:
 * numbers as numbers, strings quoted, arrays and structs as arrays,
 * dictionaries as objects (non-string keys quoted). */
static int json_write_value(FILE *f, sd_bus_message *m) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;

        switch (type) {

        case SD_BUS_TYPE_VARIANT:
                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        return r;
                r = json_write_value(f, m);
                if (r < 0)
                        return r;
                return sd_bus_message_exit_container(m);

        case SD_BUS_TYPE_ARRAY:
        case SD_BUS_TYPE_STRUCT: {
                bool dict = type == SD_BUS_TYPE_ARRAY && contents[0] == SD_BUS_TYPE_DICT_ENTRY_BEGIN;

                r = sd_bus_message_enter_container(m, type, contents);
                if (r < 0)
                        return r;
                fputc(dict ? '{' : '[', f);
                for (bool first = true;; first = false) {
                        r = sd_bus_message_at_end(m, false);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                break;
                        if (!first)
                                fputc(',', f);

                        if (dict) {
                                const char *entry;
                                char key_type;

                                r = sd_bus_message_peek_type(m, NULL, &entry);
                                if (r < 0)
                                        return r;
                                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, entry);
                                if (r < 0)
                                        return r;
                                key_type = entry[0];
                                /* JSON keys are strings: quote numbers. */
                                bool quote = !strchr("sog", key_type);
                                if (quote)
                                        fputc('"', f);
                                r = json_write_value(f, m);
                                if (r < 0)
                                        return r;
                                if (quote)
                                        fputc('"', f);
                                fputc(':', f);
                                r = json_write_value(f, m);
                                if (r < 0)
                                        return r;
                                r = sd_bus_message_exit_container(m);
                        } else
                                r = json_write_value(f, m);
                        if (r < 0)
                                return r;
                }
                fputc(dict ? '}' : ']', f);
                return sd_bus_message_exit_container(m);
        }

        default: {
                union {
                        uint8_t u8;
                        int b;
                        int16_t i16;
                        uint16_t u16;
                        int32_t i32;
                        uint32_t u32;
                        int64_t i64;
                        uint64_t u64;
                        double d;
                        const char *s;
                        int fd;
                } v;
                char buf[FORMAT_NUMBER_MAX];

                r = sd_bus_message_read_basic(m, type, &v);
                if (r < 0)
                        return r;

                switch (type) {
                case SD_BUS_TYPE_BYTE:          fprintf(f, "%u", v.u8); break;
                case SD_BUS_TYPE_BOOLEAN:       fputs(v.b ? "true" : "false", f); break;
                case SD_BUS_TYPE_INT16:         fprintf(f, "%" PRIi16, v.i16); break;
                case SD_BUS_TYPE_UINT16:        fprintf(f, "%" PRIu16, v.u16); break;
                case SD_BUS_TYPE_INT32:         fprintf(f, "%" PRIi32, v.i32); break;
                case SD_BUS_TYPE_UINT32:        fprintf(f, "%" PRIu32, v.u32); break;
                case SD_BUS_TYPE_INT64:         fprintf(f, "%" PRIi64, v.i64); break;
                case SD_BUS_TYPE_UINT64:        fprintf(f, "%" PRIu64, v.u64); break;
                case SD_BUS_TYPE_UNIX_FD:       fprintf(f, "%d", v.fd); break;
                case SD_BUS_TYPE_DOUBLE:
                        r = format_json_double(buf, sizeof buf, v.d);
                        if (r < 0)
                                return r;
                        fputs(buf, f);
                        break;
                case SD_BUS_TYPE_STRING:
                case SD_BUS_TYPE_OBJECT_PATH:
                case SD_BUS_TYPE_SIGNATURE:
                        return json_print_string(f, v.s);
                default:
                        return -EBADMSG;
                }
                return 0;
        }
        }
}

static int json_write_alarms(FILE *f, sd_bus_message *m) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, ALARMS_SIGNATURE);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(sssts)");
        if (r < 0)
                return r;

        fputc('[', f);
        for (bool first = true;; first = false) {
                const char *id, *condition, *priority, *message;
                uint64_t raised_usec;

                r = sd_bus_message_read(m, "(sssts)", &id, &condition, &priority, &raised_usec, &message);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                if (!first)
                        fputc(',', f);
                fputs("{\"Id\":", f);
                if ((r = json_print_string(f, id)) < 0)
                        return r;
                fputs(",\"Condition\":", f);
                if ((r = json_print_string(f, condition)) < 0)
                        return r;
                fputs(",\"Priority\":", f);
                if ((r = json_print_string(f, priority)) < 0)
                        return r;
                fprintf(f, ",\"RaisedUsec\":%" PRIu64 ",\"Message\":", raised_usec);
                if ((r = json_print_string(f, message)) < 0)
                        return r;
                fputc('}', f);
        }
        fputc(']', f);

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* The Manager's power properties the daemon has, as "Power":{...} after
 * a comma; nothing when it has none. */
static void json_write_power(FILE *f, const PowerStatus *p) {
        const char *sep = "";

        if (!p->has_on_mains && !p->has_battery_percent && !p->has_battery_minutes_left)
                return;
        fputs(",\"Power\":{", f);
        if (p->has_on_mains) {
                fprintf(f, "\"OnMains\":%s", p->on_mains ? "true" : "false");
                sep = ",";
        }
        if (p->has_battery_percent) {
                fprintf(f, "%s\"BatteryPercent\":%" PRIi32, sep, p->battery_percent);
                sep = ",";
        }
        if (p->has_battery_minutes_left)
                fprintf(f, "%s\"BatteryMinutesLeft\":%" PRIi64, sep, p->battery_minutes_left);
        fputc('}', f);
}

/* Every property of the GetAll reply m, under its D-Bus name, in one
 * object; ActiveAlarms as an array of objects; then the Manager's power
 * properties as "Power". */
static int json_write_properties(FILE *f, sd_bus_message *m, const PowerStatus *power) {
        int r;

        r = sd_bus_message_rewind(m, true);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;

        fprintf(f, "{\"Channel\":%u,\"Path\":", arg_channel);
        r = json_print_string(f, channel_path);
        if (r < 0)
                return r;

        for (;;) {
                const char *name, *contents;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;

                fputc(',', f);
                r = json_print_string(f, name);
                if (r < 0)
                        return r;
                fputc(':', f);

                if (streq_ptr(name, "ActiveAlarms") && streq_ptr(contents, ALARMS_SIGNATURE))
                        r = json_write_alarms(f, m);
                else
                        r = json_write_value(f, m);
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        json_write_power(f, power);
        fputs("}\n", f);

        return sd_bus_message_exit_container(m);
}

static int verb_status(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(channel_status_done) ChannelStatus s = {};
        PowerStatus power;
        int r;

        r = channel_fetch(bus, &s, &reply);
        if (r != EXIT_OK)
                return r;
        manager_power_fetch(bus, &power);

        if (!arg_json) {
                print_status(&s, &power, reply);
                return EXIT_OK;
        }

        r = json_write_properties(stdout, reply, &power);
        if (r >= 0 && (fflush(stdout) != 0 || ferror(stdout)))
                r = -EIO;
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to write the properties as JSON: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        return EXIT_OK;
}

/* ---- control --------------------------------------------------------- */

/* Runs before connecting: a typo is a usage error whether or not a daemon
 * is there, and nothing half-parsed is ever sent. Ranges, and which keys
 * a mode needs or takes, are the daemon's to check: it knows the
 * mechanism, the modes and the limits, and names the key. */
static int check_program(char **args) {
        char err[512];

        if (program_request_first_given(&arg_program, false) == _PROGRAM_OPT_MAX)
                return usage_error("program needs settings, e.g. --rate 100 --vtbi 10, or --drug ID --care-area ID "
                                   "--dose X --vtbi V.");
        if (program_request_parse(&arg_program, err, sizeof err) < 0)
                return usage_error("%s", err);
        return EXIT_OK;
}

/* The options given, and only those, as the a{sv} of Program. */
static int append_program_settings(sd_bus_message *m, const ProgramRequest *p) {
        int r;

        r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;

        for (unsigned o = 0; o < _PROGRAM_OPT_MAX; o++) {
                const ProgramOptionInfo *info = &program_options[o];

                if (!p->given[o])
                        continue;

                switch (info->type) {
                case PROGRAM_VALUE_DOUBLE:
                        r = sd_bus_message_append(m, "{sv}", info->key, "d", p->number[o]);
                        break;
                case PROGRAM_VALUE_DURATION:
                case PROGRAM_VALUE_UNSIGNED:
                        r = sd_bus_message_append(m, "{sv}", info->key, "u", p->whole[o]);
                        break;
                case PROGRAM_VALUE_STRING:
                case PROGRAM_VALUE_MODE:
                        r = sd_bus_message_append(m, "{sv}", info->key, "s", p->text[o]);
                        break;
                case PROGRAM_VALUE_FLAG:
                        r = sd_bus_message_append(m, "{sv}", info->key, "b", 1);
                        break;
                case PROGRAM_VALUE_STEPS:
                        r = sd_bus_message_open_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                        if (r >= 0)
                                r = sd_bus_message_append(m, "s", info->key);
                        if (r >= 0)
                                r = sd_bus_message_open_container(m, SD_BUS_TYPE_VARIANT, "a(dd)");
                        if (r >= 0)
                                r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "(dd)");
                        for (size_t i = 0; r >= 0 && i < p->n_steps; i++)
                                r = sd_bus_message_append(m, "(dd)", p->steps[i].rate_ml_per_h, p->steps[i].volume_ml);
                        for (unsigned level = 0; r >= 0 && level < 3; level++)
                                r = sd_bus_message_close_container(m);
                        break;
                default:
                        r = -EINVAL;
                }
                if (r < 0)
                        return r;
        }

        return sd_bus_message_close_container(m);
}

/* The daemon names Program keys ("DurationSec is required for mode
 * volume-time"); say which option that is. Only the first key named: the
 * rest of a message may list the keys allowed. */
static void print_key_hint(const sd_bus_error *error) {
        ProgramOption o;
        size_t pos = 0;

        if (!sd_bus_error_has_name(error, ERROR_PREFIX "InvalidArgument"))
                return;
        o = program_option_named_in(error->message, &pos);
        if (o == _PROGRAM_OPT_MAX)
                return;
        /* The wording of every infusiond so far for a key it does not know. */
        if (strstr(error->message, "Unknown setting"))
                fprintf(stderr, "infusionctl: (--%s sets %s, which this infusiond does not know: "
                        "it may be older than infusionctl.)\n", program_options[o].option, program_options[o].key);
        else
                fprintf(stderr, "infusionctl: (%s is set with --%s.)\n", program_options[o].key, program_options[o].option);
}

/* The one line that says what the pump took: the drug, dose and rate as
 * the channel reports them after Program, not as they were typed. */
static int print_program_summary(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(channel_status_done) ChannelStatus s = {};
        char line[2048];
        ProgramSummary summary;
        PcaStatus pca;
        int r;

        r = channel_fetch(bus, &s, &reply);
        if (r != EXIT_OK) {
                /* Program did succeed: that is what the exit status says. */
                fprintf(stderr, "infusionctl: The channel was programmed, but reading the program back failed: "
                        "check it with 'infusionctl status' before starting.\n");
                return EXIT_OK;
        }
        if (!has(&s, P_RATE) || !has(&s, P_VTBI)) {
                printf("Programmed.\n");
                return EXIT_OK;
        }

        summary = (ProgramSummary) {
                .mode = has(&s, P_MODE) ? one_line(s.mode) : NULL,
                .care_area = has(&s, P_CARE_AREA) ? one_line(s.care_area) : NULL,
                .has_library_properties = has(&s, P_DRUG),
                .drug = has(&s, P_DRUG) ? one_line(s.drug) : NULL,
                .drug_name = has(&s, P_DRUG_NAME) ? one_line(s.drug_name) : NULL,
                .dose_rate = has(&s, P_DOSE_RATE) ? s.dose_rate : NAN,
                .dose_rate_unit = has(&s, P_DOSE_RATE_UNIT) ? one_line(s.dose_rate_unit) : NULL,
                .concentration = has(&s, P_CONCENTRATION) ? one_line(s.concentration) : NULL,
                .rate_ml_per_h = s.rate_ml_per_h,
                .vtbi_ml = s.vtbi_ml,
                .pca = pca_status_from_reply(reply, &pca) >= 0 && pca_status_is_pca(&pca) ? &pca : NULL,
        };
        r = format_program_summary(line, sizeof line, &summary);
        /* A truncated line still says the most important part first. */
        printf("%s%s\n", line, r < 0 ? "..." : "");
        return EXIT_OK;
}

static int verb_program(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, channel_path, CHANNEL_IFACE, "Program");
        if (r >= 0)
                r = append_program_settings(m, &arg_program);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to build the Program call: %s\n", strerror(-r));
                return EXIT_ERROR;
        }

        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0) {
                r = log_call_error(r, &error, "Failed to program the channel", channel_hint());
                print_key_hint(&error);
                return r;
        }

        return print_program_summary(bus);
}

static int call_channel(sd_bus *bus, const char *method, const char *what, const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, channel_path, CHANNEL_IFACE, method);
        if (r >= 0 && types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to build the %s call: %s\n", method, strerror(-r));
                return EXIT_ERROR;
        }

        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return log_call_error(r, &error, what, channel_hint());
        return EXIT_OK;
}

static int verb_start(sd_bus *bus, char **args) {
        return call_channel(bus, "Start", "Failed to start the infusion", NULL);
}

static int verb_pause(sd_bus *bus, char **args) {
        return call_channel(bus, "Pause", "Failed to pause the infusion", NULL);
}

static int verb_resume(sd_bus *bus, char **args) {
        return call_channel(bus, "Resume", "Failed to resume the infusion", NULL);
}

static int verb_stop(sd_bus *bus, char **args) {
        return call_channel(bus, "Stop", "Failed to stop the infusion", NULL);
}

static int verb_ack(sd_bus *bus, char **args) {
        return call_channel(bus, "AcknowledgeAlarm", "Failed to acknowledge the alarm", "s", args[0]);
}

/* ---- PCA (ctl/pca.c) ------------------------------------------------- */

static int verb_demand(sd_bus *bus, char **args) {
        return pca_demand(bus, channel_path, channel_hint());
}

static int verb_pca(sd_bus *bus, char **args) {
        return pca_show(bus, channel_path, channel_hint(), arg_channel, arg_json, arg_count);
}

/* ---- alarms ---------------------------------------------------------- */

static uint64_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SECOND + (uint64_t) ts.tv_nsec / 1000;
}

static int verb_alarms(sd_bus *bus, char **args) {
        _cleanup_(channel_status_done) ChannelStatus s = {};
        uint64_t paused_until_usec;
        int r;

        r = channel_fetch(bus, &s, NULL);
        if (r != EXIT_OK)
                return r;
        if (!has(&s, P_ACTIVE_ALARMS)) {
                fprintf(stderr, "infusionctl: The channel has no ActiveAlarms property: "
                        "this infusiond may be older than infusionctl.\n");
                return EXIT_ERROR;
        }
        /* An infusiond older than the audio pause never pauses it. */
        paused_until_usec = has(&s, P_AUDIO_PAUSED_UNTIL) ? s.audio_paused_until_usec : 0;

        r = arg_json ? alarms_write_json(stdout, s.alarms, s.n_alarms, paused_until_usec)
                     : alarms_write_table(stdout, s.alarms, s.n_alarms, paused_until_usec);
        if (r >= 0 && fflush(stdout) != 0)
                r = -EIO;
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to write the alarms: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        return EXIT_OK;
}

static int verb_silence(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char line[FORMAT_AUDIO_PAUSED_MAX];
        uint64_t paused_until_usec;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, channel_path, CHANNEL_IFACE, "SilenceAlarms",
                               &error, &reply, NULL);
        if (r < 0)
                return log_call_error(r, &error, "Failed to silence the alarms", channel_hint());
        r = sd_bus_message_read(reply, "t", &paused_until_usec);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the SilenceAlarms reply: %s\n", strerror(-r));
                return EXIT_ERROR;
        }

        (void) format_silence_result(line, sizeof line, paused_until_usec, realtime_usec());
        printf("%s\n", line);
        return EXIT_OK;
}

/* ---- monitor --------------------------------------------------------- */

typedef struct InfusionEnded {
        bool seen;
        uint64_t infusion_id;
        char status[32];
        double volume_ml;
} InfusionEnded;

static int on_infusion_ended(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        InfusionEnded *ended = userdata;
        const char *status;
        int r;

        r = sd_bus_message_read(m, "tsd", &ended->infusion_id, &status, &ended->volume_ml);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse InfusionEnded, ignoring: %s\n", strerror(-r));
                return 0;
        }
        snprintf(ended->status, sizeof ended->status, "%s", status);
        ended->seen = true;
        return 0;
}

static void on_signal(int sig) {
        interrupted = 1;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SECOND + (uint64_t) ts.tv_nsec / 1000;
}

/* Dispatches incoming signals for usec; -EINTR when interrupted. */
static int bus_wait_for(sd_bus *bus, uint64_t usec) {
        uint64_t end = now_usec() + usec;
        int r;

        for (;;) {
                uint64_t n;

                if (interrupted)
                        return -EINTR;
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                n = now_usec();
                if (n >= end)
                        return 0;
                r = sd_bus_wait(bus, end - n);
                if (r < 0 && r != -EINTR)
                        return r;
        }
}

static bool state_is(const ChannelStatus *s, const char *state) {
        return has(s, P_STATE) && streq_ptr(s->state, state);
}

static int verb_monitor(sd_bus *bus, char **args) {
        _cleanup_(channel_status_done) ChannelStatus s = {};
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        char line[FORMAT_PROGRESS_LINE_MAX], last_state[64] = "";
        char vol[FORMAT_NUMBER_MAX], rate[FORMAT_NUMBER_MAX];
        InfusionEnded ended = {};
        struct sigaction sa = { .sa_handler = on_signal };
        bool tty = isatty(STDOUT_FILENO), was_active = false;
        unsigned last_percent = UINT32_MAX;
        int r;

        /* No SA_RESTART: a signal must cut the wait short. */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);

        r = sd_bus_set_method_call_timeout(bus, MONITOR_CALL_TIMEOUT_USEC);
        if (r < 0)
                fprintf(stderr, "infusionctl: Failed to set the call timeout, ignoring: %s\n", strerror(-r));

        /* The signal carries the final volume and status even when the
         * properties have already been reset for the next infusion. */
        r = sd_bus_match_signal(bus, &slot, BUS_NAME, channel_path, CHANNEL_IFACE, "InfusionEnded",
                                on_infusion_ended, &ended);
        if (r < 0)
                fprintf(stderr, "infusionctl: Failed to watch for InfusionEnded, ignoring: %s\n", strerror(-r));

        for (bool first = true;; first = false) {
                ProgressSample sample;
                unsigned percent;

                r = channel_fetch(bus, &s, NULL);
                if (r != EXIT_OK) {
                        if (interrupted)
                                break;
                        if (tty && !first)
                                putchar('\n');
                        return r;
                }

                sample = (ProgressSample) {
                        .state = has(&s, P_STATE) ? one_line(s.state) : NULL,
                        .volume_infused_ml = s.volume_infused_ml,
                        .kvo_volume_ml = s.kvo_volume_ml,
                        .vtbi_ml = s.vtbi_ml,
                        .rate_ml_per_h = s.current_rate_ml_per_h,
                        .pressure_mmhg = has(&s, P_PRESSURE) ? s.pressure_mmhg : NAN,
                        .time_remaining_sec = s.time_remaining_sec,
                };
                if (first && state_is(&s, "idle"))
                        break;          /* nothing to draw a bar for */

                percent = progress_permille(progress_fraction(sample.volume_infused_ml, sample.kvo_volume_ml,
                                                              sample.vtbi_ml)) / 10;
                (void) format_progress_line(line, sizeof line, &sample, PROGRESS_BAR_WIDTH);

                if (tty) {
                        /* Redraw in place; \e[K clears what a longer line left. */
                        printf("\r%s\033[K", line);
                        fflush(stdout);
                } else if (percent != last_percent || !streq_ptr(sample.state ?: "?", last_state)) {
                        /* Logs get a line per whole percent or state change. */
                        puts(line);
                        fflush(stdout);
                }
                last_percent = percent;
                snprintf(last_state, sizeof last_state, "%s", sample.state ?: "?");

                if (state_is(&s, "idle") || state_is(&s, "kvo") || state_is(&s, "halted"))
                        break;
                was_active = true;

                r = bus_wait_for(bus, MONITOR_INTERVAL_USEC);
                if (r == -EINTR)
                        break;
                if (r < 0) {
                        if (tty)
                                putchar('\n');
                        fprintf(stderr, "infusionctl: Lost the bus: %s\n", strerror(-r));
                        return EXIT_ERROR;
                }
        }

        if (tty)
                putchar('\n');

        if (interrupted) {
                printf("Interrupted: monitoring stopped, the pump carries on.\n");
                return EXIT_INTERRUPTED;
        }

        if (state_is(&s, "halted")) {
                (void) format_volume_ml(vol, sizeof vol, s.volume_infused_ml);
                printf("Infusion halted after %s mL.\n", vol);
                for (size_t i = 0; i < s.n_alarms; i++)
                        print_alarm("  ", &s.alarms[i]);
                fflush(stdout);
                return EXIT_HALTED;
        }

        if (state_is(&s, "kvo")) {
                (void) format_volume_ml(vol, sizeof vol, s.vtbi_ml);
                (void) format_rate_ml_per_h(rate, sizeof rate, s.current_rate_ml_per_h);
                printf("VTBI of %s mL delivered; keeping the vein open at %s mL/h.\n", vol, rate);
                return EXIT_OK;
        }

        if (!was_active) {
                printf("Channel %u is idle: no infusion to monitor.\n", arg_channel);
                return EXIT_OK;
        }

        /* Went idle (completed without KVO, or stopped): the InfusionEnded
         * signal may still be on its way. */
        if (!ended.seen)
                (void) bus_wait_for(bus, MONITOR_END_GRACE_USEC);
        if (ended.seen) {
                (void) format_volume_ml(vol, sizeof vol, ended.volume_ml);
                printf("Infusion %" PRIu64 " %s: %s mL delivered.\n", ended.infusion_id, ended.status, vol);
        } else
                printf("Channel %u is idle; the infusion has ended.\n", arg_channel);
        return EXIT_OK;
}

/* ---- simulator ------------------------------------------------------- */

#define SIMULATOR_HINT "The Simulator interface exists only when infusiond runs the sim backend."

static int check_sim(char **args) {
        char err[512];
        size_t n = 0;

        while (args[n])
                n++;
        if (sim_command_parse(args, n, &arg_sim, err, sizeof err) < 0)
                return usage_error("%s", err);
        return EXIT_OK;
}

static int sim_call(sd_bus *bus, const char *method, const char *what, sd_bus_message **ret_reply,
                    const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, SIMULATOR_PATH, SIMULATOR_IFACE, method);
        if (r >= 0) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to build the %s call: %s\n", method, strerror(-r));
                return EXIT_ERROR;
        }

        r = sd_bus_call(bus, m, 0, &error, ret_reply);
        if (r < 0)
                return log_call_error(r, &error, what, SIMULATOR_HINT);
        return EXIT_OK;
}

static int sim_advance(sd_bus *bus, uint64_t usec) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char hms[FORMAT_HMS_MAX];
        uint64_t now;
        int r;

        r = sim_call(bus, "AdvanceTime", "Failed to advance the pump's clock", &reply, "t", usec);
        if (r != EXIT_OK)
                return r;
        r = sd_bus_message_read(reply, "t", &now);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the AdvanceTime reply: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        (void) format_hms(hms, sizeof hms, now / USEC_PER_SECOND);
        printf("Pump time is now %s.%06" PRIu64 " (%" PRIu64 " us).\n", hms, now % USEC_PER_SECOND, now);
        return EXIT_OK;
}

typedef struct OutputList {
        SimOutput *outputs;
        size_t n;
} OutputList;

static void output_list_done(OutputList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->outputs[i].name);
        free(l->outputs);
        *l = (OutputList) {};
}

/* Reads the a(sbu) of Outputs into *l, which the caller frees. */
static int read_outputs(sd_bus_message *m, OutputList *l) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(sbu)");
        if (r < 0)
                return r;
        for (;;) {
                const char *name;
                uint32_t changes;
                SimOutput *o;
                int on;

                r = sd_bus_message_read(m, "(sbu)", &name, &on, &changes);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                o = realloc(l->outputs, (l->n + 1) * sizeof *o);
                if (!o)
                        return -ENOMEM;
                l->outputs = o;
                o = &l->outputs[l->n++];
                *o = (SimOutput) { .name = strdup(name), .on = on, .changes = changes };
                if (!o->name)
                        return -ENOMEM;
        }
        return sd_bus_message_exit_container(m);
}

static int sim_outputs(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(output_list_done) OutputList l = {};
        int r;

        r = sd_bus_get_property(bus, BUS_NAME, SIMULATOR_PATH, SIMULATOR_IFACE, "Outputs", &error, &reply, "a(sbu)");
        if (r < 0)
                return log_call_error(r, &error, "Failed to read the simulated outputs", SIMULATOR_HINT);
        r = read_outputs(reply, &l);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the Outputs property: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        r = sim_outputs_write_table(stdout, l.outputs, l.n);
        if (r >= 0 && fflush(stdout) != 0)
                r = -EIO;
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to write the outputs: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        return EXIT_OK;
}

static int verb_sim(sd_bus *bus, char **args) {
        const SimCommand *c = &arg_sim;

        switch (c->action) {
        case SIM_ADVANCE:
                return sim_advance(bus, c->advance_usec);
        case SIM_OCCLUDE:
                return sim_call(bus, "SetOcclusion", "Failed to set the occlusion", NULL, "b", (int) c->on);
        case SIM_UPSTREAM:
                return sim_call(bus, "SetUpstreamOcclusion", "Failed to set the upstream occlusion", NULL,
                                "b", (int) c->on);
        case SIM_AIR:
                return sim_call(bus, "InjectAir", "Failed to inject air", NULL, "d", c->volume_ul);
        case SIM_DOOR:
                return sim_call(bus, "SetDoorOpen", c->on ? "Failed to open the door" : "Failed to close the door",
                                NULL, "b", (int) c->on);
        case SIM_BATTERY:
                return sim_call(bus, "SetBattery", "Failed to set the battery", NULL,
                                "bd", (int) c->on, c->battery_percent);
        case SIM_FAIL_SENSOR:
                return sim_call(bus, "FailSensor", "Failed to set the sensor fault", NULL,
                                "ss", c->sensor, c->fault);
        case SIM_MOTOR_GAIN:
                return sim_call(bus, "SetMotorGain", "Failed to set the motor gain", NULL, "d", c->motor_gain);
        case SIM_STALL:
                return sim_call(bus, "StallMotor", c->on ? "Failed to stall the motor" : "Failed to free the motor",
                                NULL, "b", (int) c->on);
        case SIM_OUTPUTS:
                return sim_outputs(bus);
        case SIM_PRESS_PCA:
                return sim_call(bus, "PressPcaButton", "Failed to press the PCA button", NULL, "");
        default:
                abort();
        }
}

/* ---- history --------------------------------------------------------- */

static int check_history(char **args) {
        return history_check(args, arg_json);
}

/* ---- library --------------------------------------------------------- */

static int check_library(char **args) {
        return library_check(args, arg_program.given[PROGRAM_OPT_CARE_AREA] ? arg_program.text[PROGRAM_OPT_CARE_AREA]
                                                                           : NULL);
}

/* ---- command line ---------------------------------------------------- */

static void help(void) {
        printf("Usage: infusionctl [OPTIONS...] COMMAND ...\n"
               "\n"
               "Control and watch infusiond, the infusion pump daemon, over D-Bus.\n"
               "\n"
               "Commands:\n"
               "  status [--json]         Show the channel's state, program (mode, care area,\n"
               "                          drug, dose), progress, alarms, occlusion limit and\n"
               "                          the pump's power\n"
               "  program SETTINGS...     Program an infusion (see Program settings below) and\n"
               "                          show what the pump took\n"
               "  start                   Start the programmed infusion\n"
               "  pause                   Pause delivery\n"
               "  resume                  Resume a paused infusion\n"
               "  stop                    Stop and end the infusion\n"
               "  alarms [--json]         List the active alarms, highest priority first, and\n"
               "                          whether their audio is paused\n"
               "  silence                 Pause the alarm audio for the time the pump allows\n"
               "                          (2 min); the alarms stay active\n"
               "  ack ID                  Acknowledge the alarm ID (see alarms)\n"
               "  monitor                 Show progress until the infusion is done (kvo or idle)\n"
               "                          or halted by an alarm\n"
               "  demand                  Ask for a PCA dose, as the patient's button does (the\n"
               "                          infusiond-patient role); say whether it was granted\n"
               "                          and when the next demand is allowed. Exits 0 when\n"
               "                          granted, 4 when denied or debounced, 1 on an error\n"
               "  pca [--json] [--count N]\n"
               "                          Show the PCA settings, the demands counted, when the\n"
               "                          next is allowed, the cumulative limit's window, and\n"
               "                          the newest N demands (default 20, at most 1000)\n"
               "  library                 Show the drug library: version, SHA-256, care areas\n"
               "  library list [--care-area ID]\n"
               "                          List the drugs (id, name, dose unit), all or those\n"
               "                          available in one care area\n"
               "  library show ID         Show one drug as JSON: its concentrations (indexes\n"
               "                          for --concentration count from 0) and limits\n"
               "  library import FILE     Replace the drug library with FILE (- for stdin)\n"
               "  library export [FILE]   Write the library in use to FILE or standard output\n"
               "  history [--since TIME] [--until TIME] [--drug DRUG] [--json|--csv]\n"
               "                          List the infusions recorded in the range: a table\n"
               "                          (local times, exact mL), one JSON array (the API's\n"
               "                          keys; each *_utc_us also as ISO 8601 UTC *_utc) or\n"
               "                          CSV (RFC 4180, the same columns)\n"
               "  export --format hl7|fhir [--since TIME] [--until TIME] [--drug DRUG]\n"
               "         [--output FILE]  Export the infusions as HL7 v2 (IHE PCD-10) messages\n"
               "                          or one FHIR R4 Bundle, to FILE (written whole,\n"
               "                          mode 0640) or standard output\n"
               "  audit verify [--db PATH]\n"
               "                          Check the audit hash chain in the history database\n"
               "                          (read-only, no daemon needed; default\n"
               "                          " HISTORY_DEFAULT_DB "). Exits 0 intact, 1 broken,\n"
               "                          5 when it could not be checked, 2 bad usage\n"
               "  sim advance DURATION    Run the simulated pump for DURATION of pump time\n"
               "                          (virtual clock only): 90 (seconds), 360s, 5m, 2h,\n"
               "                          1500ms, 250us, 1.5h\n"
               "  sim occlude on|off      Close or open the simulated downstream line\n"
               "  sim upstream on|off     Close or open the line above the pump\n"
               "  sim air UL              Send a bubble of UL microlitres (more than 0) past\n"
               "                          the air sensor\n"
               "  sim door open|closed    Open or close the syringe door\n"
               "  sim battery PCT         Run on battery, charged PCT %% (0 to 100)\n"
               "  sim battery mains [PCT] Run on mains, the battery charged PCT %% (default 100)\n"
               "  sim fail-sensor SENSOR FAULT\n"
               "                          Make SENSOR (pressure-downstream, pressure-upstream,\n"
               "                          plunger-position, battery-voltage) fail with FAULT\n"
               "                          (read-error, stuck, out-of-range, gone), or mend it: ok\n"
               "  sim motor-gain G        Make the motor move G times what it is told\n"
               "                          (0 to 2; 1 is nominal)\n"
               "  sim stall on|off        Stall the motor, or free it\n"
               "  sim outputs             Show the buzzer, LEDs and nurse call: on or off, and\n"
               "                          how many times each changed\n"
               "  sim press-pca           Press and release the simulated PCA button\n"
               "\n"
               "Options:\n"
               "  -c --channel=N          Channel number (default: 0)\n"
               "     --json               status, alarms, pca: print one JSON object;\n"
               "                          history: one JSON array\n"
               "     --count=N            pca: how many of the newest demands to list\n"
               "     --since=TIME, --until=TIME\n"
               "                          history, export: the range, start included, end\n"
               "                          excluded (default: all). TIME is ISO 8601 UTC\n"
               "                          (2026-11-24T10:00:00Z, 2026-11-24T10:00Z, or\n"
               "                          2026-11-24 for midnight UTC), @UNIX-SECONDS, a time\n"
               "                          before now (-24h, -7d, -30min, -90s) or now\n"
               "     --drug=DRUG          history, export: only infusions of this drug (id or\n"
               "                          name, any case)\n"
               "     --csv                history: print CSV\n"
               "     --format=FORMAT      export: hl7 or fhir\n"
               "     --output=FILE        export: write to FILE (- for standard output)\n"
               "     --db=PATH            audit verify: the database file\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "\n"
               "Program settings (only those given are sent; the pump says which a mode needs):\n"
               "     --mode=MODE          continuous (the default), volume-time, multistep,\n"
               "                          loading, intermittent, ramp or pca\n"
               "     --rate=R             rate in mL/h (loading: the rate after the loading\n"
               "                          dose)\n"
               "     --vtbi=V             volume to be infused in mL (pca: the reservoir)\n"
               "     --kvo=K              keep-vein-open rate in mL/h after the VTBI (0: stop);\n"
               "                          without it, the pump's default\n"
               "     --duration=DUR       volume-time, ramp: time for the whole VTBI;\n"
               "                          intermittent: for each dose. 30m, 1h, 90s, or plain\n"
               "                          seconds\n"
               "     --ramp-up=DUR        ramp: time to climb to the plateau\n"
               "     --ramp-down=DUR      ramp: time to taper off at the end\n"
               "     --step=RATE:VOLUME   multistep: one step in mL/h and mL; repeat in order\n"
               "     --loading-volume=V   loading: volume of the loading dose in mL\n"
               "     --loading-rate=R     loading: its rate in mL/h\n"
               "     --dose-volume=V      intermittent: volume of each dose in mL\n"
               "     --interval=DUR       intermittent: start to start of doses\n"
               "     --doses=N            intermittent: how many doses\n"
               "     --care-area=ID       care area of the drug library (required once a\n"
               "                          library is loaded); also for library list\n"
               "     --drug=ID            drug of the library; without it, a basic infusion\n"
               "     --concentration=N    which of the drug's concentrations (from 0; may be\n"
               "                          left out when it has one)\n"
               "     --dose=X             continuous: the dose in the drug's unit, instead of\n"
               "                          --rate; the pump works out the mL/h\n"
               "     --unit=U             the dose unit, checked against the drug's (units/h)\n"
               "     --weight=KG          patient weight in kg, for /kg doses\n"
               "     --height=CM          patient height in cm, for /m2 doses\n"
               "     --confirm-soft-limits\n"
               "                          accept a dose beyond a soft limit; needs --reason\n"
               "     --reason=TEXT        why, recorded with the override\n"
               "\n"
               "PCA settings (--mode pca; a dose, limit or basal rate in mL, or with a library\n"
               "drug in its PCA unit, mg or mcg):\n"
               "     --pca-dose-ml=V, --pca-dose=X\n"
               "                          each demand's dose\n"
               "     --lockout=DUR        after a granted demand, none other for this long\n"
               "     --max-doses-per-hour=N\n"
               "                          at most N granted demands in any 60 min (1 to 60)\n"
               "     --limit-ml=V, --limit-dose=X\n"
               "                          at most this much in any --limit-window\n"
               "     --limit-window=DUR   the cumulative limit's sliding window (1h to 12h)\n"
               "     --basal-ml-per-h=R, --basal-dose=X\n"
               "                          a continuous background rate, per hour\n"
               "     --loading-dose-ml=V, --loading-dose=X\n"
               "                          a dose given once at start\n"
               "     --pca-bolus-rate=R   how fast demand and loading doses run, in mL/h\n"
               "     --limit-kvo-rate=R   with no basal rate, the flow in mL/h while the limit\n"
               "                          is reached (0: none)\n"
               "     --new-patient        forget the channel's PCA history (lockout, window,\n"
               "                          counts); without it the last 12 h stand\n"
               "\n"
               "Examples:\n"
               "  infusionctl program --rate 100 --vtbi 10\n"
               "  infusionctl program --drug heparin --care-area ICU --dose 1000 \\\n"
               "                      --unit units/h --vtbi 50\n"
               "  infusionctl program --care-area Med-Surg --mode multistep --step 100:20 \\\n"
               "                      --step 50:10\n"
               "  infusionctl program --care-area Med-Surg --mode intermittent \\\n"
               "                      --dose-volume 10 --duration 30m --interval 6h --doses 4\n"
               "  infusionctl program --care-area Med-Surg --mode ramp --vtbi 50 \\\n"
               "                      --duration 12h --ramp-up 1h --ramp-down 1h --kvo 0\n"
               "  infusionctl program --care-area Med-Surg --mode pca --pca-dose-ml 1 \\\n"
               "                      --lockout 10m --max-doses-per-hour 4 --limit-ml 10 \\\n"
               "                      --limit-window 4h --vtbi 50 --new-patient\n"
               "\n"
               "The daemon is reached on the system bus, or at DBUS_SYSTEM_BUS_ADDRESS if set.\n"
               "\n"
               "Exit status: 0 success, 1 the call failed (or a file could not be used, or\n"
               "audit verify found the chain broken), 2 bad usage, 3 monitor saw the infusion\n"
               "halted by an alarm, 4 demand was not granted, 5 audit verify could not check\n"
               "the chain, 130 monitor was interrupted.\n");
}

typedef struct Verb {
        const char *name;
        unsigned min_args;
        unsigned max_args;
        int (*check)(char **args);      /* optional: validate before connecting */
        int (*run)(sd_bus *bus, char **args);
        bool no_bus;                    /* run gets NULL: it connects itself, if at all */
} Verb;

static const Verb verbs[] = {
        { "status",  0, 0, NULL,          verb_status },
        { "program", 0, 0, check_program, verb_program },
        { "start",   0, 0, NULL,          verb_start },
        { "pause",   0, 0, NULL,          verb_pause },
        { "resume",  0, 0, NULL,          verb_resume },
        { "stop",    0, 0, NULL,          verb_stop },
        { "ack",     1, 1, NULL,          verb_ack },
        { "alarms",  0, 0, NULL,          verb_alarms },
        { "silence", 0, 0, NULL,          verb_silence },
        { "monitor", 0, 0, NULL,          verb_monitor },
        { "demand",  0, 0, NULL,          verb_demand },
        { "pca",     0, 0, NULL,          verb_pca },
        { "library", 0, 2, check_library, verb_library },
        { "sim",     1, 3, check_sim,     verb_sim },
        { "history", 0, 0, check_history, verb_history },
        { "export",  0, 0, export_check,  verb_export },
        { "audit",   1, 1, audit_check,   verb_audit, .no_bus = true },
};

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_COUNT,
        ARG_PROGRAM,            /* ARG_PROGRAM + o for each ProgramOption o */
        ARG_HISTORY = 0x1000,   /* ARG_HISTORY + o for each HistoryOption o */
};

/* Returns -1 to go on, else the exit status. */
static int parse_argv(int argc, char *argv[]) {
        static const struct option common_options[] = {
                { "help",    no_argument,       NULL, 'h' },
                { "version", no_argument,       NULL, ARG_VERSION },
                { "channel", required_argument, NULL, 'c' },
                { "json",    no_argument,       NULL, ARG_JSON },
                { "count",   required_argument, NULL, ARG_COUNT },
        };
        struct option options[ELEMENTSOF(common_options) + _PROGRAM_OPT_MAX + _HISTORY_OPT_MAX + 1] = {};
        int c, r;

        memcpy(options, common_options, sizeof common_options);
        for (unsigned o = 0; o < _PROGRAM_OPT_MAX; o++)
                options[ELEMENTSOF(common_options) + o] = (struct option) {
                        .name = program_options[o].option,
                        .has_arg = program_options[o].type == PROGRAM_VALUE_FLAG ? no_argument : required_argument,
                        .val = ARG_PROGRAM + (int) o,
                };
        for (unsigned o = 0; o < _HISTORY_OPT_MAX; o++)
                options[ELEMENTSOF(common_options) + _PROGRAM_OPT_MAX + o] = (struct option) {
                        .name = history_options[o].option,
                        .has_arg = history_options[o].has_arg ? required_argument : no_argument,
                        .val = ARG_HISTORY + (int) o,
                };

        while ((c = getopt_long(argc, argv, "hc:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return EXIT_OK;
                case ARG_VERSION:
                        printf("infusionctl %s\n", INFUSIOND_VERSION);
                        return EXIT_OK;
                case 'c':
                        r = parse_unsigned(optarg, &arg_channel);
                        if (r < 0)
                                return usage_error("--channel: '%s' is not a channel number.", optarg);
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_COUNT:
                        r = parse_unsigned(optarg, &arg_count);
                        if (r < 0 || arg_count < 1 || arg_count > PCA_DEMANDS_MAX)
                                return usage_error("--count: '%s' is not a number of demands (1 to %u).",
                                                   optarg, PCA_DEMANDS_MAX);
                        arg_count_given = true;
                        break;
                case '?':
                        /* getopt_long() already said what was wrong. */
                        fputs("Try 'infusionctl --help' for more information.\n", stderr);
                        return EXIT_USAGE;
                default:
                        if (c >= ARG_HISTORY && c < ARG_HISTORY + _HISTORY_OPT_MAX) {
                                if (history_option_set((HistoryOption) (c - ARG_HISTORY), optarg) < 0)
                                        return usage_error("--%s was given twice.",
                                                           history_options[c - ARG_HISTORY].option);
                                break;
                        }
                        if (c < ARG_PROGRAM || c >= ARG_PROGRAM + _PROGRAM_OPT_MAX)
                                abort();
                        r = program_request_set(&arg_program, (ProgramOption) (c - ARG_PROGRAM), optarg);
                        if (r == -EEXIST)
                                return usage_error("--%s was given twice.", program_options[c - ARG_PROGRAM].option);
                        if (r < 0) {
                                fprintf(stderr, "infusionctl: Out of memory.\n");
                                return EXIT_ERROR;
                        }
                }
        return -1;
}

static void program_request_donep(ProgramRequest **p) {
        program_request_done(*p);
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(program_request_donep) ProgramRequest *program = &arg_program;
        const Verb *verb = NULL;
        ProgramOption stray;
        unsigned n_args;
        int r;

        r = parse_argv(argc, argv);
        if (r >= 0)
                return r;

        if (optind >= argc)
                return usage_error("No command given.");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(argv[optind], verbs[i].name) == 0) {
                        verb = &verbs[i];
                        break;
                }
        if (!verb)
                return usage_error("Unknown command '%s'.", argv[optind]);

        n_args = (unsigned) (argc - optind - 1);
        if (n_args < verb->min_args)
                return usage_error("%s: too few arguments.", verb->name);
        if (n_args > verb->max_args)
                return usage_error("%s: too many arguments.", verb->name);

        /* Options that belong to one command are refused elsewhere rather
         * than silently ignored: a dropped --rate must never go unnoticed.
         * --care-area is library list's too; check_library() sees to it. */
        if (arg_json && verb->run != verb_status && verb->run != verb_alarms && verb->run != verb_pca &&
            verb->run != verb_history)
                return usage_error("--json is only valid with status, alarms, pca and history.");
        if (arg_count_given && verb->run != verb_pca)
                return usage_error("--count is only valid with pca.");
        /* For history and export, --drug is the filter, not a program setting. */
        if (verb->run == verb_history || verb->run == verb_export) {
                history_set_drug(program->given[PROGRAM_OPT_DRUG] ? program->text[PROGRAM_OPT_DRUG] : NULL);
                program->given[PROGRAM_OPT_DRUG] = false;
        }
        r = history_options_check(verb->name);
        if (r != EXIT_OK)
                return r;
        stray = program_request_first_given(program, verb->run == verb_library);
        if (stray != _PROGRAM_OPT_MAX && verb->run != verb_program)
                return usage_error("--%s is only valid with program.", program_options[stray].option);
        if (verb->check) {
                r = verb->check(argv + optind + 1);
                if (r != EXIT_OK)
                        return r;
        }

        snprintf(channel_path, sizeof channel_path, ROOT_PATH "/channel/%u", arg_channel);

        if (verb->no_bus)
                return verb->run(NULL, argv + optind + 1);
        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;

        return verb->run(bus, argv + optind + 1);
}
