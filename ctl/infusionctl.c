/* SPDX-License-Identifier: MIT */
/* infusionctl: the command-line client of infusiond. It talks to the daemon
 * only through the D-Bus API of docs/API.md, on the system bus (or wherever
 * DBUS_SYSTEM_BUS_ADDRESS points). */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
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
#include "ctl/format.h"

#define BUS_NAME                "org.infusiond.pump1"
#define ROOT_PATH               "/org/infusiond/pump1"
#define CHANNEL_IFACE           BUS_NAME ".Channel"
#define SIMULATOR_PATH          ROOT_PATH "/simulator"
#define SIMULATOR_IFACE         BUS_NAME ".Simulator"
#define PROPERTIES_IFACE        "org.freedesktop.DBus.Properties"
#define DEFAULT_SYSTEM_BUS      "unix:path=/run/dbus/system_bus_socket"

#define USEC_PER_MSEC           UINT64_C(1000)
#define USEC_PER_SECOND         UINT64_C(1000000)
#define MONITOR_INTERVAL_USEC   (500 * USEC_PER_MSEC)
/* A poll that takes this long means the daemon is stuck: say so rather
 * than showing a frozen bar for the default 25 s. */
#define MONITOR_CALL_TIMEOUT_USEC (5 * USEC_PER_SECOND)
/* How long monitor waits for InfusionEnded after seeing the channel idle. */
#define MONITOR_END_GRACE_USEC  (250 * USEC_PER_MSEC)
#define PROGRESS_BAR_WIDTH      20u

enum {
        EXIT_OK = 0,
        EXIT_ERROR = 1,         /* D-Bus or daemon error */
        EXIT_USAGE = 2,         /* bad command line */
        EXIT_HALTED = 3,        /* monitor: the infusion was halted by an alarm */
        EXIT_INTERRUPTED = 130, /* monitor: SIGINT/SIGTERM */
};

static unsigned arg_channel = 0;
static bool arg_json = false;
static const char *arg_rate = NULL;
static const char *arg_vtbi = NULL;
static const char *arg_kvo = NULL;
static double arg_rate_ml_per_h, arg_vtbi_ml, arg_kvo_ml_per_h;        /* parsed by check_program() */
static uint64_t arg_advance_usec;                                       /* parsed by check_sim() */
static bool arg_occluded;
static char channel_path[sizeof(ROOT_PATH "/channel/") + 16];

static volatile sig_atomic_t interrupted = 0;

static bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* ---- errors ---------------------------------------------------------- */

static const char *bus_address(void) {
        const char *a = getenv("DBUS_SYSTEM_BUS_ADDRESS");

        return a && *a ? a : DEFAULT_SYSTEM_BUS " (the default: DBUS_SYSTEM_BUS_ADDRESS is unset)";
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("infusionctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry 'infusionctl --help' for more information.\n", stderr);
        return EXIT_USAGE;
}

/* Prints a failed call the way the daemon worded it, plus a hint where the
 * cause is usually on the caller's side. Returns EXIT_ERROR. */
static int log_call_error(int r, const sd_bus_error *error, const char *what, const char *unknown_object_hint) {
        if (!sd_bus_error_is_set(error)) {
                fprintf(stderr, "infusionctl: %s: %s\n", what, strerror(-r));
                return EXIT_ERROR;
        }

        fprintf(stderr, "infusionctl: %s (%s)\n", error->message ?: strerror(-r), error->name);

        if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                fprintf(stderr, "infusionctl: infusiond does not seem to be running: nothing owns %s on the bus at %s.\n",
                        BUS_NAME, bus_address());
        else if (sd_bus_error_has_names(error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE) &&
                 unknown_object_hint)
                fprintf(stderr, "infusionctl: %s\n", unknown_object_hint);
        else if (sd_bus_error_has_names(error, SD_BUS_ERROR_ACCESS_DENIED, BUS_NAME ".Error.AccessDenied"))
                fprintf(stderr, "infusionctl: your user may lack the role for this (groups infusiond-clinician, "
                        "infusiond-patient, infusiond-pharmacy).\n");
        else if (sd_bus_error_has_names(error, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT))
                fprintf(stderr, "infusionctl: infusiond did not answer in time.\n");
        return EXIT_ERROR;
}

