/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
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

#include "common/macros.h"
#include "db/db.h"
#include "db-undo-schema.h"

#define DIR_MAX 1024
#define PATH_LEN_MAX (DIR_MAX + 16)
#define SIBLING_MAX (PATH_LEN_MAX + 16)         /* path-wal, path-shm */

/* Real SQLite files in a fresh directory per test. */
struct fixture {
        char dir[DIR_MAX];
        char path[PATH_LEN_MAX];
        char uri[PATH_LEN_MAX + 16];
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof *f);
        const char *tmp = getenv("TMPDIR") ?: "/tmp";

        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "%s/test-db-XXXXXX", tmp);
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/history.db", f->dir);
        /* mkdtemp's characters need no escaping in a URI */
        snprintf(f->uri, sizeof f->uri, "file:%s?mode=ro", f->path);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        char p[SIBLING_MAX];

        (void) unlink(f->path);
        snprintf(p, sizeof p, "%s-wal", f->path);
        (void) unlink(p);
        snprintf(p, sizeof p, "%s-shm", f->path);
        (void) unlink(p);
        snprintf(p, sizeof p, "%s-journal", f->path);
        (void) unlink(p);
        assert_int_equal(rmdir(f->dir), 0);
        free(f);
        return 0;
}

static void db_closep(struct db **d) {
        *d = db_close(*d);
}

static void sqlite_closep(sqlite3 **s) {
        sqlite3_close(*s);
}

/* 2023-11-14T22:13:20.123456Z */
#define T0_UTC_US INT64_C(1700000000123456)

static struct db_infusion sample_infusion(unsigned channel) {
        return (struct db_infusion) {
                .channel = channel,
                .mode = "continuous",
                .rate_nl_per_h = 100000000,     /* 100 mL/h */
                .vtbi_nl = 50000000,            /* 50 mL */
                .kvo_rate_nl_per_h = 1000000,   /* 1 mL/h */
                .started_utc_us = T0_UTC_US,
                .started_mono_us = 5000000,
        };
}

static struct db_event sample_event(int64_t infusion_id, const char *kind) {
        return (struct db_event) {
                .infusion_id = infusion_id,
                .channel = 0,
                .utc_us = T0_UTC_US + 1000,
                .mono_us = 5001000,
                .kind = kind,
                .from_state = "programmed",
                .to_state = "running",
                .volume_nl = 0,
        };
}

static sqlite3 *open_raw(const char *path) {
        sqlite3 *s = NULL;
        assert_int_equal(sqlite3_open_v2(path, &s, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                         SQLITE_OK);
        return s;
}

static sqlite3 *open_read_only(const char *uri) {
        sqlite3 *s = NULL;
        assert_int_equal(sqlite3_open_v2(uri, &s, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL),
                         SQLITE_OK);
        return s;
}

/* The first column of the first row of sql, as text ("" for none). */
static void query_text(sqlite3 *s, const char *sql, char *ret, size_t size) {
        sqlite3_stmt *st = NULL;
        int rc;

        assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
        rc = sqlite3_step(st);
        assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
        snprintf(ret, size, "%s", rc == SQLITE_ROW ? (const char *) sqlite3_column_text(st, 0) ?: "" : "");
        sqlite3_finalize(st);
}

static int64_t query_int(sqlite3 *s, const char *sql) {
        char text[64];
        query_text(s, sql, text, sizeof text);
        return strtoll(text, NULL, 10);
}

static void read_file(const char *path, char **ret, size_t *ret_size) {
        FILE *fp = fopen(path, "re");
        char *buf;
        long size;

        assert_non_null(fp);
        assert_int_equal(fseek(fp, 0, SEEK_END), 0);
        size = ftell(fp);
        assert_true(size >= 0);
        rewind(fp);
        buf = malloc((size_t) size + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t) size, fp), (size_t) size);
        fclose(fp);
        *ret = buf;
        *ret_size = (size_t) size;
}

static void fresh_database_is_the_current_schema_in_wal_mode_and_mode_0640(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        char mode[16];
        struct stat st;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_schema_version(d), DB_SCHEMA_VERSION);
        assert_int_equal(DB_SCHEMA_VERSION, 6);

        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0640);

        raw = open_read_only(f->uri);
        query_text(raw, "PRAGMA journal_mode", mode, sizeof mode);
        assert_string_equal(mode, "wal");
        assert_int_equal(query_int(raw, "PRAGMA user_version"), DB_SCHEMA_VERSION);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM sqlite_schema WHERE name IN"
                                        " ('infusions', 'events', 'audit', 'v_infusions', 'v_infusion_events',"
                                        " 'drug_libraries', 'v_drug_libraries', 'limit_events', 'v_library_compliance',"
                                        " 'v_limit_events', 'alarm_events', 'v_alarm_events', 'v_alarms',"
                                        " 'pca_demands', 'v_pca_demands', 'delivery_samples', 'v_delivery_samples')"), 17);
}

static void infusion_round_trips_through_begin_checkpoint_and_end(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion in = sample_infusion(1), out;
        int64_t id;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        assert_true(id > 0);

        assert_int_equal(db_infusion_get(d, id, &out), 0);
        assert_int_equal(out.id, id);
        assert_int_equal(out.channel, 1);
        assert_string_equal(out.mode, "continuous");
        assert_string_equal(out.status, "active");
        assert_int_equal(out.rate_nl_per_h, 100000000);
        assert_int_equal(out.vtbi_nl, 50000000);
        assert_int_equal(out.kvo_rate_nl_per_h, 1000000);
        assert_int_equal(out.volume_nl, 0);
        assert_int_equal(out.started_utc_us, T0_UTC_US);
        assert_int_equal(out.started_mono_us, 5000000);
        assert_int_equal(out.ended_utc_us, 0);

        assert_int_equal(db_infusion_checkpoint(d, id, 4213000, T0_UTC_US + 1000000), 0);
        assert_int_equal(db_infusion_get(d, id, &out), 0);
        assert_int_equal(out.volume_nl, 4213000);
        assert_string_equal(out.status, "active");

        assert_int_equal(db_infusion_end(d, id, "completed", 50000000, T0_UTC_US + 2000000), 0);
        assert_int_equal(db_infusion_get(d, id, &out), 0);
        assert_string_equal(out.status, "completed");
        assert_int_equal(out.volume_nl, 50000000);
        assert_int_equal(out.ended_utc_us, T0_UTC_US + 2000000);
}

static void only_active_infusions_take_checkpoints_and_ends(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion in = sample_infusion(0), out;
        int64_t id;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_get(d, 42, &out), -ENOENT);
        assert_int_equal(db_infusion_checkpoint(d, 42, 1, T0_UTC_US), -ENOENT);

        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        assert_int_equal(db_infusion_end(d, id, "active", 0, T0_UTC_US), -EINVAL);
        assert_int_equal(db_infusion_end(d, id, "paused", 0, T0_UTC_US), -EINVAL);
        assert_int_equal(db_infusion_end(d, id, "stopped", 1000, T0_UTC_US + 1), 0);

        /* once ended, the row is history: no later checkpoint or end */
        assert_int_equal(db_infusion_checkpoint(d, id, 2000, T0_UTC_US + 2), -ENOENT);
        assert_int_equal(db_infusion_end(d, id, "completed", 2000, T0_UTC_US + 2), -ENOENT);
        assert_int_equal(db_infusion_get(d, id, &out), 0);
        assert_string_equal(out.status, "stopped");
        assert_int_equal(out.volume_nl, 1000);

        /* the schema refuses what makes no sense, with SQLite's reason */
        in.rate_nl_per_h = -1;
        assert_int_equal(db_infusion_begin(d, &in, &id), -EINVAL);
        assert_non_null(strstr(db_last_error(d), "CHECK constraint failed"));
}

struct recovered {
        unsigned calls;
        int64_t ids[4];
        int64_t volumes_nl[4];
        char statuses[4][16];
        int64_t ended_utc_us[4];
};

static void on_interrupted(const struct db_infusion *inf, void *userdata) {
        struct recovered *rec = userdata;

        assert_true(rec->calls < ELEMENTSOF(rec->ids));
        rec->ids[rec->calls] = inf->id;
        rec->volumes_nl[rec->calls] = inf->volume_nl;
        rec->ended_utc_us[rec->calls] = inf->ended_utc_us;
        snprintf(rec->statuses[rec->calls], sizeof rec->statuses[0], "%s", inf->status);
        assert_string_equal(inf->mode, "continuous");
        rec->calls++;
}

