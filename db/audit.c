/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "db/db-private.h"

/* The audit hash chain (schema 6). A row's chain_sha256 is SHA-256 over
 *
 *   the previous row's chain_sha256 (64 lower-case hex digits; for the first
 *   row, the anchor's), then for each of id, utc_us, uid, method, object,
 *   args, outcome, message in that order: "-;" when NULL, else the value as
 *   text (integers in decimal), as "<length in bytes>:<text>;".
 *
 * The lengths make the encoding unambiguous whatever the text holds, and
 * it is simple enough for hospital IT to recompute in a few lines of any
 * language (docs/SCHEMA.md). The id is in it, so renumbering shows, and a
 * missing row shows as a gap. */

#define AUDIT_FIELDS 8

static void EVP_MD_CTX_freep(EVP_MD_CTX **ctx) {
        EVP_MD_CTX_free(*ctx);
}

struct audit_field {
        const char *text;               /* NULL: SQL NULL */
        size_t size;
};

static int chain_hash(const char prev_sha256[static 65], const struct audit_field fields[static AUDIT_FIELDS],
                      char ret[static 65]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        bool ok;

        if (!ctx)
                return -ENOMEM;
        ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, prev_sha256, 64) == 1;
        for (size_t i = 0; ok && i < AUDIT_FIELDS; i++) {
                char prefix[32];
                if (!fields[i].text) {
                        ok = EVP_DigestUpdate(ctx, "-;", 2) == 1;
                        continue;
                }
                int n = snprintf(prefix, sizeof prefix, "%zu:", fields[i].size);
                ok = EVP_DigestUpdate(ctx, prefix, (size_t) n) == 1 &&
                     EVP_DigestUpdate(ctx, fields[i].text, fields[i].size) == 1 &&
                     EVP_DigestUpdate(ctx, ";", 1) == 1;
        }
        if (!ok || EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32)
                return -EIO;
        for (unsigned i = 0; i < len; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
        return 0;
}

static struct audit_field text_field(const char *s) {
        return (struct audit_field) { s, s ? strlen(s) : 0 };
}

/* The newest link: the last row, or the anchor when no row is after it. */
int db_audit_head(struct db *d, int64_t *ret_id, char ret_sha256[static 65]) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !ret_id || !ret_sha256)
                return -EINVAL;
        r = db_statement(d, DB_STMT_AUDIT_HEAD,
                         "SELECT id, chain_sha256 FROM audit WHERE id > (SELECT audit_id FROM audit_anchor)"
                         " UNION ALL SELECT audit_id, chain_sha256 FROM audit_anchor"
                         " ORDER BY 1 DESC LIMIT 1", &s);
        if (r < 0)
                return r;
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return rc == SQLITE_DONE ? db_failf(d, -EPROTO, "the audit anchor is missing") : db_fail(d, rc);
        const char *hash = (const char *) sqlite3_column_text(s, 1);
        if (!hash || strlen(hash) != 64)
                return db_failf(d, -EPROTO, "audit row %" PRIi64 " has no chain hash",
                                (int64_t) sqlite3_column_int64(s, 0));
        *ret_id = sqlite3_column_int64(s, 0);
        memcpy(ret_sha256, hash, 65);
        return 0;
}

