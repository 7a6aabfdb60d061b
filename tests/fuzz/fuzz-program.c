/* SPDX-License-Identifier: MIT */
/* libFuzzer target: Program's settings validation, below D-Bus. A real
 * pump (the sim, virtual clock, a scratch history database, the sample
 * drug library) is programmed with pump_program(), which is what
 * Channel.Program calls once daemon/bus-channel.c has read its a{sv}: the
 * drug library's limits (safety/ders.c, safety/pca-check.c), the plan
 * (core/channel.c) and the supervision limits.
 *
 * The input is a list of (key, value) pairs named and typed as Program's
 * a{sv} (docs/API.md), decoded and converted as bus-channel.c does (mL to
 * nL in range, seconds to µs); a key given twice, missing for its mode or
 * not applying to it is refused there, so it is refused here too and never
 * reaches the pump. Checked on every input:
 * - refused: a named error with a message a person can read (non-empty,
 *   valid UTF-8, which D-Bus requires), and the channel unchanged;
 * - accepted: the channel is programmed; every rate of its plan is within
 *   the device maximum, the KVO within its ceiling, the volume within the
 *   largest VTBI; and for a library drug every delivering segment (after a
 *   loading dose) is within the drug's limits for the care area, beyond a
 *   soft limit only when the program confirmed it. */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macros.h"
#include "common/units.h"
#include "config/config.h"
#include "core/channel.h"
#include "daemon/pump.h"
#include "safety/ders.h"
#include "safety/dose.h"
#include "safety/pca-check.h"
#include "tests/fuzz/fuzz-util.h"

#ifndef FUZZ_SOURCE_ROOT
#error "FUZZ_SOURCE_ROOT: the checkout, for config/drug-library.sample.json"
#endif

/* What bus-channel.c converts before the pump judges a value. */
#define PARSE_LIMIT_NL (INT64_C(1000000) * NL_PER_ML)

enum key {
        KEY_MODE, KEY_RATE, KEY_VTBI, KEY_KVO, KEY_DURATION, KEY_LOADING_VOLUME, KEY_LOADING_RATE,
        KEY_DOSE_VOLUME, KEY_INTERVAL, KEY_DOSES, KEY_STEPS,
        KEY_CARE_AREA, KEY_DRUG, KEY_CONCENTRATION, KEY_DOSE_RATE, KEY_DOSE_UNIT, KEY_WEIGHT, KEY_HEIGHT,
        KEY_CONFIRM, KEY_REASON, KEY_RAMP_UP, KEY_RAMP_DOWN, KEY_OCCLUSION_LIMIT,
        KEY_PCA_DOSE_ML, KEY_PCA_DOSE, KEY_LOCKOUT, KEY_MAX_DOSES, KEY_LIMIT_ML, KEY_LIMIT_DOSE, KEY_LIMIT_WINDOW,
        KEY_BASAL_ML, KEY_BASAL_DOSE, KEY_LOADING_DOSE_ML, KEY_LOADING_DOSE, KEY_PCA_BOLUS_RATE, KEY_LIMIT_KVO,
        KEY_NEW_PATIENT, _KEY_MAX,
};

/* Per key, per mode (continuous, volume-time, multistep, loading,
 * intermittent, ramp, pca): required R, optional O, does not apply -.
 * As docs/API.md gives them for Program. */
static const char rules[_KEY_MAX][_PROGRAM_MODE_MAX + 1] = {
        [KEY_MODE] = "OOOOOOO",           [KEY_RATE] = "O--R---",         [KEY_VTBI] = "RR-R-RR",
        [KEY_KVO] = "OOOOOO-",            [KEY_DURATION] = "-R--RR-",     [KEY_LOADING_VOLUME] = "---R---",
        [KEY_LOADING_RATE] = "---R---",   [KEY_DOSE_VOLUME] = "----R--",  [KEY_INTERVAL] = "----R--",
        [KEY_DOSES] = "----R--",          [KEY_STEPS] = "--R----",        [KEY_CARE_AREA] = "OOOOOOO",
        [KEY_DRUG] = "OOOOOOO",           [KEY_CONCENTRATION] = "OOOOOOO", [KEY_DOSE_RATE] = "O------",
        [KEY_DOSE_UNIT] = "O------",      [KEY_WEIGHT] = "OOOOOOO",       [KEY_HEIGHT] = "OOOOOOO",
        [KEY_CONFIRM] = "OOOOOOO",        [KEY_REASON] = "OOOOOOO",       [KEY_RAMP_UP] = "-----R-",
        [KEY_RAMP_DOWN] = "-----R-",      [KEY_OCCLUSION_LIMIT] = "OOOOOOO", [KEY_PCA_DOSE_ML] = "------O",
        [KEY_PCA_DOSE] = "------O",       [KEY_LOCKOUT] = "------R",      [KEY_MAX_DOSES] = "------R",
        [KEY_LIMIT_ML] = "------O",       [KEY_LIMIT_DOSE] = "------O",   [KEY_LIMIT_WINDOW] = "------R",
        [KEY_BASAL_ML] = "------O",       [KEY_BASAL_DOSE] = "------O",   [KEY_LOADING_DOSE_ML] = "------O",
        [KEY_LOADING_DOSE] = "------O",   [KEY_PCA_BOLUS_RATE] = "------O", [KEY_LIMIT_KVO] = "------O",
        [KEY_NEW_PATIENT] = "------O",
};