static void recovery_marks_active_infusions_interrupted_at_their_last_checkpoint(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct db_infusion in0 = sample_infusion(0), in1 = sample_infusion(1), out;
        struct recovered rec = {};
        int64_t done_id, id0, id1, restart_utc_us = T0_UTC_US + 60 * INT64_C(1000000);
        char detail[128];

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in0, &done_id), 0);
        assert_int_equal(db_infusion_end(d, done_id, "completed", 7000, T0_UTC_US + 1), 0);
        assert_int_equal(db_infusion_begin(d, &in0, &id0), 0);
        assert_int_equal(db_infusion_begin(d, &in1, &id1), 0);
        assert_int_equal(db_infusion_checkpoint(d, id0, 4213000, T0_UTC_US + 30000000), 0);
        assert_int_equal(db_infusion_checkpoint(d, id1, 1000, T0_UTC_US + 30000000), 0);
        /* the daemon dies here; the next one starts */
        d = db_close(d);

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_recover_interrupted(d, restart_utc_us, on_interrupted, &rec), 2);
        assert_int_equal(rec.calls, 2);
        assert_int_equal(rec.ids[0], id0);
        assert_int_equal(rec.volumes_nl[0], 4213000);
        assert_string_equal(rec.statuses[0], "interrupted");
        assert_int_equal(rec.ended_utc_us[0], restart_utc_us);
        assert_int_equal(rec.ids[1], id1);
        assert_int_equal(rec.volumes_nl[1], 1000);

        assert_int_equal(db_infusion_get(d, id0, &out), 0);
        assert_string_equal(out.status, "interrupted");
        assert_int_equal(out.volume_nl, 4213000);
        assert_int_equal(out.ended_utc_us, restart_utc_us);
        assert_int_equal(db_infusion_get(d, done_id, &out), 0);
        assert_string_equal(out.status, "completed");

        assert_int_equal(db_event_count(d, "interrupted"), 2);
        raw = open_read_only(f->uri);
        query_text(raw, "SELECT detail FROM events WHERE kind = 'interrupted' ORDER BY id LIMIT 1",
                   detail, sizeof detail);
        assert_string_equal(detail, "daemon restarted; last checkpoint 4.213 mL at 2023-11-14T22:13:50.123Z");

        /* nothing is left to recover, and NULL cb is allowed */
        assert_int_equal(db_recover_interrupted(d, restart_utc_us + 1, NULL, NULL), 0);
        assert_int_equal(db_event_count(d, "interrupted"), 2);
}

