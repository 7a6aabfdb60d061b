/* SPDX-License-Identifier: MIT */
/* The history as hospital IT gets it, from the real daemon on a private
 * bus in virtual time: the database read by another uid while an infusion
 * runs, the History object, and infusionctl's history and exports, each
 * checked field by field against what was programmed and delivered. */
#include <errno.h>
#include <grp.h>
#include <json-c/json.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"

#define HIST_PATH "/org/infusiond/pump1/history"
#define HIST_IFACE "org.infusiond.pump1.History"
#define LIB_PATH "/org/infusiond/pump1/library"
#define LIB_IFACE "org.infusiond.pump1.DrugLibrary"

/* Readers get in through this group (infusiond-history on a real pump;
 * a number no account here has, so only the group can let them in). */
#define READER_GID 64999
#define NOBODY 65534

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        static char buf[1 << 20];
        size_t n;

        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        return buf;
}

static int setup(void **state) {
        struct harness *h = calloc(1, sizeof(*h));
        sd_bus_error e = SD_BUS_ERROR_NULL;
        char path[512];

        harness_setup(h);
        /* The state directory as tmpfiles makes it for readers: their
         * group may enter, and files made in it take that group. */
        if (geteuid() == 0) {
                assert_int_equal(chown(h->dir, 0, READER_GID), 0);
                assert_int_equal(chmod(h->dir, 02750), 0);
        }
        harness_write_config(h, "virtual", NULL);
        harness_start_daemon(h);
        snprintf(path, sizeof path, "%s/drug-library.sample.json", getenv("CONFIG_DIR"));
        assert_int_equal(sd_bus_call_method(h->bus, "org.infusiond.pump1", LIB_PATH, LIB_IFACE, "Import", &e, NULL,
                                            "s", read_file(path)), 1);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        harness_teardown(*state);
        free(*state);
        return 0;
}

/* Heparin 1000 units/h at 25000 units / 500 mL = 20 mL/h; 2 mL, then stop. */
static void program_heparin(struct harness *h) {
        char err[256], err_msg[512];
        int r = CALL_DICT(h, "Program", err, err_msg, 5, "CareArea", "s", "ICU", "Drug", "s", "heparin",
                          "DoseRate", "d", 1000.0, "VtbiMl", "d", 2.0, "KvoRateMlPerHour", "d", 0.0);
        if (r < 0)
                fail_msg("Program: %s: %s", err, err_msg);
}

/* Every view docs/SCHEMA.md documents: the `v_...` names in its "### "
 * headings. */
static size_t documented_views(char views[][64], size_t max) {
        char path[512], line[512];
        size_t n = 0;
        FILE *f;

        snprintf(path, sizeof path, "%s", getenv("SCHEMA_MD"));
        f = fopen(path, "re");
        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
                if (strncmp(line, "### ", 4) != 0)
                        continue;
                for (char *p = line; (p = strstr(p, "`v_")); ) {
                        char *end = strchr(p + 1, '`');
                        assert_non_null(end);
                        assert_true(n < max);
                        snprintf(views[n++], 64, "%.*s", (int) (end - p - 1), p + 1);
                        p = end + 1;
                }
        }
        fclose(f);
        return n;
}

/* In a child as NOBODY, in the readers' group only (or in none):
 * read every view through, then try to write. Exit 0 when all held. */
