/* SPDX-License-Identifier: MIT */
/* infusionctl library [list [--care-area ID] | show ID | import FILE | export [FILE]] */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macros.h"
#include "ctl/ctl.h"
#include "ctl/format.h"
#include "ctl/library.h"
#include "ctl/write-file.h"

#define LIBRARY_PATH            ROOT_PATH "/library"
#define LIBRARY_IFACE           BUS_NAME ".DrugLibrary"

/* docs/LIBRARY.md: a library file is at most 32 MiB. */
#define LIBRARY_MAX_BYTES       ((size_t) 32 * 1024 * 1024)
/* Import and Export carry up to 32 MiB and the daemon checks, hashes and
 * stores all of it: more than the default 25 s may be needed. */
#define LIBRARY_BULK_TIMEOUT_USEC (UINT64_C(120) * 1000000)
/* Above this, a failed Import may be the bus refusing the message. */
#define LIBRARY_BUS_WARN_BYTES  ((size_t) 31 * 1024 * 1024)
/* Table columns wider than this are not padded further. */
#define TABLE_COLUMN_MAX        40

#define LIBRARY_HINT "This infusiond has no drug library (no " LIBRARY_IFACE " at " LIBRARY_PATH \
        "): it may be older than infusionctl."

static const char *arg_care_area;       /* library list --care-area */
static char *import_text;               /* library import: the file, NUL-terminated; read by library_check() */
static size_t import_size;

/* ---- tables ---------------------------------------------------------- */

typedef struct Table {
        size_t n_columns;
        size_t n_cells;
        char **cells;                   /* row by row, control characters blanked */
} Table;

static int table_add(Table *t, const char *s) {
        char **c = realloc(t->cells, (t->n_cells + 1) * sizeof *c);

        if (!c)
                return -ENOMEM;
        t->cells = c;
        c[t->n_cells] = strdup(s ?: "");
        if (!c[t->n_cells])
                return -ENOMEM;
        one_line(c[t->n_cells++]);
        return 0;
}

static void table_print(const Table *t) {
        size_t width[8] = {};

        if (t->n_columns == 0 || t->n_columns > ELEMENTSOF(width))
                return;
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_columns, w = utf8_columns(t->cells[i]);

                width[col] = MAX(width[col], MIN(w, (size_t) TABLE_COLUMN_MAX));
        }
        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_columns, w = utf8_columns(t->cells[i]);

                fputs(t->cells[i], stdout);
                if (col == t->n_columns - 1)
                        putchar('\n');
                else
                        printf("%*s", (int) (width[col] > w ? width[col] - w : 0) + 2, "");
        }
}

static void table_done(Table *t) {
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        *t = (Table) {};
}

/* ---- checks before connecting ---------------------------------------- */

/* Reads path ("-": stdin) whole, up to LIBRARY_MAX_BYTES, and makes sure
 * D-Bus can carry it as a string: no NUL bytes, valid UTF-8. */
static int read_library_file(const char *path) {
        _cleanup_(freep) char *buf = NULL;
        FILE *f;
        size_t n = 0, valid;
        const char *nul;
        bool too_big;

        f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
        if (!f) {
                fprintf(stderr, "infusionctl: Cannot open %s: %s\n", path, strerror(errno));
                return EXIT_ERROR;
        }
        buf = malloc(LIBRARY_MAX_BYTES + 2);
        if (!buf) {
                if (f != stdin)
                        fclose(f);
                fprintf(stderr, "infusionctl: Out of memory.\n");
                return EXIT_ERROR;
        }
        /* One byte more than allowed tells a file that is too big. */
        n = fread(buf, 1, LIBRARY_MAX_BYTES + 1, f);
        if (ferror(f)) {
                fprintf(stderr, "infusionctl: Cannot read %s: %s\n", path, strerror(errno ?: EIO));
                if (f != stdin)
                        fclose(f);
                return EXIT_ERROR;
        }
        too_big = n > LIBRARY_MAX_BYTES;
        if (f != stdin)
                fclose(f);
        if (too_big) {
                fprintf(stderr, "infusionctl: %s is larger than 32 MiB, the most a drug library may be.\n", path);
                return EXIT_ERROR;
        }
        buf[n] = '\0';

        nul = memchr(buf, '\0', n);
        if (nul) {
                fprintf(stderr, "infusionctl: %s has a NUL byte at offset %zu: a drug library is JSON text.\n",
                        path, (size_t) (nul - buf));
                return EXIT_ERROR;
        }
        valid = utf8_valid_prefix(buf);
        if (valid < n) {
                size_t line = 1, column = 1;

                for (size_t i = 0; i < valid; i++, column++)
                        if (buf[i] == '\n') {
                                line++;
                                column = 0;
                        }
                fprintf(stderr, "infusionctl: %s is not valid UTF-8 at line %zu, column %zu (offset %zu): "
                        "a drug library is UTF-8 JSON text.\n", path, line, column, valid);
                return EXIT_ERROR;
        }

        import_text = TAKE_PTR(buf);
        import_size = n;
        return EXIT_OK;
}

