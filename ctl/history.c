/* SPDX-License-Identifier: MIT */
/* infusionctl history [--since TIME] [--until TIME] [--drug DRUG] [--json|--csv]
 * infusionctl export --format hl7|fhir [--since TIME] [--until TIME] [--drug DRUG] [--output FILE]
 * infusionctl audit verify [--db PATH] */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/macros.h"
#include "ctl/ctl.h"
#include "ctl/format.h"
#include "ctl/history-format.h"
#include "ctl/history.h"
#include "ctl/write-file.h"
#include "db/db.h"

#define HISTORY_PATH            ROOT_PATH "/history"
#define HISTORY_IFACE           BUS_NAME ".History"
/* Infusions per page: Infusions allows 1 to 1000. An Export page carries a
 * document per infusion, so it takes the API's default. */
#ifndef INFUSIONS_PAGE
#define INFUSIONS_PAGE          1000u
#endif
#ifndef EXPORT_PAGE
#define EXPORT_PAGE             100u
#endif
/* A page is read from SQLite and, for Export, rendered: more than the
 * default 25 s may be needed on a slow SD card. */
#define HISTORY_CALL_TIMEOUT_USEC (UINT64_C(120) * 1000000)

#define HISTORY_HINT "This infusiond has no history interface (no " HISTORY_IFACE " at " HISTORY_PATH \
        "): it may be older than infusionctl."

const HistoryOptionInfo history_options[_HISTORY_OPT_MAX] = {
        [HISTORY_OPT_SINCE]  = { "since",  true,  "history and export" },
        [HISTORY_OPT_UNTIL]  = { "until",  true,  "history and export" },
        [HISTORY_OPT_CSV]    = { "csv",    false, "history" },
        [HISTORY_OPT_FORMAT] = { "format", true,  "export" },
        [HISTORY_OPT_OUTPUT] = { "output", true,  "export" },
        [HISTORY_OPT_DB]     = { "db",     true,  "audit verify" },
};

static bool opt_given[_HISTORY_OPT_MAX];
static const char *opt_text[_HISTORY_OPT_MAX];

/* Parsed by the checks. */
static int64_t arg_since_usec;          /* 0: from the first */
static int64_t arg_until_usec;          /* 0: no end */
static const char *arg_drug;
static bool arg_json;
static const char *arg_format;          /* "hl7" or "fhir" */

int history_option_set(HistoryOption o, const char *arg) {
        if (o >= _HISTORY_OPT_MAX)
                return -EINVAL;
        if (opt_given[o])
                return -EEXIST;
        opt_given[o] = true;
        opt_text[o] = arg;
        return 0;
}

static bool option_valid_for(HistoryOption o, const char *verb) {
        switch (o) {
        case HISTORY_OPT_SINCE:
        case HISTORY_OPT_UNTIL:
                return streq_ptr(verb, "history") || streq_ptr(verb, "export");
        case HISTORY_OPT_CSV:
                return streq_ptr(verb, "history");
        case HISTORY_OPT_FORMAT:
        case HISTORY_OPT_OUTPUT:
                return streq_ptr(verb, "export");
        case HISTORY_OPT_DB:
                return streq_ptr(verb, "audit");
        default:
                return false;
        }
}

int history_options_check(const char *verb) {
        for (unsigned o = 0; o < _HISTORY_OPT_MAX; o++)
                if (opt_given[o] && !option_valid_for((HistoryOption) o, verb))
                        return usage_error("--%s is only valid with %s.", history_options[o].option,
                                           history_options[o].verbs);
        return EXIT_OK;
}

void history_set_drug(const char *drug) {
        arg_drug = drug;
}

/* ---- checks before connecting ---------------------------------------- */

