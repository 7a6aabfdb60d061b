/* SPDX-License-Identifier: MIT */
#pragma once

/* The history database: one SQLite file in WAL mode, schema version in
 * PRAGMA user_version, forward migrations only (db/migrate.c).
 *
 * Durability: every function that records something commits before it
 * returns, so whatever the daemon acknowledged over D-Bus survives kill -9.
 * Records of commands and transitions are written with synchronous=FULL
 * (they also survive power loss); volume checkpoints use NORMAL, which
 * costs no fsync: after power loss (not kill -9) the checkpoints since the
 * last FULL write or the kernel's last writeback may be missing.
 *
 * Library-like: never logs; returns 0/positive or a negative errno:
 * -EIO for SQLite errors, -ENOSPC (disk full), -EROFS, -EBUSY (locked
 * longer than the 5 s busy timeout), -EINVAL for an argument or a value the
 * schema refuses; db_last_error() gives SQLite's text. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct db_alarm_event;

/* The schema version this build writes. */
#define DB_SCHEMA_VERSION 6

/* Open (create if missing, mode 0640) and migrate to DB_SCHEMA_VERSION.
 * -EPROTO: the file's schema is newer than this build knows; the file is
 * left untouched. -EOPNOTSUPP: the file system refused WAL mode.
 * On failure there is no d, so no db_last_error(). */
int db_open(const char *path, struct db **ret);
struct db *db_close(struct db *d);
const char *db_last_error(struct db *d);
int db_schema_version(struct db *d);

/* Open an existing history for reading only, as hospital IT and the
 * offline tools do (file:PATH?mode=ro): never writes, never migrates, and
 * every write through it fails with -EROFS. -EPROTO: the schema is not
 * DB_SCHEMA_VERSION (older: let the daemon migrate it first; newer: this
 * build cannot read it). -ENOENT: no such file. */
int db_open_readonly(const char *path, struct db **ret);

/* Infusions. An infusion row is opened at Start and closed at Stop,
 * completion, or (at the next start-up) as interrupted. */
struct db_infusion {
        int64_t id;
        unsigned channel;
        const char *mode;               /* "continuous" */
        int64_t rate_nl_per_h;
        int64_t vtbi_nl;
        int64_t kvo_rate_nl_per_h;
        int64_t volume_nl;              /* last checkpoint */
        int64_t started_utc_us;
        int64_t started_mono_us;
        int64_t ended_utc_us;           /* 0 while open */
        const char *status;             /* "active", "completed", "stopped", "interrupted" */
        /* What was infused (schema 3); NULL/NAN when not known. Written by
         * db_infusion_begin, not read back by db_infusion_get. */
        const char *care_area;
        const char *drug_id;            /* NULL: a basic infusion */
        const char *drug_name;
        double dose_rate;               /* in dose_unit; NAN: none */
        const char *dose_unit;
        const char *concentration;      /* "25000 units / 500 mL" */
        const char *library_sha256;
        /* Read back only, by db_infusions_list(): */
        int64_t checkpoint_utc_us;      /* when volume_nl was recorded */
};

/* Opens the row as "active"; inf's id, status and ended_utc_us are ignored. */
int db_infusion_begin(struct db *d, const struct db_infusion *inf, int64_t *ret_id);
/* Record the delivered volume so far (cheap; called about once a second).
 * -ENOENT if id is not an active infusion. */
int db_infusion_checkpoint(struct db *d, int64_t id, int64_t volume_nl, int64_t utc_us);
/* Close with status "completed", "stopped" or "interrupted" (else -EINVAL).
 * -ENOENT if id is not an active infusion. */
int db_infusion_end(struct db *d, int64_t id, const char *status, int64_t volume_nl, int64_t utc_us);

/* At start-up: every infusion still "active" belongs to a daemon that
 * died. Mark each "interrupted" at utc_us with its last checkpointed volume,
 * and report each through cb (which may be NULL) once that is committed;
 * cb may call into d. Each also gets an event of kind "interrupted".
 * Returns how many. */
typedef void (*db_interrupted_cb)(const struct db_infusion *inf, void *userdata);
int db_recover_interrupted(struct db *d, int64_t utc_us, db_interrupted_cb cb, void *userdata);

/* Read one infusion back (its strings are d's, valid until the next
 * db_infusion_get() or db_close()). -ENOENT if there is none. */
int db_infusion_get(struct db *d, int64_t id, struct db_infusion *ret);

