/* SPDX-License-Identifier: MIT */
#pragma once

/* What the db/ sources share and nobody else sees: the connection, its cache of
 * prepared statements and the error helpers. */

#include <sqlite3.h>

#include "db/db.h"

/* One slot per cached statement. Each file keeps its SQL beside the code
 * that binds it; this list only numbers them. */
enum db_stmt {
        DB_STMT_BEGIN,
        DB_STMT_COMMIT,
        DB_STMT_ROLLBACK,
        DB_STMT_USER_VERSION,
        DB_STMT_INFUSION_BEGIN,
        DB_STMT_INFUSION_CHECKPOINT,
        DB_STMT_INFUSION_END,
        DB_STMT_INFUSION_GET,
        DB_STMT_RECOVER_SELECT,
        DB_STMT_RECOVER_EVENTS,
        DB_STMT_RECOVER_MARK,
        DB_STMT_EVENT_ADD,
        DB_STMT_EVENT_COUNT,
        DB_STMT_AUDIT_ADD,
        DB_STMT_LIBRARY_STORE,
        DB_STMT_LIBRARY_CURRENT,
        DB_STMT_LIMIT_EVENT_ADD,
        DB_STMT_ALARM_EVENT_ADD,
        DB_STMT_ALARM_NEXT_SEQ,
        DB_STMT_PCA_DEMAND_ADD,
        DB_STMT_PCA_DOSE_ENDED,
        DB_STMT_PCA_DOSES_SINCE,
        DB_STMT_PCA_DEMANDS_RECENT,
        DB_STMT_PCA_DEMAND_COUNTS,
        DB_STMT_DELIVERY_SAMPLE_ADD,
        DB_STMT_LATEST_UTC,
        DB_STMT_EVENT_LAST_UTC,
        DB_STMT_PCA_FLOW_SINCE,
        DB_STMT_AUDIT_HEAD,
        DB_STMT_AUDIT_ANCHOR,
        DB_STMT_AUDIT_WALK,
        DB_STMT_READ_BEGIN,
        DB_STMT_READ_END,
        DB_STMT_INFUSIONS_LIST,
        DB_STMT_INFUSIONS_LIST_DRUG,
        DB_STMT_EVENTS_LIST,
        DB_STMT_ALARM_EVENTS_LIST,
        DB_STMT_EVENTS_LIST_INFUSION,
        DB_STMT_ALARM_EVENTS_LIST_INFUSION,
        DB_STMT_RETENTION_FENCE,
        DB_STMT_RETENTION_MOVE_FENCE,
        DB_STMT_RETENTION_SIZE_CUT,
        DB_STMT_RETENTION_PRUNE_SAMPLES,
        DB_STMT_RETENTION_PRUNE_PCA,
        DB_STMT_RETENTION_PRUNE_ALARMS,
        DB_STMT_RETENTION_PRUNE_EVENTS,
        DB_STMT_RETENTION_PRUNE_LIMITS,
        DB_STMT_RETENTION_PRUNE_INFUSIONS,
        DB_STMT_RETENTION_PRUNE_LIBRARIES,
        DB_STMT_RETENTION_AUDIT_TO,
        DB_STMT_RETENTION_AUDIT_ANCHOR,
        DB_STMT_RETENTION_AUDIT_DELETE,
        DB_STMT_SIZE,
        _DB_STMT_MAX,
};

struct db {
        sqlite3 *sqlite;
        sqlite3_stmt *stmts[_DB_STMT_MAX];
        char *got_mode;                 /* db_infusion_get's strings */
        char *got_status;
        char *got_library_version;     /* db_library_current's strings */
        char *got_library_json;
        bool readonly;                  /* db_open_readonly() */
        char error[256];
};

/* The cached statement for id, prepared from sql on first use. Pair it with
 * _cleanup_(db_resetp) so it never holds a read transaction open (which
 * would stop WAL checkpoints) or a pointer into a caller's string. */
int db_statement(struct db *d, enum db_stmt id, const char *sql, sqlite3_stmt **ret);

static inline void db_resetp(sqlite3_stmt **s) {
        if (*s) {
                sqlite3_reset(*s);
                sqlite3_clear_bindings(*s);
        }
}

static inline void sqlite3_finalizep(sqlite3_stmt **s) {
        sqlite3_finalize(*s);
}

/* Map an SQLite result code to a negative errno. */
int db_errno(struct db *d, int rc);
/* Keep sqlite3_errmsg() for db_last_error() and return db_errno(rc). */
int db_fail(struct db *d, int rc);
/* Keep a message of our own and return r. */
int db_failf(struct db *d, int r, const char *format, ...) __attribute__((format(printf, 3, 4)));

/* Step a statement that returns no rows. */
int db_step_done(struct db *d, sqlite3_stmt *s);

/* synchronous=FULL (the connection's setting) or NORMAL, for writes that
 * need no fsync (history.c says when). Restore FULL after every NORMAL
 * write, also when it failed. */
int db_set_synchronous(struct db *d, bool full);

/* BEGIN IMMEDIATE: take the write lock up front, so a transaction that
 * reads and then writes cannot fail half-way with SQLITE_BUSY. */
int db_begin(struct db *d);
int db_commit(struct db *d);
/* A read transaction (BEGIN DEFERRED), so that several statements see one
 * state of the file while the daemon writes; always ended by db_read_end,
 * which never fails a reader. */
int db_read_begin(struct db *d);
void db_read_end(struct db *d);

/* Fill chain_sha256 of every audit row after the anchor, in id order
 * (migration 5 -> 6, inside its transaction). */
int db_audit_chain_rows(struct db *d);
/* After a failure; keeps the first error's text. */
void db_rollback(struct db *d);
