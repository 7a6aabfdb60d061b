/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "common/macros.h"
#include "db/db-private.h"

/* Retention (schema 6): prune the oldest history in small steps.
 *
 * Each step is one write transaction that raises the fence
 * (retention.pruned_before_utc_us) and then deletes at most batch_rows rows
 * per table on the far side of it; the schema's delete triggers refuse
 * anything else, so a bug here cannot take a record the fence still
 * guards. The daemon runs one step per turn of its event loop: a step holds
 * the write lock for a few milliseconds, never for the whole backlog of a
 * file that was years over its limit.
 *
 * Children go before their parents: the records that name an infusion,
 * then the infusions nothing names any more, then the library versions no
 * kept record names, then the audit chain's prefix. */

/* Rows per table per step when the caller gives none. A step costs about
 * the same at 100 or 500 rows: most of it is the commits' fsyncs (dev VM,
 * a file with 1.2 million samples: 15 ms a step on average, 85 ms at worst
 * when a WAL checkpoint falls into it; not yet measured on the boards). */
#define RETENTION_BATCH_DEFAULT 500u
/* Free pages handed back to the file system per step (1 MiB at SQLite's
 * default 4 KiB page). incremental_vacuum moves pages from the end of the
 * file into the holes and truncates it: I/O proportional to this, so it is
 * bounded like the deletes; later steps give back the rest. */
#define RETENTION_VACUUM_PAGES 256

/* A record that names an infusion still running is kept whatever its age:
 * the running infusion's history is one piece. The subquery is an index
 * lookup (infusions_active). */
#define NOT_OF_AN_ACTIVE_INFUSION \
        " AND (infusion_id IS NULL OR infusion_id NOT IN (SELECT id FROM infusions WHERE status = 'active'))"

/* The deletes, in the order they must run. ?1: the fence, ?2: the batch.
 * Each picks its oldest rows through an index on time, so a step costs
 * what it deletes, not the size of the table.
 *
 * The newest row of each table stays whatever its age: without
 * AUTOINCREMENT SQLite hands out max(id) + 1, so emptying a table would
 * give a pruned record's id (an infusion's, in an export hospital IT
 * already holds) to a new one. alarm_events keeps the rows of the highest
 * seq too: db_alarm_next_seq() counts on from it, so alarm ids never
 * repeat on this pump. */