static int reader_child(const char *db_path, char views[][64], size_t n, bool in_group) {
        gid_t g = READER_GID;
        sqlite3 *db = NULL;
        char uri[600];

        if ((in_group ? setgroups(1, &g) : setgroups(0, NULL)) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
            setresuid(NOBODY, NOBODY, NOBODY) < 0) {
                perror("dropping privileges");
                return 10;
        }
        snprintf(uri, sizeof uri, "file:%s?mode=ro", db_path);
        if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
                fprintf(stderr, "reader (group %s): cannot read %s: %s\n", in_group ? "yes" : "no", db_path,
                        sqlite3_errmsg(db));
                sqlite3_close(db);
                return 20;
        }
        for (size_t i = 0; i < n; i++) {
                char sql[128];
                sqlite3_stmt *st;
                int rows = 0, rc;

                snprintf(sql, sizeof sql, "SELECT * FROM %s", views[i]);
                if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
                        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
                        return 30;
                }
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        rows++;
                sqlite3_finalize(st);
                if (rc != SQLITE_DONE) {
                        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
                        return 31;
                }
                printf("reader: %s: %d rows\n", views[i], rows);
        }
        /* The running infusion is there, as it stands. */
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM v_infusions WHERE status = 'active' AND volume_nl > 0",
                               -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW ||
            sqlite3_column_int(st, 0) != 1) {
                fprintf(stderr, "the running infusion is not in v_infusions\n");
                return 40;
        }
        sqlite3_finalize(st);
        static const char *const writes[] = {
                "INSERT INTO events (channel, utc_us, kind) VALUES (0, 1, 'forged')",
                "UPDATE infusions SET volume_nl = 0",
                "DELETE FROM limit_events",
                "CREATE TABLE forged (x)",
                "PRAGMA user_version = 99",
        };
        for (size_t i = 0; i < sizeof writes / sizeof *writes; i++) {
                int rc = sqlite3_exec(db, writes[i], NULL, NULL, NULL);
                if ((rc & 0xff) != SQLITE_READONLY) {
                        fprintf(stderr, "a write was not refused as read-only: %s: %d %s\n", writes[i], rc,
                                sqlite3_errmsg(db));
                        return 50;
                }
        }
        sqlite3_close(db);
        return 0;
}

static int run_reader(struct harness *h, char views[][64], size_t n, bool in_group) {
        int status;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(reader_child(h->db_path, views, n, in_group));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void another_uid_reads_every_documented_view_while_an_infusion_runs_and_cannot_write(void **state) {
        struct harness *h = *state;
        char views[32][64];
        size_t n;

        if (geteuid() != 0)
                skip();
        n = documented_views(views, 32);
        /* the six at least */
        static const char *const required[] = { "v_infusions", "v_infusion_events", "v_alarms", "v_pca_demands",
                                                "v_library_compliance", "v_audit" };
        for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
                bool found = false;
                for (size_t j = 0; j < n; j++)
                        found |= strcmp(views[j], required[i]) == 0;
                if (!found)
                        fail_msg("docs/SCHEMA.md documents no view %s", required[i]);
        }

        program_heparin(h);
        assert_int_equal(call_simple(h, "Start", NULL, 0), 0);
        call_advance(h, 3 * 1000000ULL);        /* a checkpoint with volume */

        assert_int_equal(run_reader(h, views, n, true), 0);
        /* without the group, nothing at all */
        assert_int_equal(run_reader(h, views, n, false), 20);

        /* the writer never noticed */
        char *s = get_string(h, CH_PATH, CH_IFACE, "State");
        assert_string_equal(s, "running");
        free(s);
}

/* Run the infusion to its end: 2 mL at 20 mL/h is 6 min. */
static void deliver_heparin(struct harness *h) {
        program_heparin(h);
        assert_int_equal(call_simple(h, "Start", NULL, 0), 0);
        call_advance(h, 7 * 60 * 1000000ULL);
        char *s = get_string(h, CH_PATH, CH_IFACE, "State");
        assert_string_equal(s, "idle");
        free(s);
}

static int64_t query(struct harness *h, const char *sql) {
        int64_t v = harness_query_i64(h, sql);
        assert_true(v >= 0);
        return v;
}

/* One page of History.Infusions: rows into a json array of objects
 * (through the same a{sv} reading the CLI does is not the point here;
 * plain sd-bus reads). Returns next_after_id. */
struct inf_row {
        int64_t id, rate_nl_per_h, vtbi_nl, volume_nl, started_utc_us, ended_utc_us;
        char status[32], drug_id[32], drug_name[32], dose_unit[32];
        double dose_rate;
        unsigned channel;
};