static int audit_insert(struct db *d, const struct db_audit *a) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        char prev[65], hash[65], id_text[24], utc_text[24], uid_text[24];
        int64_t head_id;
        int r, rc;

        /* Read the head and write after it under one write lock, so no
         * other writer can slip a row in between. */
        r = db_audit_head(d, &head_id, prev);
        if (r < 0)
                return r;
        snprintf(id_text, sizeof id_text, "%" PRIi64, head_id + 1);
        snprintf(utc_text, sizeof utc_text, "%" PRIi64, a->utc_us);
        snprintf(uid_text, sizeof uid_text, "%" PRIi64, a->uid);
        /* An unknown uid is NULL, not -1, so a reader's "uid = 0" or
         * "uid < 1000" cannot match it. */
        const struct audit_field fields[AUDIT_FIELDS] = {
                text_field(id_text), text_field(utc_text), text_field(a->uid < 0 ? NULL : uid_text),
                text_field(a->method), text_field(a->object), text_field(a->args),
                text_field(a->outcome), text_field(a->message),
        };
        r = chain_hash(prev, fields, hash);
        if (r < 0)
                return db_failf(d, r, "cannot compute the audit chain's SHA-256");

        r = db_statement(d, DB_STMT_AUDIT_ADD,
                         "INSERT INTO audit (id, utc_us, uid, method, object, args, outcome, message, chain_sha256)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &s);
        if (r < 0)
                return r;
        /* Binds chain with ?: (SQLITE_OK is 0). Strings are the caller's
         * and ours, read only by the step below. */
        rc = sqlite3_bind_int64(s, 1, head_id + 1) ?:
             sqlite3_bind_int64(s, 2, a->utc_us) ?:
             (a->uid < 0 ? sqlite3_bind_null(s, 3) : sqlite3_bind_int64(s, 3, a->uid)) ?:
             sqlite3_bind_text(s, 4, a->method, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 5, a->object, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 6, a->args, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 7, a->outcome, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 8, a->message, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 9, hash, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return db_step_done(d, s);
}

int db_audit_add(struct db *d, const struct db_audit *a) {
        bool own_transaction;
        int r;

        if (!d || !a || !a->method || !a->object || !a->outcome)
                return -EINVAL;

        own_transaction = sqlite3_get_autocommit(d->sqlite);
        if (own_transaction) {
                r = db_begin(d);
                if (r < 0)
                        return r;
        }
        r = audit_insert(d, a);
        if (own_transaction) {
                if (r >= 0)
                        r = db_commit(d);
                if (r < 0)
                        db_rollback(d);
        }
        return r;
}

/* The fields of a row selected by AUDIT_ROW_COLUMNS, as SQLite returns
 * them: valid until the statement moves on. */
#define AUDIT_ROW_COLUMNS "id, utc_us, uid, method, object, args, outcome, message, chain_sha256"

static void row_fields(sqlite3_stmt *s, struct audit_field ret[static AUDIT_FIELDS]) {
        for (int i = 0; i < AUDIT_FIELDS; i++) {
                /* text first, then its size: the order SQLite asks for */
                const char *t = (const char *) sqlite3_column_text(s, i);
                ret[i] = (struct audit_field) { t, t ? (size_t) sqlite3_column_bytes(s, i) : 0 };
        }
}

static int anchor_get(struct db *d, int64_t *ret_id, char ret_sha256[static 65]) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        r = db_statement(d, DB_STMT_AUDIT_ANCHOR, "SELECT audit_id, chain_sha256 FROM audit_anchor", &s);
        if (r < 0)
                return r;
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return rc == SQLITE_DONE ? db_failf(d, -EPROTO, "the audit anchor is missing") : db_fail(d, rc);
        const char *hash = (const char *) sqlite3_column_text(s, 1);
        if (!hash || strlen(hash) != 64)
                return db_failf(d, -EPROTO, "the audit anchor has no hash");
        *ret_id = sqlite3_column_int64(s, 0);
        memcpy(ret_sha256, hash, 65);
        return 0;
}