static const struct prune {
        enum db_stmt stmt;
        const char *sql;
} prunes[] = {
        /* delivery_samples has no index on utc_us alone, only on
         * (infusion_id, utc_us): reach the samples through the infusions
         * that started before the fence (few: the ones not pruned yet),
         * in that order (CROSS JOIN keeps infusions the outer loop). An
         * active infusion's samples stay. */
        { DB_STMT_RETENTION_PRUNE_SAMPLES,
          "DELETE FROM delivery_samples WHERE id IN ("
          " SELECT s.id FROM infusions AS i CROSS JOIN delivery_samples AS s ON s.infusion_id = i.id"
          " WHERE i.started_utc_us < ?1 AND i.status <> 'active' AND s.utc_us < ?1"
          "  AND s.id < (SELECT max(id) FROM delivery_samples)"
          " ORDER BY i.started_utc_us, i.id, s.utc_us LIMIT ?2)" },
        { DB_STMT_RETENTION_PRUNE_PCA,
          "DELETE FROM pca_demands WHERE id IN ("
          " SELECT id FROM pca_demands WHERE utc_us < ?1" NOT_OF_AN_ACTIVE_INFUSION
          "  AND id < (SELECT max(id) FROM pca_demands)"
          " ORDER BY utc_us LIMIT ?2)" },
        { DB_STMT_RETENTION_PRUNE_ALARMS,
          "DELETE FROM alarm_events WHERE id IN ("
          " SELECT id FROM alarm_events WHERE utc_us < ?1" NOT_OF_AN_ACTIVE_INFUSION
          "  AND id < (SELECT max(id) FROM alarm_events) AND seq < (SELECT max(seq) FROM alarm_events)"
          " ORDER BY utc_us LIMIT ?2)" },
        { DB_STMT_RETENTION_PRUNE_EVENTS,
          "DELETE FROM events WHERE id IN ("
          " SELECT id FROM events WHERE utc_us < ?1" NOT_OF_AN_ACTIVE_INFUSION
          "  AND id < (SELECT max(id) FROM events)"
          " ORDER BY utc_us LIMIT ?2)" },
        { DB_STMT_RETENTION_PRUNE_LIMITS,
          "DELETE FROM limit_events WHERE id IN ("
          " SELECT id FROM limit_events WHERE utc_us < ?1 AND id < (SELECT max(id) FROM limit_events)"
          " ORDER BY utc_us LIMIT ?2)" },
        /* An infusion goes once it ended before the fence and nothing
         * names it any more; one that started after the fence cannot have
         * ended before it, so the start index bounds the search. events and
         * delivery_samples have an index on infusion_id (NOT EXISTS is a
         * lookup); pca_demands and alarm_events have none, so their ids
         * are gathered once per statement (NOT IN over a subquery that
         * does not depend on the row) instead of a scan per infusion. */
        { DB_STMT_RETENTION_PRUNE_INFUSIONS,
          "DELETE FROM infusions WHERE id IN ("
          " SELECT i.id FROM infusions AS i"
          " WHERE i.started_utc_us < ?1 AND i.status <> 'active' AND i.ended_utc_us < ?1"
          "  AND i.id < (SELECT max(id) FROM infusions)"
          "  AND NOT EXISTS (SELECT 1 FROM delivery_samples AS s WHERE s.infusion_id = i.id)"
          "  AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.infusion_id = i.id)"
          "  AND i.id NOT IN (SELECT infusion_id FROM pca_demands WHERE infusion_id IS NOT NULL)"
          "  AND i.id NOT IN (SELECT infusion_id FROM alarm_events WHERE infusion_id IS NOT NULL)"
          " ORDER BY i.started_utc_us LIMIT ?2)" },
        /* A library version imported before the fence goes, unless it is
         * the one in use or a kept infusion or limit event names it: the
         * record of what a dose was checked against outlives the import. */
        { DB_STMT_RETENTION_PRUNE_LIBRARIES,
          "DELETE FROM drug_libraries WHERE id IN ("
          " SELECT id FROM drug_libraries WHERE imported_utc_us < ?1"
          "  AND id < (SELECT max(id) FROM drug_libraries)"
          "  AND sha256 NOT IN (SELECT library_sha256 FROM infusions WHERE library_sha256 IS NOT NULL"
          "                     UNION SELECT library_sha256 FROM limit_events WHERE library_sha256 IS NOT NULL)"
          " ORDER BY id LIMIT ?2)" },
};

enum { PRUNE_AUDIT = ELEMENTSOF(prunes), _PRUNE_MAX };

static int read_fence(struct db *d, int64_t *ret) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        r = db_statement(d, DB_STMT_RETENTION_FENCE, "SELECT pruned_before_utc_us FROM retention", &s);
        if (r < 0)
                return r;
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return rc == SQLITE_DONE ? db_failf(d, -EPROTO, "the retention fence is missing") : db_fail(d, rc);
        *ret = sqlite3_column_int64(s, 0);
        return 0;
}

/* Raise the fence to cut (never lowers it) and return where it is. */
static int move_fence(struct db *d, int64_t cut, int64_t now_utc_us, int64_t *ret) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        r = db_statement(d, DB_STMT_RETENTION_MOVE_FENCE,
                         "UPDATE retention SET pruned_before_utc_us = ?1, pruned_utc_us = ?2"
                         " WHERE pruned_before_utc_us < ?1", &s);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(s, 1, cut) ?: sqlite3_bind_int64(s, 2, now_utc_us);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        r = db_step_done(d, s);
        if (r < 0)
                return r;
        return read_fence(d, ret);
}