static const char *const modes[] = { "continuous", "volume-time", "multistep", "loading", "intermittent", "ramp", "pca" };
static const char *const care_areas[] = { "ICU", "Med-Surg", "Oncology", "Pediatrics", "Anesthesia", "icu" };
static const char *const drugs[] = { "heparin", "heparin-peds", "insulin", "dopamine", "norepinephrine",
                                     "morphine-pca", "fentanyl", "tpn", "vasopressin", "oxytocin",
                                     "magnesium-sulfate", "potassium-chloride-peds", "propofol", "nope" };
static const char *const dose_units[] = { "units/h", "units/kg/h", "mcg/kg/min", "mcg/min", "mg/h", "mg/kg/h",
                                          "mL/h", "mEq/h", "g/h", "milliunits/min", "mg/m2/h", "units/min" };
static const char *const amount_units[] = { "g", "mg", "mcg", "ng", "units", "milliunits", "mEq", "mmol", "mL" };

static struct config *cfg;
static struct pump *pump;

static void die(const char *what, int r, const struct pump_error *err) {
        fprintf(stderr, "fuzz-program: %s: %s: %s\n", what, strerror(-r), err ? err->message : "");
        abort();
}

static void set_up(void) {
        char text[1024], path[600];
        struct pump_error err = {};
        int r;

        /* The shipped sim's mechanism, a database in the scratch dir, and
         * the virtual clock, so nothing runs between inputs. */
        snprintf(text, sizeof text,
                 "[pump]\nbackend = sim\n"
                 "[mechanism]\nlead_pitch_mm = 1\nsteps_per_rev = 200\nmicrosteps = 16\n"
                 "syringe_inner_diameter_mm = 26.6\nsyringe_volume_ml = 60\n"
                 "[database]\npath = %s/history.db\n"
                 "[simulation]\nclock = virtual\nseed = 1\n",
                 fuzz_scratch_dir("fuzz-program"));
        r = config_load_string("fuzz-program.conf", text, stderr, &cfg);
        if (r < 0)
                die("config", r, NULL);
        r = pump_new(cfg, &pump, &err);
        if (r < 0)
                die("pump_new", r, &err);

        snprintf(path, sizeof path, "%s/config/drug-library.sample.json", FUZZ_SOURCE_ROOT);
        FILE *f = fopen(path, "re");
        if (!f)
                die(path, -errno, NULL);
        char *json = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&json, &size);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                fwrite(buf, 1, n, m);
        fclose(f);
        fclose(m);
        r = pump_library_import(pump, json, size, 0, &err);
        free(json);
        if (r < 0)
                die("library import", r, &err);
}

/* mL (or mL/h) to nL as bus-channel.c converts: finite and within
 * PARSE_LIMIT_NL, else Program is refused before the pump sees it. */
static bool ml(double v, int64_t *ret) {
        return isfinite(v) && units_ml_to_nl(v, -PARSE_LIMIT_NL, PARSE_LIMIT_NL, ret) >= 0;
}

/* A PCA volume: mL, or an amount in the library's PCA unit; above 0. */
static bool pca_volume(double v, bool amount, struct pca_volume *ret) {
        if (!isfinite(v) || v <= 0)
                return false;
        if (amount) {
                ret->as_amount = true;
                ret->amount = v;
                return true;
        }
        return ml(v, &ret->nl);
}

struct settings {
        struct program prog;
        struct ders_request req;
        struct pca_program pca;
        char strings[8][64];
};