static int64_t read_infusions(struct harness *h, int64_t since, int64_t until, uint32_t limit, int64_t after,
                              struct inf_row *rows, size_t *n) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int64_t next;
        int r;

        r = sd_bus_call_method(h->bus, "org.infusiond.pump1", HIST_PATH, HIST_IFACE, "Infusions", &e, &reply,
                               "xxa{sv}", since, until, 2, "limit", "u", limit, "after_id", "x", after);
        if (r < 0)
                fail_msg("Infusions: %s", e.message);
        assert_true(sd_bus_message_enter_container(reply, 'a', "a{sv}") > 0);
        *n = 0;
        while (sd_bus_message_enter_container(reply, 'a', "{sv}") > 0) {
                struct inf_row *row = &rows[(*n)++];
                *row = (struct inf_row) { .dose_rate = NAN };
                while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                        const char *key, *type, *str;
                        assert_true(sd_bus_message_read(reply, "s", &key) > 0);
                        assert_true(sd_bus_message_peek_type(reply, NULL, &type) > 0);
                        assert_true(sd_bus_message_enter_container(reply, 'v', type) > 0);
                        int64_t x = 0;
                        if (strcmp(type, "x") == 0) {
                                assert_true(sd_bus_message_read(reply, "x", &x) > 0);
                                int64_t *dst = strcmp(key, "id") == 0 ? &row->id :
                                               strcmp(key, "rate_nl_per_h") == 0 ? &row->rate_nl_per_h :
                                               strcmp(key, "vtbi_nl") == 0 ? &row->vtbi_nl :
                                               strcmp(key, "volume_nl") == 0 ? &row->volume_nl :
                                               strcmp(key, "started_utc_us") == 0 ? &row->started_utc_us :
                                               strcmp(key, "ended_utc_us") == 0 ? &row->ended_utc_us : NULL;
                                if (dst)
                                        *dst = x;
                        } else if (strcmp(type, "s") == 0) {
                                assert_true(sd_bus_message_read(reply, "s", &str) > 0);
                                char *dst = strcmp(key, "status") == 0 ? row->status :
                                            strcmp(key, "drug_id") == 0 ? row->drug_id :
                                            strcmp(key, "drug_name") == 0 ? row->drug_name :
                                            strcmp(key, "dose_unit") == 0 ? row->dose_unit : NULL;
                                if (dst)
                                        snprintf(dst, 32, "%s", str);
                        } else if (strcmp(type, "d") == 0) {
                                assert_true(sd_bus_message_read(reply, "d", &row->dose_rate) > 0);
                        } else if (strcmp(type, "u") == 0) {
                                assert_true(sd_bus_message_read(reply, "u", &row->channel) > 0);
                        } else {
                                fail_msg("unexpected type %s for %s", type, key);
                        }
                        assert_true(sd_bus_message_exit_container(reply) > 0);
                        assert_true(sd_bus_message_exit_container(reply) > 0);
                }
                assert_true(sd_bus_message_exit_container(reply) > 0);
        }
        assert_true(sd_bus_message_exit_container(reply) > 0);
        assert_true(sd_bus_message_read(reply, "x", &next) > 0);
        sd_bus_message_unref(reply);
        return next;
}