static int64_t now_usec(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return 0;
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --since, --until and --drug, for history and export. */
static int check_range(void) {
        char err[HISTORY_ERROR_MAX];
        int64_t now = now_usec();
        int r;

        arg_since_usec = arg_until_usec = 0;
        if (opt_given[HISTORY_OPT_SINCE]) {
                r = history_parse_time("--since", opt_text[HISTORY_OPT_SINCE], now, &arg_since_usec, err, sizeof err);
                if (r < 0)
                        return usage_error("%s", err);
        }
        if (opt_given[HISTORY_OPT_UNTIL]) {
                r = history_parse_time("--until", opt_text[HISTORY_OPT_UNTIL], now, &arg_until_usec, err, sizeof err);
                if (r < 0)
                        return usage_error("%s", err);
                /* 0 means "no end" on the bus: the epoch itself ends nothing. */
                if (arg_until_usec <= arg_since_usec) {
                        char since[HISTORY_TIME_MAX], until[HISTORY_TIME_MAX];

                        (void) history_format_utc(since, sizeof since, arg_since_usec);
                        (void) history_format_utc(until, sizeof until, arg_until_usec);
                        return usage_error("--since (%s) must be before --until (%s).", since, until);
                }
        }
        if (arg_drug) {
                if (!*arg_drug)
                        return usage_error("--drug: an empty drug name.");
                if (arg_drug[utf8_valid_prefix(arg_drug)] != '\0')
                        return usage_error("--drug: '%s' is not valid UTF-8.", arg_drug);
        }
        return EXIT_OK;
}

int history_check(char **args, bool json) {
        if (json && opt_given[HISTORY_OPT_CSV])
                return usage_error("--json and --csv exclude each other.");
        arg_json = json;
        return check_range();
}

int export_check(char **args) {
        const char *f = opt_text[HISTORY_OPT_FORMAT];

        if (!opt_given[HISTORY_OPT_FORMAT])
                return usage_error("export needs --format hl7 or --format fhir.");
        if (!streq_ptr(f, "hl7") && !streq_ptr(f, "fhir"))
                return usage_error("--format: '%s' is not a format (hl7 or fhir).", f ?: "");
        arg_format = f;
        if (opt_given[HISTORY_OPT_OUTPUT] && (!opt_text[HISTORY_OPT_OUTPUT] || !*opt_text[HISTORY_OPT_OUTPUT]))
                return usage_error("--output: an empty file name (- is standard output).");
        return check_range();
}

int audit_check(char **args) {
        if (!args[0] || strcmp(args[0], "verify") != 0)
                return usage_error("Unknown audit command '%s' (expected verify).", args[0] ?: "");
        if (opt_given[HISTORY_OPT_DB] && (!opt_text[HISTORY_OPT_DB] || !*opt_text[HISTORY_OPT_DB]))
                return usage_error("--db: an empty path.");
        return EXIT_OK;
}

/* ---- calls ----------------------------------------------------------- */

static int history_call_error(int r, const sd_bus_error *error, const char *what) {
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_ACCESS_DENIED, ERROR_PREFIX "AccessDenied")) {
                fprintf(stderr, "infusionctl: %s (%s)\n", error->message ?: strerror(-r), error->name);
                fprintf(stderr, "infusionctl: Reading the history needs the group infusiond-history or "
                        "infusiond-clinician.\n");
                return EXIT_ERROR;
        }
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_METHOD)) {
                fprintf(stderr, "infusionctl: %s (%s)\n", error->message ?: strerror(-r), error->name);
                fprintf(stderr, "infusionctl: %s\n", HISTORY_HINT);
                return EXIT_ERROR;
        }
        return log_call_error(r, error, what, HISTORY_HINT);
}

/* One page of Infusions (format NULL) or Export. */
static int call_page(sd_bus *bus, const char *method, const char *format, int64_t after_id, unsigned limit,
                     sd_bus_error *error, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, HISTORY_PATH, HISTORY_IFACE, method);
        if (r >= 0 && format)
                r = sd_bus_message_append(m, "s", format);
        if (r >= 0)
                r = sd_bus_message_append(m, "xx", arg_since_usec, arg_until_usec);
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}{sv}", "after_id", "x", after_id, "limit", "u", limit);
        if (r >= 0 && arg_drug)
                r = sd_bus_message_append(m, "{sv}", "drug", "s", arg_drug);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, HISTORY_CALL_TIMEOUT_USEC, error, ret_reply);
}

