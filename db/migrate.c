/* SPDX-License-Identifier: MIT */
#include "db/migrate.h"

#include <errno.h>
#include <stdio.h>

#include "common/macros.h"
#include "db/db-private.h"

/* migrations[i] takes the schema from version i to i + 1. A released step
 * is never edited: a change is a new step, because files in the field
 * already ran the old one. Steps run with foreign_keys=ON; one that has to
 * rebuild a referenced table must turn it off before its transaction.
 *
 * Not STRICT tables: a hospital's SQLite older than 3.37 could not open
 * the file at all. Units are in the column names; times are UTC µs since
 * the epoch (utc_us) or pump-monotonic µs (mono_us). docs/SCHEMA.md is the
 * reader's description of all this and changes with every step. */
static const char *const migrations[] = {
        /* 0 -> 1 */
        "CREATE TABLE infusions ("
        "  id INTEGER PRIMARY KEY,"
        "  channel INTEGER NOT NULL CHECK (channel >= 0),"
        "  mode TEXT NOT NULL,"
        "  status TEXT NOT NULL DEFAULT 'active'"
        "    CHECK (status IN ('active', 'completed', 'stopped', 'interrupted')),"
        "  rate_nl_per_h INTEGER NOT NULL CHECK (rate_nl_per_h >= 0),"
        "  vtbi_nl INTEGER NOT NULL CHECK (vtbi_nl >= 0),"
        "  kvo_rate_nl_per_h INTEGER NOT NULL CHECK (kvo_rate_nl_per_h >= 0),"
        "  volume_nl INTEGER NOT NULL DEFAULT 0 CHECK (volume_nl >= 0),"
        "  started_utc_us INTEGER NOT NULL,"
        "  started_mono_us INTEGER NOT NULL,"
        "  ended_utc_us INTEGER,"
        "  checkpoint_utc_us INTEGER NOT NULL,"
        /* an open row has no end, a closed one always has */
        "  CHECK ((status = 'active') = (ended_utc_us IS NULL))"
        ");"
        "CREATE INDEX infusions_started_utc_us ON infusions (started_utc_us);"
        /* start-up recovery looks for the few open rows among many */
        "CREATE INDEX infusions_active ON infusions (id) WHERE status = 'active';"

        "CREATE TABLE events ("
        "  id INTEGER PRIMARY KEY,"
        "  infusion_id INTEGER REFERENCES infusions (id),"
        "  channel INTEGER NOT NULL CHECK (channel >= 0),"
        "  utc_us INTEGER NOT NULL,"
        /* NULL where the pump's clock is not known (start-up recovery) */
        "  mono_us INTEGER,"
        "  kind TEXT NOT NULL CHECK (kind <> ''),"
        "  from_state TEXT,"
        "  to_state TEXT,"
        "  volume_nl INTEGER NOT NULL DEFAULT 0,"
        "  detail TEXT"
        ");"
        "CREATE INDEX events_utc_us ON events (utc_us);"
        "CREATE INDEX events_infusion_id ON events (infusion_id);"

        "CREATE TABLE audit ("
        "  id INTEGER PRIMARY KEY,"
        "  utc_us INTEGER NOT NULL,"
        "  uid INTEGER,"                                /* NULL: unknown */
        "  method TEXT NOT NULL,"
        "  object TEXT NOT NULL,"
        "  args TEXT,"
        "  outcome TEXT NOT NULL CHECK (outcome <> ''),"
        "  message TEXT"
        ");"
        "CREATE INDEX audit_utc_us ON audit (utc_us);"
        /* Guards against our own bugs, not against tampering: whoever can
         * write the file can drop a trigger. */
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
        "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
        "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"

        /* Views for readers: mL and ISO-8601 text beside the exact integers.
         * Times are cut to the millisecond first (utc_us / 1000) so that
         * strftime's rounding never shows a time later than the record. */
        "CREATE VIEW v_infusions AS SELECT"
        "  id, channel, mode, status,"
        "  strftime('%Y-%m-%dT%H:%M:%fZ', started_utc_us / 1000 / 1000.0, 'unixepoch') AS started_utc,"
        "  strftime('%Y-%m-%dT%H:%M:%fZ', ended_utc_us / 1000 / 1000.0, 'unixepoch') AS ended_utc,"
        "  strftime('%Y-%m-%dT%H:%M:%fZ', checkpoint_utc_us / 1000 / 1000.0, 'unixepoch') AS checkpoint_utc,"
        "  rate_nl_per_h / 1e6 AS rate_ml_per_h,"
        "  vtbi_nl / 1e6 AS vtbi_ml,"
        "  kvo_rate_nl_per_h / 1e6 AS kvo_rate_ml_per_h,"
        "  volume_nl / 1e6 AS volume_ml,"
        "  rate_nl_per_h, vtbi_nl, kvo_rate_nl_per_h, volume_nl,"
        "  started_utc_us, started_mono_us, ended_utc_us, checkpoint_utc_us"
        "  FROM infusions;"

        "CREATE VIEW v_infusion_events AS SELECT"
        "  e.id, e.infusion_id, e.channel,"
        "  strftime('%Y-%m-%dT%H:%M:%fZ', e.utc_us / 1000 / 1000.0, 'unixepoch') AS utc,"
        "  e.kind, e.from_state, e.to_state,"
        "  e.volume_nl / 1e6 AS volume_ml,"
        "  e.detail,"
        "  i.mode AS infusion_mode, i.status AS infusion_status,"
        "  e.utc_us, e.mono_us, e.volume_nl"
        "  FROM events AS e LEFT JOIN infusions AS i ON i.id = e.infusion_id;",

        /* 1 -> 2: the drug library, versioned. Every import is kept; the
         * newest row is the library in use. The SHA-256 is of the stored
         * canonical JSON, so pharmacy can check it against their file. */
        "CREATE TABLE drug_libraries ("
        "  id INTEGER PRIMARY KEY,"
        "  version TEXT NOT NULL,"
        "  sha256 TEXT NOT NULL CHECK (length(sha256) = 64),"
        "  imported_utc_us INTEGER NOT NULL,"
        "  imported_by_uid INTEGER,"                    /* NULL: unknown */
        "  json TEXT NOT NULL"
        ");"
        "CREATE TRIGGER drug_libraries_no_update BEFORE UPDATE ON drug_libraries"
        "  BEGIN SELECT RAISE(ABORT, 'drug library versions are append-only'); END;"
        "CREATE VIEW v_drug_libraries AS SELECT"
        "  id, version, sha256,"
        "  strftime('%Y-%m-%dT%H:%M:%fZ', imported_utc_us / 1000 / 1000.0, 'unixepoch') AS imported_utc,"
        "  imported_by_uid, imported_utc_us,"
        "  id = (SELECT max(id) FROM drug_libraries) AS in_use"
        "  FROM drug_libraries;",

        /* 2 -> 3: what was infused (drug, care area, dose) and every limit
         * the drug library raised, for pharmacy's compliance review. */
        "ALTER TABLE infusions ADD COLUMN care_area TEXT;"
        "ALTER TABLE infusions ADD COLUMN drug_id TEXT;"            /* NULL: basic infusion */
        "ALTER TABLE infusions ADD COLUMN drug_name TEXT;"
        "ALTER TABLE infusions ADD COLUMN dose_rate REAL;"          /* in dose_unit */
        "ALTER TABLE infusions ADD COLUMN dose_unit TEXT;"
        "ALTER TABLE infusions ADD COLUMN concentration TEXT;"
        "ALTER TABLE infusions ADD COLUMN library_sha256 TEXT;"     /* library in use at start */
        "CREATE TABLE limit_events ("
        "  id INTEGER PRIMARY KEY,"
        "  utc_us INTEGER NOT NULL,"
        "  channel INTEGER NOT NULL CHECK (channel >= 0),"
        "  care_area TEXT,"
        "  drug_id TEXT,"
        "  kind TEXT NOT NULL CHECK (kind IN ('soft-override', 'soft-refused', 'hard-refused', 'basic-refused')),"
        "  value REAL,"
        "  unit TEXT,"
        "  reason TEXT,"                                /* the clinician's, for overrides */
        "  message TEXT,"
        "  uid INTEGER,"
        "  library_sha256 TEXT"
        ");"
        "CREATE INDEX limit_events_utc_us ON limit_events (utc_us);"
        "CREATE VIEW v_library_compliance AS SELECT"
        "  a.care_area,"
        "  (SELECT count(*) FROM infusions i WHERE i.care_area IS a.care_area) AS infusions,"
        "  (SELECT count(*) FROM infusions i WHERE i.care_area IS a.care_area AND i.drug_id IS NOT NULL) AS from_library,"
        "  (SELECT round(100.0 * count(i.drug_id) / max(count(*), 1), 1) FROM infusions i"
        "     WHERE i.care_area IS a.care_area) AS library_use_pct,"
        "  (SELECT count(*) FROM limit_events l WHERE l.care_area IS a.care_area AND l.kind = 'soft-override') AS soft_overrides,"
        "  (SELECT count(*) FROM limit_events l WHERE l.care_area IS a.care_area AND l.kind = 'hard-refused') AS hard_stops"
        "  FROM (SELECT DISTINCT care_area FROM infusions UNION SELECT DISTINCT care_area FROM limit_events) AS a;"
        "CREATE VIEW v_limit_events AS SELECT"
        "  id, strftime('%Y-%m-%dT%H:%M:%fZ', utc_us / 1000 / 1000.0, 'unixepoch') AS utc,"
        "  channel, care_area, drug_id, kind, value, unit, reason, message, uid, library_sha256, utc_us"
        "  FROM limit_events;",

        /* 3 -> 4: the alarm record. One row per thing that happened to an
         * alarm (raised, escalated, silenced, acknowledged, cleared), with
         * who acted and the pressure and volume at that moment. An alarm is
         * named by its id; the seq in it never repeats on this pump, so ids
         * stay unique across restarts. */
        "CREATE TABLE alarm_events ("
        "  id INTEGER PRIMARY KEY,"
        "  alarm_id TEXT NOT NULL CHECK (alarm_id <> ''),"
        "  seq INTEGER NOT NULL CHECK (seq > 0),"
        "  infusion_id INTEGER REFERENCES infusions (id),"
        "  channel INTEGER NOT NULL CHECK (channel >= 0),"
        "  action TEXT NOT NULL"
        "    CHECK (action IN ('raised', 'escalated', 'silenced', 'acknowledged', 'cleared')),"
        "  condition TEXT NOT NULL,"
        "  priority TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high')),"
        "  utc_us INTEGER NOT NULL,"
        "  mono_us INTEGER,"
        "  uid INTEGER,"                                /* NULL: the pump itself */
        "  pressure_mmhg REAL,"                         /* NULL: not read */
        "  volume_nl INTEGER,"                          /* infused so far in the infusion */
        "  message TEXT"
        ");"
        "CREATE INDEX alarm_events_utc_us ON alarm_events (utc_us);"
        "CREATE INDEX alarm_events_alarm_id ON alarm_events (alarm_id);"
        "CREATE TRIGGER alarm_events_no_update BEFORE UPDATE ON alarm_events"
        "  BEGIN SELECT RAISE(ABORT, 'alarm events are append-only'); END;"
        "CREATE TRIGGER alarm_events_no_delete BEFORE DELETE ON alarm_events"
        "  BEGIN SELECT RAISE(ABORT, 'alarm events are append-only'); END;"
        "CREATE VIEW v_alarm_events AS SELECT"
        "  id, strftime('%Y-%m-%dT%H:%M:%fZ', utc_us / 1000 / 1000.0, 'unixepoch') AS utc,"
        "  alarm_id, infusion_id, channel, action, condition, priority, uid,"
        "  pressure_mmhg, volume_nl / 1000000.0 AS volume_ml, message, utc_us"
        "  FROM alarm_events;"
        /* One row per alarm: when it was raised, how high it got, and who
         * answered it when. */
        "CREATE VIEW v_alarms AS SELECT"
        "  r.alarm_id, r.condition, r.infusion_id, r.channel,"
        "  strftime('%Y-%m-%dT%H:%M:%fZ', r.utc_us / 1000 / 1000.0, 'unixepoch') AS raised_utc,"
        "  r.priority AS raised_priority,"
        "  (SELECT e.priority FROM alarm_events e WHERE e.alarm_id = r.alarm_id ORDER BY e.id DESC LIMIT 1)"
        "    AS last_priority,"
        "  r.pressure_mmhg AS pressure_at_raise_mmhg, r.volume_nl / 1000000.0 AS volume_at_raise_ml,"
        "  (SELECT count(*) FROM alarm_events e WHERE e.alarm_id = r.alarm_id AND e.action = 'silenced') AS silenced,"
        "  (SELECT min(e.utc_us) FROM alarm_events e WHERE e.alarm_id = r.alarm_id AND e.action = 'acknowledged')"
        "    AS acknowledged_utc_us,"
        "  (SELECT e.uid FROM alarm_events e WHERE e.alarm_id = r.alarm_id AND e.action = 'acknowledged' LIMIT 1)"
        "    AS acknowledged_by_uid,"
        "  (SELECT min(e.utc_us) FROM alarm_events e WHERE e.alarm_id = r.alarm_id"
        "     AND e.action IN ('acknowledged', 'cleared')) AS ended_utc_us,"
        "  r.message, r.utc_us AS raised_utc_us"
        "  FROM alarm_events r WHERE r.action = 'raised';",

        /* 4 -> 5: patient-controlled analgesia and the delivery record.
         * pca_demands is what a restart reloads the lockout, the hourly
         * count and the cumulative window from, so a granted dose must
         * never be lost or rewritten: losing one would give the patient
         * an extra dose after a restart. */
        "CREATE TABLE pca_demands ("
        "  id INTEGER PRIMARY KEY,"
        "  infusion_id INTEGER REFERENCES infusions (id),"     /* NULL: demanded while idle */
        "  channel INTEGER NOT NULL CHECK (channel >= 0),"
        "  utc_us INTEGER NOT NULL,"
        "  mono_us INTEGER NOT NULL,"
        /* The patient's (button, dbus, simulator), or a dose that counts in
         * the window without being a demand (loading, clinician). */
        "  source TEXT NOT NULL"
        "    CHECK (source IN ('button', 'dbus', 'simulator', 'loading', 'clinician')),"
        "  outcome TEXT NOT NULL"
        "    CHECK (outcome IN ('granted', 'lockout', 'hourly-count', 'cumulative-limit',"
        "                       'not-running', 'alarm-active', 'reservoir', 'bolus-in-progress')),"
        "  dose_nl INTEGER NOT NULL CHECK (dose_nl >= 0),"   /* granted, or asked for */
        "  duration_us INTEGER NOT NULL CHECK (duration_us >= 0),"
        "  counts INTEGER NOT NULL CHECK (counts IN (0, 1)),"  /* toward the cumulative limit */
        "  uid INTEGER,"                                /* NULL: the button or the pump itself */
        "  detail TEXT,"
        "  ended_utc_us INTEGER,"
        "  delivered_nl INTEGER CHECK (delivered_nl >= 0),"
        /* only a granted dose ends, and its end comes with its volume */
        "  CHECK ((ended_utc_us IS NULL) = (delivered_nl IS NULL)),"
        "  CHECK (ended_utc_us IS NULL OR outcome = 'granted')"
        ");"
        "CREATE INDEX pca_demands_utc_us ON pca_demands (utc_us);"
        /* the window queries: one channel, a span of time */
        "CREATE INDEX pca_demands_channel_utc_us ON pca_demands (channel, utc_us);"
        "CREATE TRIGGER pca_demands_no_delete BEFORE DELETE ON pca_demands"
        "  BEGIN SELECT RAISE(ABORT, 'PCA demands are append-only'); END;"
        /* The one update allowed: a granted dose's end, once, every other
         * column as it was. IS compares NULLs as equal. */
        "CREATE TRIGGER pca_demands_no_update BEFORE UPDATE ON pca_demands"
        "  WHEN NOT (OLD.outcome = 'granted'"
        "            AND OLD.ended_utc_us IS NULL AND OLD.delivered_nl IS NULL"
        "            AND NEW.ended_utc_us IS NOT NULL AND NEW.delivered_nl IS NOT NULL"
        "            AND NEW.id IS OLD.id AND NEW.infusion_id IS OLD.infusion_id"
        "            AND NEW.channel IS OLD.channel AND NEW.utc_us IS OLD.utc_us"
        "            AND NEW.mono_us IS OLD.mono_us AND NEW.source IS OLD.source"
        "            AND NEW.outcome IS OLD.outcome AND NEW.dose_nl IS OLD.dose_nl"
        "            AND NEW.duration_us IS OLD.duration_us AND NEW.counts IS OLD.counts"
        "            AND NEW.uid IS OLD.uid AND NEW.detail IS OLD.detail)"
        "  BEGIN SELECT RAISE(ABORT, 'PCA demands are append-only but for a granted dose''s end, set once'); END;"

        /* The delivered volume at each change of motion and once a minute
         * between: linear in between, so any window's volume follows. */
        "CREATE TABLE delivery_samples ("
        "  id INTEGER PRIMARY KEY,"
        "  infusion_id INTEGER NOT NULL REFERENCES infusions (id),"
        "  channel INTEGER NOT NULL CHECK (channel >= 0),"
        "  utc_us INTEGER NOT NULL,"
        "  mono_us INTEGER NOT NULL,"
        "  volume_nl INTEGER NOT NULL CHECK (volume_nl >= 0),"   /* in the infusion so far */
        "  rate_nl_per_h INTEGER NOT NULL CHECK (rate_nl_per_h >= 0)" /* from this sample on */
        ");"
        /* Also what db_latest_utc_us() finds each infusion's newest sample
         * by, so it need not read the whole table. */
        "CREATE INDEX delivery_samples_infusion_id_utc_us ON delivery_samples (infusion_id, utc_us);"
        "CREATE TRIGGER delivery_samples_no_update BEFORE UPDATE ON delivery_samples"
        "  BEGIN SELECT RAISE(ABORT, 'delivery samples are append-only'); END;"
        "CREATE TRIGGER delivery_samples_no_delete BEFORE DELETE ON delivery_samples"
        "  BEGIN SELECT RAISE(ABORT, 'delivery samples are append-only'); END;"

        /* db_event_last_utc_us() looks for one kind on one channel among
         * every event ever recorded: an index lookup, not a scan. */
        "CREATE INDEX events_channel_kind_utc_us ON events (channel, kind, utc_us);"

        "CREATE VIEW v_pca_demands AS SELECT"
        "  id, strftime('%Y-%m-%dT%H:%M:%fZ', utc_us / 1000 / 1000.0, 'unixepoch') AS utc,"
        "  infusion_id, channel, source, outcome,"
        "  dose_nl / 1e6 AS dose_ml, duration_us / 1e6 AS duration_s, counts,"
        "  delivered_nl / 1e6 AS delivered_ml,"
        "  strftime('%Y-%m-%dT%H:%M:%fZ', ended_utc_us / 1000 / 1000.0, 'unixepoch') AS ended_utc,"
        "  uid, detail,"
        "  utc_us, mono_us, dose_nl, duration_us, ended_utc_us, delivered_nl"
        "  FROM pca_demands;"
        "CREATE VIEW v_delivery_samples AS SELECT"
        "  id, strftime('%Y-%m-%dT%H:%M:%fZ', utc_us / 1000 / 1000.0, 'unixepoch') AS utc,"
        "  infusion_id, channel,"
        "  volume_nl / 1e6 AS volume_ml, rate_nl_per_h / 1e6 AS rate_ml_per_h,"
        "  utc_us, mono_us, volume_nl, rate_nl_per_h"
        "  FROM delivery_samples;",

        /* 5 -> 6: the audit hash chain and retention.
         *
         * Each audit row gets chain_sha256, SHA-256 over the previous
         * row's chain_sha256 and its own content (db/audit.c has the exact
         * bytes; docs/SCHEMA.md gives them to readers). The rows before
         * this version are chained by migrate_chain_audit() below, after
         * this SQL and before audit_no_update comes back.
         *
         * Retention prunes oldest first, so the append-only tables must let
         * it delete, and nothing else. Two fences, both single rows that
         * only move forward: retention.pruned_before_utc_us for records by
         * time, and audit_anchor for the audit chain (the row the chain now
         * starts after, and its hash, so verification still starts from a
         * known value once older rows are gone). The delete triggers refuse
         * anything on the near side of a fence. Like the other triggers they
         * guard against our own bugs; the chain is what shows tampering. */
        "DROP TRIGGER audit_no_update;"
        "DROP TRIGGER audit_no_delete;"
        "ALTER TABLE audit ADD COLUMN chain_sha256 TEXT"
        "  CHECK (chain_sha256 IS NULL OR length(chain_sha256) = 64);"

        "CREATE TABLE audit_anchor ("
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  audit_id INTEGER NOT NULL CHECK (audit_id >= 0),"      /* the chain starts after it */
        "  chain_sha256 TEXT NOT NULL CHECK (length(chain_sha256) = 64),"
        "  moved_utc_us INTEGER"                          /* NULL: never moved */
        ");"
        /* All zeros, just before the first row there is. */
        "INSERT INTO audit_anchor (id, audit_id, chain_sha256)"
        "  VALUES (1, coalesce((SELECT min(id) FROM audit) - 1, 0),"
        "          '0000000000000000000000000000000000000000000000000000000000000000');"
        "CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor"
        "  BEGIN SELECT RAISE(ABORT, 'the audit anchor is never deleted'); END;"
        /* Forward only, and only onto a row that is there with the hash it
         * has: the anchor always names a real link of the chain. */
        "CREATE TRIGGER audit_anchor_forward BEFORE UPDATE ON audit_anchor"
        "  WHEN NOT (NEW.id IS OLD.id AND NEW.audit_id >= OLD.audit_id"
        "            AND (NEW.audit_id = OLD.audit_id AND NEW.chain_sha256 IS OLD.chain_sha256"
        "                 OR NEW.chain_sha256 IS (SELECT chain_sha256 FROM audit WHERE id = NEW.audit_id)))"
        "  BEGIN SELECT RAISE(ABORT, 'the audit anchor only moves forward, onto a chained row'); END;"
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
        "  WHEN OLD.id > (SELECT audit_id FROM audit_anchor)"
        "  BEGIN SELECT RAISE(ABORT, 'audit is append-only: move the anchor past a row before pruning it'); END;"
        /* New rows must extend the chain, in id order. */
        "CREATE TRIGGER audit_chained BEFORE INSERT ON audit"
        "  WHEN NEW.chain_sha256 IS NULL"
        "    OR NEW.id <= coalesce((SELECT max(id) FROM audit), (SELECT audit_id FROM audit_anchor))"
        "  BEGIN SELECT RAISE(ABORT, 'an audit row must carry its chain hash and come after every other'); END;"

        "CREATE TABLE retention ("
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  pruned_before_utc_us INTEGER NOT NULL CHECK (pruned_before_utc_us >= 0),"
        "  pruned_utc_us INTEGER"                         /* when it last moved; NULL: never */
        ");"
        "INSERT INTO retention (id, pruned_before_utc_us) VALUES (1, 0);"
        "CREATE TRIGGER retention_no_delete BEFORE DELETE ON retention"
        "  BEGIN SELECT RAISE(ABORT, 'the retention fence is never deleted'); END;"
        "CREATE TRIGGER retention_forward BEFORE UPDATE ON retention"
        "  WHEN NOT (NEW.id IS OLD.id AND NEW.pruned_before_utc_us >= OLD.pruned_before_utc_us)"
        "  BEGIN SELECT RAISE(ABORT, 'the retention fence only moves forward'); END;"

        "DROP TRIGGER alarm_events_no_delete;"
        "CREATE TRIGGER alarm_events_no_delete BEFORE DELETE ON alarm_events"
        "  WHEN OLD.utc_us >= (SELECT pruned_before_utc_us FROM retention)"
        "  BEGIN SELECT RAISE(ABORT, 'alarm events are append-only (retention prunes before its fence)'); END;"
        "DROP TRIGGER pca_demands_no_delete;"
        "CREATE TRIGGER pca_demands_no_delete BEFORE DELETE ON pca_demands"
        "  WHEN OLD.utc_us >= (SELECT pruned_before_utc_us FROM retention)"
        "  BEGIN SELECT RAISE(ABORT, 'PCA demands are append-only (retention prunes before its fence)'); END;"
        "DROP TRIGGER delivery_samples_no_delete;"
        "CREATE TRIGGER delivery_samples_no_delete BEFORE DELETE ON delivery_samples"
        "  WHEN OLD.utc_us >= (SELECT pruned_before_utc_us FROM retention)"
        "  BEGIN SELECT RAISE(ABORT, 'delivery samples are append-only (retention prunes before its fence)'); END;"
        /* Events, infusions and limit events had no delete guard; now they
         * get the same fence. An infusion goes by its end: a running one,
         * or one that ended after the fence, stays. */
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events"
        "  WHEN OLD.utc_us >= (SELECT pruned_before_utc_us FROM retention)"
        "  BEGIN SELECT RAISE(ABORT, 'events are append-only (retention prunes before its fence)'); END;"
        "CREATE TRIGGER limit_events_no_delete BEFORE DELETE ON limit_events"
        "  WHEN OLD.utc_us >= (SELECT pruned_before_utc_us FROM retention)"
        "  BEGIN SELECT RAISE(ABORT, 'limit events are append-only (retention prunes before its fence)'); END;"
        "CREATE TRIGGER infusions_no_delete BEFORE DELETE ON infusions"
        "  WHEN OLD.ended_utc_us IS NULL OR OLD.ended_utc_us >= (SELECT pruned_before_utc_us FROM retention)"
        "  BEGIN SELECT RAISE(ABORT, 'infusions are kept until retention prunes them, never while running'); END;"
        /* A library version is kept while it is the one in use. */
        /* Deleting an infusion makes SQLite look for rows that still name
         * it; without these that is a scan of each table per infusion
         * (seconds a batch on a year of PCA demands). */
        "CREATE INDEX pca_demands_infusion_id ON pca_demands (infusion_id);"
        "CREATE INDEX alarm_events_infusion_id ON alarm_events (infusion_id);"
        "CREATE TRIGGER drug_libraries_no_delete BEFORE DELETE ON drug_libraries"
        "  WHEN OLD.id = (SELECT max(id) FROM drug_libraries)"
        "    OR OLD.imported_utc_us >= (SELECT pruned_before_utc_us FROM retention)"
        "  BEGIN SELECT RAISE(ABORT, 'drug library versions are kept until retention prunes them, the one in use always'); END;"

        /* The audit log for readers, with the chain and its state. */
        "CREATE VIEW v_audit AS SELECT"
        "  id, strftime('%Y-%m-%dT%H:%M:%fZ', utc_us / 1000 / 1000.0, 'unixepoch') AS utc,"
        "  uid, method, object, args, outcome, message, chain_sha256, utc_us"
        "  FROM audit;"
        "CREATE VIEW v_retention AS SELECT"
        "  r.pruned_before_utc_us,"
        "  strftime('%Y-%m-%dT%H:%M:%fZ', r.pruned_before_utc_us / 1000 / 1000.0, 'unixepoch') AS pruned_before_utc,"
        "  strftime('%Y-%m-%dT%H:%M:%fZ', r.pruned_utc_us / 1000 / 1000.0, 'unixepoch') AS pruned_utc,"
        "  a.audit_id AS audit_anchor_id, a.chain_sha256 AS audit_anchor_sha256"
        "  FROM retention AS r, audit_anchor AS a;",
};