static void history_rows_are_what_was_programmed_and_delivered_and_page_by_id(void **state) {
        struct harness *h = *state;
        struct inf_row rows[8];
        size_t n;

        deliver_heparin(h);
        deliver_heparin(h);
        deliver_heparin(h);

        /* what the daemon itself recorded as delivered, from the file */
        int64_t delivered_nl = query(h, "SELECT volume_nl FROM infusions WHERE id = 1");
        if (llabs(delivered_nl - 2000000) > 1000)
                fail_msg("delivered %" PRId64 " nL of a 2 mL VTBI", delivered_nl);

        int64_t next = read_infusions(h, 0, 0, 1000, 0, rows, &n);
        assert_int_equal(n, 3);
        assert_int_equal(next, 0);
        assert_int_equal(rows[0].id, 1);
        assert_string_equal(rows[0].status, "completed");
        assert_int_equal(rows[0].channel, 0);
        assert_int_equal(rows[0].rate_nl_per_h, 20000000);
        assert_int_equal(rows[0].vtbi_nl, 2000000);
        assert_int_equal(rows[0].volume_nl, delivered_nl);
        assert_string_equal(rows[0].drug_id, "heparin");
        assert_string_equal(rows[0].drug_name, "Heparin");
        assert_true(rows[0].dose_rate == 1000.0);
        assert_string_equal(rows[0].dose_unit, "units/h");
        /* 6 min of delivery, to the step */
        assert_true(rows[0].ended_utc_us - rows[0].started_utc_us >= 359 * INT64_C(1000000) &&
                    rows[0].ended_utc_us - rows[0].started_utc_us <= 361 * INT64_C(1000000));

        /* pages of 2: 2, then 1 and the end */
        next = read_infusions(h, 0, 0, 2, 0, rows, &n);
        assert_int_equal(n, 2);
        assert_int_equal(next, 2);
        next = read_infusions(h, 0, 0, 2, next, rows, &n);
        assert_int_equal(n, 1);
        assert_int_equal(rows[0].id, 3);
        assert_int_equal(next, 0);

        /* a range that holds only the second */
        struct inf_row second;
        read_infusions(h, 0, 0, 1, 1, &second, &n);     /* room for one row */
        read_infusions(h, second.started_utc_us, second.ended_utc_us, 10, 0, rows, &n);
        assert_int_equal(n, 1);
        assert_int_equal(rows[0].id, 2);
}

static void bad_history_calls_get_named_errors_and_change_nothing(void **state) {
        struct harness *h = *state;
        static const struct {
                const char *what;
                int64_t since, until;
                const char *key, *type;
                int64_t value;
                const char *says;
        } cases[] = {
                { "negative since", -1, 0, NULL, NULL, 0, "since_usec" },
                { "until before since", 100, 50, NULL, NULL, 0, "is not after" },
                { "limit 0", 0, 0, "limit", "u", 0, "1 to 1000" },
                { "limit 1001", 0, 0, "limit", "u", 1001, "1 to 1000" },
                { "unknown option", 0, 0, "colour", "u", 1, "no option 'colour'" },
                { "limit of the wrong type", 0, 0, "limit", "x", 5, "must be of type u" },
                { "negative cursor", 0, 0, "after_id", "x", -5, "negative" },
        };
        int64_t audit_before = query(h, "SELECT count(*) FROM audit");

        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                int r;
                if (!cases[i].key)
                        r = sd_bus_call_method(h->bus, "org.infusiond.pump1", HIST_PATH, HIST_IFACE, "Infusions", &e,
                                               NULL, "xxa{sv}", cases[i].since, cases[i].until, 0);
                else if (strcmp(cases[i].type, "u") == 0)
                        r = sd_bus_call_method(h->bus, "org.infusiond.pump1", HIST_PATH, HIST_IFACE, "Infusions", &e,
                                               NULL, "xxa{sv}", cases[i].since, cases[i].until, 1, cases[i].key, "u",
                                               (uint32_t) cases[i].value);
                else
                        r = sd_bus_call_method(h->bus, "org.infusiond.pump1", HIST_PATH, HIST_IFACE, "Infusions", &e,
                                               NULL, "xxa{sv}", cases[i].since, cases[i].until, 1, cases[i].key, "x",
                                               cases[i].value);
                assert_true(r < 0);
                if (!e.name || strcmp(e.name, "org.infusiond.pump1.Error.InvalidArgument") != 0 ||
                    !strstr(e.message, cases[i].says))
                        fail_msg("%s: got %s: %s", cases[i].what, e.name, e.message);
                sd_bus_error_free(&e);
        }
        sd_bus_error e = SD_BUS_ERROR_NULL;
        assert_true(sd_bus_call_method(h->bus, "org.infusiond.pump1", HIST_PATH, HIST_IFACE, "Export", &e, NULL,
                                       "sxxa{sv}", "csv", (int64_t) 0, (int64_t) 0, 0) < 0);
        assert_string_equal(e.name, "org.infusiond.pump1.Error.InvalidArgument");
        assert_non_null(strstr(e.message, "hl7"));
        sd_bus_error_free(&e);
        /* reads are not audited, and the daemon is still there */
        assert_int_equal(query(h, "SELECT count(*) FROM audit"), audit_before);
        char *s = get_string(h, CH_PATH, CH_IFACE, "State");
        assert_string_equal(s, "idle");
        free(s);
}