/* Events: every state transition, alarm and notable thing. */
struct db_event {
        int64_t infusion_id;            /* 0 = none */
        unsigned channel;
        int64_t utc_us;
        int64_t mono_us;                /* pump time */
        const char *kind;               /* "state", "alarm", "startup", ... */
        const char *from_state;         /* may be NULL */
        const char *to_state;           /* may be NULL */
        int64_t volume_nl;
        const char *detail;             /* may be NULL */
        int64_t id;                     /* read back only; ignored by db_event_add */
};

/* -EINVAL if infusion_id names no infusion. */
int db_event_add(struct db *d, const struct db_event *e);
/* Count events, optionally of one kind (NULL = all), for tests and stats. */
int64_t db_event_count(struct db *d, const char *kind);

/* Audit: every D-Bus command, who sent it and what came of it. */
struct db_audit {
        int64_t utc_us;
        int64_t uid;                    /* -1 unknown */
        const char *method;             /* "Channel.Start" */
        const char *object;             /* D-Bus object path */
        const char *args;               /* a readable summary, may be NULL */
        const char *outcome;            /* "ok" or the D-Bus error name */
        const char *message;            /* error message, may be NULL */
};

/* Appends the row to the hash chain (schema 6): its chain_sha256 is
 * SHA-256 over the previous row's chain_sha256 and this row's content, in
 * the form docs/SCHEMA.md gives, so that a reader can check it without us. */
int db_audit_add(struct db *d, const struct db_audit *a);

/* The chain's newest row (id 0 and the anchor's hash when it is empty). */
int db_audit_head(struct db *d, int64_t *ret_id, char ret_sha256[static 65]);

/* What db_audit_verify() found. */
struct db_audit_check {
        uint64_t rows;                  /* rows checked, from the anchor on */
        int64_t anchor_id;              /* the chain starts after this row */
        int64_t head_id;                /* last good row (the newest, if intact) */
        char head_sha256[65];
        int64_t broken_id;              /* 0: intact; else the first bad row */
        char reason[256];               /* what is wrong with broken_id */
};

/* Walk the audit chain from its anchor, recomputing every hash. Returns 0
 * when intact, 1 when broken (ret says the first bad row and why), or a
 * negative errno when it could not be read. */
int db_audit_verify(struct db *d, struct db_audit_check *ret);

/* Reading the history (db/history-read.c), for the History D-Bus object
 * and the exports. Keyset paging: rows come in id order, at most `limit`
 * of them, all with id > after_id. Times select [since_utc_us,
 * until_utc_us). *ret_next_after_id is where the next page starts, 0 when
 * there is no more.
 *
 * Bounded work: the daemon serves these on the loop that renews the
 * motor's lease, so one call looks at no more than DB_SCAN_ROWS ids past
 * after_id (a filter that matches little must not read a year of events).
 * A page can therefore hold fewer rows than limit, or none, and still have
 * more after it. With infusion_id the walk is an index lookup and needs no
 * bound. Strings in the rows are valid during the callback only. A
 * callback returning < 0 stops the walk and that value is returned; else
 * the number of rows is. */
struct db_page {
        int64_t since_utc_us;
        int64_t until_utc_us;           /* INT64_MAX: no end */
        int64_t after_id;               /* 0: from the first */
        unsigned limit;                 /* 1 .. DB_PAGE_MAX */
};
#define DB_PAGE_MAX 1000u
#define DB_SCAN_ROWS 20000

/* Infusions that overlap the range: started before until and ended at or
 * after since, or still running. drug: NULL, or only those whose drug_id
 * or drug_name equals it (case-insensitive). Rows carry every column,
 * drug and checkpoint included. */
typedef int (*db_infusion_row_cb)(const struct db_infusion *inf, void *userdata);
int db_infusions_list(struct db *d, const struct db_page *page, const char *drug, db_infusion_row_cb cb,
                      void *userdata, int64_t *ret_next_after_id);
/* Events with since <= utc_us < until; infusion_id > 0: only that one's. */
typedef int (*db_event_row_cb)(const struct db_event *e, void *userdata);
int db_events_list(struct db *d, const struct db_page *page, int64_t infusion_id, db_event_row_cb cb,
                   void *userdata, int64_t *ret_next_after_id);