/* Work a step needs beyond its SQL, run right after it in the same
 * transaction; NULL where there is none. */
static int migrate_chain_audit(struct db *d);
static int (*const migration_hooks[])(struct db *d) = {
        [5] = migrate_chain_audit,
};

_Static_assert(ELEMENTSOF(migrations) == DB_SCHEMA_VERSION, "one migration step per schema version");
_Static_assert(ELEMENTSOF(migration_hooks) <= DB_SCHEMA_VERSION, "a hook belongs to a step");

/* Chain the audit rows written before schema 6, oldest first, from the
 * all-zero anchor placed just before the first of them; then put the
 * update guard back. */
static int migrate_chain_audit(struct db *d) {
        int r, rc;

        r = db_audit_chain_rows(d);
        if (r < 0)
                return r;
        rc = sqlite3_exec(d->sqlite,
                          "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
                          "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;",
                          NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : db_fail(d, rc);
}

int db_user_version(struct db *d) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        r = db_statement(d, DB_STMT_USER_VERSION, "PRAGMA user_version", &s);
        if (r < 0)
                return r;
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        r = sqlite3_column_int(s, 0);
        /* negative is legal for SQLite but never ours */
        if (r < 0)
                return db_failf(d, -EPROTO, "schema version %d is not one of infusiond's", r);
        return r;
}