/* Run infusionctl with the daemon's bus; its stdout, malloc'ed. */
static char *ctl(struct harness *h, const char *args) {
        char cmd[1024];
        FILE *p;
        char *out = NULL;
        size_t size = 0;

        snprintf(cmd, sizeof cmd, "DBUS_SYSTEM_BUS_ADDRESS='%s' '%s' %s", h->bus_address, getenv("INFUSIONCTL"),
                 args);
        p = popen(cmd, "re");
        assert_non_null(p);
        FILE *m = open_memstream(&out, &size);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, p)) > 0)
                fwrite(buf, 1, n, m);
        fclose(m);
        int status = pclose(p);
        if (status != 0)
                fail_msg("infusionctl %s exited %d", args, status);
        return out;
}

static json_object *get(json_object *o, const char *key) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v))
                fail_msg("no key %s in %s", key, json_object_to_json_string(o));
        return v;
}

static void infusionctl_history_json_matches_the_infusion(void **state) {
        struct harness *h = *state;

        deliver_heparin(h);
        int64_t delivered_nl = query(h, "SELECT volume_nl FROM infusions WHERE id = 1");
        int64_t started = query(h, "SELECT started_utc_us FROM infusions WHERE id = 1");
        int64_t ended = query(h, "SELECT ended_utc_us FROM infusions WHERE id = 1");

        char *out = ctl(h, "history --json");
        json_object *a = json_tokener_parse(out);
        assert_non_null(a);
        assert_int_equal(json_object_array_length(a), 1);
        json_object *o = json_object_array_get_idx(a, 0);
        assert_int_equal(json_object_get_int64(get(o, "id")), 1);
        assert_string_equal(json_object_get_string(get(o, "status")), "completed");
        assert_int_equal(json_object_get_int64(get(o, "channel")), 0);
        assert_string_equal(json_object_get_string(get(o, "mode")), "continuous");
        assert_int_equal(json_object_get_int64(get(o, "rate_nl_per_h")), 20000000);
        assert_int_equal(json_object_get_int64(get(o, "vtbi_nl")), 2000000);
        assert_int_equal(json_object_get_int64(get(o, "volume_nl")), delivered_nl);
        assert_int_equal(json_object_get_int64(get(o, "started_utc_us")), started);
        assert_int_equal(json_object_get_int64(get(o, "ended_utc_us")), ended);
        assert_string_equal(json_object_get_string(get(o, "drug_id")), "heparin");
        assert_string_equal(json_object_get_string(get(o, "drug_name")), "Heparin");
        assert_true(json_object_get_double(get(o, "dose_rate")) == 1000.0);
        assert_string_equal(json_object_get_string(get(o, "dose_unit")), "units/h");
        assert_string_equal(json_object_get_string(get(o, "care_area")), "ICU");
        assert_string_equal(json_object_get_string(get(o, "concentration")), "25000 units / 500 mL");
        json_object_put(a);
        free(out);

        /* --drug filters; an unknown drug gives an empty list */
        out = ctl(h, "history --json --drug NoSuchDrug");
        a = json_tokener_parse(out);
        assert_non_null(a);
        assert_int_equal(json_object_array_length(a), 0);
        json_object_put(a);
        free(out);
}