static void events_and_audit_rows_are_added_and_counted(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct db_infusion in = sample_infusion(0);
        struct db_event e;
        int64_t id;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_event_count(d, NULL), 0);
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);

        e = sample_event(id, "state");
        assert_int_equal(db_event_add(d, &e), 0);
        e = sample_event(0, "startup");
        e.from_state = e.to_state = NULL;
        e.detail = "infusiond 0.1.0";
        assert_int_equal(db_event_add(d, &e), 0);
        e = sample_event(id, "alarm");
        e.detail = "occlusion downstream";
        assert_int_equal(db_event_add(d, &e), 0);

        assert_int_equal(db_event_count(d, NULL), 3);
        assert_int_equal(db_event_count(d, "state"), 1);
        assert_int_equal(db_event_count(d, "alarm"), 1);
        assert_int_equal(db_event_count(d, "pca-demand"), 0);

        /* foreign_keys=ON: an event cannot name an infusion that is not there */
        e = sample_event(id + 100, "state");
        assert_int_equal(db_event_add(d, &e), -EINVAL);
        assert_non_null(strstr(db_last_error(d), "FOREIGN KEY"));
        assert_int_equal(db_event_count(d, NULL), 3);

        assert_int_equal(db_audit_add(d, &(struct db_audit) {
                .utc_us = T0_UTC_US,
                .uid = 1000,
                .method = "Channel.Start",
                .object = "/org/infusiond/pump1/channel/0",
                .outcome = "ok",
        }), 0);
        assert_int_equal(db_audit_add(d, &(struct db_audit) {
                .utc_us = T0_UTC_US + 1,
                .uid = -1,
                .method = "Channel.Program",
                .object = "/org/infusiond/pump1/channel/0",
                .args = "rate=2000 mL/h",
                .outcome = "org.infusiond.pump1.Error.InvalidArgument",
                .message = "Rate 2000 mL/h is above the maximum of 1200 mL/h",
        }), 0);
        assert_int_equal(db_audit_add(d, &(struct db_audit) { .method = "Channel.Start" }), -EINVAL);

        raw = open_raw(f->path);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM audit"), 2);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM audit WHERE uid IS NULL"), 1);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM v_infusion_events"
                                        " WHERE infusion_mode = 'continuous'"), 2);
        /* the audit log is append-only */
        assert_int_not_equal(sqlite3_exec(raw, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(raw, "UPDATE audit SET outcome = 'ok'", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM audit WHERE outcome = 'ok'"), 1);
}

static void newer_schema_is_refused_and_left_untouched(void **state) {
        struct fixture *f = *state;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct db *d = NULL;
        char *before, *after, wal[SIBLING_MAX];
        size_t before_size, after_size;

        /* a file written by a newer infusiond */
        raw = open_raw(f->path);
        assert_int_equal(sqlite3_exec(raw, "PRAGMA journal_mode = WAL;"
                                           "CREATE TABLE future (x);"
                                           "INSERT INTO future VALUES (1);"
                                           "PRAGMA user_version = 99;", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(TAKE_PTR(raw));
        read_file(f->path, &before, &before_size);

        assert_int_equal(db_open(f->path, &d), -EPROTO);
        assert_null(d);

        read_file(f->path, &after, &after_size);
        assert_int_equal(after_size, before_size);
        assert_memory_equal(after, before, before_size);
        free(before);
        free(after);
        snprintf(wal, sizeof wal, "%s-wal", f->path);
        assert_int_equal(access(wal, F_OK), -1);

        raw = open_read_only(f->uri);
        assert_int_equal(query_int(raw, "PRAGMA user_version"), 99);
}

static void reopening_keeps_the_data(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion in = sample_infusion(0), out;
        struct db_event e = sample_event(0, "startup");
        int64_t id;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        assert_int_equal(db_infusion_checkpoint(d, id, 123456, T0_UTC_US + 1), 0);
        assert_int_equal(db_event_add(d, &e), 0);
        d = db_close(d);

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_schema_version(d), DB_SCHEMA_VERSION);
        assert_int_equal(db_infusion_get(d, id, &out), 0);
        assert_int_equal(out.volume_nl, 123456);
        assert_string_equal(out.status, "active");
        assert_int_equal(db_event_count(d, "startup"), 1);
}

static void read_only_reader_sees_v_infusions_while_the_writer_is_open_and_cannot_write(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *ro = NULL;
        struct db_infusion in = sample_infusion(0);
        char text[64];
        int64_t id;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        ro = open_read_only(f->uri);

        query_text(ro, "SELECT started_utc FROM v_infusions", text, sizeof text);
        assert_string_equal(text, "2023-11-14T22:13:20.123Z");
        query_text(ro, "SELECT ended_utc IS NULL FROM v_infusions", text, sizeof text);
        assert_string_equal(text, "1");
        query_text(ro, "SELECT rate_ml_per_h FROM v_infusions", text, sizeof text);
        assert_string_equal(text, "100.0");

        /* the writer goes on while the reader is open, and the reader sees it */
        assert_int_equal(db_infusion_checkpoint(d, id, 4213000, T0_UTC_US + 1000000), 0);
        query_text(ro, "SELECT volume_ml FROM v_infusions", text, sizeof text);
        assert_string_equal(text, "4.213");

        assert_int_equal(sqlite3_exec(ro, "INSERT INTO events (channel, utc_us, kind)"
                                          " VALUES (0, 0, 'forged')", NULL, NULL, NULL), SQLITE_READONLY);
        assert_int_equal(db_event_count(d, NULL), 0);
}

static int read_as_nobody(const char *uri) {
        sqlite3 *s = NULL;
        sqlite3_stmt *st = NULL;
        int rc;

        /* child: drop to nobody/nogroup, which may read the file through
         * its group but cannot write the directory */
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0)
                return 10;
        if (sqlite3_open_v2(uri, &s, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
                return 11;
        if (sqlite3_prepare_v2(s, "SELECT count(*) FROM v_infusions", -1, &st, NULL) != SQLITE_OK)
                return 12;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW || sqlite3_column_int(st, 0) != 1)
                return 13;
        sqlite3_finalize(st);
        sqlite3_close(s);
        return 0;
}

static void wal_file_outlives_the_writer_so_an_unprivileged_reader_still_opens(void **state) {
        struct fixture *f = *state;
        struct db *d = NULL;
        struct db_infusion in = sample_infusion(0);
        char wal[SIBLING_MAX], shm[SIBLING_MAX];
        int64_t id;
        int status;
        pid_t pid;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        d = db_close(d);

        snprintf(wal, sizeof wal, "%s-wal", f->path);
        snprintf(shm, sizeof shm, "%s-shm", f->path);
        assert_int_equal(access(wal, F_OK), 0);
        assert_int_equal(access(shm, F_OK), 0);

        if (geteuid() != 0)
                skip();         /* the reader below must be another uid */

        /* deployment: the directory is the daemon's; readers are in the
         * file's group */
        assert_int_equal(chmod(f->dir, 0755), 0);
        assert_int_equal(chown(f->path, (uid_t) -1, 65534), 0);
        assert_int_equal(chown(wal, (uid_t) -1, 65534), 0);
        assert_int_equal(chown(shm, (uid_t) -1, 65534), 0);

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(read_as_nobody(f->uri));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
}

static void empty_v0_files_are_migrated_to_the_current_schema(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct db_infusion in = sample_infusion(0);
        int64_t id;
        int fd;

        /* a zero-length file: SQLite's view of a new, empty database */
        fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_schema_version(d), DB_SCHEMA_VERSION);
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        d = db_close(d);
        assert_int_equal(teardown(state), 0);
        assert_int_equal(setup(state), 0);
        f = *state;

        /* a real SQLite file at user_version 0 with no tables */
        raw = open_raw(f->path);
        assert_int_equal(sqlite3_exec(raw, "CREATE TABLE t (x); DROP TABLE t;", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(query_int(raw, "PRAGMA user_version"), 0);
        sqlite3_close(TAKE_PTR(raw));

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_schema_version(d), DB_SCHEMA_VERSION);
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        assert_int_equal(id, 1);
}

static int write_then_die(const char *path) {
        struct db *d = NULL;
        struct db_infusion in = sample_infusion(0);
        struct db_event e;
        int64_t id;

        if (db_open(path, &d) < 0 || db_infusion_begin(d, &in, &id) < 0)
                return 1;
        e = sample_event(id, "state");
        e.detail = "acknowledged";
        if (db_event_add(d, &e) < 0)
                return 2;
        /* no db_close, no exit handlers: as kill -9 would leave it */
        raise(SIGKILL);
        return 3;
}

/* A VFS that passes everything to the default one and counts xSync, to
 * see which writes reach the disk before they return. */
struct counting_file {
        sqlite3_file base;
        sqlite3_file *real;             /* right after this struct */
};

static unsigned syncs;

#define REAL(f) (((struct counting_file *) (f))->real)

static int cf_close(sqlite3_file *f) {
        return REAL(f)->pMethods->xClose(REAL(f));
}
static int cf_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off) {
        return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}
static int cf_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off) {
        return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}
static int cf_truncate(sqlite3_file *f, sqlite3_int64 size) {
        return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int cf_sync(sqlite3_file *f, int flags) {
        syncs++;
        return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int cf_file_size(sqlite3_file *f, sqlite3_int64 *ret) {
        return REAL(f)->pMethods->xFileSize(REAL(f), ret);
}
static int cf_lock(sqlite3_file *f, int level) {
        return REAL(f)->pMethods->xLock(REAL(f), level);
}
static int cf_unlock(sqlite3_file *f, int level) {
        return REAL(f)->pMethods->xUnlock(REAL(f), level);
}
static int cf_check_reserved_lock(sqlite3_file *f, int *ret) {
        return REAL(f)->pMethods->xCheckReservedLock(REAL(f), ret);
}
static int cf_file_control(sqlite3_file *f, int op, void *arg) {
        return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int cf_sector_size(sqlite3_file *f) {
        return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int cf_device_characteristics(sqlite3_file *f) {
        return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int cf_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **ret) {
        return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, ret);
}
static int cf_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
        return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void cf_shm_barrier(sqlite3_file *f) {
        REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int cf_shm_unmap(sqlite3_file *f, int delete_flag) {
        return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}
static int cf_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **ret) {
        return REAL(f)->pMethods->xFetch(REAL(f), off, n, ret);
}
static int cf_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
        return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods counting_io = {
        .iVersion = 3,
        .xClose = cf_close,
        .xRead = cf_read,
        .xWrite = cf_write,
        .xTruncate = cf_truncate,
        .xSync = cf_sync,
        .xFileSize = cf_file_size,
        .xLock = cf_lock,
        .xUnlock = cf_unlock,
        .xCheckReservedLock = cf_check_reserved_lock,
        .xFileControl = cf_file_control,
        .xSectorSize = cf_sector_size,
        .xDeviceCharacteristics = cf_device_characteristics,
        .xShmMap = cf_shm_map,
        .xShmLock = cf_shm_lock,
        .xShmBarrier = cf_shm_barrier,
        .xShmUnmap = cf_shm_unmap,
        .xFetch = cf_fetch,
        .xUnfetch = cf_unfetch,
};

static sqlite3_vfs counting_vfs;

static int cf_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *ret_flags) {
        sqlite3_vfs *real = vfs->pAppData;
        struct counting_file *c = (struct counting_file *) f;
        int rc;

        c->real = (sqlite3_file *) (c + 1);
        rc = real->xOpen(real, name, c->real, flags, ret_flags);
        /* SQLite calls xClose only if pMethods is set */
        c->base.pMethods = rc == SQLITE_OK ? &counting_io : NULL;
        return rc;
}

static void counting_vfs_register(void) {
        sqlite3_vfs *real = sqlite3_vfs_find(NULL);

        assert_non_null(real);
        assert_true(real->iVersion >= 3);
        counting_vfs = *real;
        counting_vfs.zName = "counting";
        counting_vfs.szOsFile = (int) sizeof(struct counting_file) + real->szOsFile;
        counting_vfs.pAppData = real;
        counting_vfs.xOpen = cf_open;
        counting_vfs.pNext = NULL;
        assert_int_equal(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
}

/* The counting VFS is the default only for the test between these two. */
static int setup_counting(void **state) {
        counting_vfs_register();
        return setup(state);
}

static int teardown_counting(void **state) {
        assert_int_equal(sqlite3_vfs_unregister(&counting_vfs), SQLITE_OK);
        return teardown(state);
}

static void records_reach_the_disk_before_returning_and_checkpoints_do_not_wait(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion in = sample_infusion(0);
        struct db_event e;
        int64_t id;

        assert_int_equal(db_open(f->path, &d), 0);

        syncs = 0;
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        assert_true(syncs >= 1);

        /* twice: the second shows NORMAL is set again after FULL */
        for (int i = 1; i <= 2; i++) {
                syncs = 0;
                assert_int_equal(db_infusion_checkpoint(d, id, i * 1000, T0_UTC_US + i), 0);
                assert_int_equal(syncs, 0);

                syncs = 0;
                e = sample_event(id, "state");
                assert_int_equal(db_event_add(d, &e), 0);
                assert_true(syncs >= 1);
        }

        syncs = 0;
        assert_int_equal(db_audit_add(d, &(struct db_audit) {
                .method = "Channel.Stop", .object = "/", .outcome = "ok" }), 0);
        assert_true(syncs >= 1);

        syncs = 0;
        assert_int_equal(db_infusion_end(d, id, "stopped", 3000, T0_UTC_US + 3), 0);
        assert_true(syncs >= 1);
}

static void event_acknowledged_before_kill_9_survives(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion out;
        int status;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(write_then_die(f->path));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_event_count(d, "state"), 1);
        assert_int_equal(db_infusion_get(d, 1, &out), 0);
        assert_string_equal(out.status, "active");
        assert_int_equal(db_recover_interrupted(d, T0_UTC_US + 1, NULL, NULL), 1);
}

static void errors_are_negative_errnos_and_keep_sqlite_text(void **state) {
        struct fixture *f = *state;
        struct db *d = NULL;
        FILE *fp;

        assert_int_equal(db_open(NULL, &d), -EINVAL);

        /* not a database */
        fp = fopen(f->path, "we");
        assert_non_null(fp);
        fputs("this is not an SQLite file, it is long enough to have a header ......\n"
              "this is not an SQLite file, it is long enough to have a header ......\n", fp);
        fclose(fp);
        assert_int_equal(db_open(f->path, &d), -EIO);
        assert_null(d);

        assert_null(db_close(NULL));
}

static void library_versions_are_kept_and_the_newest_is_in_use(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct db_library cur;
        int64_t id1, id2;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_library_current(d, &cur), -ENOENT);

        struct db_library a = { .version = "2026-10", .imported_utc_us = T0_UTC_US, .imported_by_uid = 0,
                                .json = "abc" };
        assert_int_equal(db_library_store(d, &a, &id1), 0);
        /* FIPS 180-2 test vector: SHA-256("abc") */
        assert_string_equal(a.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

        struct db_library b = { .version = "2026-11", .imported_utc_us = T0_UTC_US + 1, .imported_by_uid = -1,
                                .json = "{\"version\":\"2026-11\"}" };
        assert_int_equal(db_library_store(d, &b, &id2), 0);
        assert_true(id2 > id1);

        assert_int_equal(db_library_current(d, &cur), 0);
        assert_int_equal(cur.id, id2);
        assert_string_equal(cur.version, "2026-11");
        assert_string_equal(cur.json, "{\"version\":\"2026-11\"}");
        assert_string_equal(cur.sha256, b.sha256);
        assert_int_equal(cur.imported_by_uid, -1);

        raw = open_read_only(f->uri);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM v_drug_libraries"), 2);
        assert_int_equal(query_int(raw, "SELECT id FROM v_drug_libraries WHERE in_use"), id2);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM drug_libraries WHERE imported_by_uid IS NULL"), 1);
}

static void library_versions_cannot_be_rewritten(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct db_library a = { .version = "v1", .imported_by_uid = 0, .json = "{}" };

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_library_store(d, &a, NULL), 0);
        raw = open_raw(f->path);
        assert_int_not_equal(sqlite3_exec(raw, "UPDATE drug_libraries SET json = '[]'", NULL, NULL, NULL), SQLITE_OK);
}

/* A file written by schema 1 (no library table) gains it on open and
 * keeps every infusion it had. */
static void a_version_1_file_migrates_forward_keeping_its_rows(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion in = sample_infusion(0), out;
        int64_t id;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        d = db_close(d);
        {
                /* Turn it back into a version 1 file. */
                _cleanup_(sqlite_closep) sqlite3 *raw = open_raw(f->path);
                assert_int_equal(sqlite3_exec(raw, UNDO_SCHEMA_6, NULL, NULL, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_exec(raw,
                                              "DROP VIEW v_pca_demands; DROP VIEW v_delivery_samples;"
                                              "DROP TABLE pca_demands; DROP TABLE delivery_samples;"
                                              "DROP INDEX events_channel_kind_utc_us;"
                                              "DROP VIEW v_alarms; DROP VIEW v_alarm_events;"
                                              "DROP TABLE alarm_events;"
                                              "DROP VIEW v_library_compliance; DROP VIEW v_limit_events;"
                                              "DROP TABLE limit_events;"
                                              "ALTER TABLE infusions DROP COLUMN care_area;"
                                              "ALTER TABLE infusions DROP COLUMN drug_id;"
                                              "ALTER TABLE infusions DROP COLUMN drug_name;"
                                              "ALTER TABLE infusions DROP COLUMN dose_rate;"
                                              "ALTER TABLE infusions DROP COLUMN dose_unit;"
                                              "ALTER TABLE infusions DROP COLUMN concentration;"
                                              "ALTER TABLE infusions DROP COLUMN library_sha256;"
                                              "DROP VIEW v_drug_libraries; DROP TABLE drug_libraries;"
                                              "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
        }
        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_schema_version(d), DB_SCHEMA_VERSION);
        assert_int_equal(db_infusion_get(d, id, &out), 0);
        assert_int_equal(out.rate_nl_per_h, in.rate_nl_per_h);
        struct db_library a = { .version = "v1", .imported_by_uid = 0, .json = "{}" };
        assert_int_equal(db_library_store(d, &a, NULL), 0);
}

static void compliance_view_counts_library_use_overrides_and_hard_stops_per_care_area(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        int64_t id;

        assert_int_equal(db_open(f->path, &d), 0);
        struct db_infusion lib = sample_infusion(0), basic = sample_infusion(0);
        lib.care_area = "ICU";
        lib.drug_id = "heparin";
        lib.dose_rate = 1000;
        lib.dose_unit = "units/h";
        basic.care_area = "ICU";
        basic.dose_rate = NAN;
        for (int i = 0; i < 19; i++)
                assert_int_equal(db_infusion_begin(d, &lib, &id), 0);
        assert_int_equal(db_infusion_begin(d, &basic, &id), 0);
        struct db_limit_event ov = { .utc_us = T0_UTC_US, .care_area = "ICU", .drug_id = "heparin",
                                     .kind = "soft-override", .value = 2500, .unit = "units/h",
                                     .reason = "aPTT low", .uid = 0 };
        assert_int_equal(db_limit_event_add(d, &ov), 0);
        struct db_limit_event hard = { .utc_us = T0_UTC_US, .care_area = "ICU", .drug_id = "heparin",
                                       .kind = "hard-refused", .value = 5000, .unit = "units/h", .uid = -1 };
        assert_int_equal(db_limit_event_add(d, &hard), 0);
        struct db_limit_event bad = { .utc_us = T0_UTC_US, .kind = "made-up", .value = NAN, .uid = -1 };
        assert_int_equal(db_limit_event_add(d, &bad), -EINVAL);

        raw = open_read_only(f->uri);
        assert_int_equal(query_int(raw, "SELECT infusions FROM v_library_compliance WHERE care_area = 'ICU'"), 20);
        assert_int_equal(query_int(raw, "SELECT from_library FROM v_library_compliance WHERE care_area = 'ICU'"), 19);
        assert_int_equal(query_int(raw, "SELECT library_use_pct * 10 FROM v_library_compliance WHERE care_area = 'ICU'"), 950);
        assert_int_equal(query_int(raw, "SELECT soft_overrides FROM v_library_compliance WHERE care_area = 'ICU'"), 1);
        assert_int_equal(query_int(raw, "SELECT hard_stops FROM v_library_compliance WHERE care_area = 'ICU'"), 1);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM v_limit_events WHERE reason = 'aPTT low'"), 1);
}

static struct db_alarm_event sample_alarm(const char *action, const char *priority, int64_t utc_us, int64_t uid) {
        return (struct db_alarm_event) {
                .alarm_id = "occlusion-downstream-1", .seq = 1, .channel = 0, .action = action,
                .condition = "occlusion-downstream", .priority = priority, .utc_us = utc_us,
                .mono_us = utc_us - T0_UTC_US, .uid = uid, .pressure_mmhg = NAN, .volume_nl = 2500000,
        };
}

static void alarm_history_is_append_only_and_summarised_per_alarm(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        unsigned seq = 0;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_alarm_next_seq(d, &seq), 0);
        assert_int_equal(seq, 1);

        struct db_alarm_event raised = sample_alarm("raised", "medium", T0_UTC_US, -1);
        raised.pressure_mmhg = 412.5;
        raised.message = "Downstream occlusion";
        assert_int_equal(db_alarm_event_add(d, &raised), 0);
        struct db_alarm_event silenced = sample_alarm("silenced", "medium", T0_UTC_US + 1000000, 1000);
        assert_int_equal(db_alarm_event_add(d, &silenced), 0);
        struct db_alarm_event escalated = sample_alarm("escalated", "high", T0_UTC_US + 2000000, -1);
        assert_int_equal(db_alarm_event_add(d, &escalated), 0);
        struct db_alarm_event acked = sample_alarm("acknowledged", "high", T0_UTC_US + 3000000, 1001);
        assert_int_equal(db_alarm_event_add(d, &acked), 0);

        /* What the schema refuses is refused, and nothing is written. */
        struct db_alarm_event bad = sample_alarm("forgotten", "high", T0_UTC_US, -1);
        assert_int_equal(db_alarm_event_add(d, &bad), -EINVAL);
        bad = sample_alarm("raised", "urgent", T0_UTC_US, -1);
        assert_int_equal(db_alarm_event_add(d, &bad), -EINVAL);
        bad = sample_alarm("raised", "high", T0_UTC_US, -1);
        bad.seq = 0;
        assert_int_equal(db_alarm_event_add(d, &bad), -EINVAL);

        /* Ids never repeat: the next alarm takes the seq after the highest. */
        struct db_alarm_event other = sample_alarm("raised", "high", T0_UTC_US, -1);
        other.alarm_id = "air-in-line-7";
        other.seq = 7;
        other.condition = "air-in-line";
        assert_int_equal(db_alarm_event_add(d, &other), 0);
        assert_int_equal(db_alarm_next_seq(d, &seq), 0);
        assert_int_equal(seq, 8);

        raw = open_read_only(f->uri);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM alarm_events"), 5);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM v_alarms"), 2);
        char text[64];
        query_text(raw, "SELECT raised_priority || '>' || last_priority FROM v_alarms"
                        " WHERE alarm_id = 'occlusion-downstream-1'", text, sizeof text);
        assert_string_equal(text, "medium>high");
        assert_int_equal(query_int(raw, "SELECT silenced FROM v_alarms WHERE alarm_id = 'occlusion-downstream-1'"), 1);
        assert_int_equal(query_int(raw, "SELECT acknowledged_by_uid FROM v_alarms"
                                        " WHERE alarm_id = 'occlusion-downstream-1'"), 1001);
        assert_int_equal(query_int(raw, "SELECT ended_utc_us - raised_utc_us FROM v_alarms"
                                        " WHERE alarm_id = 'occlusion-downstream-1'"), 3000000);
        assert_int_equal(query_int(raw, "SELECT pressure_at_raise_mmhg * 10 FROM v_alarms"
                                        " WHERE alarm_id = 'occlusion-downstream-1'"), 4125);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM v_alarm_events WHERE uid IS NULL"), 3);

        /* The record cannot be rewritten or erased. */
        _cleanup_(sqlite_closep) sqlite3 *rw = NULL;
        assert_int_equal(sqlite3_open(f->path, &rw), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(rw, "UPDATE alarm_events SET uid = 0", NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(rw, "DELETE FROM alarm_events", NULL, NULL, NULL), SQLITE_OK);
}

/* PCA demands and delivery samples (schema 5). */

#define MIN_US (60 * INT64_C(1000000))

static struct db_pca_demand sample_demand(int64_t infusion_id, const char *source, const char *outcome,
                                          int64_t utc_us) {
        return (struct db_pca_demand) {
                .infusion_id = infusion_id,
                .channel = 0,
                .utc_us = utc_us,
                .mono_us = utc_us - T0_UTC_US + 5000000,
                .source = source,
                .outcome = outcome,
                .dose_nl = 1000000,             /* 1 mL */
                .duration_us = 36000000,        /* at 100 mL/h */
                .counts = true,
                .uid = -1,
        };
}

static int64_t add_demand(struct db *d, const struct db_pca_demand *e) {
        int64_t id = 0;

        assert_int_equal(db_pca_demand_add(d, e, &id), 0);
        assert_true(id > 0);
        return id;
}

/* What the callbacks were given, copied: their strings die with the call. */
struct seen_demands {
        unsigned n;
        struct db_pca_demand rows[8];
        char sources[8][16];
        char outcomes[8][24];
        char details[8][64];
};

static void on_demand(const struct db_pca_demand *e, void *userdata) {
        struct seen_demands *seen = userdata;
        unsigned i = seen->n++;

        assert_true(i < ELEMENTSOF(seen->rows));
        assert_non_null(e->source);
        assert_non_null(e->outcome);
        seen->rows[i] = *e;
        snprintf(seen->sources[i], sizeof seen->sources[i], "%s", e->source);
        snprintf(seen->outcomes[i], sizeof seen->outcomes[i], "%s", e->outcome);
        seen->rows[i].source = seen->sources[i];
        seen->rows[i].outcome = seen->outcomes[i];
        if (e->detail) {
                snprintf(seen->details[i], sizeof seen->details[i], "%s", e->detail);
                seen->rows[i].detail = seen->details[i];
        }
}

static void pca_doses_since_reads_back_granted_doses_of_any_source_oldest_first(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion in = sample_infusion(0);
        struct seen_demands seen = {};
        struct db_pca_demand e;
        int64_t inf, button, loading, clinician, other;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &inf), 0);
        assert_int_equal(db_pca_doses_since(d, 0, 0, on_demand, &seen), 0);

        e = sample_demand(inf, "button", "granted", T0_UTC_US + 10 * MIN_US);
        button = add_demand(d, &e);
        e = sample_demand(inf, "dbus", "lockout", T0_UTC_US + 12 * MIN_US);
        e.uid = 1000;
        e.counts = false;
        e.detail = "lockout: 8 min left";
        (void) add_demand(d, &e);
        /* recorded later than the button's but given earlier: time decides */
        e = sample_demand(inf, "loading", "granted", T0_UTC_US + 1 * MIN_US);
        e.dose_nl = 4000000;
        e.duration_us = 144000000;
        e.uid = 0;
        e.detail = "loading dose";
        loading = add_demand(d, &e);
        e = sample_demand(inf, "clinician", "granted", T0_UTC_US + 20 * MIN_US);
        e.counts = false;
        clinician = add_demand(d, &e);
        /* before the window */
        e = sample_demand(inf, "simulator", "granted", T0_UTC_US - 1 * MIN_US);
        (void) add_demand(d, &e);
        /* another channel, while idle */
        e = sample_demand(0, "button", "granted", T0_UTC_US + 11 * MIN_US);
        e.channel = 1;
        other = add_demand(d, &e);
        assert_true(loading > button);

        assert_int_equal(db_pca_doses_since(d, 0, T0_UTC_US, on_demand, &seen), 3);
        assert_int_equal(seen.n, 3);
        assert_int_equal(seen.rows[0].id, loading);
        assert_int_equal(seen.rows[1].id, button);
        assert_int_equal(seen.rows[2].id, clinician);

        assert_int_equal(seen.rows[0].infusion_id, inf);
        assert_string_equal(seen.rows[0].source, "loading");
        assert_string_equal(seen.rows[0].outcome, "granted");
        assert_int_equal(seen.rows[0].dose_nl, 4000000);
        assert_int_equal(seen.rows[0].duration_us, 144000000);
        assert_true(seen.rows[0].counts);
        assert_int_equal(seen.rows[0].uid, 0);
        assert_string_equal(seen.rows[0].detail, "loading dose");

        assert_int_equal(seen.rows[1].channel, 0);
        assert_int_equal(seen.rows[1].utc_us, T0_UTC_US + 10 * MIN_US);
        assert_int_equal(seen.rows[1].mono_us, 10 * MIN_US + 5000000);
        assert_string_equal(seen.rows[1].source, "button");
        assert_int_equal(seen.rows[1].dose_nl, 1000000);
        assert_int_equal(seen.rows[1].uid, -1);
        assert_null(seen.rows[1].detail);
        assert_int_equal(seen.rows[1].ended_utc_us, 0);
        assert_int_equal(seen.rows[1].delivered_nl, 0);

        assert_string_equal(seen.rows[2].source, "clinician");
        assert_false(seen.rows[2].counts);

        /* since is inclusive */
        seen = (struct seen_demands) {};
        assert_int_equal(db_pca_doses_since(d, 0, T0_UTC_US + 10 * MIN_US, on_demand, &seen), 2);
        assert_int_equal(seen.rows[0].id, button);
        assert_int_equal(seen.rows[1].id, clinician);

        seen = (struct seen_demands) {};
        assert_int_equal(db_pca_doses_since(d, 1, 0, on_demand, &seen), 1);
        assert_int_equal(seen.rows[0].id, other);
        assert_int_equal(seen.rows[0].channel, 1);
        assert_int_equal(seen.rows[0].infusion_id, 0);

        /* no callback: only the count */
        assert_int_equal(db_pca_doses_since(d, 0, 0, NULL, NULL), 4);
        assert_int_equal(db_pca_doses_since(d, 2, 0, NULL, NULL), 0);
        assert_int_equal(db_pca_doses_since(NULL, 0, 0, NULL, NULL), -EINVAL);
}

