/* SPDX-License-Identifier: MIT */
/* Crash and restart, in real time on the sim (docs/SAFETY.md, Bounds).
 *
 * kill_9_at_random_moments_*: N times (20; 200 with --soak), program and
 * start an infusion at a random rate and mode, make acknowledged calls at
 * random moments (Titrate, Bolus, Pause, Resume, PcaDemand) while another
 * thread kills the daemon with SIGKILL at a random moment, then restart it.
 * The truth is the sim's plunger file ([simulation] plunger_file): the sim
 * updates it at every step and it outlives the kill, as a plunger does.
 * After each kill, on the file as the crash left it and again after the
 * restart, opened read-only as hospital IT would:
 *   - PRAGMA integrity_check is ok;
 *   - every call that got a reply is in the audit log, in order (at most
 *     the one call in flight beyond), and its effect is recorded: the
 *     infusion, each titration, bolus and pause, each PCA demand by id;
 *   - the infusion is 'interrupted' with its last checkpoint, never above
 *     the plunger's truth and below it by no more than the bound in
 *     docs/SAFETY.md; the alarm over D-Bus says the same volume;
 *   - the channel is idle with a high interrupted-by-restart alarm, the
 *     sim's plunger is where it was left, and nothing moves by itself.
 *
 * a_hung_control_loop_delivers_at_most_one_lease: the main loop blocks
 * (Simulator.HangControlLoop) while the step thread runs on; the plunger
 * moves no more than one lease's steps, then the channel halts.
 *
 * Options: --soak (200 iterations), --iterations N, --seed S. The seed is
 * printed. Each run's generator starts from the seed and the run's number,
 * so the same seed gives each run the same mode, rates and kill delay, and
 * the same calls in the same order; how many of them come before the kill
 * is real time's to say. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "common/macros.h"
#include "hal/sim-plunger-file.h"

/* The harness's mechanism (harness_write_config_ex) and the daemon's
 * defaults, which docs/SAFETY.md states its bounds for. */
#define PL_PER_STEP INT64_C(173661)
#define SYRINGE_NL INT64_C(60000000)
#define CHECKPOINT_PERIOD_US INT64_C(1000000)
#define LEASE_US INT64_C(500000)
#define MAX_RATE_ML_PER_H 1200.0
#define US_PER_HOUR 3600000000.0

/* A new syringe is loaded (the file deleted while the daemon is down)
 * before the one in the pump runs low. */
#define RELOAD_BELOW_NL INT64_C(20000000)
#define KILL_MIN_US INT64_C(100000)
#define KILL_MAX_US INT64_C(3500000)
/* Past the bound's 2 s: without periodic checkpoints a quiet run fails. */
#define KILL_QUIET_MIN_US INT64_C(2100000)
#define KILL_QUIET_MAX_US INT64_C(5000000)
/* Longer than a lease and a control period: anything that would move by
 * itself after a restart has had its chance. */
#define STILL_WAIT_US INT64_C(700000)
#define MAX_ACKED 16384

#define ERR_PREFIX "org.infusiond.pump1.Error."

static unsigned opt_iterations = 20;
static uint64_t opt_seed;

/* ---- small helpers -------------------------------------------------- */

static int64_t mono_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_us(int64_t us) {
        struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = us % 1000000 * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* xorshift64*: seeded, the same sequence everywhere. */
static uint64_t rng_state;
static uint64_t rng_next(void) {
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}
static int64_t rng_range(int64_t lo, int64_t hi) {     /* [lo, hi] */
        return lo + (int64_t) (rng_next() % (uint64_t) (hi - lo + 1));
}

static int64_t rate_ml_to_nl_per_h(double ml_per_h) {
        return llround(ml_per_h * 1e6);
}

/* What moves at rate_nl_per_h for us, in nL, rounded up. */
static int64_t nl_over(int64_t rate_nl_per_h, int64_t us) {
        return (int64_t) ceil((double) rate_nl_per_h * (double) us / US_PER_HOUR);
}

static struct sim_plunger_position plunger(struct harness *h, const char *path) {
        struct sim_plunger_position pos;
        int r = sim_plunger_file_read(path, &pos, NULL, NULL);
        if (r < 0)
                fail_msg("cannot read the plunger file %s: %s", path, strerror(-r));
        return pos;
}

/* ---- the database, read-only as hospital IT opens it ---------------- */

static sqlite3 *db_open_ro(struct harness *h) {
        sqlite3 *db;
        char uri[400];
        snprintf(uri, sizeof(uri), "file:%s?mode=ro", h->db_path);
        if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
                fail_msg("cannot open %s read-only: %s", h->db_path, sqlite3_errmsg(db));
        sqlite3_busy_timeout(db, 5000);
        return db;
}

static void assert_integrity_ok(struct harness *h, const char *when) {
        sqlite3 *db = db_open_ro(h);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        const char *v = (const char *) sqlite3_column_text(st, 0);
        if (!v || strcmp(v, "ok") != 0)
                fail_msg("%s: integrity_check says %s", when, v ? v : "(null)");
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);  /* "ok" is the only row */
        sqlite3_finalize(st);
        sqlite3_close(db);
}