static int run_prune(struct db *d, const struct prune *p, int64_t fence, unsigned batch, uint64_t *ret) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        r = db_statement(d, p->stmt, p->sql, &s);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(s, 1, fence) ?: sqlite3_bind_int64(s, 2, batch);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        r = db_step_done(d, s);
        if (r < 0)
                return r;
        *ret = (uint64_t) sqlite3_changes(d->sqlite);
        return 0;
}

/* The audit chain is pruned as a prefix: move the anchor onto row X (its
 * hash becomes where verification starts) and delete every row up to X.
 * X is at most batch rows past the anchor, before the first row not older
 * than the fence (a clock set back can put a newer row among older ones:
 * it and all after it stay), and never the newest row, which is the
 * chain's head and what the next row is chained to. */
static int prune_audit(struct db *d, int64_t fence, unsigned batch, int64_t now_utc_us, uint64_t *ret) {
        _cleanup_(db_resetp) sqlite3_stmt *sel = NULL, *anchor = NULL, *del = NULL;
        int64_t to;
        int r, rc;

        *ret = 0;
        r = db_statement(d, DB_STMT_RETENTION_AUDIT_TO,
                         "WITH a AS (SELECT audit_id AS anchor FROM audit_anchor)"
                         " SELECT max(id) FROM audit, a"
                         " WHERE id > a.anchor AND id <= a.anchor + ?2"
                         "  AND id < (SELECT max(id) FROM audit)"
                         "  AND id < coalesce((SELECT min(id) FROM audit WHERE id > a.anchor"
                         "                     AND id <= a.anchor + ?2 AND utc_us >= ?1), 9223372036854775807)",
                         &sel);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(sel, 1, fence) ?: sqlite3_bind_int64(sel, 2, batch);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        rc = sqlite3_step(sel);
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        if (sqlite3_column_type(sel, 0) == SQLITE_NULL)
                return 0;               /* nothing to prune */
        to = sqlite3_column_int64(sel, 0);

        /* The schema's trigger checks the hash is the row's own. */
        r = db_statement(d, DB_STMT_RETENTION_AUDIT_ANCHOR,
                         "UPDATE audit_anchor SET audit_id = ?1,"
                         " chain_sha256 = (SELECT chain_sha256 FROM audit WHERE id = ?1), moved_utc_us = ?2", &anchor);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(anchor, 1, to) ?: sqlite3_bind_int64(anchor, 2, now_utc_us);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        r = db_step_done(d, anchor);
        if (r < 0)
                return r;

        r = db_statement(d, DB_STMT_RETENTION_AUDIT_DELETE, "DELETE FROM audit WHERE id <= ?1", &del);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(del, 1, to);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        r = db_step_done(d, del);
        if (r < 0)
                return r;
        *ret = (uint64_t) sqlite3_changes(d->sqlite);
        return 0;
}

/* One round of deletes at fence; counts per table in deleted[]. */
static int prune_all(struct db *d, int64_t fence, unsigned batch, int64_t now_utc_us, uint64_t deleted[static _PRUNE_MAX]) {
        int r;

        for (size_t i = 0; i < ELEMENTSOF(prunes); i++) {
                r = run_prune(d, &prunes[i], fence, batch, &deleted[i]);
                if (r < 0)
                        return r;
        }
        return prune_audit(d, fence, batch, now_utc_us, &deleted[PRUNE_AUDIT]);
}

/* Where the fence goes when the file is over its size: just past the
 * batch-th record at or after the fence in whichever table reaches it
 * first (the earliest of the tables' batch-th times), or past a table's
 * last record when it has fewer. So a step prunes the oldest records
 * across all tables, at most about a batch per table, and the fence moves
 * by the density of the history, not by a guess in days: it never runs
 * far past what brings the file under its limit. 0: nothing at or after
 * the fence to move past. */
static int size_cut(struct db *d, int64_t fence, unsigned batch, int64_t *ret) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