/* The value of one a{sv} entry, after its key: a basic type goes into the
 * row as history_row_set() has it; anything else is skipped. */
static int read_value(sd_bus_message *m, struct json_object *row, const char *key) {
        const char *contents;
        HistoryValue v = {};
        char type;
        int r;

        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        if (!contents || strlen(contents) != 1 || !strchr("xinytuqdsogb", contents[0]))
                return sd_bus_message_skip(m, "v");
        type = contents[0];

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
        if (r < 0)
                return r;
        switch (type) {
        case 'x':
                r = sd_bus_message_read_basic(m, type, &v.i);
                break;
        case 'i': {
                int32_t x;

                r = sd_bus_message_read_basic(m, type, &x);
                v.i = x;
                break;
        }
        case 'n': {
                int16_t x;

                r = sd_bus_message_read_basic(m, type, &x);
                v.i = x;
                break;
        }
        case 'y': {
                uint8_t x;

                r = sd_bus_message_read_basic(m, type, &x);
                v.i = x;
                break;
        }
        case 't':
                r = sd_bus_message_read_basic(m, type, &v.u);
                break;
        case 'u': {
                uint32_t x;

                r = sd_bus_message_read_basic(m, type, &x);
                v.u = x;
                break;
        }
        case 'q': {
                uint16_t x;

                r = sd_bus_message_read_basic(m, type, &x);
                v.u = x;
                break;
        }
        case 'd':
                r = sd_bus_message_read_basic(m, type, &v.d);
                break;
        case 'b': {
                int x;

                r = sd_bus_message_read_basic(m, type, &x);
                v.b = x;
                break;
        }
        default:
                r = sd_bus_message_read_basic(m, type, &v.s);
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        return history_row_set(row, key, type, &v);
}

/* Appends the rows of an aa{sv} to rows. */
static int read_rows(sd_bus_message *m, struct json_object *rows) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "a{sv}");
        if (r < 0)
                return r;
        for (;;) {
                struct json_object *row;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                row = json_object_new_object();
                if (!row || json_object_array_add(rows, row) < 0) {
                        json_object_put(row);
                        return -ENOMEM;
                }
                for (;;) {
                        const char *key;

                        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                        if (r < 0)
                                return r;
                        if (r == 0)
                                break;
                        r = sd_bus_message_read_basic(m, 's', &key);
                        if (r >= 0)
                                r = read_value(m, row, key);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

/* The cursor must move on, else a confused daemon would keep us here. */
static int next_page(int64_t *after_id, int64_t next, const char *method) {
        if (next == 0)
                return 0;
        if (next <= *after_id) {
                fprintf(stderr, "infusionctl: History.%s returned next_after_id %" PRId64 " after %" PRId64
                        ": the pages do not move on; stopping.\n", method, next, *after_id);
                return -EPROTO;
        }
        *after_id = next;
        return 1;
}

static int flush_stdout(const char *what) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "infusionctl: Failed to write the %s: %s\n", what, strerror(errno ?: EIO));
                return EXIT_ERROR;
        }
        return EXIT_OK;
}

static void json_putp(struct json_object **o) {
        json_object_put(*o);
}

/* ---- history --------------------------------------------------------- */

int verb_history(sd_bus *bus, char **args) {
        _cleanup_(json_putp) struct json_object *rows = json_object_new_array();
        int64_t after_id = 0;
        int r;

        if (!rows) {
                fprintf(stderr, "infusionctl: Out of memory.\n");
                return EXIT_ERROR;
        }
        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                int64_t next;

                r = call_page(bus, "Infusions", NULL, after_id, INFUSIONS_PAGE, &error, &reply);
                if (r < 0)
                        return history_call_error(r, &error, "Failed to read the infusions");
                r = read_rows(reply, rows);
                if (r >= 0)
                        r = sd_bus_message_read_basic(reply, 'x', &next);
                if (r < 0) {
                        fprintf(stderr, "infusionctl: Failed to parse the Infusions reply: %s\n", strerror(-r));
                        return EXIT_ERROR;
                }
                r = next_page(&after_id, next, "Infusions");
                if (r < 0)
                        return EXIT_ERROR;
                if (r == 0)
                        break;
        }

        r = arg_json ? history_write_json(stdout, rows)
            : opt_given[HISTORY_OPT_CSV] ? history_write_csv(stdout, rows)
            : history_write_table(stdout, rows);
        if (r < 0 && r != -EIO) {
                fprintf(stderr, "infusionctl: Failed to format the infusions: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        return flush_stdout("infusions");
}

/* ---- export ---------------------------------------------------------- */

static bool is_fhir_bundle(struct json_object *o) {
        struct json_object *type;

        return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "resourceType", &type) &&
               json_object_is_type(type, json_type_string) && strcmp(json_object_get_string(type), "Bundle") == 0;
}

