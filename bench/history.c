/* SPDX-License-Identifier: MIT */
/* History benchmark: a year of a busy pump in the history database.
 *
 * Fills one database with N events (default 10 million: one every 3 s for
 * 365 days) and everything a year of infusions brings with them, then
 * prints what hospital IT and the daemon care about: how fast a record
 * goes in under the daemon's own durability settings, how fast a bulk
 * fill goes, how big the file gets, and how long each example query of
 * docs/SCHEMA.md takes on that year. Figures only; it passes or fails on
 * nothing but errors and a broken audit chain.
 *
 * The year is synthetic and deterministic for a seed (the same rows, only
 * shifted so that the year ends at the time of the run: the examples that
 * ask for "the last 24 hours" then find rows). One channel, about 30
 * infusions a day back to back, drugs from a small library, the alarm load
 * hospitals report (CLINICAL.md: 1.74 alarms per infusion, KVO 34 %, hold
 * expired 27 %, downstream occlusion 23 %), pauses, titrations, PCA demands,
 * a delivery sample a minute while running, library limit events, an
 * audit row for each command, monthly restarts and the odd power cut.
 * Clinically a pump records a few hundred events a day; the rest of the N
 * are spread over the runs as the events the supervision writes most
 * (checking-line, pressure-relief), for volume: they do not
 * change the modelled flow.
 *
 * Phases:
 *  1. db_open() makes the file: schema 6, WAL, auto_vacuum, synchronous=FULL.
 *  2. The first infusions go in through the public API on that connection,
 *     one fsynced commit per record as in the daemon, until 20 000 events
 *     or 2 s: the per-call times of db_event_add (FULL) and
 *     db_delivery_sample_add (NORMAL) are the figures.
 *  3. The rest through a raw connection, 50 000 rows per transaction with
 *     prepared INSERTs into the same tables. Bulk because 10 million
 *     commits take 10 million fsyncs: at the 0.1 to 4 ms one took on the
 *     VM this was written on, 20 minutes to 11 hours. Past the first
 *     20 000 the rate is known; what we want is the year's file and its
 *     queries.
 *  4. The audit rows, last (their table is independent): through
 *     db_audit_add() until 20 000 rows or 2 s, the rest in bulk with the
 *     hash chain computed here from the encoding docs/SCHEMA.md gives to
 *     readers; db_audit_verify() over the whole chain checks both.
 *  5. Sizes; row counts; every "### `v_...`" section of docs/SCHEMA.md:
 *     each ```sql block run on a read-only connection, median of 5 after
 *     a warm-up, and the full scans in its plan. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/macros.h"
#include "db/db.h"

#ifndef BENCH_SOURCE_ROOT
#define BENCH_SOURCE_ROOT "."
#endif

#define USEC_PER_SEC  INT64_C(1000000)
#define USEC_PER_MIN  (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (3600 * USEC_PER_SEC)
#define USEC_PER_DAY  (86400 * USEC_PER_SEC)
#define NL_PER_ML     1e6

#define DEFAULT_EVENTS      UINT64_C(10000000)
#define DEFAULT_SEED        UINT64_C(42)
#define YEAR_DAYS           365
#define API_EVENTS_MAX      20000
#define API_SECONDS_MAX     2.0
#define AUDIT_API_MAX       20000
#define AUDIT_API_SECONDS   2.0
#define ROWS_PER_TXN        50000
#define QUERY_RUNS          5
#define SAMPLE_PERIOD_US    USEC_PER_MIN
#define BOOT_TO_DAEMON_US   (25 * USEC_PER_SEC)
#define RESTART_EVERY_US    (30 * USEC_PER_DAY)
#define LIBRARY_VERSIONS    4

static const char channel_object[] = "/org/infusiond/pump1/channel/0";
static const char library_object[] = "/org/infusiond/pump1/library";
#define ERROR_NAME(x) "org.infusiond.pump1.Error." x

/* ---- small tools ------------------------------------------------------ */