/* Alarm events (every action on every alarm) with since <= utc_us < until. */
typedef int (*db_alarm_row_cb)(const struct db_alarm_event *e, void *userdata);
int db_alarm_events_list(struct db *d, const struct db_page *page, int64_t infusion_id, db_alarm_row_cb cb,
                         void *userdata, int64_t *ret_next_after_id);

/* Drug library versions. Each import is a new row; the newest is in use.
 * json is the canonical export of the library (db/library-json.c), and
 * sha256 is computed here from exactly those bytes. */
struct db_library {
        int64_t id;
        const char *version;            /* the library's own version text */
        char sha256[65];                /* lower-case hex */
        int64_t imported_utc_us;
        int64_t imported_by_uid;        /* -1 unknown */
        const char *json;
};

/* Store a new version (fills lib->sha256 and *ret_id). */
int db_library_store(struct db *d, struct db_library *lib, int64_t *ret_id);
/* The library in use. Strings belong to d until the next call.
 * -ENOENT when none was ever imported. */
int db_library_current(struct db *d, struct db_library *ret);

/* SHA-256 of data as 64 lower-case hex digits plus NUL. */
int db_sha256_hex(const void *data, size_t size, char ret[static 65]);

/* A limit the drug library raised at programming: an override with its
 * reason, or a refusal. */
struct db_limit_event {
        int64_t utc_us;
        unsigned channel;
        const char *care_area;
        const char *drug_id;
        const char *kind;               /* soft-override, soft-refused, hard-refused, basic-refused */
        double value;                   /* the dose asked for, in unit; NAN none */
        const char *unit;
        const char *reason;             /* the clinician's reason (overrides) */
        const char *message;
        int64_t uid;                    /* -1 unknown */
        const char *library_sha256;
};

int db_limit_event_add(struct db *d, const struct db_limit_event *e);


/* Alarms (schema 4): each thing that happened to one, append-only. */
struct db_alarm_event {
        const char *alarm_id;           /* "occlusion-downstream-17" */
        unsigned seq;                   /* the number in the id, > 0 */
        int64_t infusion_id;            /* 0 = none */
        unsigned channel;
        const char *action;             /* raised, escalated, silenced, acknowledged, cleared */
        const char *condition;
        const char *priority;           /* low, medium, high: after the action */
        int64_t utc_us;
        int64_t mono_us;
        int64_t uid;                    /* who acted; -1: the pump itself */
        double pressure_mmhg;           /* NAN: not known */
        int64_t volume_nl;
        const char *message;            /* may be NULL */
        int64_t id;                     /* read back only; ignored by db_alarm_event_add */
};

/* -EINVAL for a missing field or an action or priority the schema refuses. */
int db_alarm_event_add(struct db *d, const struct db_alarm_event *e);
/* The seq the next alarm on this pump should take: one above any seen. */
int db_alarm_next_seq(struct db *d, unsigned *ret);

/* The newest time recorded anywhere in the file (every utc column of every
 * table: events, alarm events, PCA demands and their ends, delivery
 * samples, infusions' start, checkpoint and end, audit, limit events,
 * library imports); 0 for an empty history. */
int db_latest_utc_us(struct db *d, int64_t *ret);
/* The largest utc_us of the events of kind on channel (newest by the wall
 * clock, not by order of recording); -ENOENT if none. */
int db_event_last_utc_us(struct db *d, unsigned channel, const char *kind, int64_t *ret);

/* PCA demands (schema 5): every demand, granted or denied, and every dose
 * that counts in a PCA window (a loading dose, a clinician bolus) as a row
 * of its own source. Append-only but for a granted dose's end, set once. */
struct db_pca_demand {
        int64_t id;                     /* filled by db_pca_demand_add */
        int64_t infusion_id;            /* 0 = none (a demand while idle) */
        unsigned channel;
        int64_t utc_us;
        int64_t mono_us;
        const char *source;             /* button, dbus, simulator, loading, clinician */
        const char *outcome;            /* granted, lockout, hourly-count, cumulative-limit,
                                         * not-running, alarm-active, reservoir, bolus-in-progress */
        int64_t dose_nl;                /* the dose granted, or the one that was asked for */
        int64_t duration_us;            /* granted: its delivery time at the bolus rate */
        bool counts;                    /* granted: counts toward the cumulative limit */
        int64_t uid;                    /* -1: the button or the pump itself */
        const char *detail;             /* why, for a person; may be NULL */
        /* Read back only: */
        int64_t ended_utc_us;           /* 0: still being delivered, or denied */
        int64_t delivered_nl;           /* when ended */
};