/* A callback may write to the database: nothing of ours is open then, and
 * what it writes is committed when it returns. */
struct nested {
        struct db *d;
        const char *path;
        unsigned calls;
};

static void on_demand_write(const struct db_pca_demand *e, void *userdata) {
        struct nested *n = userdata;
        struct db_event ev = sample_event(0, "pca-seen");
        sqlite3 *raw = NULL;

        ev.detail = e->outcome;
        assert_int_equal(db_event_add(n->d, &ev), 0);
        /* another connection sees it at once */
        assert_int_equal(sqlite3_open_v2(n->path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM events WHERE kind = 'pca-seen'"), ++n->calls);
        sqlite3_close(raw);
}

static void pca_demand_callbacks_may_write_to_the_database(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_pca_demand e;

        assert_int_equal(db_open(f->path, &d), 0);
        struct nested n = { .d = d, .path = f->path };
        e = sample_demand(0, "button", "granted", T0_UTC_US);
        (void) add_demand(d, &e);
        e = sample_demand(0, "button", "lockout", T0_UTC_US + 1);
        (void) add_demand(d, &e);

        assert_int_equal(db_pca_demands_recent(d, 0, 10, on_demand_write, &n), 2);
        assert_int_equal(db_pca_doses_since(d, 0, 0, on_demand_write, &n), 1);
        assert_int_equal(n.calls, 3);
}

static void pca_demands_recent_are_newest_first_and_at_most_limit(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        static const char *const outcomes[] = {
                "granted", "lockout", "hourly-count", "cumulative-limit", "not-running",
                "alarm-active", "reservoir", "bolus-in-progress",
        };
        struct seen_demands seen = {};
        struct db_pca_demand e;
        int64_t ids[ELEMENTSOF(outcomes)];

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_pca_demands_recent(d, 0, 5, on_demand, &seen), 0);

        /* every outcome the schema knows, a minute apart */
        for (size_t i = 0; i < ELEMENTSOF(outcomes); i++) {
                e = sample_demand(0, i % 2 ? "dbus" : "button", outcomes[i], T0_UTC_US + (int64_t) i * MIN_US);
                e.counts = i == 0;
                ids[i] = add_demand(d, &e);
        }
        e = sample_demand(0, "clinician", "granted", T0_UTC_US + 60 * MIN_US);
        e.channel = 1;
        (void) add_demand(d, &e);

        assert_int_equal(db_pca_demands_recent(d, 0, 3, on_demand, &seen), 3);
        assert_int_equal(seen.n, 3);
        assert_int_equal(seen.rows[0].id, ids[7]);
        assert_string_equal(seen.rows[0].outcome, "bolus-in-progress");
        assert_string_equal(seen.rows[0].source, "dbus");
        assert_int_equal(seen.rows[1].id, ids[6]);
        assert_string_equal(seen.rows[1].outcome, "reservoir");
        assert_int_equal(seen.rows[2].id, ids[5]);
        assert_true(seen.rows[0].utc_us > seen.rows[1].utc_us);
        assert_true(seen.rows[1].utc_us > seen.rows[2].utc_us);

        assert_int_equal(db_pca_demands_recent(d, 0, 1000, NULL, NULL), 8);
        assert_int_equal(db_pca_demands_recent(d, 0, 0, NULL, NULL), 0);
        seen = (struct seen_demands) {};
        assert_int_equal(db_pca_demands_recent(d, 1, 10, on_demand, &seen), 1);
        assert_string_equal(seen.rows[0].source, "clinician");
        assert_int_equal(db_pca_demands_recent(d, 2, 10, NULL, NULL), 0);
}

static void pca_demand_counts_count_only_the_patients_demands_since(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        uint64_t total = 99, granted = 99;
        struct db_pca_demand e;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_pca_demand_counts(d, 0, 0, &total, &granted), 0);
        assert_int_equal(total, 0);
        assert_int_equal(granted, 0);

        e = sample_demand(0, "button", "granted", T0_UTC_US + 1 * MIN_US);
        (void) add_demand(d, &e);
        e = sample_demand(0, "dbus", "lockout", T0_UTC_US + 2 * MIN_US);
        (void) add_demand(d, &e);
        e = sample_demand(0, "simulator", "granted", T0_UTC_US + 3 * MIN_US);
        (void) add_demand(d, &e);
        e = sample_demand(0, "button", "hourly-count", T0_UTC_US + 4 * MIN_US);
        (void) add_demand(d, &e);
        /* doses in the window, but nobody demanded them */
        e = sample_demand(0, "loading", "granted", T0_UTC_US);
        (void) add_demand(d, &e);
        e = sample_demand(0, "clinician", "granted", T0_UTC_US + 5 * MIN_US);
        (void) add_demand(d, &e);
        /* before since, and on another channel */
        e = sample_demand(0, "button", "granted", T0_UTC_US - 1 * MIN_US);
        (void) add_demand(d, &e);
        e = sample_demand(0, "button", "granted", T0_UTC_US + 2 * MIN_US);
        e.channel = 1;
        (void) add_demand(d, &e);

        assert_int_equal(db_pca_demand_counts(d, 0, T0_UTC_US, &total, &granted), 0);
        assert_int_equal(total, 4);
        assert_int_equal(granted, 2);
        /* since is inclusive */
        assert_int_equal(db_pca_demand_counts(d, 0, T0_UTC_US + 3 * MIN_US, &total, &granted), 0);
        assert_int_equal(total, 2);
        assert_int_equal(granted, 1);
        assert_int_equal(db_pca_demand_counts(d, 0, 0, &total, &granted), 0);
        assert_int_equal(total, 5);
        assert_int_equal(granted, 3);
        assert_int_equal(db_pca_demand_counts(d, 1, 0, &total, &granted), 0);
        assert_int_equal(total, 1);
        assert_int_equal(granted, 1);
        assert_int_equal(db_pca_demand_counts(d, 0, T0_UTC_US + 60 * MIN_US, &total, &granted), 0);
        assert_int_equal(total, 0);
        assert_int_equal(granted, 0);

        assert_int_equal(db_pca_demand_counts(d, 0, 0, NULL, &granted), -EINVAL);
        assert_int_equal(db_pca_demand_counts(d, 0, 0, &total, NULL), -EINVAL);
}