static int64_t query_i64(struct harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t query_i64(struct harness *h, const char *fmt, ...) {
        char sql[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        return harness_query_i64(h, sql);
}

/* ---- the calls and what each reply acknowledged ---------------------- */

enum call_kind { CALL_ACK_ALARM, CALL_PROGRAM, CALL_START, CALL_TITRATE, CALL_BOLUS, CALL_PAUSE, CALL_RESUME,
                 CALL_PCA_DEMAND };

static const char *const call_method[] = {
        [CALL_ACK_ALARM] = "Channel.AcknowledgeAlarm", [CALL_PROGRAM] = "Channel.Program",
        [CALL_START] = "Channel.Start",                [CALL_TITRATE] = "Channel.Titrate",
        [CALL_BOLUS] = "Channel.Bolus",                [CALL_PAUSE] = "Channel.Pause",
        [CALL_RESUME] = "Channel.Resume",              [CALL_PCA_DEMAND] = "Channel.PcaDemand",
};

struct acked {
        enum call_kind kind;
        char outcome[96];               /* "ok" or the error's name, as the audit has it */
        char pca_outcome[32];
        uint64_t demand_id;
};

struct iteration {
        struct acked acked[MAX_ACKED];
        unsigned n_acked;
        int64_t max_rate_nl_per_h;      /* of everything asked for: the bound's rate */
        unsigned n_ok[CALL_PCA_DEMAND + 1];
};

/* The killer: SIGKILL at a chosen moment, from another thread, while the
 * main thread is in the middle of whatever call it is making. */
struct killer {
        pthread_t thread;
        bool running;
        pid_t pid;
        int64_t at_us;
        int cancel;                     /* __atomic: the main thread's */
        int killed;                     /* __atomic: set just before the kill */
};

static struct killer killer;

static void *killer_main(void *arg) {
        struct killer *k = arg;
        while (!__atomic_load_n(&k->cancel, __ATOMIC_ACQUIRE) && mono_us() < k->at_us)
                sleep_us(MIN(INT64_C(2000), MAX(k->at_us - mono_us(), INT64_C(1))));
        if (!__atomic_load_n(&k->cancel, __ATOMIC_ACQUIRE)) {
                /* Before the kill: a call that then goes unanswered is
                 * never mistaken for a daemon that failed while alive. */
                __atomic_store_n(&k->killed, 1, __ATOMIC_RELEASE);
                kill(k->pid, SIGKILL);
        }
        return NULL;
}

static void killer_start(pid_t pid, int64_t delay_us) {
        killer = (struct killer) { .pid = pid, .at_us = mono_us() + delay_us };
        assert_int_equal(pthread_create(&killer.thread, NULL, killer_main, &killer), 0);
        killer.running = true;
}

static bool killed(void) {
        return __atomic_load_n(&killer.killed, __ATOMIC_ACQUIRE);
}

static void killer_join(void) {
        if (!killer.running)
                return;
        pthread_join(killer.thread, NULL);
        killer.running = false;
}

/* A call and its reply. Returns true when the daemon answered (a return
 * or one of its named errors: both are audited before the reply), false
 * when it died first. */
static bool call(struct harness *h, struct iteration *it, enum call_kind kind, const char *alarm_id,
                 double a, double b, bool pca_program) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *member = strchr(call_method[kind], '.') + 1;
        int r;

        switch (kind) {
        case CALL_ACK_ALARM:
                r = sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, member, &e, &reply, "s",
                                       alarm_id);
                break;
        case CALL_PROGRAM:
                if (pca_program)
                        /* A new patient each time: no lockout carried over
                         * from the last iteration's doses. */
                        r = sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, member, &e, &reply,
                                               "a{sv}", 10, "Mode", "s", "pca", "PcaDoseMl", "d", 0.2,
                                               "LockoutSec", "u", 5, "MaxDosesPerHour", "u", 12, "LimitMl", "d", 10.0,
                                               "LimitWindowSec", "u", 3600, "VtbiMl", "d", 20.0,
                                               "BasalRateMlPerHour", "d", a, "PcaBolusRateMlPerHour", "d", b,
                                               "NewPatient", "b", 1);
                else
                        r = sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, member, &e, &reply,
                                               "a{sv}", 2, "RateMlPerHour", "d", a, "VtbiMl", "d", 20.0);
                break;
        case CALL_TITRATE:
                r = sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, member, &e, &reply, "a{sv}",
                                       1, "RateMlPerHour", "d", a);
                break;
        case CALL_BOLUS:
                r = sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, member, &e, &reply, "a{sv}",
                                       2, "BolusMl", "d", a, "BolusRateMlPerHour", "d", b);
                break;
        default:
                r = sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, member, &e, &reply, "");
                break;
        }

        bool answered = r >= 0 || (e.name && strncmp(e.name, ERR_PREFIX, strlen(ERR_PREFIX)) == 0);
        if (!answered && !killed())
                fail_msg("%s failed while the daemon was alive: %s: %s", call_method[kind], e.name, e.message);
        if (answered) {
                assert_true(it->n_acked < MAX_ACKED);
                struct acked *ack = &it->acked[it->n_acked++];
                *ack = (struct acked) { .kind = kind };
                snprintf(ack->outcome, sizeof(ack->outcome), "%s", r >= 0 ? "ok" : e.name);
                if (r >= 0 && kind == CALL_PCA_DEMAND) {
                        const char *outcome;
                        uint64_t next;
                        assert_true(sd_bus_message_read(reply, "stt", &outcome, &ack->demand_id, &next) > 0);
                        snprintf(ack->pca_outcome, sizeof(ack->pca_outcome), "%s", outcome);
                }
                if (r >= 0)
                        it->n_ok[kind]++;
        }
        sd_bus_message_unref(reply);
        sd_bus_error_free(&e);
        return answered;
}