#define NTH_UTC(table)                                                                                  \
        "SELECT coalesce((SELECT utc_us FROM " table " WHERE utc_us >= ?1 ORDER BY utc_us LIMIT 1 OFFSET ?2)," \
        " (SELECT max(utc_us) FROM " table " WHERE utc_us >= ?1)) AS u"
        r = db_statement(d, DB_STMT_RETENTION_SIZE_CUT,
                         "SELECT min(u) FROM ("
                         NTH_UTC("events") " UNION ALL "
                         NTH_UTC("alarm_events") " UNION ALL "
                         NTH_UTC("pca_demands") " UNION ALL "
                         NTH_UTC("limit_events") " UNION ALL "
                         NTH_UTC("audit") " UNION ALL "
                         /* by infusion, as in the delete: no index on utc_us */
                         "SELECT coalesce((SELECT s.utc_us FROM infusions AS i CROSS JOIN delivery_samples AS s"
                         "                 ON s.infusion_id = i.id WHERE s.utc_us >= ?1"
                         "                 ORDER BY i.started_utc_us, i.id, s.utc_us LIMIT 1 OFFSET ?2),"
                         " (SELECT max(s.utc_us) FROM infusions AS i CROSS JOIN delivery_samples AS s"
                         "  ON s.infusion_id = i.id WHERE s.utc_us >= ?1)))", &s);
#undef NTH_UTC
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(s, 1, fence) ?: sqlite3_bind_int64(s, 2, (int64_t) batch - 1);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        *ret = sqlite3_column_type(s, 0) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 0) + 1;
        return 0;
}

static int size_pages(struct db *d, uint64_t *ret_pages, uint64_t *ret_free, uint64_t *ret_page_size) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        r = db_statement(d, DB_STMT_SIZE,
                         "SELECT p.page_count, f.freelist_count, z.page_size"
                         " FROM pragma_page_count() AS p, pragma_freelist_count() AS f, pragma_page_size() AS z", &s);
        if (r < 0)
                return r;
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        *ret_pages = (uint64_t) sqlite3_column_int64(s, 0);
        *ret_free = (uint64_t) sqlite3_column_int64(s, 1);
        *ret_page_size = (uint64_t) sqlite3_column_int64(s, 2);
        return 0;
}

/* The file's size is what SQLite counts in pages: the main file reaches
 * it at the next WAL checkpoint (the WAL holds the newest pages until
 * then). */
int db_size_bytes(struct db *d, uint64_t *ret_in_use, uint64_t *ret_file) {
        uint64_t pages, free_pages, page_size;
        int r;

        if (!d)
                return -EINVAL;
        r = size_pages(d, &pages, &free_pages, &page_size);
        if (r < 0)
                return r;
        if (ret_in_use)
                *ret_in_use = (pages - MIN(free_pages, pages)) * page_size;
        if (ret_file)
                *ret_file = pages * page_size;
        return 0;
}

static bool any_at_batch(const uint64_t deleted[static _PRUNE_MAX], unsigned batch) {
        for (size_t i = 0; i < _PRUNE_MAX; i++)
                if (deleted[i] >= batch)
                        return true;
        return false;
}

static uint64_t sum(const uint64_t deleted[static _PRUNE_MAX]) {
        uint64_t n = 0;
        for (size_t i = 0; i < _PRUNE_MAX; i++)
                n += deleted[i];
        return n;
}

struct step_state {
        int64_t fence;
        uint64_t deleted;
        bool full;              /* some table gave a whole batch: more may be left */
        bool size_moved;        /* the fence moved for size */
};