static void pca_dose_end_is_recorded_once_and_only_for_a_granted_dose(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct seen_demands seen = {};
        struct db_pca_demand e;
        int64_t granted, cut_short, denied;
        char text[64];

        assert_int_equal(db_open(f->path, &d), 0);
        e = sample_demand(0, "button", "granted", T0_UTC_US);
        granted = add_demand(d, &e);
        e = sample_demand(0, "button", "granted", T0_UTC_US + 10 * MIN_US);
        cut_short = add_demand(d, &e);
        e = sample_demand(0, "button", "lockout", T0_UTC_US + 1 * MIN_US);
        denied = add_demand(d, &e);

        assert_int_equal(db_pca_dose_ended(d, granted, T0_UTC_US + 36000000, 1000000), 0);
        /* once: the first end stands */
        assert_int_equal(db_pca_dose_ended(d, granted, T0_UTC_US + 99000000, 7), -ENOENT);
        /* a denied demand delivered nothing, and has no end */
        assert_int_equal(db_pca_dose_ended(d, denied, T0_UTC_US + 36000000, 0), -ENOENT);
        assert_int_equal(db_pca_dose_ended(d, denied + 100, T0_UTC_US + 36000000, 0), -ENOENT);
        assert_int_equal(db_pca_dose_ended(d, cut_short, T0_UTC_US, -1), -EINVAL);
        assert_int_equal(db_pca_dose_ended(d, 0, T0_UTC_US, 0), -EINVAL);

        assert_int_equal(db_pca_doses_since(d, 0, 0, on_demand, &seen), 2);
        assert_int_equal(seen.rows[0].id, granted);
        assert_int_equal(seen.rows[0].ended_utc_us, T0_UTC_US + 36000000);
        assert_int_equal(seen.rows[0].delivered_nl, 1000000);
        assert_int_equal(seen.rows[1].id, cut_short);
        assert_int_equal(seen.rows[1].ended_utc_us, 0);

        /* stopped half-way: what was delivered is what counts */
        assert_int_equal(db_pca_dose_ended(d, cut_short, T0_UTC_US + 10 * MIN_US + 18000000, 500000), 0);

        raw = open_read_only(f->uri);
        query_text(raw, "SELECT delivered_ml || ' ' || ended_utc FROM v_pca_demands WHERE id = 2", text, sizeof text);
        assert_string_equal(text, "0.5 2023-11-14T22:23:38.123Z");
        query_text(raw, "SELECT dose_ml || ' ' || duration_s || ' ' || counts || ' ' || utc FROM v_pca_demands"
                        " WHERE id = 1", text, sizeof text);
        assert_string_equal(text, "1.0 36.0 1 2023-11-14T22:13:20.123Z");
        assert_int_equal(query_int(raw, "SELECT count(*) FROM v_pca_demands"
                                        " WHERE delivered_ml IS NULL AND ended_utc IS NULL AND uid IS NULL"), 1);
}