static void memstream_closep(FILE **f) {
        if (*f)
                fclose(*f);
}

int verb_export(sd_bus *bus, char **args) {
        _cleanup_(json_putp) struct json_object *bundle = NULL;
        _cleanup_(freep) char *hl7 = NULL, *fhir = NULL;
        _cleanup_(memstream_closep) FILE *hl7_stream = NULL;
        const char *path = opt_text[HISTORY_OPT_OUTPUT], *data;
        bool is_fhir = streq_ptr(arg_format, "fhir");
        size_t hl7_size = 0, size;
        int64_t after_id = 0;
        unsigned pages = 0;
        int r;

        if (!is_fhir) {
                hl7_stream = open_memstream(&hl7, &hl7_size);
                if (!hl7_stream) {
                        fprintf(stderr, "infusionctl: Out of memory.\n");
                        return EXIT_ERROR;
                }
        }

        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                const char *document;
                int64_t next;

                r = call_page(bus, "Export", arg_format, after_id, EXPORT_PAGE, &error, &reply);
                if (r < 0)
                        return history_call_error(r, &error, "Failed to export the history");
                r = sd_bus_message_read(reply, "sx", &document, &next);
                if (r < 0) {
                        fprintf(stderr, "infusionctl: Failed to parse the Export reply: %s\n", strerror(-r));
                        return EXIT_ERROR;
                }
                pages++;

                if (!is_fhir)
                        fputs(document, hl7_stream);
                else {
                        enum json_tokener_error jerr;
                        struct json_object *page = json_tokener_parse_verbose(document, &jerr);

                        if (!is_fhir_bundle(page)) {
                                fprintf(stderr, "infusionctl: Page %u of the FHIR export is not a FHIR Bundle%s%s.\n",
                                        pages, page ? "" : ": ", page ? "" : json_tokener_error_desc(jerr));
                                json_object_put(page);
                                return EXIT_ERROR;
                        }
                        if (!bundle)
                                bundle = page;
                        else {
                                r = history_fhir_merge(bundle, page);
                                json_object_put(page);
                                if (r < 0) {
                                        fprintf(stderr, "infusionctl: Failed to merge page %u of the FHIR export: %s\n",
                                                pages, strerror(-r));
                                        return EXIT_ERROR;
                                }
                        }
                }

                r = next_page(&after_id, next, "Export");
                if (r < 0)
                        return EXIT_ERROR;
                if (r == 0)
                        break;
        }

        if (is_fhir) {
                const char *plain = json_object_to_json_string_ext(bundle, JSON_C_TO_STRING_PLAIN |
                                                                           JSON_C_TO_STRING_NOSLASHESCAPE);

                r = plain ? json_pretty(plain, &fhir) : -ENOMEM;
                if (r < 0) {
                        fprintf(stderr, "infusionctl: Failed to write the FHIR Bundle: %s\n", strerror(-r));
                        return EXIT_ERROR;
                }
                data = fhir;
                size = strlen(fhir);
        } else {
                if (fclose(hl7_stream) != 0) {
                        hl7_stream = NULL;
                        fprintf(stderr, "infusionctl: Out of memory.\n");
                        return EXIT_ERROR;
                }
                hl7_stream = NULL;
                data = hl7 ?: "";
                size = hl7_size;
        }

        if (!opt_given[HISTORY_OPT_OUTPUT] || strcmp(path, "-") == 0) {
                fwrite(data, 1, size, stdout);
                return flush_stdout("export");
        }
        /* 0640: the history is for the ward and IT, not for everyone. */
        r = write_file_atomic(path, data, size, 0640);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to write %s: %s\n", path, strerror(-r));
                return EXIT_ERROR;
        }
        printf("Exported the history as %s to %s (%zu bytes).\n", is_fhir ? "FHIR" : "HL7", path, size);
        return EXIT_OK;
}