/* Decode the input into settings; false: bus-channel.c would refuse them. */
static bool decode(struct fuzz_input *in, struct settings *s) {
        bool seen[_KEY_MAX] = {};
        unsigned n_strings = 0;

        s->prog = (struct program) { .mode = PROGRAM_CONTINUOUS, .kvo_rate_nl_per_h = pump_default_kvo_rate_nl_per_h(pump) };
        s->req = (struct ders_request) { .concentration = -1 };
        s->pca = (struct pca_program) { .limit_kvo_nl_per_h = -1 };

        for (unsigned pairs = 0; in->size > 0 && pairs < 48; pairs++) {
                enum key k = fuzz_u8(in) % _KEY_MAX;
                if (seen[k])
                        return false;   /* "given twice" */
                seen[k] = true;

                const char *str = NULL;
                double d = 0;
                uint32_t u = 0;
                bool ok = true;
                switch (k) {
                case KEY_MODE: case KEY_CARE_AREA: case KEY_DRUG: case KEY_DOSE_UNIT: case KEY_REASON: {
                        static const struct { const char *const *w; size_t n; } vocab[] = {
                                [KEY_MODE] = { modes, ELEMENTSOF(modes) },
                                [KEY_CARE_AREA] = { care_areas, ELEMENTSOF(care_areas) },
                                [KEY_DRUG] = { drugs, ELEMENTSOF(drugs) },
                                [KEY_DOSE_UNIT] = { dose_units, ELEMENTSOF(dose_units) },
                                [KEY_REASON] = { NULL, 0 },
                        };
                        char *buf = s->strings[n_strings++];
                        str = fuzz_word(in, vocab[k].w, vocab[k].n, buf, sizeof s->strings[0]);
                        if (str == buf)
                                fuzz_utf8_sanitize(buf);        /* D-Bus strings are UTF-8 */
                        break;
                }
                case KEY_DURATION: case KEY_INTERVAL: case KEY_DOSES: case KEY_RAMP_UP: case KEY_RAMP_DOWN:
                case KEY_LOCKOUT: case KEY_MAX_DOSES: case KEY_LIMIT_WINDOW:
                        /* Mostly small: a u of seconds or a count. */
                        u = fuzz_u8(in) % 4 == 3 ? fuzz_u32(in) : (uint32_t) fuzz_u8(in) * 60 + fuzz_u8(in);
                        break;
                case KEY_CONFIRM: case KEY_NEW_PATIENT:
                        u = fuzz_u8(in) & 1;
                        break;
                case KEY_CONCENTRATION:
                        if (fuzz_u8(in) % 2) {
                                /* (dsd): amount, amount unit, volume mL */
                                s->req.strength.amount = fuzz_double(in);
                                const char *unit = amount_units[fuzz_u8(in) % ELEMENTSOF(amount_units)];
                                s->req.strength.volume_ml = fuzz_double(in);
                                if (dose_amount_parse(unit, &s->req.strength.amount_unit) < 0)
                                        return false;
                                s->req.have_strength = true;
                        } else {
                                u = fuzz_u8(in) % 4 == 3 ? fuzz_u32(in) : fuzz_u8(in) % 4;
                                s->req.concentration = u > INT32_MAX ? INT32_MAX : (int) u;
                        }
                        continue;
                case KEY_STEPS: {
                        unsigned n = fuzz_u8(in) % (PROGRAM_MAX_STEPS + 2);
                        if (n > PROGRAM_MAX_STEPS)
                                return false;   /* "more than 32 entries" */
                        for (unsigned i = 0; i < n; i++) {
                                struct program_step *st = &s->prog.steps[s->prog.n_steps++];
                                double rate = fuzz_double(in), volume = fuzz_double(in);
                                if (!ml(rate, &st->rate_nl_per_h) || !ml(volume, &st->volume_nl))
                                        return false;
                        }
                        continue;
                }
                default:
                        d = fuzz_double(in);
                }

                switch (k) {
                case KEY_MODE:
                        ok = program_mode_from_string(str, &s->prog.mode) >= 0;
                        break;
                case KEY_PCA_DOSE_ML: case KEY_PCA_DOSE:
                        ok = pca_volume(d, k == KEY_PCA_DOSE, &s->pca.dose);
                        break;
                case KEY_LIMIT_ML: case KEY_LIMIT_DOSE:
                        ok = pca_volume(d, k == KEY_LIMIT_DOSE, &s->pca.limit);
                        break;
                case KEY_BASAL_ML: case KEY_BASAL_DOSE:
                        ok = pca_volume(d, k == KEY_BASAL_DOSE, &s->pca.basal);
                        break;
                case KEY_LOADING_DOSE_ML: case KEY_LOADING_DOSE:
                        ok = pca_volume(d, k == KEY_LOADING_DOSE, &s->pca.loading);
                        break;
                case KEY_LOCKOUT:        s->pca.lockout_us = (int64_t) u * US_PER_SEC; break;
                case KEY_MAX_DOSES:      s->pca.max_doses_per_hour = u; break;
                case KEY_LIMIT_WINDOW:   s->pca.window_us = (int64_t) u * US_PER_SEC; break;
                case KEY_PCA_BOLUS_RATE: ok = d > 0 && ml(d, &s->pca.bolus_rate_nl_per_h); break;
                case KEY_LIMIT_KVO:      ok = d >= 0 && ml(d, &s->pca.limit_kvo_nl_per_h); break;
                case KEY_NEW_PATIENT:    s->pca.new_patient = u; break;
                case KEY_RATE:           ok = ml(d, &s->prog.rate_nl_per_h); break;
                case KEY_VTBI:           ok = ml(d, &s->prog.vtbi_nl); break;
                case KEY_KVO:            ok = ml(d, &s->prog.kvo_rate_nl_per_h); break;
                case KEY_LOADING_VOLUME: ok = ml(d, &s->prog.loading_volume_nl); break;
                case KEY_LOADING_RATE:   ok = ml(d, &s->prog.loading_rate_nl_per_h); break;
                case KEY_DOSE_VOLUME:    ok = ml(d, &s->prog.dose_volume_nl); break;
                case KEY_DURATION:       s->prog.duration_us = (int64_t) u * US_PER_SEC; break;
                case KEY_INTERVAL:       s->prog.interval_us = (int64_t) u * US_PER_SEC; break;
                case KEY_RAMP_UP:        s->prog.ramp_up_us = (int64_t) u * US_PER_SEC; break;
                case KEY_RAMP_DOWN:      s->prog.ramp_down_us = (int64_t) u * US_PER_SEC; break;
                case KEY_DOSES:          s->prog.doses = u; break;
                case KEY_CARE_AREA:      s->req.care_area = str; break;
                case KEY_DRUG:           s->req.drug = str; break;
                case KEY_DOSE_UNIT:      s->req.dose_unit = str; break;
                case KEY_CONFIRM:        s->req.confirm_soft_limits = u; break;
                case KEY_REASON:         s->req.override_reason = str; break;
                case KEY_OCCLUSION_LIMIT:
                        ok = isfinite(d) && d > 0;
                        s->req.occlusion_limit_mmhg = d;
                        break;
                case KEY_DOSE_RATE:
                        ok = isfinite(d) && d > 0;
                        s->req.have_dose = true;
                        s->req.dose_rate = d;
                        break;
                case KEY_WEIGHT:
                        ok = isfinite(d) && d > 0;
                        s->req.patient.weight_kg = d;
                        break;
                case KEY_HEIGHT:
                        ok = isfinite(d) && d > 0;
                        s->req.patient.height_cm = d;
                        break;
                default:
                        break;
                }
                if (!ok)
                        return false;
        }

        /* The rules across keys that bus-channel.c applies. */
        for (unsigned i = 0; i < _KEY_MAX; i++) {
                char rule = rules[i][s->prog.mode];
                if ((rule == 'R' && !seen[i]) || (rule == '-' && seen[i]))
                        return false;
        }
        if (s->prog.mode == PROGRAM_CONTINUOUS && seen[KEY_RATE] == seen[KEY_DOSE_RATE])
                return false;
        if (s->prog.mode == PROGRAM_PCA) {
                if (seen[KEY_PCA_DOSE_ML] == seen[KEY_PCA_DOSE] || seen[KEY_LIMIT_ML] == seen[KEY_LIMIT_DOSE] ||
                    (seen[KEY_BASAL_ML] && seen[KEY_BASAL_DOSE]) ||
                    (seen[KEY_LOADING_DOSE_ML] && seen[KEY_LOADING_DOSE]))
                        return false;
                s->req.pca = &s->pca;
        }
        if (seen[KEY_REASON] && !seen[KEY_CONFIRM])
                return false;
        return true;
}