/* -EINVAL for a missing source or outcome, or one the schema refuses. */
int db_pca_demand_add(struct db *d, const struct db_pca_demand *e, int64_t *ret_id);
/* A granted dose was delivered (or cut short): once; -ENOENT if id is
 * not a granted dose still open. */
int db_pca_dose_ended(struct db *d, int64_t id, int64_t utc_us, int64_t delivered_nl);

typedef void (*db_pca_demand_cb)(const struct db_pca_demand *e, void *userdata);
/* Granted doses on channel with utc_us >= since_utc_us, oldest first.
 * Strings are valid during the callback only. cb may be NULL, and may call
 * into d (the rows are read before the first call). Returns how many. */
int db_pca_doses_since(struct db *d, unsigned channel, int64_t since_utc_us, db_pca_demand_cb cb, void *userdata);
/* The newest `limit` demands on channel (any outcome, any source), newest
 * first by utc_us. cb as for db_pca_doses_since(). Returns how many. */
int db_pca_demands_recent(struct db *d, unsigned channel, unsigned limit, db_pca_demand_cb cb, void *userdata);
/* Demands (sources button, dbus, simulator) on channel since since_utc_us:
 * all of them and the granted ones. */
int db_pca_demand_counts(struct db *d, unsigned channel, int64_t since_utc_us, uint64_t *ret_total,
                         uint64_t *ret_granted);

/* The continuous flow (basal, limit KVO) of each closed PCA infusion on
 * channel that ended at or after since_utc_us (only_infusion_id > 0: just
 * that one): its volume less every granted dose recorded for it. The
 * basal of an earlier program is in no dose row, yet it was in the
 * patient's window. Oldest first; returns how many. */
struct db_pca_flow {
        int64_t infusion_id;
        int64_t started_utc_us;
        int64_t ended_utc_us;
        int64_t volume_nl;              /* >= 0 */
};
typedef void (*db_pca_flow_cb)(const struct db_pca_flow *f, void *userdata);
int db_pca_flow_since(struct db *d, unsigned channel, int64_t since_utc_us, int64_t only_infusion_id, db_pca_flow_cb cb,
                      void *userdata);

/* Delivery samples (schema 5): the infusion's delivered volume at each
 * change of motion (start, a dose, a pause, an alarm, KVO ...) and once a
 * minute between them. The volume is linear between two samples, so the
 * volume in any time window can be computed from them exactly to a step. */
struct db_delivery_sample {
        int64_t infusion_id;            /* > 0 */
        unsigned channel;
        int64_t utc_us;
        int64_t mono_us;
        int64_t volume_nl;              /* delivered in this infusion so far */
        int64_t rate_nl_per_h;          /* the rate from this moment on (0: still) */
};

/* Written with synchronous=NORMAL, like checkpoints. */
int db_delivery_sample_add(struct db *d, const struct db_delivery_sample *s);

/* Retention (db/retention.c): keep at most keep_us of history and at most
 * max_bytes of live data, pruning oldest first. Never prunes a record of
 * an infusion that is still active, a record newer than floor_us before
 * now (the PCA windows a restart reloads live there), the newest row of
 * any table (SQLite would hand its id out again; alarm seqs would restart),
 * the current drug library or one a kept record names. Pruned audit rows
 * move the chain's anchor forward (the schema refuses any other delete). */
struct db_retention {
        int64_t keep_us;                /* > 0 */
        uint64_t max_bytes;             /* 0: no size limit */
        int64_t floor_us;               /* keep at least this much, whatever max_bytes says */
        unsigned batch_rows;            /* rows deleted per table per step; 0: a default */
};

struct db_retention_step {
        uint64_t rows_deleted;          /* in this step, all tables */
        int64_t pruned_before_utc_us;   /* the fence after this step */
        uint64_t bytes_in_use;          /* live data after it */
        bool more;                      /* another step would prune more */
};

/* One small transaction: prune up to batch_rows per table older than the
 * cut-off that keep_us and max_bytes give, then hand free pages back with
 * an incremental vacuum. Returns 1 if more is left to prune (call again,
 * from the event loop, not in a tight loop), 0 when within the limits. */
int db_retention_step(struct db *d, const struct db_retention *r, int64_t now_utc_us,
                      struct db_retention_step *ret);

/* Live data ((page_count - freelist_count) * page_size) and file size. */
int db_size_bytes(struct db *d, uint64_t *ret_in_use, uint64_t *ret_file);