int db_audit_chain_rows(struct db *d) {
        char prev[65];
        int64_t last_id;
        int r, rc;

        r = anchor_get(d, &last_id, prev);
        if (r < 0)
                return r;

        /* One row at a time, each read and then updated by id: a scan of
         * the table is never open while it changes under it. */
        for (;;) {
                _cleanup_(sqlite3_finalizep) sqlite3_stmt *sel = NULL, *upd = NULL;
                struct audit_field fields[AUDIT_FIELDS];
                char hash[65];

                rc = sqlite3_prepare_v2(d->sqlite, "SELECT " AUDIT_ROW_COLUMNS " FROM audit WHERE id > ?1"
                                        " ORDER BY id LIMIT 1", -1, &sel, NULL);
                if (rc == SQLITE_OK)
                        rc = sqlite3_bind_int64(sel, 1, last_id);
                if (rc != SQLITE_OK)
                        return db_fail(d, rc);
                rc = sqlite3_step(sel);
                if (rc == SQLITE_DONE)
                        return 0;
                if (rc != SQLITE_ROW)
                        return db_fail(d, rc);
                int64_t id = sqlite3_column_int64(sel, 0);
                if (id != last_id + 1)
                        return db_failf(d, -EPROTO, "audit rows %" PRIi64 "..%" PRIi64 " are missing",
                                        last_id + 1, id - 1);
                row_fields(sel, fields);
                r = chain_hash(prev, fields, hash);
                if (r < 0)
                        return db_failf(d, r, "cannot compute the audit chain's SHA-256");

                rc = sqlite3_prepare_v2(d->sqlite, "UPDATE audit SET chain_sha256 = ?2 WHERE id = ?1", -1, &upd,
                                        NULL);
                if (rc == SQLITE_OK)
                        rc = sqlite3_bind_int64(upd, 1, id) ?: sqlite3_bind_text(upd, 2, hash, -1, SQLITE_STATIC);
                if (rc != SQLITE_OK)
                        return db_fail(d, rc);
                rc = sqlite3_step(upd);
                if (rc != SQLITE_DONE)
                        return db_fail(d, rc);
                memcpy(prev, hash, sizeof prev);
                last_id = id;
        }
}

static int verify_walk(struct db *d, struct db_audit_check *c) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        char prev[65];
        int r, rc;

        r = anchor_get(d, &c->anchor_id, prev);
        if (r < 0)
                return r;
        c->head_id = c->anchor_id;
        memcpy(c->head_sha256, prev, sizeof prev);

        r = db_statement(d, DB_STMT_AUDIT_WALK,
                         "SELECT " AUDIT_ROW_COLUMNS " FROM audit WHERE id > ?1 ORDER BY id", &s);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(s, 1, c->anchor_id);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                struct audit_field fields[AUDIT_FIELDS];
                char hash[65];
                int64_t id = sqlite3_column_int64(s, 0);
                const char *stored = (const char *) sqlite3_column_text(s, 8);

                if (id != c->head_id + 1) {
                        c->broken_id = id;
                        snprintf(c->reason, sizeof c->reason,
                                 "rows %" PRIi64 "..%" PRIi64 " are missing: the chain jumps from row %" PRIi64
                                 " to row %" PRIi64, c->head_id + 1, id - 1, c->head_id, id);
                        return 1;
                }
                row_fields(s, fields);
                r = chain_hash(prev, fields, hash);
                if (r < 0)
                        return db_failf(d, r, "cannot compute the audit chain's SHA-256");
                if (!stored || strcmp(stored, hash) != 0) {
                        c->broken_id = id;
                        snprintf(c->reason, sizeof c->reason,
                                 "its chain hash %.16s... does not match %.16s..., computed from its content and "
                                 "the hash before it: row %" PRIi64 " was changed (or the hash of row %" PRIi64 ")",
                                 stored ?: "(none)", hash, id, c->head_id);
                        return 1;
                }
                c->rows++;
                c->head_id = id;
                memcpy(prev, hash, sizeof prev);
                memcpy(c->head_sha256, hash, sizeof hash);
        }
        return rc == SQLITE_DONE ? 0 : db_fail(d, rc);
}

int db_audit_verify(struct db *d, struct db_audit_check *ret) {
        struct db_audit_check c = {};
        int r;

        if (!d || !ret)
                return -EINVAL;
        /* One read transaction: the walk sees one state of the file even
         * while the daemon appends. */
        r = db_read_begin(d);
        if (r < 0)
                return r;
        r = verify_walk(d, &c);
        db_read_end(d);
        if (r < 0)
                return r;
        *ret = c;
        return r;
}