/* A rate that ran, or may have: a call the kill caught may have been
 * carried out. */
static void note_rate(struct iteration *it, double ml_per_h) {
        it->max_rate_nl_per_h = MAX(it->max_rate_nl_per_h, rate_ml_to_nl_per_h(ml_per_h));
}

/* ---- D-Bus state ---------------------------------------------------- */

/* The interrupted-by-restart alarm: its id and message; false if none. */
static bool find_alarm(struct harness *h, const char *condition, char *id, size_t n_id, char *msg, size_t n_msg,
                       char *prio, size_t n_prio) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *a_id, *a_cond, *a_prio, *a_msg;
        uint64_t raised;
        bool found = false;
        assert_true(sd_bus_get_property(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "ActiveAlarms", &e, &reply,
                                        "a(sssts)") >= 0);
        assert_true(sd_bus_message_enter_container(reply, 'a', "(sssts)") >= 0);
        while (sd_bus_message_read(reply, "(sssts)", &a_id, &a_cond, &a_prio, &raised, &a_msg) > 0)
                if (strcmp(a_cond, condition) == 0) {
                        snprintf(id, n_id, "%s", a_id);
                        if (msg)
                                snprintf(msg, n_msg, "%s", a_msg);
                        if (prio)
                                snprintf(prio, n_prio, "%s", a_prio);
                        found = true;
                }
        sd_bus_message_unref(reply);
        sd_bus_error_free(&e);
        return found;
}

static void assert_state(struct harness *h, const char *want) {
        char *s = get_string(h, CH_PATH, CH_IFACE, "State");
        if (strcmp(s, want) != 0)
                fail_msg("state is %s, expected %s", s, want);
        free(s);
}

/* ---- checks on the database ----------------------------------------- */

/* The audit rows of channel commands after base_id are the acknowledged
 * calls, in order, and at most one more (the call the kill caught after
 * it was recorded, before its reply). */