static void pca_demands_are_append_only_but_for_a_doses_end_set_once(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *rw = NULL;
        struct db_pca_demand e;
        int64_t granted, denied;

        assert_int_equal(db_open(f->path, &d), 0);
        e = sample_demand(0, "button", "granted", T0_UTC_US);
        granted = add_demand(d, &e);
        e = sample_demand(0, "button", "lockout", T0_UTC_US + 1);
        denied = add_demand(d, &e);
        assert_int_equal(granted, 1);
        assert_int_equal(denied, 2);

        rw = open_raw(f->path);
        assert_int_not_equal(sqlite3_exec(rw, "UPDATE pca_demands SET dose_nl = 2 WHERE id = 1", NULL, NULL, NULL),
                             SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(rw, "UPDATE pca_demands SET outcome = 'granted' WHERE id = 2",
                                          NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(rw, "DELETE FROM pca_demands WHERE id = 2", NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(rw, "DELETE FROM pca_demands", NULL, NULL, NULL), SQLITE_OK);
        /* an end may not bring other changes with it */
        assert_int_not_equal(sqlite3_exec(rw, "UPDATE pca_demands SET ended_utc_us = 1, delivered_nl = 1,"
                                              " dose_nl = 2 WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(rw, "UPDATE pca_demands SET ended_utc_us = 1, delivered_nl = 1,"
                                              " counts = 0 WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(rw, "UPDATE pca_demands SET ended_utc_us = 1 WHERE id = 1",
                                          NULL, NULL, NULL), SQLITE_OK);
        /* a denied demand has no end */
        assert_int_not_equal(sqlite3_exec(rw, "UPDATE pca_demands SET ended_utc_us = 1, delivered_nl = 1"
                                              " WHERE id = 2", NULL, NULL, NULL), SQLITE_OK);

        /* the one update there is, as db_pca_dose_ended makes it ... */
        assert_int_equal(sqlite3_exec(rw, "UPDATE pca_demands SET ended_utc_us = 5, delivered_nl = 6 WHERE id = 1",
                                      NULL, NULL, NULL), SQLITE_OK);
        /* ... once */
        assert_int_not_equal(sqlite3_exec(rw, "UPDATE pca_demands SET ended_utc_us = 7, delivered_nl = 8"
                                              " WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(rw, "UPDATE pca_demands SET ended_utc_us = NULL, delivered_nl = NULL"
                                              " WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);

        /* nor can a row be written ended where no dose was, or half-ended */
        assert_int_not_equal(sqlite3_exec(rw, "INSERT INTO pca_demands (channel, utc_us, mono_us, source, outcome,"
                                              " dose_nl, duration_us, counts, ended_utc_us, delivered_nl)"
                                              " VALUES (0, 1, 1, 'button', 'lockout', 1, 0, 0, 2, 0)",
                                          NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(rw, "INSERT INTO pca_demands (channel, utc_us, mono_us, source, outcome,"
                                              " dose_nl, duration_us, counts, ended_utc_us)"
                                              " VALUES (0, 1, 1, 'button', 'granted', 1, 1, 1, 2)",
                                          NULL, NULL, NULL), SQLITE_OK);

        assert_int_equal(query_int(rw, "SELECT count(*) FROM pca_demands"), 2);
        assert_int_equal(query_int(rw, "SELECT dose_nl FROM pca_demands WHERE id = 1"), 1000000);
        assert_int_equal(query_int(rw, "SELECT counts FROM pca_demands WHERE id = 1"), 1);
        assert_int_equal(query_int(rw, "SELECT ended_utc_us * 10 + delivered_nl FROM pca_demands WHERE id = 1"), 56);
        assert_int_equal(query_int(rw, "SELECT ended_utc_us IS NULL FROM pca_demands WHERE id = 2"), 1);
        assert_int_equal(db_pca_dose_ended(d, granted, T0_UTC_US, 1), -ENOENT);
}

static void pca_demand_add_refuses_what_the_schema_refuses(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion in = sample_infusion(0);
        struct db_pca_demand e;
        int64_t inf, id = 0;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &inf), 0);

        e = sample_demand(inf, "pager", "granted", T0_UTC_US);
        assert_int_equal(db_pca_demand_add(d, &e, &id), -EINVAL);
        assert_non_null(strstr(db_last_error(d), "CHECK constraint failed"));
        /* a debounced press merges into a demand; it is no outcome of its own */
        e = sample_demand(inf, "button", "debounced", T0_UTC_US);
        assert_int_equal(db_pca_demand_add(d, &e, &id), -EINVAL);
        assert_non_null(strstr(db_last_error(d), "CHECK constraint failed"));
        e = sample_demand(inf, "button", "granted", T0_UTC_US);
        e.dose_nl = -1;
        assert_int_equal(db_pca_demand_add(d, &e, &id), -EINVAL);
        e = sample_demand(inf, "button", "granted", T0_UTC_US);
        e.duration_us = -1;
        assert_int_equal(db_pca_demand_add(d, &e, &id), -EINVAL);
        e = sample_demand(inf + 100, "button", "granted", T0_UTC_US);
        assert_int_equal(db_pca_demand_add(d, &e, &id), -EINVAL);
        assert_non_null(strstr(db_last_error(d), "FOREIGN KEY"));

        e = sample_demand(-1, "button", "granted", T0_UTC_US);
        assert_int_equal(db_pca_demand_add(d, &e, &id), -EINVAL);
        e = sample_demand(inf, NULL, "granted", T0_UTC_US);
        assert_int_equal(db_pca_demand_add(d, &e, &id), -EINVAL);
        e = sample_demand(inf, "button", NULL, T0_UTC_US);
        assert_int_equal(db_pca_demand_add(d, &e, &id), -EINVAL);
        assert_int_equal(db_pca_demand_add(d, NULL, &id), -EINVAL);
        assert_int_equal(db_pca_demand_add(NULL, &e, &id), -EINVAL);

        assert_int_equal(id, 0);
        assert_int_equal(db_pca_demands_recent(d, 0, 100, NULL, NULL), 0);

        /* ret_id may be NULL */
        e = sample_demand(inf, "button", "granted", T0_UTC_US);
        assert_int_equal(db_pca_demand_add(d, &e, NULL), 0);
        assert_int_equal(db_pca_demands_recent(d, 0, 100, NULL, NULL), 1);
}

/* The volume in a window, from the samples around it: docs/SCHEMA.md gives
 * this query to readers; here it runs on known figures. */
#define WINDOW_VOLUME_SQL                                                                       \
        "SELECT round(sum((next_volume_nl - volume_nl) * 1.0"                                   \
        "                 * (min(next_utc_us, %lld) - max(utc_us, %lld))"                       \
        "                 / (next_utc_us - utc_us)) / 1e6, 6) AS volume_ml"                     \
        "  FROM (SELECT utc_us, volume_nl,"                                                     \
        "               lead(utc_us) OVER w AS next_utc_us, lead(volume_nl) OVER w AS next_volume_nl" \
        "          FROM delivery_samples WHERE infusion_id = %lld"                              \
        "        WINDOW w AS (ORDER BY utc_us, id))"                                            \
        " WHERE next_utc_us > utc_us AND next_utc_us > %lld AND utc_us < %lld"

static void window_volume_ml(sqlite3 *raw, int64_t infusion_id, int64_t from_utc_us, int64_t to_utc_us,
                             char *ret, size_t size) {
        char sql[1024];

        snprintf(sql, sizeof sql, WINDOW_VOLUME_SQL, (long long) to_utc_us, (long long) from_utc_us,
                 (long long) infusion_id, (long long) from_utc_us, (long long) to_utc_us);
        query_text(raw, sql, ret, size);
}

static void delivery_samples_are_append_only_and_give_the_volume_in_any_window(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL, *rw = NULL;
        struct db_infusion in = sample_infusion(0);
        int64_t inf, s_us = 1000000;
        char text[64];

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &inf), 0);

        /* 100 mL/h for 36 s (1 mL), paused a minute, a 600 mL/h dose for
         * 6 s (1 mL), then 100 mL/h again */
        const struct {
                int64_t at_s, volume_nl, rate_nl_per_h;
        } samples[] = {
                { 0, 0, 100000000 },
                { 36, 1000000, 0 },
                { 96, 1000000, 600000000 },
                { 102, 2000000, 100000000 },
                { 138, 3000000, 100000000 },
        };
        for (size_t i = 0; i < ELEMENTSOF(samples); i++)
                assert_int_equal(db_delivery_sample_add(d, &(struct db_delivery_sample) {
                        .infusion_id = inf,
                        .channel = 0,
                        .utc_us = T0_UTC_US + samples[i].at_s * s_us,
                        .mono_us = 5000000 + samples[i].at_s * s_us,
                        .volume_nl = samples[i].volume_nl,
                        .rate_nl_per_h = samples[i].rate_nl_per_h,
                }), 0);

        struct db_delivery_sample bad = {
                .infusion_id = inf, .utc_us = T0_UTC_US, .volume_nl = 1, .rate_nl_per_h = 1,
        };
        bad.volume_nl = -1;
        assert_int_equal(db_delivery_sample_add(d, &bad), -EINVAL);
        assert_non_null(strstr(db_last_error(d), "CHECK constraint failed"));
        bad.volume_nl = 1;
        bad.rate_nl_per_h = -1;
        assert_int_equal(db_delivery_sample_add(d, &bad), -EINVAL);
        bad.rate_nl_per_h = 1;
        bad.infusion_id = inf + 100;
        assert_int_equal(db_delivery_sample_add(d, &bad), -EINVAL);
        assert_non_null(strstr(db_last_error(d), "FOREIGN KEY"));
        bad.infusion_id = 0;
        assert_int_equal(db_delivery_sample_add(d, &bad), -EINVAL);
        assert_int_equal(db_delivery_sample_add(d, NULL), -EINVAL);
        assert_int_equal(db_delivery_sample_add(NULL, &bad), -EINVAL);

        raw = open_read_only(f->uri);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM v_delivery_samples"), 5);
        query_text(raw, "SELECT utc || ' ' || volume_ml || ' ' || rate_ml_per_h FROM v_delivery_samples"
                        " ORDER BY id LIMIT 1 OFFSET 2", text, sizeof text);
        assert_string_equal(text, "2023-11-14T22:14:56.123Z 1.0 600.0");
        assert_int_equal(query_int(raw, "SELECT count(*) FROM v_delivery_samples WHERE infusion_id = 1"
                                        " AND channel = 0 AND volume_nl = 3000000 AND rate_nl_per_h = 100000000"
                                        " AND mono_us = 143000000"), 1);

        /* half the first mL, the pause, half the dose */
        window_volume_ml(raw, inf, T0_UTC_US + 18 * s_us, T0_UTC_US + 99 * s_us, text, sizeof text);
        assert_string_equal(text, "1.0");
        window_volume_ml(raw, inf, T0_UTC_US + 40 * s_us, T0_UTC_US + 90 * s_us, text, sizeof text);
        assert_string_equal(text, "0.0");
        window_volume_ml(raw, inf, T0_UTC_US - 60 * s_us, T0_UTC_US + 3600 * s_us, text, sizeof text);
        assert_string_equal(text, "3.0");
        window_volume_ml(raw, inf, T0_UTC_US + 97 * s_us, T0_UTC_US + 120 * s_us, text, sizeof text);
        assert_string_equal(text, "1.333333");

        rw = open_raw(f->path);
        assert_int_not_equal(sqlite3_exec(rw, "UPDATE delivery_samples SET volume_nl = 0", NULL, NULL, NULL),
                             SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(rw, "DELETE FROM delivery_samples", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(query_int(rw, "SELECT sum(volume_nl) FROM delivery_samples"), 7000000);
}

static void latest_utc_is_the_newest_time_in_any_table(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion in = sample_infusion(0);
        int64_t latest = -1, inf, inf2, dose, s_us = 1000000;
        struct db_event e;
        struct db_pca_demand demand;
        struct db_alarm_event alarm;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, 0);

        /* each table in turn holds the newest time */
        in.started_utc_us = T0_UTC_US + 1 * s_us;
        assert_int_equal(db_infusion_begin(d, &in, &inf), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 1 * s_us);

        e = sample_event(inf, "state");
        e.utc_us = T0_UTC_US + 2 * s_us;
        assert_int_equal(db_event_add(d, &e), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 2 * s_us);

        alarm = sample_alarm("raised", "high", T0_UTC_US + 3 * s_us, -1);
        assert_int_equal(db_alarm_event_add(d, &alarm), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 3 * s_us);

        demand = sample_demand(inf, "button", "granted", T0_UTC_US + 4 * s_us);
        dose = add_demand(d, &demand);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 4 * s_us);

        assert_int_equal(db_delivery_sample_add(d, &(struct db_delivery_sample) {
                .infusion_id = inf, .utc_us = T0_UTC_US + 5 * s_us }), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 5 * s_us);

        assert_int_equal(db_audit_add(d, &(struct db_audit) {
                .utc_us = T0_UTC_US + 6 * s_us, .uid = 0, .method = "Channel.PcaDemand", .object = "/",
                .outcome = "ok" }), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 6 * s_us);

        assert_int_equal(db_limit_event_add(d, &(struct db_limit_event) {
                .utc_us = T0_UTC_US + 7 * s_us, .kind = "hard-refused", .value = NAN, .uid = -1 }), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 7 * s_us);

        struct db_library lib = { .version = "v1", .imported_utc_us = T0_UTC_US + 8 * s_us, .imported_by_uid = 0,
                                  .json = "{}" };
        assert_int_equal(db_library_store(d, &lib, NULL), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 8 * s_us);

        assert_int_equal(db_infusion_checkpoint(d, inf, 1000, T0_UTC_US + 9 * s_us), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 9 * s_us);

        assert_int_equal(db_pca_dose_ended(d, dose, T0_UTC_US + 10 * s_us, 1000000), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 10 * s_us);

        assert_int_equal(db_infusion_end(d, inf, "stopped", 2000, T0_UTC_US + 11 * s_us), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 11 * s_us);

        /* a sample of an older infusion, with a newer one there */
        in.started_utc_us = T0_UTC_US;
        assert_int_equal(db_infusion_begin(d, &in, &inf2), 0);
        assert_int_equal(db_delivery_sample_add(d, &(struct db_delivery_sample) {
                .infusion_id = inf, .utc_us = T0_UTC_US + 12 * s_us }), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 12 * s_us);

        /* something older recorded later changes nothing */
        e.utc_us = T0_UTC_US - 3600 * s_us;
        assert_int_equal(db_event_add(d, &e), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 12 * s_us);

        assert_int_equal(db_latest_utc_us(d, NULL), -EINVAL);
        assert_int_equal(db_latest_utc_us(NULL, &latest), -EINVAL);
}

static void event_last_utc_is_the_newest_event_of_a_kind_on_a_channel(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_event e = sample_event(0, "pca-new-patient");
        int64_t utc_us = -1;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_event_last_utc_us(d, 0, "pca-new-patient", &utc_us), -ENOENT);
        assert_int_equal(utc_us, -1);

        /* recorded out of order: the newest by time wins */
        e.utc_us = T0_UTC_US + 3 * MIN_US;
        assert_int_equal(db_event_add(d, &e), 0);
        e.utc_us = T0_UTC_US + 1 * MIN_US;
        assert_int_equal(db_event_add(d, &e), 0);
        e.channel = 1;
        e.utc_us = T0_UTC_US + 5 * MIN_US;
        assert_int_equal(db_event_add(d, &e), 0);
        e = sample_event(0, "state");
        e.utc_us = T0_UTC_US + 7 * MIN_US;
        assert_int_equal(db_event_add(d, &e), 0);

        assert_int_equal(db_event_last_utc_us(d, 0, "pca-new-patient", &utc_us), 0);
        assert_int_equal(utc_us, T0_UTC_US + 3 * MIN_US);
        assert_int_equal(db_event_last_utc_us(d, 1, "pca-new-patient", &utc_us), 0);
        assert_int_equal(utc_us, T0_UTC_US + 5 * MIN_US);
        assert_int_equal(db_event_last_utc_us(d, 0, "state", &utc_us), 0);
        assert_int_equal(utc_us, T0_UTC_US + 7 * MIN_US);
        assert_int_equal(db_event_last_utc_us(d, 1, "state", &utc_us), -ENOENT);
        assert_int_equal(db_event_last_utc_us(d, 2, "pca-new-patient", &utc_us), -ENOENT);
        assert_int_equal(db_event_last_utc_us(d, 0, NULL, &utc_us), -EINVAL);
        assert_int_equal(db_event_last_utc_us(d, 0, "state", NULL), -EINVAL);
}