int library_check(char **args, const char *care_area) {
        size_t n_args = 0;

        while (args[n_args])
                n_args++;

        if (care_area && !(n_args > 0 && strcmp(args[0], "list") == 0))
                return usage_error("--care-area is only valid with program and library list.");
        arg_care_area = care_area;

        if (n_args == 0)
                return EXIT_OK;

        if (strcmp(args[0], "list") == 0) {
                if (n_args > 1)
                        return usage_error("library list takes no arguments (the care area is --care-area ID).");
                return EXIT_OK;
        }
        if (strcmp(args[0], "show") == 0) {
                if (n_args != 2)
                        return usage_error("library show needs a drug id, e.g. library show heparin.");
                if (args[1][utf8_valid_prefix(args[1])] != '\0')
                        return usage_error("library show: the drug id is not valid UTF-8.");
                return EXIT_OK;
        }
        if (strcmp(args[0], "import") == 0) {
                if (n_args != 2)
                        return usage_error("library import needs a FILE (- for standard input).");
                return read_library_file(args[1]);
        }
        if (strcmp(args[0], "export") == 0) {
                if (n_args > 2)
                        return usage_error("library export takes at most a FILE.");
                return EXIT_OK;
        }
        return usage_error("Unknown library command '%s' (expected list, show, import or export).", args[0]);
}

/* ---- library: version, hash and care areas --------------------------- */

static int read_care_areas(sd_bus_message *m, Table *t) {
        const char *id, *name;
        int basic, r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "(ssb)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(ssb)", &id, &name, &basic)) > 0)
                if ((r = table_add(t, id)) < 0 ||
                    (r = table_add(t, name)) < 0 ||
                    (r = table_add(t, basic ? "allowed" : "not allowed")) < 0)
                        return r;
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int library_overview(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *version = NULL, *sha256 = NULL;
        _cleanup_(table_done) Table areas = { .n_columns = 3 };
        bool have_areas = false;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, LIBRARY_PATH, PROPERTIES_IFACE, "GetAll",
                               &error, &reply, "s", LIBRARY_IFACE);
        if (r < 0)
                return log_call_error(r, &error, "Failed to read the drug library's properties", LIBRARY_HINT);

        if ((r = table_add(&areas, "CARE AREA")) < 0 ||
            (r = table_add(&areas, "NAME")) < 0 ||
            (r = table_add(&areas, "BASIC INFUSIONS")) < 0)
                goto fail;

        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                goto fail;
        for (;;) {
                const char *name, *contents, *v;

                r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0)
                        goto fail;
                if (r == 0)
                        break;
                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        goto fail;
                r = sd_bus_message_peek_type(reply, NULL, &contents);
                if (r < 0)
                        goto fail;

                if ((streq_ptr(name, "Version") || streq_ptr(name, "Sha256")) && streq_ptr(contents, "s")) {
                        r = sd_bus_message_read(reply, "v", "s", &v);
                        if (r < 0)
                                goto fail;
                        char **field = streq_ptr(name, "Version") ? &version : &sha256;
                        free(*field);
                        *field = strdup(v);
                        if (!*field) {
                                r = -ENOMEM;
                                goto fail;
                        }
                } else if (streq_ptr(name, "CareAreas") && streq_ptr(contents, "a(ssb)")) {
                        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_VARIANT, contents);
                        if (r >= 0)
                                r = read_care_areas(reply, &areas);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                        if (r < 0)
                                goto fail;
                        have_areas = true;
                } else {
                        r = sd_bus_message_skip(reply, "v");
                        if (r < 0)
                                goto fail;
                }

                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        goto fail;
        }

        if (!version || !*version)
                printf("Version: none (no drug library is loaded)\n");
        else {
                printf("Version: %s\n", one_line(version));
                printf(" Sha256: %s\n", sha256 ? one_line(sha256) : "n/a");
        }
        if (have_areas && areas.n_cells > areas.n_columns) {
                putchar('\n');
                table_print(&areas);
        }
        return EXIT_OK;