static unsigned assert_acked_calls_audited(struct harness *h, const struct iteration *it, int64_t base_id) {
        sqlite3 *db = db_open_ro(h);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT method, outcome, coalesce(message, '') FROM audit"
                                            " WHERE id > ?1 AND method LIKE 'Channel.%' ORDER BY id",
                                            -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_int64(st, 1, base_id);
        unsigned i = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
                const char *method = (const char *) sqlite3_column_text(st, 0);
                const char *outcome = (const char *) sqlite3_column_text(st, 1);
                const char *message = (const char *) sqlite3_column_text(st, 2);
                if (i < it->n_acked) {
                        const struct acked *a = &it->acked[i];
                        if (strcmp(method, call_method[a->kind]) != 0 || strcmp(outcome, a->outcome) != 0)
                                fail_msg("audit row %u is %s -> %s; the daemon had acknowledged %s -> %s", i, method,
                                         outcome, call_method[a->kind], a->outcome);
                        if (a->kind == CALL_PCA_DEMAND && strcmp(a->outcome, "ok") == 0 &&
                            strcmp(message, a->pca_outcome) != 0)
                                fail_msg("audit row %u has PCA outcome %s, the reply said %s", i, message, a->pca_outcome);
                }
                i++;
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        if (i < it->n_acked)
                fail_msg("%u channel commands were acknowledged, the audit log has %u", it->n_acked, i);
        if (i > it->n_acked + 1)
                fail_msg("the audit log has %u channel commands, %u acknowledged: more than the one in flight", i,
                         it->n_acked);
        return i;
}

/* Each acknowledged call's own record, beside its audit row. */
static void assert_acked_effects_recorded(struct harness *h, const struct iteration *it, int64_t infusion_id) {
        assert_int_equal(query_i64(h, "SELECT count(*) FROM infusions WHERE id = %" PRIi64, infusion_id), 1);
        int64_t titrated = query_i64(h, "SELECT count(*) FROM events WHERE infusion_id = %" PRIi64
                                        " AND kind = 'titrated'", infusion_id);
        int64_t boluses = query_i64(h, "SELECT count(*) FROM events WHERE infusion_id = %" PRIi64
                                       " AND kind = 'bolus'", infusion_id);
        int64_t paused = query_i64(h, "SELECT count(*) FROM events WHERE infusion_id = %" PRIi64
                                      " AND kind = 'state' AND to_state = 'paused'", infusion_id);
        if (titrated < it->n_ok[CALL_TITRATE] || boluses < it->n_ok[CALL_BOLUS] || paused < it->n_ok[CALL_PAUSE])
                fail_msg("acknowledged %u titrations, %u boluses, %u pauses; recorded %" PRIi64 ", %" PRIi64
                         ", %" PRIi64, it->n_ok[CALL_TITRATE], it->n_ok[CALL_BOLUS], it->n_ok[CALL_PAUSE], titrated,
                         boluses, paused);
        for (unsigned i = 0; i < it->n_acked; i++) {
                const struct acked *a = &it->acked[i];
                if (a->kind != CALL_PCA_DEMAND || strcmp(a->outcome, "ok") != 0)
                        continue;
                /* A debounced press names the demand it merged into. */
                if (strcmp(a->pca_outcome, "debounced") == 0)
                        assert_int_equal(query_i64(h, "SELECT count(*) FROM pca_demands WHERE id = %" PRIu64,
                                                   a->demand_id), 1);
                else if (query_i64(h, "SELECT count(*) FROM pca_demands WHERE id = %" PRIu64 " AND outcome = '%s'",
                                   a->demand_id, a->pca_outcome) != 1)
                        fail_msg("PCA demand %" PRIu64 " (%s) was acknowledged but is not recorded", a->demand_id,
                                 a->pca_outcome);
        }
}

/* ---- the crash loop ------------------------------------------------- */

static const double rates_ml_per_h[] = { 1, 5, 25, 60, 100, 250, 500, 900, 1200 };

struct totals {
        double worst_unrecorded_s;      /* unrecorded volume as time at the iteration's top rate */
        int64_t worst_unrecorded_nl;
        unsigned acked, killed_in_call, recorded_not_replied, reloads;
};