/* ---- audit verify ---------------------------------------------------- */

static int audit_report(bool intact, uint64_t rows, int64_t anchor_id, int64_t head_id, const char *head_sha256,
                        int64_t broken_id, const char *reason) {
        if (!intact) {
                fprintf(stderr, "audit chain BROKEN at row %" PRId64 ": ", broken_id);
                fputs_one_line(reason && *reason ? reason : "no reason given", stderr);
                fputc('\n', stderr);
                return EXIT_AUDIT_BROKEN;
        }
        printf("audit chain intact: %" PRIu64 " rows", rows);
        if (anchor_id >= 0)
                printf(" after anchor row %" PRId64, anchor_id);
        printf("; head row %" PRId64 " sha256 ", head_id);
        fputs_one_line(head_sha256, stdout);
        putchar('\n');
        return flush_stdout("result") == EXIT_OK ? EXIT_OK : EXIT_AUDIT_UNCHECKED;
}

static int audit_open_error(const char *path, int r) {
        switch (-r) {
        case ENOENT:
                fprintf(stderr, "infusionctl: Cannot open %s: no such file.\n", path);
                break;
        case EACCES:
        case EPERM:
                fprintf(stderr, "infusionctl: Cannot open %s: %s: are you in group infusiond-history?\n", path,
                        strerror(-r));
                break;
        case EPROTO:
                fprintf(stderr, "infusionctl: Cannot read %s: its schema version is not the one this infusionctl "
                        "reads (%d); an older file is migrated when infusiond next opens it, a newer one needs the "
                        "infusionctl of that infusiond.\n", path, DB_SCHEMA_VERSION);
                break;
        case EIO:
                fprintf(stderr, "infusionctl: Cannot read %s: %s: is it an infusiond history database?\n", path,
                        strerror(-r));
                break;
        default:
                fprintf(stderr, "infusionctl: Cannot open %s: %s\n", path, strerror(-r));
        }
        return EXIT_AUDIT_UNCHECKED;
}

static int audit_verify_file(void) {
        const char *path = opt_given[HISTORY_OPT_DB] ? opt_text[HISTORY_OPT_DB] : HISTORY_DEFAULT_DB;
        struct db_audit_check c = {};
        struct db *d = NULL;
        int r;

        if (!opt_given[HISTORY_OPT_DB] && access(path, F_OK) < 0 && errno == ENOENT) {
                fprintf(stderr, "infusionctl: %s does not exist: infusiond keeps its history elsewhere here, or has "
                        "never run. Name the database file with --db PATH.\n", path);
                return EXIT_AUDIT_UNCHECKED;
        }
        /* SQLite would say only "unable to open": tell a missing file and a
         * refused one apart first. */
        if (access(path, R_OK) < 0)
                return audit_open_error(path, -errno);

        r = db_open_readonly(path, &d);
        if (r < 0)
                return audit_open_error(path, r);
        r = db_audit_verify(d, &c);
        if (r < 0) {
                const char *detail = db_last_error(d);

                fprintf(stderr, "infusionctl: Failed to read the audit chain in %s: %s%s", path, strerror(-r),
                        detail && *detail ? " (" : "");
                if (detail && *detail) {
                        fputs_one_line(detail, stderr);
                        fputc(')', stderr);
                }
                fputc('\n', stderr);
                db_close(d);
                return EXIT_AUDIT_UNCHECKED;
        }
        db_close(d);
        return audit_report(r == 0, c.rows, c.anchor_id, c.head_id, c.head_sha256, c.broken_id, c.reason);
}

int verb_audit(sd_bus *bus, char **args) {
        return audit_verify_file();
}