static void check_accepted(const struct settings *s) {
        const struct channel *ch = pump_channel(pump);
        const struct channel_limits *lim = &ch->limits;

        FUZZ_CHECK(ch->state == CHANNEL_PROGRAMMED, "accepted but state %s", channel_state_to_string(ch->state));
        FUZZ_CHECK(ch->n_segments >= 1 && ch->n_segments <= PLAN_MAX_SEGMENTS, "%u segments", ch->n_segments);
        for (unsigned i = 0; i < ch->n_segments; i++)
                FUZZ_CHECK(ch->plan[i].rate_nl_per_h >= 0 && ch->plan[i].rate_nl_per_h <= lim->max_rate_nl_per_h,
                           "segment %u at %lld nL/h, device max %lld", i, (long long) ch->plan[i].rate_nl_per_h,
                           (long long) lim->max_rate_nl_per_h);
        FUZZ_CHECK(ch->prog.kvo_rate_nl_per_h >= 0 && ch->prog.kvo_rate_nl_per_h <= lim->max_kvo_rate_nl_per_h,
                   "KVO %lld nL/h, ceiling %lld", (long long) ch->prog.kvo_rate_nl_per_h,
                   (long long) lim->max_kvo_rate_nl_per_h);
        FUZZ_CHECK(ch->prog.vtbi_nl > 0 && ch->prog.vtbi_nl <= lim->max_vtbi_nl, "VTBI %lld nL, max %lld",
                   (long long) ch->prog.vtbi_nl, (long long) lim->max_vtbi_nl);

        /* The library's limits, judged again here for each delivering
         * segment as the rate it is. PCA and intermittent doses are
         * amounts, judged by pca_check() and (not yet) per dose. */
        if (!s->req.drug || s->prog.mode == PROGRAM_PCA || s->prog.mode == PROGRAM_INTERMITTENT)
                return;
        unsigned first = s->prog.mode == PROGRAM_LOADING ? ch->n_segments - 1 : 0;
        for (unsigned i = first; i < ch->n_segments; i++) {
                if (ch->plan[i].rate_nl_per_h <= 0)
                        continue;
                struct ders_request q = s->req;
                struct ders_result res;
                q.have_dose = false;
                q.rate_nl_per_h = ch->plan[i].rate_nl_per_h;
                ders_check(pump_library(pump), &q, &res);
                FUZZ_CHECK(res.outcome == DERS_ACCEPTED || (res.outcome == DERS_OVERRIDDEN && s->req.confirm_soft_limits),
                           "segment %u at %lld nL/h of %s in %s is %s: %s", i, (long long) q.rate_nl_per_h,
                           s->req.drug, s->req.care_area ?: "-", ders_outcome_to_string(res.outcome), res.message);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static struct settings s;
        static struct channel before;
        struct fuzz_input in = { data, size };
        struct pump_error err = {};

        if (size > 1024)
                return -1;
        if (!pump)
                set_up();
        if (!decode(&in, &s))
                return 0;

        /* Alternate between programming an idle channel and replacing a
         * program, as a clinician may; both must leave a refused program
         * without effect. */
        if ((size & 1) && pump_channel(pump)->state == CHANNEL_PROGRAMMED) {
                int r = pump_stop(pump, &err);
                FUZZ_CHECK(r >= 0, "stop: %s", err.message);
        }
        before = *pump_channel(pump);

        int r = pump_program(pump, &s.prog, &s.req, 0, &err);
        if (getenv("FUZZ_VERBOSE"))
                fprintf(stderr, "program %s: %s%s\n", program_mode_to_string(s.prog.mode),
                        r < 0 ? "refused: " : "accepted", r < 0 ? err.message : "");
        if (r >= 0) {
                check_accepted(&s);
                return 0;
        }

        const struct channel *ch = pump_channel(pump);
        FUZZ_CHECK(err.name && strncmp(err.name, PUMP_ERROR_PREFIX, strlen(PUMP_ERROR_PREFIX)) == 0,
                   "refused (%d) without an error name", r);
        FUZZ_CHECK(err.message[0], "refused (%s) without a message", err.name);
        FUZZ_CHECK(fuzz_utf8_valid(err.message), "message is not UTF-8: %s", err.message);
        FUZZ_CHECK(ch->state == before.state, "refused, but the state changed to %s",
                   channel_state_to_string(ch->state));
        FUZZ_CHECK(memcmp(&ch->prog, &before.prog, sizeof before.prog) == 0 && ch->n_segments == before.n_segments &&
                   memcmp(ch->plan, before.plan, sizeof before.plan) == 0,
                   "refused, but the program changed");
        return 0;
}