static int step_transaction(struct db *d, const struct db_retention *r, unsigned batch, int64_t now_utc_us,
                            int64_t floor_cut, struct step_state *st) {
        uint64_t deleted[_PRUNE_MAX] = {};
        int64_t fence, cut;
        int q;

        /* By age: the older of the two limits, so the floor wins over a
         * keep_us shorter than it. */
        cut = MAX(MIN(now_utc_us - r->keep_us, floor_cut), INT64_C(0));
        q = move_fence(d, cut, now_utc_us, &fence);
        if (q < 0)
                return q;
        q = prune_all(d, fence, batch, now_utc_us, deleted);
        if (q < 0)
                return q;
        st->deleted = sum(deleted);
        st->full = any_at_batch(deleted, batch);

        /* By size, only once nothing before the fence is left to delete:
         * moving the fence while a backlog is still being worked off
         * would run it past what the limit needs. Freed pages count as
         * free inside the transaction already. */
        if (r->max_bytes > 0 && st->deleted == 0 && fence < floor_cut) {
                uint64_t in_use;
                int64_t to = 0;

                q = db_size_bytes(d, &in_use, NULL);
                if (q < 0)
                        return q;
                if (in_use > r->max_bytes) {
                        q = size_cut(d, fence, batch, &to);
                        if (q < 0)
                                return q;
                        to = MIN(to, floor_cut);
                        if (to > fence) {
                                q = move_fence(d, to, now_utc_us, &fence);
                                if (q < 0)
                                        return q;
                                q = prune_all(d, fence, batch, now_utc_us, deleted);
                                if (q < 0)
                                        return q;
                                st->deleted = sum(deleted);
                                st->full = any_at_batch(deleted, batch);
                                st->size_moved = true;
                        }
                }
        }
        st->fence = fence;
        return 0;
}

static int incremental_vacuum(struct db *d, uint64_t *ret_freed) {
        uint64_t pages, before, after, page_size;
        char sql[64];
        int r, rc;

        *ret_freed = 0;
        r = size_pages(d, &pages, &before, &page_size);
        if (r < 0 || before == 0)
                return r;
        /* PRAGMA takes no parameters; the count is our own constant. */
        snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%d)", RETENTION_VACUUM_PAGES);
        rc = sqlite3_exec(d->sqlite, sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return db_failf(d, db_errno(d, rc), "handing free pages back: %s", sqlite3_errmsg(d->sqlite));
        r = size_pages(d, &pages, &after, &page_size);
        if (r < 0)
                return r;
        *ret_freed = before - MIN(after, before);
        return 0;
}

int db_retention_step(struct db *d, const struct db_retention *r, int64_t now_utc_us,
                      struct db_retention_step *ret) {
        struct step_state st = {};
        uint64_t in_use, freed, pages, free_pages, page_size;
        unsigned batch;
        int64_t floor_cut;
        bool more;
        int q;

        if (!d || !r || !ret || r->keep_us <= 0 || r->floor_us < 0 || now_utc_us < 0)
                return -EINVAL;
        batch = r->batch_rows > 0 ? r->batch_rows : RETENTION_BATCH_DEFAULT;
        floor_cut = MAX(now_utc_us - r->floor_us, INT64_C(0));

        /* Foreign keys stay on: the indexes on infusion_id (schema 6)
         * make SQLite's check of each deleted infusion a lookup. */
        q = db_begin(d);
        if (q < 0)
                return q;
        q = step_transaction(d, r, batch, now_utc_us, floor_cut, &st);
        if (q >= 0)
                q = db_commit(d);
        if (q < 0) {
                db_rollback(d);
                return q;
        }

        /* After the commit, in a transaction of its own: the pruning
         * stands even if this fails, and the next step tries again. */
        q = incremental_vacuum(d, &freed);
        if (q < 0)
                return q;
        q = size_pages(d, &pages, &free_pages, &page_size);
        if (q < 0)
                return q;
        in_use = (pages - MIN(free_pages, pages)) * page_size;

        /* More: a table gave a whole batch; or the file is still over its
         * size and the fence could still move (it moved this step, or this
         * step only worked off what was before it and the next may move
         * it); or free pages are left and the vacuum is handing them back
         * (it did this step: a file that cannot shrink is not "more"). */
        more = st.full ||
               (r->max_bytes > 0 && in_use > r->max_bytes && st.fence < floor_cut &&
                (st.size_moved || st.deleted > 0)) ||
               (free_pages > 0 && freed > 0);

        *ret = (struct db_retention_step) {
                .rows_deleted = st.deleted,
                .pruned_before_utc_us = st.fence,
                .bytes_in_use = in_use,
                .more = more,
        };
        return more ? 1 : 0;
}