static void one_crash(struct harness *h, const char *plunger_path, unsigned n, struct totals *t) {
        struct iteration *it = calloc(1, sizeof(*it));
        char alarm_id[64] = "";
        assert_non_null(it);

        rng_state = (opt_seed ^ (n * UINT64_C(0x9E3779B97F4A7C15))) | 1;
        int64_t base_audit = query_i64(h, "SELECT coalesce(max(id), 0) FROM audit");
        if (find_alarm(h, "interrupted-by-restart", alarm_id, sizeof(alarm_id), NULL, 0, NULL, 0))
                assert_true(call(h, it, CALL_ACK_ALARM, alarm_id, 0, 0, false));

        /* Every fourth run makes no call after Start, so that only the
         * periodic checkpoints record delivery, at a steady rate for 2.1
         * to 5 s: a checkpoint missed or late shows there. Every
         * fourth makes a storm of calls until the kill, which then lands
         * inside one (perhaps between its record and its reply). The rest
         * make calls with pauses between them, now and then a burst. */
        bool quiet = n % 4 == 1, storm = n % 4 == 3;
        bool pca = !quiet && rng_range(0, 3) == 0;
        double rate = rates_ml_per_h[rng_range(0, ELEMENTSOF(rates_ml_per_h) - 1)];
        double pca_bolus_rate = 600;
        if (pca)
                rate = MIN(rate, 2.0);  /* the basal */
        note_rate(it, rate);
        note_rate(it, 1.0);    /* the default KVO rate */
        if (pca)
                note_rate(it, pca_bolus_rate);
        assert_true(call(h, it, CALL_PROGRAM, NULL, rate, pca_bolus_rate, pca));
        if (strcmp(it->acked[it->n_acked - 1].outcome, "ok") != 0)
                fail_msg("Program refused: %s", it->acked[it->n_acked - 1].outcome);

        struct sim_plunger_position at_start = plunger(h, plunger_path);
        assert_true(call(h, it, CALL_START, NULL, 0, 0, false));
        if (strcmp(it->acked[it->n_acked - 1].outcome, "ok") != 0)
                fail_msg("Start refused: %s", it->acked[it->n_acked - 1].outcome);
        int64_t infusion_id = (int64_t) get_u64(h, CH_PATH, CH_IFACE, "InfusionId");
        assert_true(infusion_id > 0);

        int64_t delay_us = quiet ? rng_range(KILL_QUIET_MIN_US, KILL_QUIET_MAX_US) : rng_range(KILL_MIN_US, KILL_MAX_US);
        killer_start(h->daemon_pid, delay_us);
        bool paused = false;
        int burst = 0;
        while (!killed()) {
                if (quiet) {
                        sleep_us(1000);
                        continue;
                }
                if (storm || burst > 0)
                        burst -= burst > 0;
                else {
                        sleep_us(rng_range(5000, 300000));
                        burst = rng_range(0, 3) == 0 ? (int) rng_range(5, 30) : 0;
                }
                if (killed())
                        break;
                if (it->n_acked >= MAX_ACKED - 1)
                        continue;       /* room for the last reply */
                int what = (int) rng_range(0, 9);
                bool answered;
                if (pca && what < 6)
                        answered = call(h, it, CALL_PCA_DEMAND, NULL, 0, 0, false);
                else if (what < 4) {
                        double r2 = rates_ml_per_h[rng_range(0, ELEMENTSOF(rates_ml_per_h) - 1)];
                        answered = call(h, it, CALL_TITRATE, NULL, r2, 0, false);
                        if (!answered || strcmp(it->acked[it->n_acked - 1].outcome, "ok") == 0)
                                note_rate(it, r2);
                } else if (what < 6) {
                        double bolus_rate = rates_ml_per_h[rng_range(4, ELEMENTSOF(rates_ml_per_h) - 1)];
                        answered = call(h, it, CALL_BOLUS, NULL, 0.05 * (double) rng_range(1, 4), bolus_rate, false);
                        if (!answered || strcmp(it->acked[it->n_acked - 1].outcome, "ok") == 0)
                                note_rate(it, bolus_rate);
                } else if (what < 8) {
                        answered = call(h, it, paused ? CALL_RESUME : CALL_PAUSE, NULL, 0, 0, false);
                        if (answered && strcmp(it->acked[it->n_acked - 1].outcome, "ok") == 0)
                                paused = !paused;
                } else {
                        /* A read between commands: never audited, but it
                         * keeps the loop serving the bus while it steps. */
                        sd_bus_error e = SD_BUS_ERROR_NULL;
                        double v;
                        answered = sd_bus_get_property_trivial(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE,
                                                               "VolumeInfusedMl", &e, 'd', &v) >= 0;
                        sd_bus_error_free(&e);
                }
                if (!answered)
                        t->killed_in_call++;
        }
        killer_join();
        int status = harness_kill_daemon(h, SIGKILL);  /* reaps it */
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

        /* The truth, from the plunger, which the kill did not touch. */
        struct sim_plunger_position at_kill = plunger(h, plunger_path);
        int64_t true_nl = (at_kill.travel_pl - at_start.travel_pl) / 1000;

        /* The file as the crash left it. */
        assert_integrity_ok(h, "after the kill");
        if (assert_acked_calls_audited(h, it, base_audit) > it->n_acked)
                t->recorded_not_replied++;
        assert_acked_effects_recorded(h, it, infusion_id);
        assert_int_equal(query_i64(h, "SELECT count(*) FROM infusions WHERE id = %" PRIi64 " AND status = 'active'",
                                   infusion_id), 1);
        int64_t recorded_nl = query_i64(h, "SELECT volume_nl FROM infusions WHERE id = %" PRIi64, infusion_id);

        /* A nurse loads a new syringe while the pump is off: when this
         * one runs low, and every tenth time anyway. */
        bool reload = SYRINGE_NL - at_kill.travel_pl / 1000 < RELOAD_BELOW_NL || n % 10 == 0;
        if (reload) {
                assert_int_equal(unlink(plunger_path), 0);
                t->reloads++;
        }

        harness_start_daemon(h);

        /* The history, after the restart's recovery. */
        assert_integrity_ok(h, "after the restart");
        assert_acked_calls_audited(h, it, base_audit);
        assert_acked_effects_recorded(h, it, infusion_id);
        assert_int_equal(query_i64(h, "SELECT count(*) FROM infusions WHERE status = 'active'"), 0);
        assert_int_equal(query_i64(h, "SELECT count(*) FROM infusions WHERE id = %" PRIi64
                                      " AND status = 'interrupted' AND ended_utc_us IS NOT NULL", infusion_id), 1);
        assert_int_equal(query_i64(h, "SELECT count(*) FROM events WHERE infusion_id = %" PRIi64
                                      " AND kind = 'interrupted'", infusion_id), 1);
        /* Recovery keeps the last checkpoint: nothing later is known. */
        assert_int_equal(query_i64(h, "SELECT volume_nl FROM infusions WHERE id = %" PRIi64, infusion_id), recorded_nl);

        /* Within the bound of docs/SAFETY.md of the truth, never above it. */
        int64_t step_nl = PL_PER_STEP / 1000 + 1;
        int64_t bound_nl = nl_over(it->max_rate_nl_per_h, CHECKPOINT_PERIOD_US + 2 * LEASE_US) + 2 * step_nl;
        int64_t unrecorded_nl = true_nl - recorded_nl;
        double unrecorded_s = (double) unrecorded_nl / ((double) it->max_rate_nl_per_h / 3600.0);
        printf("crash %u: %s %g mL/h (top %g mL/h), killed %.3f s after Start, %u calls acknowledged%s; "
               "recorded %.1f of %.1f µL: %.1f µL unrecorded (%.2f s at the top rate; bound %.1f µL)%s\n",
               n, pca ? "pca basal" : "continuous", rate,
               (double) it->max_rate_nl_per_h / 1e6, (double) delay_us / 1e6,
               it->n_acked, storm ? " in a storm" : quiet ? ", none after Start" : "", recorded_nl / 1000.0, true_nl / 1000.0,
               unrecorded_nl / 1000.0, unrecorded_s, bound_nl / 1000.0, reload ? "; new syringe" : "");
        fflush(stdout);
        if (recorded_nl > true_nl)
                fail_msg("infusion %" PRIi64 " recorded %" PRIi64 " nL, more than the %" PRIi64 " nL the plunger pushed",
                         infusion_id, recorded_nl, true_nl);
        if (unrecorded_nl > bound_nl)
                fail_msg("infusion %" PRIi64 ": %" PRIi64 " nL delivered but not recorded, over the bound of %" PRIi64
                         " nL (checkpoint period + 2 leases at %g mL/h + 2 steps)", infusion_id, unrecorded_nl,
                         bound_nl, (double) it->max_rate_nl_per_h / 1e6);
        if (unrecorded_s > t->worst_unrecorded_s)
                t->worst_unrecorded_s = unrecorded_s;
        t->worst_unrecorded_nl = MAX(t->worst_unrecorded_nl, unrecorded_nl);
        t->acked += it->n_acked;

        /* Over D-Bus: idle, no infusion, a high alarm naming the infusion
         * and the same volume as the history. */
        assert_state(h, "idle");
        assert_int_equal(get_u64(h, CH_PATH, CH_IFACE, "InfusionId"), 0);
        char msg[512], prio[16], id_text[32], vol_text[48];
        assert_true(find_alarm(h, "interrupted-by-restart", alarm_id, sizeof(alarm_id), msg, sizeof(msg), prio,
                               sizeof(prio)));
        assert_string_equal(prio, "high");
        snprintf(id_text, sizeof(id_text), "Infusion %" PRIi64 " ", infusion_id);
        snprintf(vol_text, sizeof(vol_text), "after %.3f mL", recorded_nl / 1e6);
        if (!strstr(msg, id_text) || !strstr(msg, vol_text))
                fail_msg("the alarm says \"%s\"; expected infusion %" PRIi64 " %s", msg, infusion_id, vol_text);

        /* The sim's plunger is where the kill left it (or a new syringe's
         * start), and nothing moves by itself. */
        int64_t steps_now = reload ? 0 : at_kill.plunger_steps;
        assert_int_equal(get_i64(h, SIM_PATH, SIM_IFACE, "PlungerSteps"), steps_now);
        sleep_us(STILL_WAIT_US);
        assert_int_equal(plunger(h, plunger_path).plunger_steps, steps_now);
        assert_int_equal(get_i64(h, SIM_PATH, SIM_IFACE, "PlungerSteps"), steps_now);
        assert_state(h, "idle");
        assert_int_equal(query_i64(h, "SELECT count(*) FROM infusions WHERE status = 'active'"), 0);
        free(it);
}