/* nL as the exact decimal mL text both exports use */
static void ml_text(int64_t nl, char ret[32]) {
        snprintf(ret, 32, "%" PRId64 ".%06" PRId64, nl / 1000000, nl % 1000000);
        char *end = ret + strlen(ret) - 1;
        while (*end == '0')
                *end-- = 0;
        if (*end == '.')
                *end = 0;
}

/* The OBX of an HL7 message whose OBX-3 starts with code: field n. */
static const char *obx_field(char *msg, const char *code, int n, char *ret, size_t size) {
        char *save = NULL;
        char copy[16384];
        snprintf(copy, sizeof copy, "%s", msg);
        for (char *seg = strtok_r(copy, "\r", &save); seg; seg = strtok_r(NULL, "\r", &save)) {
                char *fields[32] = {};
                int k = 0;
                for (char *f = seg, *bar; k < 32; f = bar + 1) {
                        fields[k++] = f;
                        bar = strchr(f, '|');
                        if (!bar)
                                break;
                        *bar = 0;
                }
                if (strcmp(fields[0], "OBX") == 0 && k > 3 && strncmp(fields[3], code, strlen(code)) == 0 &&
                    fields[3][strlen(code)] == '^') {
                        snprintf(ret, size, "%s", n < k ? fields[n] : "");
                        return ret;
                }
        }
        fail_msg("no OBX %s", code);
        return NULL;
}

static void infusionctl_exports_carry_the_infusion_field_by_field(void **state) {
        struct harness *h = *state;
        char want[32], got[256];

        deliver_heparin(h);
        int64_t delivered_nl = query(h, "SELECT volume_nl FROM infusions WHERE id = 1");

        /* HL7: a Delivery Start and a Delivery Complete */
        char *out = ctl(h, "export --format hl7");
        char *msgs[4] = {};
        int n = 0;
        for (char *save = NULL, *m = strtok_r(out, "\n", &save); m; m = strtok_r(NULL, "\n", &save)) {
                assert_true(n < 4);
                msgs[n++] = m;
        }
        assert_int_equal(n, 2);
        for (int i = 0; i < 2; i++) {
                assert_true(strncmp(msgs[i], "MSH|^~\\&|", 9) == 0);
                assert_non_null(strstr(msgs[i], "|ORU^R42^ORU_R01|"));
                assert_non_null(strstr(msgs[i], "\rOBR|1||1^INFUSIOND^"));
                assert_string_equal(obx_field(msgs[i], "157784", 5, got, sizeof got), "20");        /* mL/h */
                assert_string_equal(obx_field(msgs[i], "157784", 6, got, sizeof got),
                                    "265266^MDC_DIM_MILLI_L_PER_HR^MDC^mL/h^mL/h^UCUM");
                assert_string_equal(obx_field(msgs[i], "157884", 5, got, sizeof got), "2");         /* VTBI */
                assert_string_equal(obx_field(msgs[i], "157924", 5, got, sizeof got), "1000");      /* dose */
                assert_string_equal(obx_field(msgs[i], "184330", 5, got, sizeof got), "heparin^Heparin^L");
                /* channel 0 is the hierarchy's channel 1 */
                assert_string_equal(obx_field(msgs[i], "157784", 4, got, sizeof got), "1.1.1.7");
        }
        assert_non_null(strstr(msgs[0], "|197288^MDC_EVT_PUMP_DELIV_START^MDC|"));
        assert_string_equal(obx_field(msgs[0], "157993", 5, got, sizeof got), "0");
        assert_non_null(strstr(msgs[1], "|197292^MDC_EVT_PUMP_DELIV_COMP^MDC|"));
        ml_text(delivered_nl, want);
        assert_string_equal(obx_field(msgs[1], "157993", 5, got, sizeof got), want);           /* delivered */
        ml_text(delivered_nl > 2000000 ? 0 : 2000000 - delivered_nl, want);
        assert_string_equal(obx_field(msgs[1], "157872", 5, got, sizeof got), want);           /* remaining */
        free(out);

        /* FHIR: a Bundle with the Device and one MedicationAdministration */
        out = ctl(h, "export --format fhir");
        json_object *b = json_tokener_parse(out);
        assert_non_null(b);
        assert_string_equal(json_object_get_string(get(b, "resourceType")), "Bundle");
        assert_string_equal(json_object_get_string(get(b, "type")), "collection");
        json_object *entries = get(b, "entry"), *ma = NULL;
        int devices = 0;
        for (size_t i = 0; i < json_object_array_length(entries); i++) {
                json_object *res = get(json_object_array_get_idx(entries, i), "resource");
                const char *type = json_object_get_string(get(res, "resourceType"));
                devices += strcmp(type, "Device") == 0;
                if (strcmp(type, "MedicationAdministration") == 0) {
                        assert_null(ma);
                        ma = res;
                }
        }
        assert_int_equal(devices, 1);
        assert_non_null(ma);
        assert_string_equal(json_object_get_string(get(ma, "status")), "completed");
        assert_string_equal(json_object_get_string(get(get(ma, "medicationCodeableConcept"), "text")), "Heparin");
        assert_non_null(get(get(ma, "subject"), "display"));
        json_object *period = get(ma, "effectivePeriod");
        assert_non_null(get(period, "start"));
        assert_non_null(get(period, "end"));
        json_object *dosage = get(ma, "dosage");
        json_object *rate = get(dosage, "rateQuantity"), *dose = get(dosage, "dose");
        assert_string_equal(json_object_to_json_string(get(rate, "value")), "20");
        assert_string_equal(json_object_get_string(get(rate, "code")), "mL/h");
        assert_string_equal(json_object_get_string(get(rate, "system")), "http://unitsofmeasure.org");
        ml_text(delivered_nl, want);
        assert_string_equal(json_object_to_json_string(get(dose, "value")), want);
        assert_string_equal(json_object_get_string(get(dose, "code")), "mL");
        /* the VTBI and the channel, in our extensions */
        json_object *ext = get(ma, "extension");
        bool vtbi = false, channel = false;
        for (size_t i = 0; i < json_object_array_length(ext); i++) {
                json_object *x = json_object_array_get_idx(ext, i);
                const char *url = json_object_get_string(get(x, "url"));
                if (strcmp(url, "urn:infusiond:fhir:vtbi") == 0)
                        vtbi = strcmp(json_object_to_json_string(get(get(x, "valueQuantity"), "value")), "2") == 0;
                if (strcmp(url, "urn:infusiond:fhir:channel") == 0)
                        channel = json_object_get_int(get(x, "valueInteger")) == 0;
        }
        assert_true(vtbi);
        assert_true(channel);
        json_object_put(b);
        free(out);
}

