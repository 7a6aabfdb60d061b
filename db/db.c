/* SPDX-License-Identifier: MIT */
#include "db/db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macros.h"
#include "db/db-private.h"
#include "db/migrate.h"

/* Readers (hospital IT exports) get access through the file's group;
 * nobody else needs it. */
#define DB_FILE_MODE 0640
#define DB_BUSY_TIMEOUT_MS 5000

int db_errno(struct db *d, int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_CONSTRAINT:
                /* the schema refused what the caller passed */
                return -EINVAL;
        case SQLITE_CANTOPEN: {
                /* the OS's reason (EACCES, ENOENT, ...) says more than EIO */
                int e = d && d->sqlite ? sqlite3_system_errno(d->sqlite) : 0;
                return e > 0 ? -e : -EIO;
        }
        default:
                return -EIO;
        }
}

int db_failf(struct db *d, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(d->error, sizeof d->error, format, ap);
        va_end(ap);
        return r;
}

int db_fail(struct db *d, int rc) {
        /* A step that failed with SQLITE_OK in hand would report success;
         * never let a failure path return 0. */
        int r = db_errno(d, rc);
        return db_failf(d, r < 0 ? r : -EIO, "%s", sqlite3_errmsg(d->sqlite));
}

int db_statement(struct db *d, enum db_stmt id, const char *sql, sqlite3_stmt **ret) {
        int rc;

        if (!d->stmts[id]) {
                rc = sqlite3_prepare_v3(d->sqlite, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                        &d->stmts[id], NULL);
                if (rc != SQLITE_OK)
                        return db_fail(d, rc);
        }
        *ret = d->stmts[id];
        return 0;
}

int db_step_done(struct db *d, sqlite3_stmt *s) {
        int rc = sqlite3_step(s);
        return rc == SQLITE_DONE ? 0 : db_fail(d, rc);
}

static int exec_cached(struct db *d, enum db_stmt id, const char *sql) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r;

        r = db_statement(d, id, sql, &s);
        if (r < 0)
                return r;
        return db_step_done(d, s);
}

int db_begin(struct db *d) {
        return exec_cached(d, DB_STMT_BEGIN, "BEGIN IMMEDIATE");
}

int db_commit(struct db *d) {
        return exec_cached(d, DB_STMT_COMMIT, "COMMIT");
}

int db_read_begin(struct db *d) {
        return exec_cached(d, DB_STMT_READ_BEGIN, "BEGIN DEFERRED");
}

void db_read_end(struct db *d) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;

        /* A read transaction has nothing to commit; ending it only lets
         * the daemon checkpoint the WAL again. */
        if (sqlite3_get_autocommit(d->sqlite))
                return;
        if (db_statement(d, DB_STMT_READ_END, "COMMIT", &s) < 0)
                return;
        (void) sqlite3_step(s);
}

void db_rollback(struct db *d) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;

        /* Some errors (SQLITE_FULL, IOERR) already rolled back; a ROLLBACK
         * then would only replace the text of the error that matters. */
        if (sqlite3_get_autocommit(d->sqlite))
                return;
        if (db_statement(d, DB_STMT_ROLLBACK, "ROLLBACK", &s) < 0)
                return;
        (void) sqlite3_step(s);
}

const char *db_last_error(struct db *d) {
        return d ? d->error : "no database";
}

int db_schema_version(struct db *d) {
        if (!d)
                return -EINVAL;
        return db_user_version(d);
}

struct db *db_close(struct db *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(d->stmts); i++)
                sqlite3_finalize(d->stmts[i]);
        /* Every statement is finalized, so this cannot be refused as busy. */
        sqlite3_close(d->sqlite);
        free(d->got_mode);
        free(d->got_status);
        free(d->got_library_version);
        free(d->got_library_json);
        free(d);
        return NULL;
}

static void db_closep(struct db **d) {
        *d = db_close(*d);
}

static int create_file(const char *path) {
        int fd, r = 0;

        /* SQLite would create the file 0644 less the umask. Make it
         * ourselves, and exactly DB_FILE_MODE: readers depend on the group
         * bit whatever the service's umask. The -wal and -shm files SQLite
         * makes later copy this file's mode and owner. */
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, DB_FILE_MODE);
        if (fd < 0)
                return errno == EEXIST ? 0 : -errno;
        if (fchmod(fd, DB_FILE_MODE) < 0)
                r = -errno;
        close(fd);
        return r;
}

static int pragma_text(struct db *d, const char *sql, char *ret, size_t size) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        int rc;

        /* One-off statements at open: not worth a cache slot. */
        rc = sqlite3_prepare_v2(d->sqlite, sql, -1, &s, NULL);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        snprintf(ret, size, "%s", (const char *) sqlite3_column_text(s, 0) ?: "");
        return 0;
}

/* Above this a file made before retention keeps auto_vacuum off. */
#define VACUUM_CONVERT_MAX_BYTES (64 * 1024 * 1024)

/* A file made before retention existed has auto_vacuum off, and only a
 * VACUUM (a rewrite of the whole file) can turn it on. Best effort, and
 * only for a small file: a big one would hold the start-up for minutes on
 * an SD card and need its own size free again, and a pump that will not
 * start over housekeeping is worse than a file that does not shrink.
 * Without it retention still frees pages, which later writes reuse. */