fail:
        fprintf(stderr, "infusionctl: Failed to parse the drug library's properties: %s\n", strerror(-r));
        return EXIT_ERROR;
}

/* ---- list, show ------------------------------------------------------ */

static int library_list(sd_bus *bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(table_done) Table drugs = { .n_columns = 3 };
        const char *id, *name, *unit;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, LIBRARY_PATH, LIBRARY_IFACE, "ListDrugs",
                               &error, &reply, "s", arg_care_area ?: "");
        if (r < 0)
                return log_call_error(r, &error, "Failed to list the drugs", LIBRARY_HINT);

        if ((r = table_add(&drugs, "ID")) < 0 ||
            (r = table_add(&drugs, "NAME")) < 0 ||
            (r = table_add(&drugs, "DOSE UNIT")) < 0)
                goto fail;
        r = sd_bus_message_enter_container(reply, SD_BUS_TYPE_ARRAY, "(sss)");
        if (r < 0)
                goto fail;
        while ((r = sd_bus_message_read(reply, "(sss)", &id, &name, &unit)) > 0)
                if ((r = table_add(&drugs, id)) < 0 ||
                    (r = table_add(&drugs, name)) < 0 ||
                    (r = table_add(&drugs, unit)) < 0)
                        goto fail;
        if (r < 0)
                goto fail;

        if (drugs.n_cells == drugs.n_columns) {
                if (arg_care_area)
                        printf("No drugs are available in care area %s.\n", arg_care_area);
                else
                        printf("The drug library has no drugs.\n");
                return EXIT_OK;
        }
        table_print(&drugs);
        return EXIT_OK;

fail:
        fprintf(stderr, "infusionctl: Failed to parse the ListDrugs reply: %s\n", strerror(-r));
        return EXIT_ERROR;
}

static int library_show(sd_bus *bus, const char *id) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(freep) char *pretty = NULL;
        const char *json;
        size_t n;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, LIBRARY_PATH, LIBRARY_IFACE, "GetDrug",
                               &error, &reply, "s", id);
        if (r < 0)
                return log_call_error(r, &error, "Failed to get the drug", LIBRARY_HINT);
        r = sd_bus_message_read(reply, "s", &json);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the GetDrug reply: %s\n", strerror(-r));
                return EXIT_ERROR;
        }

        /* Laid out the one way, whatever the daemon's layout; when it does
         * not look like JSON after all, as it is. */
        if (json_pretty(json, &pretty) >= 0)
                json = pretty;
        n = strlen(json);
        fputs(json, stdout);
        if (n > 0 && json[n - 1] != '\n')
                putchar('\n');
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "infusionctl: Failed to write the drug: %s\n", strerror(errno ?: EIO));
                return EXIT_ERROR;
        }
        return EXIT_OK;
}

/* ---- import, export -------------------------------------------------- */