/* Every command is in the chain, and the chain holds, while the daemon
 * runs: infusionctl reads the file, not the daemon. */
static void every_command_is_chained_and_verifies_while_the_daemon_runs(void **state) {
        struct harness *h = *state;
        char args[600];

        deliver_heparin(h);
        /* Import, Program, Start */
        assert_true(query(h, "SELECT count(*) FROM audit") >= 3);
        assert_int_equal(query(h, "SELECT count(*) FROM audit WHERE length(chain_sha256) = 64"),
                         query(h, "SELECT count(*) FROM audit"));
        snprintf(args, sizeof args, "audit verify --db '%s'", h->db_path);
        char *out = ctl(h, args);
        char want[64];
        snprintf(want, sizeof want, "audit chain intact: %" PRId64 " rows", query(h, "SELECT count(*) FROM audit"));
        if (!strstr(out, want))
                fail_msg("audit verify said: %s", out);
        free(out);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(another_uid_reads_every_documented_view_while_an_infusion_runs_and_cannot_write),
                T(history_rows_are_what_was_programmed_and_delivered_and_page_by_id),
                T(bad_history_calls_get_named_errors_and_change_nothing),
                T(infusionctl_history_json_matches_the_infusion),
                T(infusionctl_exports_carry_the_infusion_field_by_field),
                T(every_command_is_chained_and_verifies_while_the_daemon_runs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