static int connect_bus(sd_bus **ret) {
        int r;

        r = sd_bus_open_system(ret);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to connect to the system bus at %s: %s\n",
                        bus_address(), strerror(-r));
                fprintf(stderr, "infusionctl: Is dbus-daemon running there, and infusiond on it? "
                        "Set DBUS_SYSTEM_BUS_ADDRESS to reach a private bus.\n");
                return EXIT_ERROR;
        }
        return EXIT_OK;
}

/* ---- channel properties ------------------------------------------------ */

typedef struct Alarm {
        char *id;
        char *condition;
        char *priority;
        uint64_t raised_usec;
        char *message;
} Alarm;

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
        Alarm *alarms;
        size_t n_alarms;
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
        P_ACTIVE_ALARMS,
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
        [P_ACTIVE_ALARMS]   = { "ActiveAlarms",         ALARMS_SIGNATURE, 0 },
};

static void channel_status_done(ChannelStatus *s) {
        free(s->state);
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
                        else if (p == P_STATE) {
                                const char *v;

                                r = sd_bus_message_read_basic(m, 's', &v);
                                if (r >= 0) {
                                        free(s->state);
                                        s->state = strdup(v);
                                        if (!s->state)
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

        if (ret_reply)
                *ret_reply = TAKE_PTR(reply);
        return EXIT_OK;
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

static void print_status(ChannelStatus *s) {
        char rate[FORMAT_NUMBER_MAX + 16], current[FORMAT_NUMBER_MAX + 16], vtbi[FORMAT_NUMBER_MAX + 16],
                volume[FORMAT_NUMBER_MAX + 16], kvo_volume[FORMAT_NUMBER_MAX + 16],
                kvo_rate[FORMAT_NUMBER_MAX + 16], pressure[FORMAT_NUMBER_MAX + 16], hms[FORMAT_HMS_MAX];

        printf("Channel %u (%s)\n", arg_channel, channel_path);
        printf("           State: %s\n", has(s, P_STATE) ? one_line(s->state) : "n/a");

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

/* Every property of the GetAll reply m, under its D-Bus name, in one
 * object; ActiveAlarms as an array of objects. */
static int json_write_properties(FILE *f, sd_bus_message *m) {
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
        fputs("}\n", f);

        return sd_bus_message_exit_container(m);
}

static int verb_status(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(channel_status_done) ChannelStatus s = {};
        int r;

        r = channel_fetch(bus, &s, &reply);
        if (r != EXIT_OK)
                return r;

        if (!arg_json) {
                print_status(&s);
                return EXIT_OK;
        }

        r = json_write_properties(stdout, reply);
        if (r >= 0 && (fflush(stdout) != 0 || ferror(stdout)))
                r = -EIO;
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to write the properties as JSON: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        return EXIT_OK;
}

/* ---- control --------------------------------------------------------- */

static int parse_number_arg(const char *option, const char *value, const char *unit, double *ret) {
        int r;

        r = parse_double_strict(value, ret);
        if (r == -ERANGE)
                return usage_error("%s: '%s' is out of range.", option, value);
        if (r < 0)
                return usage_error("%s: '%s' is not a number (in %s, like 100 or 2.5).", option, value, unit);
        return EXIT_OK;
}

/* Runs before connecting: a typo is a usage error whether or not a daemon
 * is there, and nothing half-parsed is ever sent. Ranges are the daemon's
 * to check; it knows the mechanism and the limits. */
static int check_program(char **args) {
        int r;

        if (!arg_rate || !arg_vtbi)
                return usage_error("program needs --rate and --vtbi.");
        r = parse_number_arg("--rate", arg_rate, "mL/h", &arg_rate_ml_per_h);
        if (r != EXIT_OK)
                return r;
        r = parse_number_arg("--vtbi", arg_vtbi, "mL", &arg_vtbi_ml);
        if (r != EXIT_OK)
                return r;
        if (arg_kvo)
                return parse_number_arg("--kvo", arg_kvo, "mL/h", &arg_kvo_ml_per_h);
        return EXIT_OK;
}

static int verb_program(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, channel_path, CHANNEL_IFACE, "Program");
        if (r < 0)
                goto fail;
        r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                goto fail;
        r = sd_bus_message_append(m, "{sv}{sv}",
                                  "RateMlPerHour", "d", arg_rate_ml_per_h,
                                  "VtbiMl", "d", arg_vtbi_ml);
        if (r < 0)
                goto fail;
        /* Without --kvo the key is left out, so the daemon's configured
         * default applies (API.md). */
        if (arg_kvo) {
                r = sd_bus_message_append(m, "{sv}", "KvoRateMlPerHour", "d", arg_kvo_ml_per_h);
                if (r < 0)
                        goto fail;
        }
        r = sd_bus_message_close_container(m);
        if (r < 0)
                goto fail;

        r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0)
                return log_call_error(r, &error, "Failed to program the channel", channel_hint());
        return EXIT_OK;

fail:
        fprintf(stderr, "infusionctl: Failed to build the Program call: %s\n", strerror(-r));
        return EXIT_ERROR;
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
        int r;

        if (strcmp(args[0], "advance") == 0) {
                r = parse_duration_usec(args[1], &arg_advance_usec);
                if (r == -ERANGE)
                        return usage_error("sim advance: duration '%s' is too long.", args[1]);
                if (r < 0)
                        return usage_error("sim advance: '%s' is not a duration (like 90, 360s, 5m, 2h, 1500ms, 250us).",
                                           args[1]);
                return EXIT_OK;
        }
        if (strcmp(args[0], "occlude") == 0) {
                if (parse_on_off(args[1], &arg_occluded) < 0)
                        return usage_error("sim occlude: expected on or off, got '%s'.", args[1]);
                return EXIT_OK;
        }
        return usage_error("Unknown sim command '%s' (expected advance or occlude).", args[0]);
}

static int verb_sim(sd_bus *bus, char **args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char hms[FORMAT_HMS_MAX];
        uint64_t now;
        int r;

        if (strcmp(args[0], "occlude") == 0) {
                r = sd_bus_call_method(bus, BUS_NAME, SIMULATOR_PATH, SIMULATOR_IFACE, "SetOcclusion",
                                       &error, NULL, "b", (int) arg_occluded);
                if (r < 0)
                        return log_call_error(r, &error, "Failed to set the occlusion", SIMULATOR_HINT);
                return EXIT_OK;
        }

        r = sd_bus_call_method(bus, BUS_NAME, SIMULATOR_PATH, SIMULATOR_IFACE, "AdvanceTime",
                               &error, &reply, "t", arg_advance_usec);
        if (r < 0)
                return log_call_error(r, &error, "Failed to advance the pump's clock", SIMULATOR_HINT);
        r = sd_bus_message_read(reply, "t", &now);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the AdvanceTime reply: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        (void) format_hms(hms, sizeof hms, now / USEC_PER_SECOND);
        printf("Pump time is now %s.%06" PRIu64 " (%" PRIu64 " us).\n", hms, now % USEC_PER_SECOND, now);
        return EXIT_OK;
}

/* ---- command line ---------------------------------------------------- */

static void help(void) {
        printf("Usage: infusionctl [OPTIONS...] COMMAND ...\n"
               "\n"
               "Control and watch infusiond, the infusion pump daemon, over D-Bus.\n"
               "\n"
               "Commands:\n"
               "  status [--json]         Show the channel's state, program, progress and alarms\n"
               "  program --rate R --vtbi V [--kvo K]\n"
               "                          Program an infusion: R mL/h until V mL, then K mL/h\n"
               "                          to keep the vein open (without --kvo: the pump's default)\n"
               "  start                   Start the programmed infusion\n"
               "  pause                   Pause delivery\n"
               "  resume                  Resume a paused infusion\n"
               "  stop                    Stop and end the infusion\n"
               "  ack ID                  Acknowledge the alarm ID\n"
               "  monitor                 Show progress until the infusion is done (kvo or idle)\n"
               "                          or halted by an alarm\n"
               "  sim advance DURATION    Run the simulated pump for DURATION of pump time\n"
               "                          (virtual clock only): 90 (seconds), 360s, 5m, 2h,\n"
               "                          1500ms, 250us, 1.5h\n"
               "  sim occlude on|off      Close or open the simulated downstream line\n"
               "\n"
               "Options:\n"
               "  -c --channel=N          Channel number (default: 0)\n"
               "     --json               status: print one JSON object\n"
               "     --rate=R             program: rate in mL/h\n"
               "     --vtbi=V             program: volume to be infused in mL\n"
               "     --kvo=K              program: keep-vein-open rate in mL/h (0: stop at VTBI)\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "\n"
               "The daemon is reached on the system bus, or at DBUS_SYSTEM_BUS_ADDRESS if set.\n"
               "\n"
               "Exit status: 0 success, 1 the call failed, 2 bad usage, 3 monitor saw the\n"
               "infusion halted by an alarm, 130 monitor was interrupted.\n");
}

typedef struct Verb {
        const char *name;
        unsigned min_args;
        unsigned max_args;
        int (*check)(char **args);      /* optional: validate before connecting */
        int (*run)(sd_bus *bus, char **args);
} Verb;

static const Verb verbs[] = {
        { "status",  0, 0, NULL,          verb_status },
        { "program", 0, 0, check_program, verb_program },
        { "start",   0, 0, NULL,          verb_start },
        { "pause",   0, 0, NULL,          verb_pause },
        { "resume",  0, 0, NULL,          verb_resume },
        { "stop",    0, 0, NULL,          verb_stop },
        { "ack",     1, 1, NULL,          verb_ack },
        { "monitor", 0, 0, NULL,          verb_monitor },
        { "sim",     2, 2, check_sim,     verb_sim },
};

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_RATE,
        ARG_VTBI,
        ARG_KVO,
};

/* Returns -1 to go on, else the exit status. */
static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help",    no_argument,       NULL, 'h' },
                { "version", no_argument,       NULL, ARG_VERSION },
                { "channel", required_argument, NULL, 'c' },
                { "json",    no_argument,       NULL, ARG_JSON },
                { "rate",    required_argument, NULL, ARG_RATE },
                { "vtbi",    required_argument, NULL, ARG_VTBI },
                { "kvo",     required_argument, NULL, ARG_KVO },
                {}
        };
        int c, r;

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
                case ARG_RATE:
                        arg_rate = optarg;
                        break;
                case ARG_VTBI:
                        arg_vtbi = optarg;
                        break;
                case ARG_KVO:
                        arg_kvo = optarg;
                        break;
                case '?':
                        /* getopt_long() already said what was wrong. */
                        fputs("Try 'infusionctl --help' for more information.\n", stderr);
                        return EXIT_USAGE;
                default:
                        abort();
                }
        return -1;
}

int main(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const Verb *verb = NULL;
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
         * than silently ignored: a dropped --rate must never go unnoticed. */
        if (arg_json && verb->run != verb_status)
                return usage_error("--json is only valid with status.");
        if ((arg_rate || arg_vtbi || arg_kvo) && verb->run != verb_program)
                return usage_error("--rate, --vtbi and --kvo are only valid with program.");
        if (verb->check) {
                r = verb->check(argv + optind + 1);
                if (r != EXIT_OK)
                        return r;
        }

        snprintf(channel_path, sizeof channel_path, ROOT_PATH "/channel/%u", arg_channel);

        r = connect_bus(&bus);
        if (r != EXIT_OK)
                return r;

        return verb->run(bus, argv + optind + 1);
}