static void die(const char *what, int r) {
        fprintf(stderr, "bench-history: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(EXIT_FAILURE);
}

static void die_sql(sqlite3 *db, const char *what) {
        fprintf(stderr, "bench-history: %s: %s\n", what, sqlite3_errmsg(db));
        exit(EXIT_FAILURE);
}

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* splitmix64: small, fast, and the same everywhere. */
struct rng {
        uint64_t s;
};

static uint64_t rng_next(struct rng *r) {
        uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static double rng_unit(struct rng *r) {
        return (double) (rng_next(r) >> 11) * 0x1.0p-53;
}

static double rng_uniform(struct rng *r, double lo, double hi) {
        return lo + (hi - lo) * rng_unit(r);
}

/* [lo, hi) */
static int64_t rng_range(struct rng *r, int64_t lo, int64_t hi) {
        return hi <= lo ? lo : lo + (int64_t) (rng_next(r) % (uint64_t) (hi - lo));
}

static bool rng_chance(struct rng *r, double p) {
        return rng_unit(r) < p;
}

static unsigned rng_poisson(struct rng *r, double mean) {
        double l = exp(-mean), p = 1.0;
        unsigned k = 0;
        for (;;) {
                p *= rng_unit(r);
                if (p <= l)
                        return k;
                k++;
        }
}

static uint64_t seed_mix(uint64_t seed, uint64_t n) {
        struct rng r = { seed ^ (n * UINT64_C(0xd1b54a32d192ed03)) };
        return rng_next(&r);
}

struct vec {
        void *p;
        size_t n, cap, size;
};

#define VEC(type) ((struct vec) { .size = sizeof(type) })
#define AT(v, type, i) (&((type *) (v).p)[i])

static void *vec_push(struct vec *v) {
        if (v->n == v->cap) {
                size_t cap = v->cap ? v->cap * 2 : 64;
                void *p = realloc(v->p, cap * v->size);
                if (!p)
                        die("out of memory", ENOMEM);
                v->p = p;
                v->cap = cap;
        }
        void *e = (char *) v->p + v->n++ * v->size;
        memset(e, 0, v->size);
        return e;
}

static void vec_free(struct vec *v) {
        free(v->p);
        *v = (struct vec) { .size = v->size };
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p of the values at or
 * below it. Sorts v. */
static double percentile(struct vec *v, double p) {
        if (v->n == 0)
                return NAN;
        qsort(v->p, v->n, sizeof(double), cmp_double);
        size_t k = (size_t) ceil(p * (double) v->n);
        return *AT(*v, double, k ? k - 1 : 0);
}

static double vec_sum(const struct vec *v) {
        double s = 0;
        for (size_t i = 0; i < v->n; i++)
                s += *AT(*v, double, i);
        return s;
}

static void iso_utc(int64_t utc_us, char *buf, size_t size) {
        time_t s = (time_t) (utc_us / USEC_PER_SEC);
        struct tm tm;
        gmtime_r(&s, &tm);
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (utc_us % USEC_PER_SEC / 1000));
}

/* ---- the figures ------------------------------------------------------- */

struct metric {
        char name[128];
        double value;                   /* NAN: none */
        int decimals;
        char unit[192];
};

static struct vec metrics = VEC(struct metric);

static void metric(const char *name, double value, int decimals, const char *unit) {
        struct metric *m = vec_push(&metrics);
        snprintf(m->name, sizeof m->name, "%s", name);
        m->value = value;
        m->decimals = decimals;
        snprintf(m->unit, sizeof m->unit, "%s", unit);
}

/* ---- the synthetic year --------------------------------------------------- */

struct drug {
        const char *id;                 /* NULL: a basic infusion */
        const char *name;
        const char *care_area;
        const char *mode;
        const char *dose_unit;          /* NULL: no dose rate */
        const char *concentration;
        double ml_h_per_dose;           /* mL/h for one dose unit (70 kg where /kg) */
        double rate_lo_ml_h, rate_hi_ml_h;
        bool titratable;
        unsigned weight;
};

static const struct drug drugs[] = {
        { "heparin", "Heparin", "ICU", "continuous", "units/h", "25000 units / 500 mL",
          1.0 / 50, 10, 40, true, 14 },
        { "insulin", "Insulin regular", "ICU", "continuous", "units/h", "100 units / 100 mL",
          1.0, 1, 12, true, 10 },
        { "norepinephrine", "Norepinephrine", "ICU", "continuous", "mcg/kg/min", "4 mg / 250 mL",
          70.0 * 60 / 16, 2, 20, true, 10 },
        { "propofol", "Propofol", "ICU", "continuous", "mcg/kg/min", "1000 mg / 100 mL",
          70.0 * 60 / 10000, 5, 30, true, 10 },
        { "vancomycin", "Vancomycin", "Med-Surg", "volume-time", NULL, "1000 mg / 250 mL",
          0, 125, 250, false, 15 },
        { "morphine-pca", "Morphine", "Med-Surg", "pca", "mg/h", "1 mg / 1 mL",
          1.0, 0.5, 1.5, false, 3 },
        { "paclitaxel", "Paclitaxel", "Oncology", "continuous", NULL, "300 mg / 500 mL",
          0, 100, 250, false, 4 },
        { NULL, NULL, "Med-Surg", "continuous", NULL, NULL, 0, 50, 150, false, 5 },
};

enum fate { FATE_COMPLETED, FATE_STOPPED, FATE_INTERRUPTED };

/* One infusion and what comes before it, as the schedule placed it. */
struct plan {
        int64_t id;
        uint64_t seed;
        unsigned drug;
        enum fate fate;
        int library;                    /* in use */
        int64_t boot_utc_us;            /* this infusion's boot */
        int64_t prev_boot_utc_us;
        int64_t restart_utc_us;         /* 0: none before it (shutdown, then startup) */
        int64_t import_utc_us;          /* 0: no library import before it */
        int64_t program_utc_us;
        int64_t start_utc_us;
        int64_t run_end_utc_us;         /* delivery ends (or the power goes) */
        int64_t idle_utc_us;            /* the channel is idle again */
        int64_t recovery_utc_us;        /* interrupted: the daemon's next start */
        uint64_t structural;            /* events without filler */
        uint64_t filler;
};

struct library {
        char version[16];
        char sha256[65];
        int64_t imported_utc_us;
};

struct year {
        uint64_t seed;
        int64_t start_utc_us, end_utc_us;
        struct library lib[LIBRARY_VERSIONS];
        struct vec plans;               /* struct plan */
        unsigned alarm_seq;
};

/* Records, as the sinks write them. */
struct ev {
        int64_t utc_us;
        int64_t mono_us;                /* < 0: NULL */
        uint32_t seq;
        bool global;                    /* no infusion */
        bool fixed_volume;
        bool recovery;                  /* the one db_recover_interrupted() writes */
        const char *kind, *from, *to;
        int64_t volume_nl;
        char detail[104];
};

struct smp {
        int64_t utc_us, mono_us, volume_nl, rate_nl_per_h;
};

struct alm {
        int64_t utc_us, mono_us;
        uint32_t seq;
        bool global;
        char alarm_id[40];
        unsigned alarm_seq;
        const char *action, *condition, *priority;
        int64_t uid;
        double pressure_mmhg;
        int64_t volume_nl;
        char message[112];
};

struct pcad {
        int64_t utc_us, mono_us;
        const char *source, *outcome;
        int64_t dose_nl, duration_us;
        bool counts;
        int64_t uid;
        char detail[48];
        int64_t ended_utc_us, delivered_nl;
};

struct lim {
        int64_t utc_us;
        const char *care_area, *drug_id, *kind, *unit, *reason, *library_sha256;
        double value;
        int64_t uid;
        char message[112];
};

struct aud {
        int64_t utc_us;
        uint32_t seq;
        int64_t uid;
        const char *method, *object, *outcome;
        char args[96];
        char message[112];
};

struct motion {
        int64_t utc_us;
        int64_t rate_nl_per_h;
        double volume_nl;               /* delivered at utc_us */
};

struct recs {
        const struct plan *plan;
        const struct drug *drug;
        struct db_infusion inf;         /* as begun */
        bool has_infusion;
        const char *end_status;
        int64_t end_volume_nl, end_utc_us, end_checkpoint_utc_us;
        struct vec ev, smp, alm, pca, lim, aud, mo;
};

static void recs_init(struct recs *r) {
        *r = (struct recs) {
                .ev = VEC(struct ev), .smp = VEC(struct smp), .alm = VEC(struct alm),
                .pca = VEC(struct pcad), .lim = VEC(struct lim), .aud = VEC(struct aud),
                .mo = VEC(struct motion),
        };
}

static void recs_clear(struct recs *r) {
        struct vec *v[] = { &r->ev, &r->smp, &r->alm, &r->pca, &r->lim, &r->aud, &r->mo };
        for (size_t i = 0; i < ELEMENTSOF(v); i++)
                v[i]->n = 0;
        r->has_infusion = false;
        r->end_status = NULL;
}

static void recs_free(struct recs *r) {
        struct vec *v[] = { &r->ev, &r->smp, &r->alm, &r->pca, &r->lim, &r->aud, &r->mo };
        for (size_t i = 0; i < ELEMENTSOF(v); i++)
                vec_free(v[i]);
}

/* ---- the schedule: when each infusion runs --------------------------------- */

static void plan_year(struct year *y) {
        struct rng r = { seed_mix(y->seed, 0) };
        unsigned total_weight = 0;
        for (size_t i = 0; i < ELEMENTSOF(drugs); i++)
                total_weight += drugs[i].weight;

        /* Pharmacy imports a new library each quarter. */
        for (int k = 0; k < LIBRARY_VERSIONS; k++) {
                snprintf(y->lib[k].version, sizeof y->lib[k].version, "2025.%d", k + 1);
                y->lib[k].imported_utc_us = y->start_utc_us + k * (YEAR_DAYS / LIBRARY_VERSIONS) * USEC_PER_DAY +
                                            2 * USEC_PER_MIN;
        }

        int64_t t = y->start_utc_us + 5 * USEC_PER_MIN;
        int64_t boot = y->start_utc_us, prev_boot = boot, next_restart = y->start_utc_us + RESTART_EVERY_US;
        int64_t restart = 0, import = 0;        /* due before the next infusion */
        int library = -1;
        /* Up to the end: one that would run past it is drawn again, so
         * the last hours are as busy as the rest. */
        for (int64_t id = 1; t + 90 * USEC_PER_MIN < y->end_utc_us;) {
                if (!restart && t >= next_restart) {
                        restart = t + USEC_PER_MIN;
                        prev_boot = boot;
                        boot = restart + 30 * USEC_PER_SEC;
                        t = boot + BOOT_TO_DAEMON_US + USEC_PER_MIN;
                        next_restart += RESTART_EVERY_US;
                }
                if (!import && library + 1 < LIBRARY_VERSIONS && y->lib[library + 1].imported_utc_us <= t) {
                        library++;
                        import = t;
                        t += USEC_PER_MIN;
                }
                struct plan p = {
                        .id = id, .seed = seed_mix(y->seed, (uint64_t) id), .library = library,
                        .boot_utc_us = boot, .prev_boot_utc_us = restart ? prev_boot : boot,
                        .restart_utc_us = restart, .import_utc_us = import,
                };

                unsigned w = (unsigned) rng_range(&r, 0, total_weight);
                for (p.drug = 0; w >= drugs[p.drug].weight; p.drug++)
                        w -= drugs[p.drug].weight;
                bool pca = streq(drugs[p.drug].mode, "pca");

                double f = rng_unit(&r);
                p.fate = f < 0.6 ? FATE_COMPLETED : f < 0.995 ? FATE_STOPPED : FATE_INTERRUPTED;

                p.program_utc_us = t;
                /* Left programmed for over 2 min now and then: the hold
                 * alarm ("idle"), 27 % of pump alarms with those of pauses. */
                int64_t pre = rng_chance(&r, 0.3) ? rng_range(&r, 150, 360) : rng_range(&r, 20, 60);
                p.start_utc_us = t + pre * USEC_PER_SEC;
                int64_t run = pca ? rng_range(&r, 2 * 60, 6 * 60) : rng_range(&r, 12, 46);
                p.run_end_utc_us = p.start_utc_us + run * USEC_PER_MIN + rng_range(&r, 0, USEC_PER_MIN);
                switch (p.fate) {
                case FATE_COMPLETED:    /* KVO until someone stops it */
                        p.idle_utc_us = p.run_end_utc_us + rng_range(&r, 1, 12) * USEC_PER_MIN;
                        break;
                case FATE_STOPPED:
                        p.idle_utc_us = p.run_end_utc_us;
                        break;
                case FATE_INTERRUPTED:  /* power cut; the daemon is back a minute or so later */
                        p.recovery_utc_us = p.run_end_utc_us + rng_range(&r, 60, 180) * USEC_PER_SEC;
                        p.idle_utc_us = p.recovery_utc_us + 10 * USEC_PER_SEC;
                        break;
                }
                if (p.idle_utc_us + 20 * USEC_PER_MIN >= y->end_utc_us)
                        continue;
                if (p.fate == FATE_INTERRUPTED) {
                        prev_boot = boot;
                        boot = p.recovery_utc_us - BOOT_TO_DAEMON_US;
                }
                *(struct plan *) vec_push(&y->plans) = p;
                id++;
                restart = import = 0;
                t = p.idle_utc_us + rng_range(&r, 2 * 60, 10 * 60) * USEC_PER_SEC;
        }
}

/* ---- one infusion's records ------------------------------------------------ */

struct gen {
        struct year *y;
        struct rng r;
        const struct plan *p;
        struct recs *out;
        uint32_t seq;
        int64_t nurse;
        int64_t rate_nl_per_h;          /* programmed rate now */
};

static int64_t mono_at(const struct gen *g, int64_t utc_us) {
        int64_t boot = utc_us >= g->p->boot_utc_us ? g->p->boot_utc_us : g->p->prev_boot_utc_us;
        return utc_us - boot + BOOT_TO_DAEMON_US;
}

__attribute__((format(printf, 6, 7)))
static struct ev *add_event(struct gen *g, int64_t utc_us, const char *kind, const char *from, const char *to,
                            const char *fmt, ...) {
        struct ev *e = vec_push(&g->out->ev);
        va_list ap;

        e->utc_us = utc_us;
        e->mono_us = mono_at(g, utc_us);
        e->seq = g->seq++;
        e->kind = kind;
        e->from = from;
        e->to = to;
        if (fmt) {
                va_start(ap, fmt);
                vsnprintf(e->detail, sizeof e->detail, fmt, ap);
                va_end(ap);
        }
        return e;
}

static void add_state(struct gen *g, int64_t utc_us, const char *from, const char *to, const char *why) {
        add_event(g, utc_us, "state", from, to, "%s", why);
}

__attribute__((format(printf, 7, 8)))
static void add_audit(struct gen *g, int64_t utc_us, int64_t uid, const char *method, const char *object,
                      const char *outcome, const char *args_fmt, ...) {
        struct aud *a = vec_push(&g->out->aud);
        va_list ap;

        a->utc_us = utc_us;
        a->seq = g->seq++;
        a->uid = uid;
        a->method = method;
        a->object = object;
        a->outcome = outcome;
        if (args_fmt) {
                va_start(ap, args_fmt);
                vsnprintf(a->args, sizeof a->args, args_fmt, ap);
                va_end(ap);
        }
}

static void add_motion(struct gen *g, int64_t utc_us, int64_t rate_nl_per_h) {
        struct motion *m = vec_push(&g->out->mo);
        m->utc_us = utc_us;
        m->rate_nl_per_h = rate_nl_per_h;
}

/* An alarm's rows: one per action, the same id and seq. */
struct alarm {
        char id[40];
        unsigned seq;
        const char *condition, *priority;
        bool global;
};

static void alarm_new(struct gen *g, struct alarm *a, const char *condition, const char *priority, bool global) {
        a->seq = ++g->y->alarm_seq;
        snprintf(a->id, sizeof a->id, "%s-%u", condition, a->seq);
        a->condition = condition;
        a->priority = priority;
        a->global = global;
}

__attribute__((format(printf, 6, 7)))
static void alarm_action(struct gen *g, const struct alarm *a, int64_t utc_us, const char *action, int64_t uid,
                         const char *message_fmt, ...) {
        struct alm *e = vec_push(&g->out->alm);
        va_list ap;

        e->utc_us = utc_us;
        e->mono_us = mono_at(g, utc_us);
        e->seq = g->seq++;
        e->global = a->global;
        snprintf(e->alarm_id, sizeof e->alarm_id, "%s", a->id);
        e->alarm_seq = a->seq;
        e->action = action;
        e->condition = a->condition;
        e->priority = a->priority;
        e->uid = uid;
        e->pressure_mmhg = rng_uniform(&g->r, 8, 40);
        if (message_fmt) {
                va_start(ap, message_fmt);
                vsnprintf(e->message, sizeof e->message, message_fmt, ap);
                va_end(ap);
        }
        /* The event the daemon writes beside it (none for an escalation). */
        struct ev *ev = NULL;
        if (streq(action, "raised"))
                ev = add_event(g, utc_us, "alarm-raised", NULL, NULL, "%s %s: %s", a->id, a->priority, e->message);
        else if (streq(action, "acknowledged") || streq(action, "cleared"))
                ev = add_event(g, utc_us, streq(action, "acknowledged") ? "alarm-acknowledged" : "alarm-cleared",
                               NULL, NULL, "%s", a->id);
        else if (streq(action, "silenced"))
                ev = add_event(g, utc_us, "alarms-silenced", NULL, NULL, "audio paused for 120 s");
        if (ev)
                ev->global = a->global;
}

static void acknowledge(struct gen *g, const struct alarm *a, int64_t utc_us) {
        add_audit(g, utc_us, g->nurse, "Channel.AcknowledgeAlarm", channel_object, "ok", "id=%s", a->id);
        alarm_action(g, a, utc_us, "acknowledged", g->nurse, NULL);
}

static void resume(struct gen *g, int64_t utc_us) {
        add_audit(g, utc_us, g->nurse, "Channel.Resume", channel_object, "ok", NULL);
        add_state(g, utc_us, "paused", "running", "resumed");
        add_motion(g, utc_us, g->rate_nl_per_h);
}

static double ml_h(int64_t nl_per_h) {
        return (double) nl_per_h / NL_PER_ML;
}

/* An alarm that halts the channel: raised, maybe silenced, acknowledged
 * (or cleared by the pump), then a nurse resumes. Returns its end. */
static int64_t halting_alarm(struct gen *g, int64_t t, const char *condition) {
        struct alarm a;
        int64_t t_end;

        if (streq(condition, "occlusion-downstream")) {
                double p = rng_uniform(&g->r, 300, 480);
                add_event(g, t - 15 * USEC_PER_SEC, "checking-line", NULL, NULL, "pressure rise at %.0f mmHg", p - 60);
                add_state(g, t - 15 * USEC_PER_SEC, "running", "halted", "halted");
                add_motion(g, t - 15 * USEC_PER_SEC, 0);
                alarm_new(g, &a, condition, "high", false);
                alarm_action(g, &a, t, "raised", -1, "Downstream occlusion: %.0f mmHg, limit 300 mmHg", p);
                AT(g->out->alm, struct alm, g->out->alm.n - 1)->pressure_mmhg = p;
                add_event(g, t + USEC_PER_SEC, "pressure-relief", NULL, NULL, "withdrew %.3f mL at %.0f mmHg",
                          rng_uniform(&g->r, 0.01, 0.2), p);
        } else {
                add_state(g, t, "running", "halted", "halted");
                add_motion(g, t, 0);
                alarm_new(g, &a, condition, "high", false);
                if (streq(condition, "air-in-line"))
                        alarm_action(g, &a, t, "raised", -1, "Air in line: %.0f uL bubble", rng_uniform(&g->r, 50, 200));
                else
                        alarm_action(g, &a, t, "raised", -1, "Door opened while infusing");
        }
        if (rng_chance(&g->r, 0.3)) {
                int64_t ts = t + rng_range(&g->r, 5, 30) * USEC_PER_SEC;
                add_audit(g, ts, g->nurse, "Channel.SilenceAlarms", channel_object, "ok", NULL);
                alarm_action(g, &a, ts, "silenced", g->nurse, NULL);
        }
        if (streq(condition, "door-open")) {
                t_end = t + rng_range(&g->r, 35, 90) * USEC_PER_SEC;
                alarm_action(g, &a, t_end, "cleared", -1, NULL);
        } else {
                t_end = t + rng_range(&g->r, 35, 240) * USEC_PER_SEC;
                acknowledge(g, &a, t_end);
        }
        add_state(g, t_end, "halted", "paused", "cleared");
        t_end += rng_range(&g->r, 20, 90) * USEC_PER_SEC;
        resume(g, t_end);
        return t_end;
}

struct incident {
        int64_t utc_us;
        int kind;
};

enum { INC_TITRATE, INC_PAUSE, INC_OCCLUSION, INC_AIR, INC_DOOR, INC_NEAR_END, INC_BATTERY };

static int cmp_incident(const void *a, const void *b) {
        const struct incident *x = a, *y = b;
        return (x->utc_us > y->utc_us) - (x->utc_us < y->utc_us);
}

static void run_continuous(struct gen *g) {
        const struct plan *p = g->p;
        const struct drug *dr = g->out->drug;
        struct incident inc[32];
        size_t n = 0;
        int64_t span = p->run_end_utc_us - p->start_utc_us;

#define INCIDENT(k) do { \
                if (n < ELEMENTSOF(inc)) \
                        inc[n++] = (struct incident) { p->start_utc_us + rng_range(&g->r, 0, span), (k) }; \
        } while (0)
        if (dr->titratable)
                for (unsigned k = (unsigned) rng_range(&g->r, 0, 6) / 2; k > 0; k--)
                        INCIDENT(INC_TITRATE);
        if (rng_chance(&g->r, 0.3))
                INCIDENT(INC_PAUSE);
        for (unsigned k = rng_poisson(&g->r, 0.8); k > 0; k--)
                INCIDENT(INC_OCCLUSION);
        for (unsigned k = rng_poisson(&g->r, 0.45); k > 0; k--) {
                double f = rng_unit(&g->r);
                INCIDENT(f < 0.35 ? INC_AIR : f < 0.5 ? INC_DOOR : f < 0.8 ? INC_NEAR_END : INC_BATTERY);
        }
#undef INCIDENT
        qsort(inc, n, sizeof inc[0], cmp_incident);

        int64_t busy = p->start_utc_us + USEC_PER_MIN;
        int64_t last = p->run_end_utc_us - 8 * USEC_PER_MIN;
        for (size_t i = 0; i < n; i++) {
                int64_t t = inc[i].utc_us;
                if (t < busy || t > last)
                        continue;
                switch (inc[i].kind) {
                case INC_TITRATE: {
                        int64_t lo = llround(dr->rate_lo_ml_h * NL_PER_ML), hi = llround(dr->rate_hi_ml_h * NL_PER_ML);
                        int64_t rate = llround((double) g->rate_nl_per_h * rng_uniform(&g->r, 0.7, 1.4));
                        rate = MIN(MAX(rate, lo), hi) / 1000 * 1000;
                        if (dr->dose_unit)
                                add_audit(g, t, g->nurse, "Channel.Titrate", channel_object, "ok", "DoseRate=%.2f",
                                          ml_h(rate) / dr->ml_h_per_dose);
                        else
                                add_audit(g, t, g->nurse, "Channel.Titrate", channel_object, "ok",
                                          "RateMlPerHour=%.3f", ml_h(rate));
                        add_event(g, t, "titrated", NULL, NULL, "rate %.6g -> %.6g mL/h", ml_h(g->rate_nl_per_h),
                                  ml_h(rate));
                        g->rate_nl_per_h = rate;
                        add_motion(g, t, rate);
                        busy = t + 30 * USEC_PER_SEC;
                        break;
                }
                case INC_PAUSE: {
                        int64_t t_resume = t + rng_range(&g->r, 60, 480) * USEC_PER_SEC;
                        add_audit(g, t, g->nurse, "Channel.Pause", channel_object, "ok", NULL);
                        add_state(g, t, "running", "paused", "paused");
                        add_motion(g, t, 0);
                        if (t_resume - t > 2 * USEC_PER_MIN) {
                                /* The hold expired. */
                                struct alarm a;
                                alarm_new(g, &a, "idle", "low", false);
                                alarm_action(g, &a, t + 2 * USEC_PER_MIN, "raised", -1, "Paused for 2 min: resume or stop");
                                int64_t t_ack = t + 2 * USEC_PER_MIN + rng_range(&g->r, 10, 90) * USEC_PER_SEC;
                                acknowledge(g, &a, t_ack);
                                t_resume = MAX(t_resume, t_ack + rng_range(&g->r, 5, 30) * USEC_PER_SEC);
                        }
                        resume(g, t_resume);
                        busy = t_resume + 30 * USEC_PER_SEC;
                        break;
                }
                case INC_OCCLUSION:
                        busy = halting_alarm(g, t, "occlusion-downstream") + 30 * USEC_PER_SEC;
                        break;
                case INC_AIR:
                        busy = halting_alarm(g, t, "air-in-line") + 30 * USEC_PER_SEC;
                        break;
                case INC_DOOR:
                        busy = halting_alarm(g, t, "door-open") + 30 * USEC_PER_SEC;
                        break;
                case INC_NEAR_END: {
                        struct alarm a;
                        alarm_new(g, &a, "near-end", "low", false);
                        alarm_action(g, &a, t, "raised", -1, "About 5 min of infusion left");
                        int64_t t_ack = t + rng_range(&g->r, 30, 240) * USEC_PER_SEC;
                        acknowledge(g, &a, t_ack);
                        busy = t_ack + 30 * USEC_PER_SEC;
                        break;
                }
                case INC_BATTERY: {
                        struct alarm a;
                        alarm_new(g, &a, "battery-low", "medium", false);
                        alarm_action(g, &a, t, "raised", -1, "Battery at 20 %%: connect mains power");
                        int64_t t_clear = t + rng_range(&g->r, 2, 7) * USEC_PER_MIN;
                        if (rng_chance(&g->r, 0.3)) {
                                a.priority = "high";
                                alarm_action(g, &a, t + USEC_PER_MIN + rng_range(&g->r, 0, 60) * USEC_PER_SEC,
                                             "escalated", -1, "Battery at 10 %%: connect mains power now");
                        }
                        alarm_action(g, &a, t_clear, "cleared", -1, NULL);
                        busy = t_clear + 30 * USEC_PER_SEC;
                        break;
                }
                }
        }
}

/* PCA: a loading dose, then the patient's demands against a 10 min
 * lockout and at most 4 doses an hour; 1 mL at 60 mL/h each. */
static void run_pca(struct gen *g) {
        const struct plan *p = g->p;
        const int64_t dose_nl = 1000000, bolus_nl_per_h = 60000000, lockout_us = 10 * USEC_PER_MIN;
        const int64_t duration_us = dose_nl * USEC_PER_HOUR / bolus_nl_per_h;
        int64_t granted[64];
        size_t n_granted = 0;

        struct pcad *d = vec_push(&g->out->pca);
        d->utc_us = p->start_utc_us;
        d->mono_us = mono_at(g, d->utc_us);
        d->source = "loading";
        d->outcome = "granted";
        d->dose_nl = 2 * dose_nl;
        d->duration_us = 2 * duration_us;
        d->counts = true;
        d->uid = g->nurse;
        d->ended_utc_us = d->utc_us + d->duration_us;
        d->delivered_nl = d->dose_nl;
        add_motion(g, d->utc_us, g->rate_nl_per_h + bolus_nl_per_h);
        add_motion(g, d->ended_utc_us, g->rate_nl_per_h);
        granted[n_granted++] = d->utc_us;

        int64_t t = d->ended_utc_us;
        for (;;) {
                t += (int64_t) (-log(1.0 - rng_unit(&g->r)) * 15.0 * (double) USEC_PER_MIN) + USEC_PER_SEC;
                if (t >= p->run_end_utc_us - 5 * USEC_PER_MIN)
                        break;
                unsigned in_hour = 0;
                for (size_t i = 0; i < n_granted; i++)
                        in_hour += t - granted[i] < USEC_PER_HOUR;
                d = vec_push(&g->out->pca);
                d->utc_us = t;
                d->mono_us = mono_at(g, t);
                d->source = rng_chance(&g->r, 0.9) ? "button" : "dbus";
                d->dose_nl = dose_nl;
                d->uid = streq(d->source, "dbus") ? 2001 : -1;
                if (t - granted[n_granted - 1] < lockout_us) {
                        d->outcome = "lockout";
                        snprintf(d->detail, sizeof d->detail, "lockout: %" PRIi64 " min left",
                                 (lockout_us - (t - granted[n_granted - 1]) + USEC_PER_MIN - 1) / USEC_PER_MIN);
                } else if (in_hour >= 4) {
                        d->outcome = "hourly-count";
                        snprintf(d->detail, sizeof d->detail, "4 doses in the last hour");
                } else {
                        d->outcome = "granted";
                        d->duration_us = duration_us;
                        d->counts = true;
                        d->ended_utc_us = t + duration_us;
                        d->delivered_nl = dose_nl;
                        add_motion(g, t, g->rate_nl_per_h + bolus_nl_per_h);
                        add_motion(g, t + duration_us, g->rate_nl_per_h);
                        if (n_granted == ELEMENTSOF(granted)) {
                                memmove(granted, granted + 1, sizeof granted - sizeof granted[0]);
                                n_granted--;
                        }
                        granted[n_granted++] = t;
                        t += duration_us;
                }
                if (streq(d->source, "dbus"))
                        add_audit(g, d->utc_us, d->uid, "Channel.PcaDemand", channel_object, "ok", NULL);
        }
}

static int cmp_ev(const void *a, const void *b) {
        const struct ev *x = a, *y = b;
        if (x->utc_us != y->utc_us)
                return (x->utc_us > y->utc_us) - (x->utc_us < y->utc_us);
        return (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_alm(const void *a, const void *b) {
        const struct alm *x = a, *y = b;
        if (x->utc_us != y->utc_us)
                return (x->utc_us > y->utc_us) - (x->utc_us < y->utc_us);
        return (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_aud(const void *a, const void *b) {
        const struct aud *x = a, *y = b;
        if (x->utc_us != y->utc_us)
                return (x->utc_us > y->utc_us) - (x->utc_us < y->utc_us);
        return (x->seq > y->seq) - (x->seq < y->seq);
}

static int cmp_motion(const void *a, const void *b) {
        const struct motion *x = a, *y = b;
        return (x->utc_us > y->utc_us) - (x->utc_us < y->utc_us);
}

/* Delivered volume at t: linear between motion points. */
static int64_t volume_at(const struct recs *o, int64_t t) {
        size_t lo = 0, hi = o->mo.n;
        if (hi == 0 || t < AT(o->mo, struct motion, 0)->utc_us)
                return 0;
        while (hi - lo > 1) {
                size_t mid = (lo + hi) / 2;
                if (AT(o->mo, struct motion, mid)->utc_us <= t)
                        lo = mid;
                else
                        hi = mid;
        }
        const struct motion *m = AT(o->mo, struct motion, lo);
        return llround(m->volume_nl + (double) m->rate_nl_per_h * (double) (t - m->utc_us) / (double) USEC_PER_HOUR);
}

static void gen_plan(struct year *y, const struct plan *p, struct recs *o) {
        struct gen g = { .y = y, .r = { p->seed }, .p = p, .out = o };
        const struct drug *dr = &drugs[p->drug];
        bool pca = streq(dr->mode, "pca");
        char when[80];

        recs_clear(o);
        o->plan = p;
        o->drug = dr;
        g.nurse = 1001 + rng_range(&g.r, 0, 40);

        /* What happens in the gap before it. */
        if (p->restart_utc_us) {
                add_event(&g, p->restart_utc_us - 30 * USEC_PER_SEC, "shutdown", "idle", NULL, "stopping: SIGTERM")->global = true;
                add_event(&g, p->boot_utc_us + BOOT_TO_DAEMON_US, "startup", NULL, "idle", "real clock")->global = true;
        }
        if (p->import_utc_us) {
                const struct library *l = &y->lib[p->library];
                add_audit(&g, p->import_utc_us, 1100, "DrugLibrary.Import", library_object, "ok", "json: %u bytes",
                          4096u + (unsigned) p->library * 128u);
                struct aud *au = AT(o->aud, struct aud, o->aud.n - 1);
                snprintf(au->message, sizeof au->message, "%s", l->version);
                add_event(&g, p->import_utc_us, "library-imported", NULL, NULL, "version %s, sha256 %.16s...",
                          l->version, l->sha256)->global = true;
        }

        double rate_ml_h = rng_uniform(&g.r, dr->rate_lo_ml_h, dr->rate_hi_ml_h);
        g.rate_nl_per_h = llround(rate_ml_h * 1000) * 1000;
        double dose = dr->dose_unit ? ml_h(g.rate_nl_per_h) / dr->ml_h_per_dose : NAN;
        const char *library_sha256 = p->library >= 0 ? y->lib[p->library].sha256 : NULL;

        /* Programming, and the limits the library raised. */
        int64_t t = p->program_utc_us;
        double f = rng_unit(&g.r);
        if (dr->id && f < 0.005) {
                struct lim *l = vec_push(&o->lim);
                *l = (struct lim) {
                        .utc_us = t - USEC_PER_MIN, .care_area = dr->care_area, .drug_id = dr->id,
                        .kind = "hard-refused", .unit = dr->dose_unit ?: "mL/h", .library_sha256 = library_sha256,
                        .value = dr->dose_unit ? dose * 3 : ml_h(g.rate_nl_per_h) * 3, .uid = g.nurse,
                };
                snprintf(l->message, sizeof l->message, "%s: %.2f %s is above the hard limit", dr->name,
                         l->value, l->unit);
                add_audit(&g, l->utc_us, g.nurse, "Channel.Program", channel_object, ERROR_NAME("HardLimit"),
                          "Drug=%s", dr->id);
                struct aud *au = AT(o->aud, struct aud, o->aud.n - 1);
                snprintf(au->message, sizeof au->message, "%s", l->message);
        } else if (dr->id && f < 0.06) {
                bool refused_first = f < 0.015;
                if (refused_first) {
                        struct lim *l = vec_push(&o->lim);
                        *l = (struct lim) {
                                .utc_us = t - 40 * USEC_PER_SEC, .care_area = dr->care_area, .drug_id = dr->id,
                                .kind = "soft-refused", .unit = dr->dose_unit ?: "mL/h", .library_sha256 = library_sha256,
                                .value = dr->dose_unit ? dose : ml_h(g.rate_nl_per_h), .uid = g.nurse,
                        };
                        snprintf(l->message, sizeof l->message, "%s: above the soft limit; confirm with a reason", dr->name);
                        add_audit(&g, l->utc_us, g.nurse, "Channel.Program", channel_object,
                                  ERROR_NAME("SoftLimitUnconfirmed"), "Drug=%s", dr->id);
                }
                static const char *const reasons[] = {
                        "per protocol, attending aware", "patient on chronic therapy", "titrating to target per order",
                        "pharmacy consulted",
                };
                struct lim *l = vec_push(&o->lim);
                *l = (struct lim) {
                        .utc_us = t, .care_area = dr->care_area, .drug_id = dr->id, .kind = "soft-override",
                        .unit = dr->dose_unit ?: "mL/h", .reason = reasons[rng_range(&g.r, 0, ELEMENTSOF(reasons))],
                        .library_sha256 = library_sha256, .value = dr->dose_unit ? dose : ml_h(g.rate_nl_per_h),
                        .uid = g.nurse,
                };
                snprintf(l->message, sizeof l->message, "%s: above the soft limit, confirmed", dr->name);
        }
        if (dr->dose_unit)
                add_audit(&g, t, g.nurse, "Channel.Program", channel_object, "ok", "Mode=%s CareArea=%s Drug=%s DoseRate=%.2f",
                          dr->mode, dr->care_area, dr->id, dose);
        else
                add_audit(&g, t, g.nurse, "Channel.Program", channel_object, "ok", "Mode=%s CareArea=%s%s%s RateMlPerHour=%.3f",
                          dr->mode, dr->care_area, dr->id ? " Drug=" : "", dr->id ?: "", ml_h(g.rate_nl_per_h));
        add_event(&g, t, "programmed", NULL, "programmed", "%s at %.3f mL/h", dr->name ?: "basic infusion",
                  ml_h(g.rate_nl_per_h))->global = true;
        add_state(&g, t, "idle", "programmed", "programmed");
        AT(o->ev, struct ev, o->ev.n - 1)->global = true;
        if (p->start_utc_us - t > 2 * USEC_PER_MIN) {
                struct alarm a;
                alarm_new(&g, &a, "idle", "low", true);
                alarm_action(&g, &a, t + 2 * USEC_PER_MIN, "raised", -1, "Programmed for 2 min and not started");
                acknowledge(&g, &a, p->start_utc_us - rng_range(&g.r, 5, 20) * USEC_PER_SEC);
        }

        /* Start. */
        o->has_infusion = true;
        o->inf = (struct db_infusion) {
                .id = p->id, .channel = 0, .mode = dr->mode, .rate_nl_per_h = g.rate_nl_per_h,
                .kvo_rate_nl_per_h = pca ? 0 : 1000000, .started_utc_us = p->start_utc_us,
                .started_mono_us = mono_at(&g, p->start_utc_us), .care_area = dr->care_area, .drug_id = dr->id,
                .drug_name = dr->name, .dose_rate = dose, .dose_unit = dr->dose_unit,
                .concentration = dr->concentration, .library_sha256 = dr->id ? library_sha256 : NULL,
        };
        add_audit(&g, p->start_utc_us, g.nurse, "Channel.Start", channel_object, "ok", NULL);
        add_state(&g, p->start_utc_us, "programmed", "running", "started");
        add_motion(&g, p->start_utc_us, g.rate_nl_per_h);

        if (pca)
                run_pca(&g);
        else
                run_continuous(&g);

        /* The end. */
        switch (p->fate) {
        case FATE_COMPLETED: {
                struct alarm a;
                add_state(&g, p->run_end_utc_us, "running", "kvo", "kvo-started");
                add_motion(&g, p->run_end_utc_us, o->inf.kvo_rate_nl_per_h);
                alarm_new(&g, &a, "vtbi-complete", "low", false);
                alarm_action(&g, &a, p->run_end_utc_us, "raised", -1, "VTBI delivered; keeping the vein open at %.3f mL/h",
                             ml_h(o->inf.kvo_rate_nl_per_h));
                if (rng_chance(&g.r, 0.6))
                        acknowledge(&g, &a, p->idle_utc_us - rng_range(&g.r, 5, 30) * USEC_PER_SEC);
                else
                        alarm_action(&g, &a, p->idle_utc_us, "cleared", -1, NULL);
                add_audit(&g, p->idle_utc_us, g.nurse, "Channel.Stop", channel_object, "ok", NULL);
                add_state(&g, p->idle_utc_us, "kvo", "idle", "stopped");
                add_motion(&g, p->idle_utc_us, 0);
                o->end_status = "completed";
                break;
        }
        case FATE_STOPPED:
                add_audit(&g, p->idle_utc_us, g.nurse, "Channel.Stop", channel_object, "ok", NULL);
                add_state(&g, p->idle_utc_us, "running", "idle", "stopped");
                add_motion(&g, p->idle_utc_us, 0);
                o->end_status = "stopped";
                break;
        case FATE_INTERRUPTED:
                add_motion(&g, p->run_end_utc_us, 0);
                o->end_status = "interrupted";
                break;
        }

        /* Volumes along the motion, then the samples: at each change of
         * motion and once a minute while moving. */
        qsort(o->mo.p, o->mo.n, sizeof(struct motion), cmp_motion);
        for (size_t i = 1; i < o->mo.n; i++) {
                struct motion *a = AT(o->mo, struct motion, i - 1), *b = AT(o->mo, struct motion, i);
                b->volume_nl = a->volume_nl + (double) a->rate_nl_per_h * (double) (b->utc_us - a->utc_us) / (double) USEC_PER_HOUR;
        }
        for (size_t i = 0; i < o->mo.n; i++) {
                const struct motion *m = AT(o->mo, struct motion, i);
                int64_t next = i + 1 < o->mo.n ? AT(o->mo, struct motion, i + 1)->utc_us : m->utc_us + 1;
                for (int64_t ts = m->utc_us; ts < next; ts += SAMPLE_PERIOD_US) {
                        struct smp *s = vec_push(&o->smp);
                        s->utc_us = ts;
                        s->mono_us = mono_at(&g, ts);
                        s->volume_nl = volume_at(o, ts);
                        s->rate_nl_per_h = m->rate_nl_per_h;
                        if (m->rate_nl_per_h == 0)
                                break;
                }
        }
        int64_t run_end_volume = volume_at(o, p->run_end_utc_us);
        o->inf.vtbi_nl = p->fate == FATE_COMPLETED ? run_end_volume
                                                   : llround((double) run_end_volume * rng_uniform(&g.r, 1.2, 2.0));
        o->end_utc_us = p->fate == FATE_INTERRUPTED ? p->recovery_utc_us : p->idle_utc_us;
        if (p->fate == FATE_INTERRUPTED) {
                /* What the last checkpoint (once a second) had. */
                int64_t cp = p->run_end_utc_us - p->run_end_utc_us % USEC_PER_SEC;
                o->end_volume_nl = volume_at(o, cp);
                o->end_checkpoint_utc_us = cp;
                iso_utc(cp, when, sizeof when);
                struct ev *e = add_event(&g, p->recovery_utc_us, "interrupted", NULL, NULL,
                                         "daemon restarted; last checkpoint %.3f mL at %s",
                                         (double) o->end_volume_nl / NL_PER_ML, when);
                e->mono_us = -1;
                e->recovery = true;
                e->fixed_volume = true;
                e->volume_nl = o->end_volume_nl;
                add_event(&g, p->recovery_utc_us, "startup", NULL, "idle", "real clock")->global = true;
                struct alarm a;
                alarm_new(&g, &a, "interrupted-by-restart", "high", true);
                alarm_action(&g, &a, p->recovery_utc_us, "raised", -1, "Infusion %" PRIi64 " was interrupted by a restart",
                             p->id);
                acknowledge(&g, &a, p->recovery_utc_us + rng_range(&g.r, 60, 300) * USEC_PER_SEC);
        } else {
                o->end_volume_nl = volume_at(o, o->end_utc_us);
                o->end_checkpoint_utc_us = o->end_utc_us;
        }

        /* Filler: the events the supervision writes most, over the run. */
        int64_t span = p->run_end_utc_us - p->start_utc_us;
        for (uint64_t k = 0; k < p->filler; k++) {
                int64_t ts = p->start_utc_us + 1 + rng_range(&g.r, 0, span - 1);
                double kf = rng_unit(&g.r);
                if (kf < 0.5)
                        add_event(&g, ts, "checking-line", NULL, NULL, "pressure rise at %.0f mmHg",
                                  rng_uniform(&g.r, 120, 280));
                else
                        add_event(&g, ts, "pressure-relief", NULL, NULL, "withdrew %.3f mL at %.0f mmHg",
                                  rng_uniform(&g.r, 0.005, 0.1), rng_uniform(&g.r, 150, 300));
        }

        qsort(o->ev.p, o->ev.n, sizeof(struct ev), cmp_ev);
        for (size_t i = 0; i < o->ev.n; i++) {
                struct ev *e = AT(o->ev, struct ev, i);
                bool after = e->utc_us > o->end_utc_us || (e->utc_us == o->end_utc_us && p->fate == FATE_INTERRUPTED);
                if (!e->fixed_volume)
                        e->volume_nl = e->global || after ? 0 : volume_at(o, e->utc_us);
                if (after && !e->recovery)
                        e->global = true;
        }
        qsort(o->alm.p, o->alm.n, sizeof(struct alm), cmp_alm);
        for (size_t i = 0; i < o->alm.n; i++) {
                struct alm *a = AT(o->alm, struct alm, i);
                a->volume_nl = a->global ? 0 : volume_at(o, a->utc_us);
        }
        qsort(o->aud.p, o->aud.n, sizeof(struct aud), cmp_aud);
}

/* ---- where the records go --------------------------------------------------- */

enum {
        ST_INFUSION, ST_END, ST_EVENT, ST_SAMPLE, ST_ALARM, ST_PCA, ST_LIMIT, ST_AUDIT, _ST_MAX
};

static const char *const bulk_sql[_ST_MAX] = {
        [ST_INFUSION] = "INSERT INTO infusions (id, channel, mode, status, rate_nl_per_h, vtbi_nl, kvo_rate_nl_per_h,"
                        " volume_nl, started_utc_us, started_mono_us, checkpoint_utc_us, care_area, drug_id, drug_name,"
                        " dose_rate, dose_unit, concentration, library_sha256)"
                        " VALUES (?1, 0, ?2, 'active', ?3, ?4, ?5, 0, ?6, ?7, ?6, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        [ST_END] = "UPDATE infusions SET status = ?2, volume_nl = ?3, ended_utc_us = ?4, checkpoint_utc_us = ?5"
                   " WHERE id = ?1 AND status = 'active'",
        [ST_EVENT] = "INSERT INTO events (infusion_id, channel, utc_us, mono_us, kind, from_state, to_state, volume_nl, detail)"
                     " VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        [ST_SAMPLE] = "INSERT INTO delivery_samples (infusion_id, channel, utc_us, mono_us, volume_nl, rate_nl_per_h)"
                      " VALUES (?1, 0, ?2, ?3, ?4, ?5)",
        [ST_ALARM] = "INSERT INTO alarm_events (alarm_id, seq, infusion_id, channel, action, condition, priority, utc_us,"
                     " mono_us, uid, pressure_mmhg, volume_nl, message)"
                     " VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        [ST_PCA] = "INSERT INTO pca_demands (infusion_id, channel, utc_us, mono_us, source, outcome, dose_nl, duration_us,"
                   " counts, uid, detail, ended_utc_us, delivered_nl)"
                   " VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        [ST_LIMIT] = "INSERT INTO limit_events (utc_us, channel, care_area, drug_id, kind, value, unit, reason, message,"
                     " uid, library_sha256) VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        [ST_AUDIT] = "INSERT INTO audit (id, utc_us, uid, method, object, args, outcome, message, chain_sha256)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
};

struct sink {
        const char *path;
        bool bulk;
        struct db *d;                   /* the API's connection */
        sqlite3 *sql;                   /* the bulk one */
        sqlite3_stmt *st[_ST_MAX];
        uint64_t in_txn;
        uint64_t bulk_rows, api_rows;
        uint64_t events, infusion_rows;
        /* API phase */
        struct vec event_us, sample_us; /* per call, µs */
        double api_start_s, api_end_s;
        double bulk_start_s, gen_s;
};

static void check(int r, struct sink *k, const char *what) {
        if (r < 0) {
                fprintf(stderr, "bench-history: %s: %s (%s)\n", what, strerror(-r), db_last_error(k->d));
                exit(EXIT_FAILURE);
        }
}

static void bulk_exec(sqlite3 *db, const char *sql) {
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
                die_sql(db, sql);
}

/* A connection like the daemon's (WAL kept, synchronous=FULL, foreign
 * keys on) with the statements prepared. */
static sqlite3 *bulk_open(const char *path, sqlite3_stmt *st[static _ST_MAX]) {
        sqlite3 *db = NULL;
        int one = 1;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
                die_sql(db, path);
        sqlite3_busy_timeout(db, 5000);
        sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
        bulk_exec(db, "PRAGMA foreign_keys = ON");
        bulk_exec(db, "PRAGMA synchronous = FULL");
        for (int i = 0; i < _ST_MAX; i++)
                if (sqlite3_prepare_v3(db, bulk_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st[i], NULL) != SQLITE_OK)
                        die_sql(db, bulk_sql[i]);
        return db;
}

static void bulk_close(sqlite3 *db, sqlite3_stmt *st[static _ST_MAX]) {
        for (int i = 0; i < _ST_MAX; i++)
                sqlite3_finalize(st[i]);
        if (sqlite3_close(db) != SQLITE_OK)
                die_sql(db, "close");
}

static void bulk_row(struct sink *k, sqlite3_stmt *s) {
        if (sqlite3_step(s) != SQLITE_DONE)
                die_sql(k->sql, sqlite3_sql(s));
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        k->bulk_rows++;
        if (++k->in_txn >= ROWS_PER_TXN) {
                bulk_exec(k->sql, "COMMIT");
                bulk_exec(k->sql, "BEGIN");
                k->in_txn = 0;
        }
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v) {
        if (v)
                sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
        else
                sqlite3_bind_null(s, i);
}

static void bind_id_or_null(sqlite3_stmt *s, int i, int64_t v) {
        if (v > 0)
                sqlite3_bind_int64(s, i, v);
        else
                sqlite3_bind_null(s, i);
}

static void bind_double_or_null(sqlite3_stmt *s, int i, double v) {
        if (isfinite(v))
                sqlite3_bind_double(s, i, v);
        else
                sqlite3_bind_null(s, i);
}

static void switch_to_bulk(struct sink *k) {
        k->api_end_s = now_s();
        k->d = db_close(k->d);
        k->sql = bulk_open(k->path, k->st);
        bulk_exec(k->sql, "BEGIN");
        k->bulk = true;
        k->bulk_start_s = now_s();
}

static bool api_done(const struct sink *k) {
        return k->event_us.n >= API_EVENTS_MAX || now_s() - k->api_start_s >= API_SECONDS_MAX;
}

static void emit(struct sink *k, const struct recs *o) {
        const struct plan *p = o->plan;
        int64_t id = p->id;
        int r;

        for (size_t i = 0; i < o->lim.n; i++) {
                const struct lim *l = AT(o->lim, struct lim, i);
                if (!k->bulk) {
                        struct db_limit_event e = {
                                .utc_us = l->utc_us, .channel = 0, .care_area = l->care_area, .drug_id = l->drug_id,
                                .kind = l->kind, .value = l->value, .unit = l->unit, .reason = l->reason,
                                .message = l->message, .uid = l->uid, .library_sha256 = l->library_sha256,
                        };
                        check(db_limit_event_add(k->d, &e), k, "db_limit_event_add");
                        k->api_rows++;
                        continue;
                }
                sqlite3_stmt *s = k->st[ST_LIMIT];
                sqlite3_bind_int64(s, 1, l->utc_us);
                bind_text_or_null(s, 2, l->care_area);
                bind_text_or_null(s, 3, l->drug_id);
                sqlite3_bind_text(s, 4, l->kind, -1, SQLITE_STATIC);
                bind_double_or_null(s, 5, l->value);
                bind_text_or_null(s, 6, l->unit);
                bind_text_or_null(s, 7, l->reason);
                bind_text_or_null(s, 8, l->message);
                sqlite3_bind_int64(s, 9, l->uid);
                bind_text_or_null(s, 10, l->library_sha256);
                bulk_row(k, s);
        }

        if (!k->bulk) {
                int64_t got;
                check(db_infusion_begin(k->d, &o->inf, &got), k, "db_infusion_begin");
                if (got != id) {
                        fprintf(stderr, "bench-history: infusion got id %" PRIi64 ", expected %" PRIi64 "\n", got, id);
                        exit(EXIT_FAILURE);
                }
                k->api_rows++;
        } else {
                sqlite3_stmt *s = k->st[ST_INFUSION];
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_text(s, 2, o->inf.mode, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 3, o->inf.rate_nl_per_h);
                sqlite3_bind_int64(s, 4, o->inf.vtbi_nl);
                sqlite3_bind_int64(s, 5, o->inf.kvo_rate_nl_per_h);
                sqlite3_bind_int64(s, 6, o->inf.started_utc_us);
                sqlite3_bind_int64(s, 7, o->inf.started_mono_us);
                bind_text_or_null(s, 8, o->inf.care_area);
                bind_text_or_null(s, 9, o->inf.drug_id);
                bind_text_or_null(s, 10, o->inf.drug_name);
                if (o->inf.drug_id)
                        bind_double_or_null(s, 11, o->inf.dose_rate);
                bind_text_or_null(s, 12, o->inf.dose_unit);
                bind_text_or_null(s, 13, o->inf.concentration);
                bind_text_or_null(s, 14, o->inf.library_sha256);
                bulk_row(k, s);
        }
        k->infusion_rows++;

        for (size_t i = 0; i < o->smp.n; i++) {
                const struct smp *m = AT(o->smp, struct smp, i);
                if (!k->bulk) {
                        struct db_delivery_sample s = {
                                .infusion_id = id, .channel = 0, .utc_us = m->utc_us, .mono_us = m->mono_us,
                                .volume_nl = m->volume_nl, .rate_nl_per_h = m->rate_nl_per_h,
                        };
                        double t0 = now_s();
                        check(db_delivery_sample_add(k->d, &s), k, "db_delivery_sample_add");
                        *(double *) vec_push(&k->sample_us) = (now_s() - t0) * 1e6;
                        check(db_infusion_checkpoint(k->d, id, m->volume_nl, m->utc_us), k, "db_infusion_checkpoint");
                        k->api_rows++;
                        continue;
                }
                sqlite3_stmt *s = k->st[ST_SAMPLE];
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_int64(s, 2, m->utc_us);
                sqlite3_bind_int64(s, 3, m->mono_us);
                sqlite3_bind_int64(s, 4, m->volume_nl);
                sqlite3_bind_int64(s, 5, m->rate_nl_per_h);
                bulk_row(k, s);
        }

        for (size_t i = 0; i < o->alm.n; i++) {
                const struct alm *a = AT(o->alm, struct alm, i);
                if (!k->bulk) {
                        struct db_alarm_event e = {
                                .alarm_id = a->alarm_id, .seq = a->alarm_seq, .infusion_id = a->global ? 0 : id,
                                .channel = 0, .action = a->action, .condition = a->condition, .priority = a->priority,
                                .utc_us = a->utc_us, .mono_us = a->mono_us, .uid = a->uid,
                                .pressure_mmhg = a->pressure_mmhg, .volume_nl = a->volume_nl,
                                .message = a->message[0] ? a->message : NULL,
                        };
                        check(db_alarm_event_add(k->d, &e), k, "db_alarm_event_add");
                        k->api_rows++;
                        continue;
                }
                sqlite3_stmt *s = k->st[ST_ALARM];
                sqlite3_bind_text(s, 1, a->alarm_id, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 2, a->alarm_seq);
                bind_id_or_null(s, 3, a->global ? 0 : id);
                sqlite3_bind_text(s, 4, a->action, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 5, a->condition, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 6, a->priority, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 7, a->utc_us);
                sqlite3_bind_int64(s, 8, a->mono_us);
                if (a->uid >= 0)
                        sqlite3_bind_int64(s, 9, a->uid);
                bind_double_or_null(s, 10, a->pressure_mmhg);
                sqlite3_bind_int64(s, 11, a->volume_nl);
                bind_text_or_null(s, 12, a->message[0] ? a->message : NULL);
                bulk_row(k, s);
        }

        for (size_t i = 0; i < o->pca.n; i++) {
                const struct pcad *d = AT(o->pca, struct pcad, i);
                if (!k->bulk) {
                        struct db_pca_demand e = {
                                .infusion_id = id, .channel = 0, .utc_us = d->utc_us, .mono_us = d->mono_us,
                                .source = d->source, .outcome = d->outcome, .dose_nl = d->dose_nl,
                                .duration_us = d->duration_us, .counts = d->counts, .uid = d->uid,
                                .detail = d->detail[0] ? d->detail : NULL,
                        };
                        int64_t got;
                        check(db_pca_demand_add(k->d, &e, &got), k, "db_pca_demand_add");
                        if (d->ended_utc_us)
                                check(db_pca_dose_ended(k->d, got, d->ended_utc_us, d->delivered_nl), k,
                                      "db_pca_dose_ended");
                        k->api_rows++;
                        continue;
                }
                sqlite3_stmt *s = k->st[ST_PCA];
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_int64(s, 2, d->utc_us);
                sqlite3_bind_int64(s, 3, d->mono_us);
                sqlite3_bind_text(s, 4, d->source, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 5, d->outcome, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 6, d->dose_nl);
                sqlite3_bind_int64(s, 7, d->duration_us);
                sqlite3_bind_int(s, 8, d->counts);
                if (d->uid >= 0)
                        sqlite3_bind_int64(s, 9, d->uid);
                bind_text_or_null(s, 10, d->detail[0] ? d->detail : NULL);
                if (d->ended_utc_us) {
                        sqlite3_bind_int64(s, 11, d->ended_utc_us);
                        sqlite3_bind_int64(s, 12, d->delivered_nl);
                }
                bulk_row(k, s);
        }

        bool recovered = false;
        for (size_t i = 0; i < o->ev.n; i++) {
                const struct ev *e = AT(o->ev, struct ev, i);
                if (!k->bulk && e->recovery) {
                        /* The daemon's own start-up path closes the row and
                         * writes this event. */
                        r = db_recover_interrupted(k->d, e->utc_us, NULL, NULL);
                        check(r, k, "db_recover_interrupted");
                        recovered = true;
                        k->api_rows++;
                        k->events++;
                        continue;
                }
                if (!k->bulk) {
                        struct db_event de = {
                                .infusion_id = e->global ? 0 : id, .channel = 0, .utc_us = e->utc_us,
                                .mono_us = e->mono_us, .kind = e->kind, .from_state = e->from, .to_state = e->to,
                                .volume_nl = e->volume_nl, .detail = e->detail[0] ? e->detail : NULL,
                        };
                        double t0 = now_s();
                        check(db_event_add(k->d, &de), k, "db_event_add");
                        *(double *) vec_push(&k->event_us) = (now_s() - t0) * 1e6;
                        k->api_rows++;
                        k->events++;
                        if (api_done(k))
                                switch_to_bulk(k);
                        continue;
                }
                sqlite3_stmt *s = k->st[ST_EVENT];
                bind_id_or_null(s, 1, e->global ? 0 : id);
                sqlite3_bind_int64(s, 2, e->utc_us);
                if (e->mono_us >= 0)
                        sqlite3_bind_int64(s, 3, e->mono_us);
                sqlite3_bind_text(s, 4, e->kind, -1, SQLITE_STATIC);
                bind_text_or_null(s, 5, e->from);
                bind_text_or_null(s, 6, e->to);
                sqlite3_bind_int64(s, 7, e->volume_nl);
                bind_text_or_null(s, 8, e->detail[0] ? e->detail : NULL);
                bulk_row(k, s);
                k->events++;
        }

        if (!k->bulk) {
                if (!recovered) {
                        check(db_infusion_end(k->d, id, o->end_status, o->end_volume_nl, o->end_utc_us), k,
                              "db_infusion_end");
                        k->api_rows++;
                }
        } else {
                /* A no-op for one the API path already closed (recovery). */
                sqlite3_stmt *s = k->st[ST_END];
                sqlite3_bind_int64(s, 1, id);
                sqlite3_bind_text(s, 2, o->end_status, -1, SQLITE_STATIC);
                sqlite3_bind_int64(s, 3, o->end_volume_nl);
                sqlite3_bind_int64(s, 4, o->end_utc_us);
                sqlite3_bind_int64(s, 5, o->end_checkpoint_utc_us);
                bulk_row(k, s);
                k->bulk_rows--;         /* an update, not a row */
        }
}

/* ---- the audit chain ----------------------------------------------------------- */

/* docs/SCHEMA.md's encoding, as a reader would write it: SHA-256 over the
 * previous chain_sha256 (64 hex digits), then per field (id, utc_us, uid,
 * method, object, args, outcome, message) "-;" for NULL, else
 * "<bytes>:<text>;". db_audit_verify() checks what this wrote. */
static void chain_next(const char prev[static 65], const char *const fields[static 8], char ret[static 65]) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, prev, 64) != 1)
                die("SHA-256", EIO);
        for (int i = 0; i < 8; i++) {
                char head[32];
                int n;
                if (!fields[i]) {
                        EVP_DigestUpdate(ctx, "-;", 2);
                        continue;
                }
                n = snprintf(head, sizeof head, "%zu:", strlen(fields[i]));
                EVP_DigestUpdate(ctx, head, (size_t) n);
                EVP_DigestUpdate(ctx, fields[i], strlen(fields[i]));
                EVP_DigestUpdate(ctx, ";", 1);
        }
        if (EVP_DigestFinal_ex(ctx, md, &len) != 1 || len != 32)
                die("SHA-256", EIO);
        EVP_MD_CTX_free(ctx);
        for (unsigned i = 0; i < len; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
}

struct audit_figures {
        uint64_t api_rows, bulk_rows;
        struct vec api_us;
        double api_s, bulk_s;
};

static void write_audit(const char *path, const struct vec *rows, struct audit_figures *f) {
        struct db *d = NULL;
        size_t i = 0;
        int r;

        r = db_open(path, &d);
        if (r < 0)
                die("db_open", r);
        double t_start = now_s();
        for (; i < rows->n && f->api_rows < AUDIT_API_MAX && now_s() - t_start < AUDIT_API_SECONDS; i++) {
                const struct aud *a = AT(*rows, struct aud, i);
                struct db_audit da = {
                        .utc_us = a->utc_us, .uid = a->uid, .method = a->method, .object = a->object,
                        .args = a->args[0] ? a->args : NULL, .outcome = a->outcome,
                        .message = a->message[0] ? a->message : NULL,
                };
                double t0 = now_s();
                r = db_audit_add(d, &da);
                if (r < 0) {
                        fprintf(stderr, "bench-history: db_audit_add: %s\n", db_last_error(d));
                        exit(EXIT_FAILURE);
                }
                *(double *) vec_push(&f->api_us) = (now_s() - t0) * 1e6;
                f->api_rows++;
        }
        f->api_s = now_s() - t_start;

        char prev[65];
        int64_t head;
        r = db_audit_head(d, &head, prev);
        if (r < 0)
                die("db_audit_head", r);
        d = db_close(d);

        sqlite3_stmt *st[_ST_MAX];
        sqlite3 *db = bulk_open(path, st);
        sqlite3_stmt *s = st[ST_AUDIT];
        uint64_t in_txn = 0;
        t_start = now_s();
        bulk_exec(db, "BEGIN");
        for (; i < rows->n; i++) {
                const struct aud *a = AT(*rows, struct aud, i);
                char id[24], utc[24], uid[24], hash[65];
                snprintf(id, sizeof id, "%" PRIi64, ++head);
                snprintf(utc, sizeof utc, "%" PRIi64, a->utc_us);
                snprintf(uid, sizeof uid, "%" PRIi64, a->uid);
                const char *fields[8] = {
                        id, utc, a->uid >= 0 ? uid : NULL, a->method, a->object, a->args[0] ? a->args : NULL,
                        a->outcome, a->message[0] ? a->message : NULL,
                };
                chain_next(prev, fields, hash);
                sqlite3_bind_int64(s, 1, head);
                sqlite3_bind_int64(s, 2, a->utc_us);
                if (a->uid >= 0)
                        sqlite3_bind_int64(s, 3, a->uid);
                sqlite3_bind_text(s, 4, a->method, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 5, a->object, -1, SQLITE_STATIC);
                bind_text_or_null(s, 6, fields[5]);
                sqlite3_bind_text(s, 7, a->outcome, -1, SQLITE_STATIC);
                bind_text_or_null(s, 8, fields[7]);
                sqlite3_bind_text(s, 9, hash, -1, SQLITE_STATIC);
                if (sqlite3_step(s) != SQLITE_DONE)
                        die_sql(db, "audit insert");
                sqlite3_reset(s);
                sqlite3_clear_bindings(s);
                memcpy(prev, hash, sizeof prev);
                f->bulk_rows++;
                if (++in_txn >= ROWS_PER_TXN) {
                        bulk_exec(db, "COMMIT; BEGIN");
                        in_txn = 0;
                }
        }
        bulk_exec(db, "COMMIT");
        f->bulk_s = now_s() - t_start;
        bulk_close(db, st);
}

/* ---- the documented views' example queries ------------------------------------------ */

struct example {
        char label[96];                 /* the view names, "+" between; "#2" for a second block */
        char *sql;                      /* NULL: the section has no example */
};

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;

        if (!f)
                return NULL;
        FILE *m = open_memstream(&buf, &size);
        if (!m)
                die("open_memstream", errno);
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
                fwrite(chunk, 1, n, m);
        fclose(f);
        fclose(m);
        return buf;
}

/* Every "### " heading naming a `v_...` view starts a section, up to the
 * next heading; each ```sql block in it is an example. */
static void parse_examples(const char *doc, struct vec *out) {
        char label[96] = "";
        bool in_section = false, in_sql = false, in_code = false, section_has_sql = false;
        FILE *sql = NULL;
        char *sql_buf = NULL;
        size_t sql_size = 0;
        unsigned blocks = 0;

        for (const char *line = doc; line && *line;) {
                const char *eol = strchr(line, '\n');
                size_t len = eol ? (size_t) (eol - line) : strlen(line);
                const char *next = eol ? eol + 1 : NULL;

                if (in_sql) {
                        if (len >= 3 && strncmp(line, "```", 3) == 0) {
                                fclose(sql);
                                struct example *x = vec_push(out);
                                if (blocks++ == 0)
                                        snprintf(x->label, sizeof x->label, "%s", label);
                                else
                                        snprintf(x->label, sizeof x->label, "%s#%u", label, blocks);
                                x->sql = sql_buf;
                                sql_buf = NULL;
                                in_sql = false;
                        } else {
                                fwrite(line, 1, len, sql);
                                fputc('\n', sql);
                        }
                } else if (len >= 3 && strncmp(line, "```", 3) == 0) {
                        if (in_section && !in_code && len >= 6 && strncmp(line + 3, "sql", 3) == 0) {
                                sql = open_memstream(&sql_buf, &sql_size);
                                if (!sql)
                                        die("open_memstream", errno);
                                in_sql = true;
                                section_has_sql = true;
                        } else {
                                in_code = !in_code;
                        }
                } else if (!in_code && line[0] == '#' && (len < 5 || strncmp(line, "#### ", 5) != 0)) {
                        if (in_section && !section_has_sql) {
                                struct example *x = vec_push(out);
                                snprintf(x->label, sizeof x->label, "%s", label);
                        }
                        in_section = false;
                        if (len > 4 && strncmp(line, "### ", 4) == 0) {
                                /* The views it names: `v_...` in backquotes. */
                                label[0] = '\0';
                                for (const char *c = line; c < line + len; c++) {
                                        if (*c != '`' || strncmp(c + 1, "v_", 2) != 0)
                                                continue;
                                        const char *end = memchr(c + 1, '`', (size_t) (line + len - c - 1));
                                        if (!end)
                                                break;
                                        size_t used = strlen(label);
                                        snprintf(label + used, sizeof label - used, "%s%.*s", used ? "+" : "",
                                                 (int) (end - c - 1), c + 1);
                                        c = end;
                                }
                                in_section = label[0] != '\0';
                                section_has_sql = false;
                                blocks = 0;
                        }
                }
                line = next;
        }
        if (in_sql) {
                fclose(sql);
                free(sql_buf);
        }
        if (in_section && !section_has_sql) {
                struct example *x = vec_push(out);
                snprintf(x->label, sizeof x->label, "%s", label);
        }
}

struct query_params {
        int64_t infusion_id, from_us, to_us;
};

/* Named parameters (the shell's .parameter set): an id, and a window
 * inside that infusion's run. */
static void bind_params(sqlite3_stmt *s, const struct query_params *qp, char *note, size_t size) {
        int n = sqlite3_bind_parameter_count(s);
        for (int i = 1; i <= n; i++) {
                const char *name = sqlite3_bind_parameter_name(s, i);
                size_t used = strlen(note);
                if (!name)
                        continue;
                if (strstr(name, "from") || strstr(name, "since")) {
                        sqlite3_bind_int64(s, i, qp->from_us);
                        snprintf(note + used, size - used, "%s%s=%" PRIi64, used ? " " : "", name, qp->from_us);
                } else if (strstr(name, "to") || strstr(name, "until")) {
                        sqlite3_bind_int64(s, i, qp->to_us);
                        snprintf(note + used, size - used, "%s%s=%" PRIi64, used ? " " : "", name, qp->to_us);
                } else if (strstr(name, "id")) {
                        sqlite3_bind_int64(s, i, qp->infusion_id);
                        snprintf(note + used, size - used, "%s%s=%" PRIi64, used ? " " : "", name, qp->infusion_id);
                } else {
                        snprintf(note + used, size - used, "%s%s unbound (NULL)", used ? " " : "", name);
                }
        }
}

/* Runs every statement of sql, every row; returns the rows of the last
 * one that returned any, or -1 with the error in note. */
static int64_t run_query(sqlite3 *db, const char *sql, const struct query_params *qp, char *note, size_t size) {
        int64_t rows = 0;
        const char *tail = sql;

        note[0] = '\0';
        while (tail && *tail) {
                sqlite3_stmt *s = NULL;
                if (sqlite3_prepare_v2(db, tail, -1, &s, &tail) != SQLITE_OK) {
                        snprintf(note, size, "error: %s", sqlite3_errmsg(db));
                        return -1;
                }
                if (!s)
                        break;          /* only comments and blanks left */
                bind_params(s, qp, note, size);
                int64_t n = 0;
                int rc;
                while ((rc = sqlite3_step(s)) == SQLITE_ROW)
                        n++;
                if (rc != SQLITE_DONE) {
                        snprintf(note, size, "error: %s", sqlite3_errmsg(db));
                        sqlite3_finalize(s);
                        return -1;
                }
                sqlite3_finalize(s);
                if (n > 0 || rows == 0)
                        rows = n;
        }
        return rows;
}

/* The steps of the plans that read a whole table or index ("SCAN x"),
 * from EXPLAIN QUERY PLAN of each statement; returns how many. */
static int plan_scans(sqlite3 *db, const char *sql, char *out, size_t size) {
        const char *tail = sql;
        int n = 0;

        out[0] = '\0';
        while (tail && *tail) {
                sqlite3_stmt *s = NULL;
                const char *start = tail;
                if (sqlite3_prepare_v2(db, start, -1, &s, &tail) != SQLITE_OK || !s) {
                        sqlite3_finalize(s);
                        break;
                }
                sqlite3_finalize(s);
                _cleanup_(freep) char *eqp = NULL;
                if (asprintf(&eqp, "EXPLAIN QUERY PLAN %.*s", (int) (tail - start), start) < 0)
                        die("out of memory", ENOMEM);
                if (sqlite3_prepare_v2(db, eqp, -1, &s, NULL) != SQLITE_OK)
                        continue;
                while (sqlite3_step(s) == SQLITE_ROW) {
                        const char *detail = (const char *) sqlite3_column_text(s, 3);
                        /* A materialized subquery's rows are no table's. */
                        if (!detail || strncmp(detail, "SCAN ", 5) != 0 || strncmp(detail, "SCAN (subquery-", 15) == 0)
                                continue;
                        size_t used = strlen(out);
                        snprintf(out + used, size - used, "%s%s", used ? "; " : "", detail);
                        n++;
                }
                sqlite3_finalize(s);
        }
        return n;
}

static char *readonly_uri(const char *path) {
        char *uri = malloc(sizeof "file:" + 3 * strlen(path) + sizeof "?mode=ro");
        char *p;
        if (!uri)
                die("out of memory", ENOMEM);
        p = stpcpy(uri, "file:");
        for (const char *c = path; *c; c++) {
                if (*c == '?' || *c == '#' || *c == '%')
                        p += sprintf(p, "%%%02X", (unsigned char) *c);
                else
                        *p++ = *c;
        }
        strcpy(p, "?mode=ro");
        return uri;
}

static int64_t count_rows(sqlite3 *db, const char *sql) {
        sqlite3_stmt *s = NULL;
        int64_t n = -1;
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
                n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        return n;
}

static void run_examples(const char *path, const char *doc_path) {
        _cleanup_(freep) char *doc = read_file(doc_path);
        _cleanup_(freep) char *uri = readonly_uri(path);
        struct vec examples = VEC(struct example);
        sqlite3 *db = NULL;
        struct query_params qp = { 0 };
        char name[128];

        if (!doc) {
                fprintf(stderr, "bench-history: cannot read %s: %m; no view queries\n", doc_path);
                metric("views_documented", NAN, 0, "SCHEMA.md not found");
                return;
        }
        parse_examples(doc, &examples);

        if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
                die_sql(db, uri);
        sqlite3_busy_timeout(db, 5000);

        /* The example ids: 42 as the page uses, if there is one. */
        qp.infusion_id = MIN(count_rows(db, "SELECT max(id) FROM infusions"), 42);
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT started_utc_us FROM infusions WHERE id = %" PRIi64, qp.infusion_id);
        int64_t started = count_rows(db, sql);
        snprintf(sql, sizeof sql, "SELECT ended_utc_us FROM infusions WHERE id = %" PRIi64, qp.infusion_id);
        int64_t ended = count_rows(db, sql);
        qp.from_us = started + (ended - started) / 4;
        qp.to_us = started + (ended - started) * 3 / 4;

        metric("views_documented", (double) examples.n, 0, "example sections");
        for (size_t i = 0; i < examples.n; i++) {
                struct example *x = AT(examples, struct example, i);
                char note[256] = "";
                if (!x->sql) {
                        snprintf(name, sizeof name, "query_ms.%s", x->label);
                        metric(name, NAN, 0, "no example");
                        fprintf(stderr, "  %-34s no example\n", x->label);
                        continue;
                }
                struct vec ms = VEC(double);
                int64_t rows = run_query(db, x->sql, &qp, note, sizeof note);        /* warm-up */
                for (int k = 0; rows >= 0 && k < QUERY_RUNS; k++) {
                        double t0 = now_s();
                        rows = run_query(db, x->sql, &qp, note, sizeof note);
                        *(double *) vec_push(&ms) = (now_s() - t0) * 1e3;
                }
                snprintf(name, sizeof name, "query_ms.%s", x->label);
                if (rows < 0) {
                        metric(name, NAN, 0, "failed");
                        fprintf(stderr, "  %-34s %s\n", x->label, note);
                } else {
                        metric(name, percentile(&ms, 0.5), 3, "ms (median of 5)");
                        snprintf(name, sizeof name, "query_rows.%s", x->label);
                        metric(name, (double) rows, 0, "rows");
                        if (note[0])
                                fprintf(stderr, "  %-34s bound %s\n", x->label, note);
                        char scans[256];
                        int n_scans = plan_scans(db, x->sql, scans, sizeof scans);
                        snprintf(name, sizeof name, "query_scans.%s", x->label);
                        metric(name, n_scans, 0, n_scans ? scans : "no full scan");
                }
                vec_free(&ms);
                free(x->sql);
        }
        vec_free(&examples);
        sqlite3_close(db);
}

/* ---- main ------------------------------------------------------------------------------ */

/* RFC 4180: quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *f, const char *v) {
        if (!strpbrk(v, ",\"\r\n")) {
                fputs(v, f);
                return;
        }
        fputc('"', f);
        for (const char *c = v; *c; c++) {
                if (*c == '"')
                        fputc('"', f);
                fputc(*c, f);
        }
        fputc('"', f);
}

static uint64_t file_size(const char *path) {
        struct stat st;
        return stat(path, &st) < 0 ? 0 : (uint64_t) st.st_size;
}

static int mkdir_p(const char *path) {
        _cleanup_(freep) char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        for (char *c = copy + 1; *c; c++) {
                if (*c != '/')
                        continue;
                *c = '\0';
                if (mkdir(copy, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *c = '/';
        }
        if (mkdir(copy, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: bench-history [OPTIONS]\n"
                "Fill a history database with a year of a busy pump and time it.\n\n"
                "  --events N         events to record (default %" PRIu64 ")\n"
                "  --db PATH          the database (default: in a new directory under $TMPDIR or /var/tmp)\n"
                "  --keep             keep the database and its directory\n"
                "  --csv FILE         figures as CSV (default bench/results/history.csv)\n"
                "  --seed N           the year's seed (default %" PRIu64 ")\n"
                "  --schema-doc PATH  the documented views (default %s/docs/SCHEMA.md)\n",
                DEFAULT_EVENTS, DEFAULT_SEED, BENCH_SOURCE_ROOT);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "events", required_argument, NULL, 'n' },
                { "db", required_argument, NULL, 'd' },
                { "keep", no_argument, NULL, 'k' },
                { "csv", required_argument, NULL, 'c' },
                { "seed", required_argument, NULL, 's' },
                { "schema-doc", required_argument, NULL, 'S' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        uint64_t n_events = DEFAULT_EVENTS, seed = DEFAULT_SEED;
        const char *db_arg = NULL, *csv_path = "bench/results/history.csv", *doc_path = NULL;
        bool keep = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                char *end;
                switch (c) {
                case 'n':
                        errno = 0;
                        n_events = strtoull(optarg, &end, 10);
                        if (errno || *end || n_events == 0) {
                                fprintf(stderr, "bench-history: --events wants a positive number\n");
                                return EXIT_FAILURE;
                        }
                        break;
                case 'd':
                        db_arg = optarg;
                        break;
                case 'k':
                        keep = true;
                        break;
                case 'c':
                        csv_path = optarg;
                        break;
                case 's':
                        errno = 0;
                        seed = strtoull(optarg, &end, 10);
                        if (errno || *end) {
                                fprintf(stderr, "bench-history: --seed wants a number\n");
                                return EXIT_FAILURE;
                        }
                        break;
                case 'S':
                        doc_path = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return EXIT_SUCCESS;
                default:
                        usage(stderr);
                        return EXIT_FAILURE;
                }
        }
        if (optind < argc) {
                usage(stderr);
                return EXIT_FAILURE;
        }

        /* The page from the source tree this was built from; else one
         * under the current directory. */
        char doc_buf[4096];
        if (!doc_path) {
                snprintf(doc_buf, sizeof doc_buf, "%s/docs/SCHEMA.md", BENCH_SOURCE_ROOT);
                doc_path = access(doc_buf, R_OK) == 0 ? doc_buf : "docs/SCHEMA.md";
        }

        char dir[4096] = "", path[4096], wal[4200];
        if (db_arg)
                snprintf(path, sizeof path, "%s", db_arg);
        else {
                const char *tmp = getenv("TMPDIR");
                snprintf(dir, sizeof dir, "%s/bench-history.XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
                if (!mkdtemp(dir))
                        die(dir, errno);
                snprintf(path, sizeof path, "%s/history.db", dir);
        }
        snprintf(wal, sizeof wal, "%s-wal", path);
        if (access(path, F_OK) == 0) {
                fprintf(stderr, "bench-history: %s exists; give a new file\n", path);
                return EXIT_FAILURE;
        }

        double t_run = now_s();
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct year y = { .seed = seed, .plans = VEC(struct plan) };
        y.end_utc_us = (int64_t) ts.tv_sec * USEC_PER_SEC;
        y.start_utc_us = y.end_utc_us - YEAR_DAYS * USEC_PER_DAY;

        fprintf(stderr, "bench-history: %" PRIu64 " events, seed %" PRIu64 ", %s\n", n_events, seed, path);

        /* The file, as the daemon makes it. */
        struct sink k = { .path = path, .event_us = VEC(double), .sample_us = VEC(double) };
        r = db_open(path, &k.d);
        if (r < 0)
                die("db_open", r);

        /* The schedule, then each infusion once without filler to count
         * the events it makes anyway; the rest of N is spread over the
         * running time. */
        plan_year(&y);
        /* The year's library versions (their rows need no order but
         * their own), so each infusion can name the one it used. */
        for (int i = 0; i < LIBRARY_VERSIONS; i++) {
                char json[512];
                snprintf(json, sizeof json, "{\"version\":\"%s\",\"care_areas\":[\"ICU\",\"Med-Surg\",\"Oncology\"],"
                         "\"drugs\":[\"heparin\",\"insulin\",\"norepinephrine\",\"propofol\",\"vancomycin\","
                         "\"morphine-pca\",\"paclitaxel\"]}", y.lib[i].version);
                struct db_library lib = {
                        .version = y.lib[i].version, .imported_utc_us = y.lib[i].imported_utc_us,
                        .imported_by_uid = 1100, .json = json,
                };
                r = db_library_store(k.d, &lib, NULL);
                if (r < 0)
                        die("db_library_store", r);
                memcpy(y.lib[i].sha256, lib.sha256, sizeof lib.sha256);
        }
        struct recs o;
        recs_init(&o);
        uint64_t structural = 0;
        double run_total = 0;
        for (size_t i = 0; i < y.plans.n; i++) {
                struct plan *p = AT(y.plans, struct plan, i);
                gen_plan(&y, p, &o);
                p->structural = o.ev.n;
                structural += o.ev.n;
                run_total += (double) (p->run_end_utc_us - p->start_utc_us);
        }
        uint64_t budget = n_events > structural ? n_events - structural : 0;
        double run_cum = 0;
        uint64_t given = 0;
        for (size_t i = 0; i < y.plans.n; i++) {
                struct plan *p = AT(y.plans, struct plan, i);
                run_cum += (double) (p->run_end_utc_us - p->start_utc_us);
                uint64_t upto = i + 1 == y.plans.n ? budget : (uint64_t) ((double) budget * run_cum / run_total);
                p->filler = upto - given;
                given = upto;
        }

        /* Write the year: the API until its budget, then bulk. */
        struct vec audit = VEC(struct aud);
        y.alarm_seq = 0;
        k.api_start_s = now_s();
        double t_last_report = k.api_start_s;
        for (size_t i = 0; i < y.plans.n; i++) {
                double t0 = now_s();
                gen_plan(&y, AT(y.plans, struct plan, i), &o);
                if (k.bulk)
                        k.gen_s += now_s() - t0;
                for (size_t j = 0; j < o.aud.n; j++)
                        *(struct aud *) vec_push(&audit) = *AT(o.aud, struct aud, j);
                emit(&k, &o);
                if (now_s() - t_last_report > 10) {
                        t_last_report = now_s();
                        fprintf(stderr, "bench-history: %" PRIu64 " events, day %" PRIi64 " of %d\n", k.events,
                                (AT(y.plans, struct plan, i)->program_utc_us - y.start_utc_us) / USEC_PER_DAY,
                                YEAR_DAYS);
                }
        }
        if (!k.bulk)
                switch_to_bulk(&k);
        bulk_exec(k.sql, "COMMIT");
        double bulk_s = now_s() - k.bulk_start_s;
        bulk_close(k.sql, k.st);
        k.sql = NULL;
        recs_free(&o);

        fprintf(stderr, "bench-history: %zu audit rows\n", audit.n);
        struct audit_figures af = { .api_us = VEC(double) };
        write_audit(path, &audit, &af);
        vec_free(&audit);

        uint64_t main_bytes = file_size(path), wal_bytes = file_size(wal);

        /* What is in the file, read back. */
        _cleanup_(freep) char *uri = readonly_uri(path);
        sqlite3 *ro = NULL;
        if (sqlite3_open_v2(uri, &ro, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
                die_sql(ro, uri);
        static const struct {
                const char *table, *metric;
        } tables[] = {
                { "events", "rows.events" }, { "infusions", "rows.infusions" },
                { "delivery_samples", "rows.delivery_samples" }, { "alarm_events", "rows.alarm_events" },
                { "pca_demands", "rows.pca_demands" }, { "limit_events", "rows.limit_events" },
                { "audit", "rows.audit" }, { "drug_libraries", "rows.drug_libraries" },
        };
        int64_t rows_total = 0, n_events_db = 0, n_infusions = 0;
        for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
                char sql[128];
                snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i].table);
                int64_t n = count_rows(ro, sql);
                metric(tables[i].metric, (double) n, 0, "rows");
                rows_total += n;
                if (i == 0)
                        n_events_db = n;
                if (i == 1)
                        n_infusions = n;
        }
        int64_t n_alarms = count_rows(ro, "SELECT count(*) FROM alarm_events WHERE action = 'raised'");
        int64_t first = count_rows(ro, "SELECT min(started_utc_us) FROM infusions");
        int64_t last = count_rows(ro, "SELECT max(ended_utc_us) FROM infusions");
        sqlite3_close(ro);
        metric("rows.total", (double) rows_total, 0, "rows");
        double days = (double) (last - first) / (double) USEC_PER_DAY;
        metric("history_days", days, 1, "days");
        metric("infusions_per_day", (double) n_infusions / days, 1, "infusions/day");
        metric("alarms_per_infusion", (double) n_alarms / (double) n_infusions, 2, "alarms/infusion");

        /* The daemon's way: a commit per record. */
        double event_call_s = vec_sum(&k.event_us) * 1e-6;
        metric("api.event_commits", (double) k.event_us.n, 0, "db_event_add calls (synchronous=FULL)");
        metric("api.event_rate", (double) k.event_us.n / event_call_s, 0, "events/s");
        metric("api.event_p50_us", percentile(&k.event_us, 0.5), 1, "us per call");
        metric("api.event_p99_us", percentile(&k.event_us, 0.99), 1, "us per call");
        metric("api.sample_calls", (double) k.sample_us.n, 0, "db_delivery_sample_add calls (NORMAL)");
        metric("api.sample_p50_us", percentile(&k.sample_us, 0.5), 1, "us per call");
        metric("api.sample_p99_us", percentile(&k.sample_us, 0.99), 1, "us per call");
        metric("api.rows", (double) k.api_rows, 0, "rows through the API, all tables");
        metric("api.wall_s", k.api_end_s - k.api_start_s, 2, "s");
        double audit_call_s = vec_sum(&af.api_us) * 1e-6;
        metric("api.audit_rows", (double) af.api_rows, 0, "db_audit_add calls (FULL, hash chain)");
        metric("api.audit_rate", (double) af.api_rows / audit_call_s, 0, "rows/s");
        metric("api.audit_p50_us", percentile(&af.api_us, 0.5), 1, "us per call");
        metric("api.audit_p99_us", percentile(&af.api_us, 0.99), 1, "us per call");

        /* Bulk. */
        metric("bulk.rows", (double) k.bulk_rows, 0, "rows, all tables");
        metric("bulk.seconds", bulk_s - k.gen_s, 2, "s in SQLite (generation excluded)");
        metric("bulk.rate", (double) k.bulk_rows / (bulk_s - k.gen_s), 0, "rows/s");
        metric("bulk.generate_s", k.gen_s, 2, "s making the rows");
        metric("bulk.audit_rows", (double) af.bulk_rows, 0, "rows (chain computed here)");
        metric("bulk.audit_rate", (double) af.bulk_rows / af.bulk_s, 0, "rows/s (SHA-256 included)");

        /* Size. */
        metric("file.main_bytes", (double) main_bytes, 0, "bytes");
        metric("file.wal_bytes", (double) wal_bytes, 0, "bytes");
        metric("file.total_mb", (double) (main_bytes + wal_bytes) / 1e6, 1, "MB");
        metric("file.mb_per_million_events", (double) (main_bytes + wal_bytes) / 1e6 / ((double) n_events_db / 1e6), 1,
               "MB per 10^6 events (all tables)");
        metric("file.bytes_per_row", (double) (main_bytes + wal_bytes) / (double) rows_total, 1, "bytes per row");

        /* The chain: the reader's check over a year of it. */
        struct db *rd = NULL;
        struct db_audit_check chk = { 0 };
        r = db_open_readonly(path, &rd);
        if (r < 0)
                die("db_open_readonly", r);
        double t0 = now_s();
        r = db_audit_verify(rd, &chk);
        double verify_s = now_s() - t0;
        if (r < 0)
                die("db_audit_verify", r);
        rd = db_close(rd);
        metric("audit_verify_s", verify_s, 3, "s (db_audit_verify, whole chain)");
        metric("audit_verify_rows", (double) chk.rows, 0, r == 0 ? "rows, intact" : "rows, BROKEN");
        bool chain_ok = r == 0;
        if (!chain_ok)
                fprintf(stderr, "bench-history: audit chain broken at row %" PRIi64 ": %s\n", chk.broken_id, chk.reason);

        fprintf(stderr, "bench-history: example queries from %s\n", doc_path);
        run_examples(path, doc_path);

        metric("total_seconds", now_s() - t_run, 1, "s, the whole run");

        /* The table, and the same figures as CSV. */
        printf("%-50s %16s  %s\n", "metric", "value", "unit");
        for (size_t i = 0; i < metrics.n; i++) {
                const struct metric *m = AT(metrics, struct metric, i);
                if (isnan(m->value))
                        printf("%-50s %16s  %s\n", m->name, "-", m->unit);
                else
                        printf("%-50s %16.*f  %s\n", m->name, m->decimals, m->value, m->unit);
        }

        char csv_dir[4096];
        snprintf(csv_dir, sizeof csv_dir, "%s", csv_path);
        char *slash = strrchr(csv_dir, '/');
        if (slash) {
                *slash = '\0';
                r = mkdir_p(csv_dir);
                if (r < 0)
                        die(csv_dir, r);
        }
        FILE *csv = fopen(csv_path, "we");
        if (!csv)
                die(csv_path, errno);
        fprintf(csv, "metric,value,unit\n");
        for (size_t i = 0; i < metrics.n; i++) {
                const struct metric *m = AT(metrics, struct metric, i);
                csv_field(csv, m->name);
                if (isnan(m->value))
                        fputs(",,", csv);
                else
                        fprintf(csv, ",%.*f,", m->decimals, m->value);
                csv_field(csv, m->unit);
                fputc('\n', csv);
        }
        if (fclose(csv) != 0)
                die(csv_path, errno);
        fprintf(stderr, "bench-history: wrote %s\n", csv_path);

        if (!keep) {
                char shm[4200];
                snprintf(shm, sizeof shm, "%s-shm", path);
                unlink(path);
                unlink(wal);
                unlink(shm);
                if (dir[0])
                        rmdir(dir);
        } else
                fprintf(stderr, "bench-history: kept %s\n", path);

        vec_free(&k.event_us);
        vec_free(&k.sample_us);
        vec_free(&af.api_us);
        vec_free(&y.plans);
        vec_free(&metrics);
        return chain_ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