static int setup(void **state) {
        struct harness *h = calloc(1, sizeof(*h));
        char tail[400];
        harness_setup(h);
        /* A line of low resistance: at 1200 mL/h it sits at 68 mmHg, far
         * from an occlusion alarm, whose pressure relief would pull the
         * plunger back (docs/SAFETY.md: relief is not subtracted from the
         * infusion's volume) and blur the comparison with the truth. */
        snprintf(tail, sizeof(tail), "plunger_file = %.300s/plunger\nline_resistance_mmhg_per_ml_per_h = 0.05\n",
                 h->dir);
        harness_write_config_ex(h, "real", NULL, tail);
        harness_start_daemon(h);
        *state = h;
        return 0;
}

static int teardown(void **state) {
        __atomic_store_n(&killer.cancel, 1, __ATOMIC_RELEASE);
        killer_join();
        harness_teardown(*state);
        free(*state);
        return 0;
}

static void kill_9_at_random_moments_loses_nothing_acknowledged_and_never_resumes(void **state) {
        struct harness *h = *state;
        char plunger_path[300];
        struct totals t = {};
        int64_t t0 = mono_us();

        snprintf(plunger_path, sizeof(plunger_path), "%.280s/plunger", h->dir);
        printf("crash: %u kills, seed %" PRIu64 " (rerun with --seed %" PRIu64 ")\n", opt_iterations, opt_seed,
               opt_seed);
        fflush(stdout);
        for (unsigned i = 1; i <= opt_iterations; i++)
                one_crash(h, plunger_path, i, &t);
        printf("crash: %u kills in %.1f s: %u calls acknowledged, all recorded; %u kills during a call; "
               "%u recorded but not answered; %u new syringes; worst unrecorded %.1f µL, worst as time at the iteration's top rate %.2f s "
               "(bound: %.2f s + 2 steps)\n",
               opt_iterations, (double) (mono_us() - t0) / 1e6, t.acked, t.killed_in_call, t.recorded_not_replied, t.reloads,
               t.worst_unrecorded_nl / 1000.0, t.worst_unrecorded_s,
               (double) (CHECKPOINT_PERIOD_US + 2 * LEASE_US) / 1e6);
}