int db_check_schema(struct db *d) {
        int r = db_user_version(d);
        if (r > DB_SCHEMA_VERSION)
                return db_failf(d, -EPROTO, "schema version %d is newer than this build's %d",
                                r, DB_SCHEMA_VERSION);
        return r;
}

static int migrate_step(struct db *d) {
        char bump[64];
        int r, rc, version;

        /* Read again under the write lock: another process may have
         * migrated since we looked. */
        r = db_check_schema(d);
        if (r < 0)
                return r;
        version = r;
        if (version == DB_SCHEMA_VERSION)
                return 0;

        rc = sqlite3_exec(d->sqlite, migrations[version], NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return db_failf(d, db_errno(d, rc), "migrating schema %d to %d: %s",
                                version, version + 1, sqlite3_errmsg(d->sqlite));
        if ((size_t) version < ELEMENTSOF(migration_hooks) && migration_hooks[version]) {
                r = migration_hooks[version](d);
                if (r < 0)
                        return r;
        }

        /* PRAGMA takes no parameters; the value is our own integer. */
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", version + 1);
        rc = sqlite3_exec(d->sqlite, bump, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return 1;
}

int db_migrate(struct db *d) {
        for (;;) {
                int r = db_check_schema(d);
                if (r < 0)
                        return r;
                if (r == DB_SCHEMA_VERSION)
                        return 0;

                r = db_begin(d);
                if (r < 0)
                        return r;
                r = migrate_step(d);
                if (r >= 0)
                        r = db_commit(d);
                if (r < 0) {
                        db_rollback(d);
                        return r;
                }
        }
}