static int library_import(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(freep) char *version_copy = NULL, *sha_copy = NULL;
        const char *version, *sha256;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, LIBRARY_PATH, LIBRARY_IFACE, "Import");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", import_text);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to build the Import call: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        /* The copy in the message is enough from here on. */
        free(import_text);
        import_text = NULL;

        r = sd_bus_call(bus, m, LIBRARY_BULK_TIMEOUT_USEC, &error, &reply);
        if (r < 0) {
                /* Every problem of the file, one per line, as the daemon
                 * listed them (docs/LIBRARY.md "Errors"). */
                if (sd_bus_error_has_name(&error, ERROR_PREFIX "InvalidArgument") &&
                    error.message && strchr(error.message, '\n')) {
                        fprintf(stderr, "infusionctl: The drug library in %s was refused (%s):\n", path, error.name);
                        for (const char *line = error.message; *line; ) {
                                size_t len = strcspn(line, "\n");

                                fputs("  ", stderr);
                                fwrite(line, 1, len, stderr);
                                fputc('\n', stderr);
                                line += len;
                                if (*line == '\n')
                                        line++;
                        }
                        fprintf(stderr, "infusionctl: The library in use has not changed.\n");
                        return EXIT_ERROR;
                }
                r = log_call_error(r, &error, "Failed to import the drug library", LIBRARY_HINT);
                /* dbus-daemon's default max_message_size is 32 MiB, headers
                 * included: it drops the connection of a sender that goes
                 * over, without a word. */
                if (import_size > LIBRARY_BUS_WARN_BYTES &&
                    sd_bus_error_has_names(&error, SD_BUS_ERROR_DISCONNECTED, SD_BUS_ERROR_LIMITS_EXCEEDED))
                        fprintf(stderr, "infusionctl: %s is %zu bytes: the bus may refuse a message that large "
                                "(dbus-daemon allows 32 MiB by default, headers included).\n", path, import_size);
                return r;
        }

        r = sd_bus_message_read(reply, "ss", &version, &sha256);
        if (r < 0) {
                fprintf(stderr, "infusionctl: The library was imported, but the reply could not be parsed: %s\n",
                        strerror(-r));
                return EXIT_ERROR;
        }
        version_copy = strdup(version);
        sha_copy = strdup(sha256);
        if (!version_copy || !sha_copy) {
                fprintf(stderr, "infusionctl: Out of memory.\n");
                return EXIT_ERROR;
        }
        printf("Imported library %s, sha256 %s\n", one_line(version_copy), one_line(sha_copy));
        return EXIT_OK;
}

static int library_export(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *json;
        size_t n;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, LIBRARY_PATH, LIBRARY_IFACE, "Export");
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to build the Export call: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        r = sd_bus_call(bus, m, LIBRARY_BULK_TIMEOUT_USEC, &error, &reply);
        if (r < 0)
                return log_call_error(r, &error, "Failed to export the drug library", LIBRARY_HINT);
        r = sd_bus_message_read(reply, "s", &json);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to parse the Export reply: %s\n", strerror(-r));
                return EXIT_ERROR;
        }
        n = strlen(json);

        /* Byte for byte: its SHA-256 is the library's Sha256. */
        if (!path || strcmp(path, "-") == 0) {
                fwrite(json, 1, n, stdout);
                if (fflush(stdout) != 0 || ferror(stdout)) {
                        fprintf(stderr, "infusionctl: Failed to write the library: %s\n", strerror(errno ?: EIO));
                        return EXIT_ERROR;
                }
                return EXIT_OK;
        }

        /* A library is no secret: readable as the umask allows. */
        mode_t mask = umask(0);
        umask(mask);
        r = write_file_atomic(path, json, n, 0666 & ~mask);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to write %s: %s\n", path, strerror(-r));
                return EXIT_ERROR;
        }
        printf("Exported the drug library to %s (%zu bytes).\n", path, n);
        return EXIT_OK;
}

int verb_library(sd_bus *bus, char **args) {
        if (!args[0])
                return library_overview(bus);
        if (strcmp(args[0], "list") == 0)
                return library_list(bus);
        if (strcmp(args[0], "show") == 0)
                return library_show(bus, args[1]);
        if (strcmp(args[0], "import") == 0)
                return library_import(bus, args[1]);
        return library_export(bus, args[1]);
}