/* ---- the hung control loop ------------------------------------------ */

static void a_hung_control_loop_delivers_at_most_one_lease(void **state) {
        struct harness *h = *state;
        char plunger_path[300], err[128], alarm_id[64], prio[16];
        snprintf(plunger_path, sizeof(plunger_path), "%.280s/plunger", h->dir);

        const double rates[] = { MAX_RATE_ML_PER_H, 100.0 };
        for (size_t i = 0; i < ELEMENTSOF(rates); i++) {
                int64_t rate_nl_per_h = rate_ml_to_nl_per_h(rates[i]);
                assert_int_equal(call_program(h, err, sizeof(err), "RateMlPerHour", rates[i], "VtbiMl", 20.0, NULL), 0);
                assert_int_equal(call_simple(h, "Start", err, sizeof(err)), 0);
                sleep_us(1000000);      /* in its stride, leases renewed every tick */

                const int64_t hang_us = 4 * LEASE_US;
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int64_t before, after, last_after_us;
                int r = sd_bus_call_method(h->bus, "org.infusiond.pump1", SIM_PATH, SIM_IFACE, "HangControlLoop", &e,
                                           &reply, "t", (uint64_t) hang_us);
                if (r < 0)
                        fail_msg("HangControlLoop: %s: %s", e.name, e.message);
                assert_true(sd_bus_message_read(reply, "xxx", &before, &after, &last_after_us) > 0);
                sd_bus_message_unref(reply);
                sd_bus_error_free(&e);

                /* One lease: lease_ms at the rate plus one step. The lease
                 * in force was granted at the tick before the hang began,
                 * so what is left of it is less. */
                int64_t moved_pl = (after - before) * PL_PER_STEP;
                int64_t lease_pl = nl_over(rate_nl_per_h, LEASE_US) * 1000 + PL_PER_STEP;
                printf("hang %.0f ms at %g mL/h: %" PRIi64 " steps (%.1f µL) while hung, the last %.1f ms in; "
                       "one lease is %.1f µL; without it %.1f µL\n",
                       hang_us / 1000.0, rates[i], after - before, moved_pl / 1e6, last_after_us / 1000.0,
                       lease_pl / 1e6, (double) nl_over(rate_nl_per_h, hang_us) / 1000.0);
                fflush(stdout);
                /* The step thread did run on by itself ... */
                assert_true(after > before);
                /* ... for no more than one lease. */
                if (moved_pl > lease_pl)
                        fail_msg("%" PRIi64 " pL moved while the control loop hung, over one lease (%" PRIi64 " pL)",
                                 moved_pl, lease_pl);
                /* In time too; a step's time is read a little after the
                 * step thread judged it inside the lease, and on a busy
                 * machine that thread can be preempted in between for
                 * tens of ms. Half a lease of slack still fails a motor
                 * that ran on through the 2 s hang. */
                if (last_after_us > LEASE_US + LEASE_US / 2)
                        fail_msg("the last step came %" PRIi64 " µs into the hang, past the lease", last_after_us);

                /* The next tick finds the lapse: halted, a high alarm, and
                 * the plunger (read from its file) where the hang left it. */
                int64_t deadline = mono_us() + 2000000;
                char *s;
                while (strcmp((s = get_string(h, CH_PATH, CH_IFACE, "State")), "halted") != 0 && mono_us() < deadline) {
                        free(s);
                        sleep_us(10000);
                }
                free(s);
                assert_state(h, "halted");
                assert_true(find_alarm(h, "control-loop-stalled", alarm_id, sizeof(alarm_id), NULL, 0, prio,
                                       sizeof(prio)));
                assert_string_equal(prio, "high");
                sleep_us(STILL_WAIT_US);
                assert_int_equal(plunger(h, plunger_path).plunger_steps, after);
                assert_int_equal(get_i64(h, SIM_PATH, SIM_IFACE, "PlungerSteps"), after);

                assert_int_equal(call_simple(h, "Stop", err, sizeof(err)), 0);
                assert_true(sd_bus_call_method(h->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE, "AcknowledgeAlarm",
                                               &e, NULL, "s", alarm_id) >= 0);
                sd_bus_error_free(&e);
        }
}

static void usage(const char *argv0) {
        fprintf(stderr, "Usage: %s [--soak] [--iterations N] [--seed S]\n"
                        "  --soak          200 kills instead of 20\n"
                        "  --iterations N  N kills\n"
                        "  --seed S        the random sequence of rates, calls and kill delays\n", argv0);
}

int main(int argc, char **argv) {
        opt_seed = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32);
        for (int i = 1; i < argc; i++) {
                char *end;
                if (strcmp(argv[i], "--soak") == 0)
                        opt_iterations = 200;
                else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
                        opt_iterations = (unsigned) strtoul(argv[++i], &end, 10);
                        if (*end || opt_iterations == 0) {
                                usage(argv[0]);
                                return 2;
                        }
                } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
                        opt_seed = strtoull(argv[++i], &end, 10);
                        if (*end || opt_seed == 0) {
                                usage(argv[0]);
                                return 2;
                        }
                } else {
                        usage(argv[0]);
                        return 2;
                }
        }
        if (opt_seed == 0)
                opt_seed = 1;

        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(kill_9_at_random_moments_loses_nothing_acknowledged_and_never_resumes,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(a_hung_control_loop_delivers_at_most_one_lease, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