static void set_incremental_vacuum(struct db *d) {
        char mode[16], pages[32], page_size[32];

        if (pragma_text(d, "PRAGMA auto_vacuum", mode, sizeof mode) < 0 || strcmp(mode, "2") == 0 ||
            pragma_text(d, "PRAGMA page_count", pages, sizeof pages) < 0 ||
            pragma_text(d, "PRAGMA page_size", page_size, sizeof page_size) < 0 ||
            strtoll(pages, NULL, 10) * strtoll(page_size, NULL, 10) > VACUUM_CONVERT_MAX_BYTES)
                return;
        (void) sqlite3_exec(d->sqlite, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM", NULL, NULL, NULL);
}

static int setup_connection(struct db *d) {
        char mode[16];
        int one = 1, r, rc;

        rc = sqlite3_extended_result_codes(d->sqlite, 1);
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(d->sqlite, DB_BUSY_TIMEOUT_MS);
        /* Per connection, off by default: without it REFERENCES is a comment. */
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(d->sqlite, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        /* Refuse a newer schema before anything below writes to the file
         * (switching to WAL rewrites its header). */
        r = db_check_schema(d);
        if (r < 0)
                return r;

        /* Retention hands freed pages back to the file system a few at a
         * time (PRAGMA incremental_vacuum); that needs auto_vacuum set
         * before the first table exists. Older files are converted once,
         * after migrating, by set_incremental_vacuum(). */
        if (r == 0) {
                rc = sqlite3_exec(d->sqlite, "PRAGMA auto_vacuum = INCREMENTAL", NULL, NULL, NULL);
                if (rc != SQLITE_OK)
                        return db_fail(d, rc);
        }

        /* WAL lets readers open the file while we write. The answer is the
         * mode in force, which need not be the one asked for. */
        r = pragma_text(d, "PRAGMA journal_mode = WAL", mode, sizeof mode);
        if (r < 0)
                return r;
        if (strcmp(mode, "wal") != 0)
                return db_failf(d, -EOPNOTSUPP, "journal_mode is '%s', WAL was refused", mode);

        /* FULL: a WAL commit is fsynced before it returns, so what we
         * acknowledged survives power loss, not only kill -9. Checkpoints
         * lower it for one statement (history.c says why). */
        rc = sqlite3_exec(d->sqlite, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        /* Keep -wal and -shm when we close: a reader who cannot create them
         * (no write access to the directory) could not open the file after
         * the daemon stopped otherwise. */
        rc = sqlite3_file_control(d->sqlite, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
        if (rc != SQLITE_OK)
                return db_failf(d, -EIO, "cannot keep the WAL file: %s", sqlite3_errstr(rc));

        r = db_migrate(d);
        if (r < 0)
                return r;
        set_incremental_vacuum(d);
        return 0;
}

int db_open(const char *path, struct db **ret) {
        _cleanup_(db_closep) struct db *d = NULL;
        int r, rc;

        if (!path || !ret)
                return -EINVAL;

        r = create_file(path);
        if (r < 0)
                return r;

        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;

        /* No SQLITE_OPEN_CREATE: the file exists now with the right mode,
         * and if someone removed it meanwhile we want to know. */
        rc = sqlite3_open_v2(path, &d->sqlite, SQLITE_OPEN_READWRITE, NULL);
        if (rc != SQLITE_OK)
                return db_errno(d, rc);

        r = setup_connection(d);
        if (r < 0)
                return r;

        d->error[0] = '\0';
        *ret = TAKE_PTR(d);
        return 0;
}

/* A path as a file: URI: the characters that would end or escape it are
 * percent-encoded. */
static int path_to_ro_uri(const char *path, char **ret) {
        size_t n = strlen(path);
        char *uri = malloc(sizeof "file:" + 3 * n + sizeof "?mode=ro");
        char *p;

        if (!uri)
                return -ENOMEM;
        p = stpcpy(uri, "file:");
        /* "file://x" would make x an authority, not a directory. */
        while (path[0] == '/' && path[1] == '/')
                path++;
        for (const char *c = path; *c; c++) {
                if (*c == '?' || *c == '#' || *c == '%')
                        p += sprintf(p, "%%%02X", (unsigned char) *c);
                else
                        *p++ = *c;
        }
        strcpy(p, "?mode=ro");
        *ret = uri;
        return 0;
}

int db_open_readonly(const char *path, struct db **ret) {
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(freep) char *uri = NULL;
        int r, rc;

        if (!path || !ret)
                return -EINVAL;
        r = path_to_ro_uri(path, &uri);
        if (r < 0)
                return r;

        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->readonly = true;

        rc = sqlite3_open_v2(uri, &d->sqlite, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
        if (rc != SQLITE_OK)
                return db_errno(d, rc);
        rc = sqlite3_extended_result_codes(d->sqlite, 1);
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(d->sqlite, DB_BUSY_TIMEOUT_MS);
        if (rc != SQLITE_OK)
                return db_errno(d, rc);

        /* The first read also tells whether we may read at all. */
        r = db_user_version(d);
        if (r < 0)
                return r;
        if (r != DB_SCHEMA_VERSION)
                return -EPROTO;

        d->error[0] = '\0';
        *ret = TAKE_PTR(d);
        return 0;
}