static void pca_and_delivery_records_survive_close_and_reopen(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion in = sample_infusion(0);
        struct seen_demands seen = {};
        struct db_pca_demand e;
        uint64_t total, granted;
        int64_t inf, ended, open, latest;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &inf), 0);
        e = sample_demand(inf, "button", "granted", T0_UTC_US + 1 * MIN_US);
        ended = add_demand(d, &e);
        e = sample_demand(inf, "button", "lockout", T0_UTC_US + 2 * MIN_US);
        e.detail = "lockout: 9 min left";
        (void) add_demand(d, &e);
        e = sample_demand(inf, "dbus", "granted", T0_UTC_US + 20 * MIN_US);
        open = add_demand(d, &e);
        assert_int_equal(db_pca_dose_ended(d, ended, T0_UTC_US + 1 * MIN_US + 36000000, 1000000), 0);
        assert_int_equal(db_delivery_sample_add(d, &(struct db_delivery_sample) {
                .infusion_id = inf, .utc_us = T0_UTC_US + 21 * MIN_US, .volume_nl = 2000000 }), 0);
        d = db_close(d);

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_pca_doses_since(d, 0, 0, on_demand, &seen), 2);
        assert_int_equal(seen.rows[0].id, ended);
        assert_int_equal(seen.rows[0].delivered_nl, 1000000);
        assert_int_equal(seen.rows[1].id, open);
        assert_int_equal(seen.rows[1].ended_utc_us, 0);
        assert_int_equal(db_pca_demand_counts(d, 0, 0, &total, &granted), 0);
        assert_int_equal(total, 3);
        assert_int_equal(granted, 2);
        seen = (struct seen_demands) {};
        assert_int_equal(db_pca_demands_recent(d, 0, 2, on_demand, &seen), 2);
        assert_string_equal(seen.rows[1].detail, "lockout: 9 min left");
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 21 * MIN_US);

        /* the once is in the file, not in memory */
        assert_int_equal(db_pca_dose_ended(d, ended, T0_UTC_US + 30 * MIN_US, 1), -ENOENT);
        assert_int_equal(db_pca_dose_ended(d, open, T0_UTC_US + 30 * MIN_US, 1000000), 0);
}

static void pca_demands_reach_the_disk_before_returning_and_delivery_samples_do_not_wait(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_infusion in = sample_infusion(0);
        struct db_pca_demand e;
        int64_t inf, id;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &inf), 0);

        /* twice: the second shows FULL is set again after a sample */
        for (int i = 1; i <= 2; i++) {
                syncs = 0;
                assert_int_equal(db_delivery_sample_add(d, &(struct db_delivery_sample) {
                        .infusion_id = inf, .utc_us = T0_UTC_US + i, .volume_nl = i * 1000 }), 0);
                assert_int_equal(syncs, 0);

                syncs = 0;
                e = sample_demand(inf, "button", "granted", T0_UTC_US + i);
                assert_int_equal(db_pca_demand_add(d, &e, &id), 0);
                assert_true(syncs >= 1);

                syncs = 0;
                assert_int_equal(db_pca_dose_ended(d, id, T0_UTC_US + i + 1, 1000000), 0);
                assert_true(syncs >= 1);
        }

        /* a refused sample leaves FULL in force too */
        assert_int_equal(db_delivery_sample_add(d, &(struct db_delivery_sample) {
                .infusion_id = inf + 100 }), -EINVAL);
        syncs = 0;
        e = sample_demand(inf, "button", "lockout", T0_UTC_US + 3);
        assert_int_equal(db_pca_demand_add(d, &e, &id), 0);
        assert_true(syncs >= 1);
}

/* A file written by schema 4 gains the PCA and delivery tables on open
 * and keeps what it had. */
static void a_version_4_file_migrates_to_5_keeping_its_rows(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *rw = NULL;
        struct db_infusion in = sample_infusion(0), out;
        struct db_event e;
        struct db_alarm_event alarm = sample_alarm("raised", "high", T0_UTC_US + 5, -1);
        struct db_pca_demand demand;
        int64_t id, latest;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        e = sample_event(id, "state");
        assert_int_equal(db_event_add(d, &e), 0);
        assert_int_equal(db_alarm_event_add(d, &alarm), 0);
        d = db_close(d);
        {
                /* Turn it back into a version 4 file. */
                _cleanup_(sqlite_closep) sqlite3 *raw = open_raw(f->path);
                assert_int_equal(sqlite3_exec(raw, UNDO_SCHEMA_6, NULL, NULL, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_exec(raw,
                                              "DROP VIEW v_pca_demands; DROP VIEW v_delivery_samples;"
                                              "DROP TABLE pca_demands; DROP TABLE delivery_samples;"
                                              "DROP INDEX events_channel_kind_utc_us;"
                                              "PRAGMA user_version = 4;", NULL, NULL, NULL), SQLITE_OK);
                assert_int_equal(query_int(raw, "SELECT count(*) FROM sqlite_schema WHERE name LIKE '%pca%'"
                                                " OR name LIKE '%delivery%'"), 0);
        }

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_schema_version(d), DB_SCHEMA_VERSION);
        assert_int_equal(db_infusion_get(d, id, &out), 0);
        assert_int_equal(out.rate_nl_per_h, in.rate_nl_per_h);
        assert_int_equal(db_event_count(d, "state"), 1);

        rw = open_raw(f->path);
        assert_int_equal(query_int(rw, "SELECT count(*) FROM sqlite_schema WHERE name IN"
                                       " ('pca_demands', 'pca_demands_utc_us', 'pca_demands_channel_utc_us',"
                                       " 'pca_demands_no_delete', 'pca_demands_no_update', 'v_pca_demands',"
                                       " 'delivery_samples', 'delivery_samples_infusion_id_utc_us',"
                                       " 'delivery_samples_no_update', 'delivery_samples_no_delete',"
                                       " 'v_delivery_samples', 'events_channel_kind_utc_us')"), 12);
        assert_int_equal(query_int(rw, "SELECT count(*) FROM alarm_events"), 1);

        demand = sample_demand(id, "button", "granted", T0_UTC_US + 1 * MIN_US);
        assert_int_equal(db_pca_demand_add(d, &demand, NULL), 0);
        assert_int_equal(db_delivery_sample_add(d, &(struct db_delivery_sample) {
                .infusion_id = id, .utc_us = T0_UTC_US + 2 * MIN_US }), 0);
        assert_int_equal(db_latest_utc_us(d, &latest), 0);
        assert_int_equal(latest, T0_UTC_US + 2 * MIN_US);
        assert_int_equal(db_event_last_utc_us(d, 0, "state", &latest), 0);
        assert_int_equal(latest, e.utc_us);
        assert_int_not_equal(sqlite3_exec(rw, "DELETE FROM pca_demands", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(query_int(rw, "SELECT count(*) FROM v_pca_demands"), 1);
        assert_int_equal(query_int(rw, "SELECT count(*) FROM v_delivery_samples"), 1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(fresh_database_is_the_current_schema_in_wal_mode_and_mode_0640),
                T(infusion_round_trips_through_begin_checkpoint_and_end),
                T(only_active_infusions_take_checkpoints_and_ends),
                T(recovery_marks_active_infusions_interrupted_at_their_last_checkpoint),
                T(events_and_audit_rows_are_added_and_counted),
                T(newer_schema_is_refused_and_left_untouched),
                T(reopening_keeps_the_data),
                T(read_only_reader_sees_v_infusions_while_the_writer_is_open_and_cannot_write),
                T(wal_file_outlives_the_writer_so_an_unprivileged_reader_still_opens),
                T(empty_v0_files_are_migrated_to_the_current_schema),
                T(event_acknowledged_before_kill_9_survives),
                cmocka_unit_test_setup_teardown(records_reach_the_disk_before_returning_and_checkpoints_do_not_wait,
                                                setup_counting, teardown_counting),
                T(errors_are_negative_errnos_and_keep_sqlite_text),
                T(library_versions_are_kept_and_the_newest_is_in_use),
                T(library_versions_cannot_be_rewritten),
                T(a_version_1_file_migrates_forward_keeping_its_rows),
                T(compliance_view_counts_library_use_overrides_and_hard_stops_per_care_area),
                T(alarm_history_is_append_only_and_summarised_per_alarm),
                T(pca_doses_since_reads_back_granted_doses_of_any_source_oldest_first),
                T(pca_demand_callbacks_may_write_to_the_database),
                T(pca_demands_recent_are_newest_first_and_at_most_limit),
                T(pca_demand_counts_count_only_the_patients_demands_since),
                T(pca_dose_end_is_recorded_once_and_only_for_a_granted_dose),
                T(pca_demands_are_append_only_but_for_a_doses_end_set_once),
                T(pca_demand_add_refuses_what_the_schema_refuses),
                T(delivery_samples_are_append_only_and_give_the_volume_in_any_window),
                T(latest_utc_is_the_newest_time_in_any_table),
                T(event_last_utc_is_the_newest_event_of_a_kind_on_a_channel),
                T(pca_and_delivery_records_survive_close_and_reopen),
                cmocka_unit_test_setup_teardown(
                        pca_demands_reach_the_disk_before_returning_and_delivery_samples_do_not_wait,
                        setup_counting, teardown_counting),
                T(a_version_4_file_migrates_to_5_keeping_its_rows),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
