/* SPDX-License-Identifier: MIT */
/* libFuzzer target: Channel.Program, from the D-Bus message up. Each input
 * becomes the a{sv} a client would send (keys from bus-channel.c's own
 * table, mostly of their own D-Bus type, sometimes of another, sometimes
 * unknown), built and sealed as a real method call; bus-channel.c's parser
 * (bus_parse_program) reads it, and what it accepts programs a real pump
 * (the sim, virtual clock, a scratch history database, the sample drug
 * library) with pump_program(), as Channel.Program does: the drug
 * library's limits (safety/ders.c, safety/pca-check.c), the plan
 * (core/channel.c) and the supervision limits. Checked on every input:
 * - refused, by the parser or the pump: a named error with a message a
 *   person can read (non-empty, valid UTF-8, which D-Bus requires), and the
 *   channel unchanged;
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
#include <sys/socket.h>
#include <unistd.h>

#include "common/macros.h"
#include "common/units.h"
#include "config/config.h"
#include "core/channel.h"
#include "daemon/bus-program.h"
#include "daemon/pump.h"
#include "safety/ders.h"
#include "safety/dose.h"
#include "safety/pca-check.h"
#include "tests/fuzz/fuzz-util.h"

#ifndef FUZZ_SOURCE_ROOT
#error "FUZZ_SOURCE_ROOT: the checkout, for config/drug-library.sample.json"
#endif

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

/* A connection object to build messages on: sd-bus makes messages only for
 * a bus that is started. One end of a socketpair is enough; nothing is
 * ever sent. */
static sd_bus *bus;

static void set_up_bus(void) {
        int fds[2], r;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                die("socketpair", -errno, NULL);
        if ((r = sd_bus_new(&bus)) < 0 || (r = sd_bus_set_fd(bus, fds[0], fds[0])) < 0 ||
            (r = sd_bus_start(bus)) < 0)
                die("sd-bus", r, NULL);
}

/* What D-Bus carries: well-formed UTF-8 (fuzz_utf8_sanitize) without the
 * noncharacters sd-bus also refuses (U+FDD0 to U+FDEF, U+xxFFFE and
 * U+xxFFFF), each of whose bytes becomes '?'. */
static void dbus_sanitize(char *s) {
        unsigned char *p = (unsigned char *) s;

        fuzz_utf8_sanitize(s);
        for (size_t avail = strlen(s), n; avail > 0; p += n, avail -= n) {
                n = fuzz_utf8_len(p, avail);
                uint32_t cp = n == 1 ? p[0] : (uint32_t) (p[0] & (0x7f >> n));
                for (size_t i = 1; i < n; i++)
                        cp = cp << 6 | (p[i] & 0x3f);
                if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe)
                        memset(p, '?', n);
        }
}

/* A string for key (its vocabulary when it has one), as D-Bus carries it. */
static const char *string_for(struct fuzz_input *in, const char *key, char *buf, size_t size) {
        static const struct { const char *key; const char *const *w; size_t n; } vocab[] = {
                { "Mode", modes, ELEMENTSOF(modes) },
                { "CareArea", care_areas, ELEMENTSOF(care_areas) },
                { "Drug", drugs, ELEMENTSOF(drugs) },
                { "DoseRateUnit", dose_units, ELEMENTSOF(dose_units) },
        };
        const char *const *w = NULL;
        size_t n = 0;
        for (size_t i = 0; i < ELEMENTSOF(vocab); i++)
                if (streq(vocab[i].key, key))
                        w = vocab[i].w, n = vocab[i].n;
        const char *str = fuzz_word(in, w, n, buf, size);
        if (str == buf)
                dbus_sanitize(buf);
        return str;
}

/* Appends one value of D-Bus type `type` to m, in a variant. */
static int append_value(sd_bus_message *m, struct fuzz_input *in, const char *key, const char *type) {
        char buf[64];
        int r;

        r = sd_bus_message_open_container(m, 'v', type);
        if (r < 0)
                return r;
        if (streq(type, "d"))
                r = sd_bus_message_append(m, "d", fuzz_double(in));
        else if (streq(type, "u") && streq(key, "Concentration")) {
                /* Mostly one of the library's first few concentrations
                 * (seeds-program.py encodes it so). */
                uint32_t u = fuzz_u8(in) % 4 == 3 ? fuzz_u32(in) : fuzz_u8(in) % 4;
                r = sd_bus_message_append(m, "u", u);
        } else if (streq(type, "u")) {
                /* Mostly small: seconds or a count. */
                uint32_t u = fuzz_u8(in) % 4 == 3 ? fuzz_u32(in) : (uint32_t) fuzz_u8(in) * 60 + fuzz_u8(in);
                r = sd_bus_message_append(m, "u", u);
        } else if (streq(type, "b"))
                r = sd_bus_message_append(m, "b", fuzz_u8(in) & 1);
        else if (streq(type, "s"))
                r = sd_bus_message_append(m, "s", string_for(in, key, buf, sizeof buf));
        else if (streq(type, "i"))
                r = sd_bus_message_append(m, "i", (int32_t) fuzz_u32(in));
        else if (streq(type, "t"))
                r = sd_bus_message_append(m, "t", fuzz_u64(in));
        else if (streq(type, "(dsd)")) {
                double amount = fuzz_double(in);
                const char *unit = amount_units[fuzz_u8(in) % ELEMENTSOF(amount_units)];
                r = sd_bus_message_append(m, "(dsd)", amount, unit, fuzz_double(in));
        } else if (streq(type, "a(dd)")) {
                unsigned n = fuzz_u8(in) % (PROGRAM_MAX_STEPS + 2);
                r = sd_bus_message_open_container(m, 'a', "(dd)");
                for (unsigned i = 0; r >= 0 && i < n; i++) {
                        double rate = fuzz_double(in), volume = fuzz_double(in);
                        r = sd_bus_message_append(m, "(dd)", rate, volume);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        } else
                abort();
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

/* The input as Channel.Program's sealed call, read to be parsed. Each
 * pair: a key byte (one of the real keys; 222-254 the same key of another
 * type; 255 an unknown key), then the value. */
static sd_bus_message *build_call(struct fuzz_input *in) {
        static const char *const other_types[] = { "d", "u", "s", "b", "i", "t", "a(dd)", "(dsd)" };
        static uint64_t cookie;
        sd_bus_message *m = NULL;
        unsigned n_keys = 0;
        const char *type;
        int r;

        while (bus_program_key(n_keys, &type))
                n_keys++;
        r = sd_bus_message_new_method_call(bus, &m, "org.infusiond.pump1", "/org/infusiond/pump1/channel/0",
                                           "org.infusiond.pump1.Channel", "Program");
        if (r < 0)
                die("new_method_call", r, NULL);
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (unsigned pairs = 0; r >= 0 && in->size > 0 && pairs < 48; pairs++) {
                uint8_t b = fuzz_u8(in);
                char unknown[64];
                const char *key;
                if (b == 255) {
                        key = fuzz_word(in, NULL, 0, unknown, sizeof unknown);
                        dbus_sanitize(unknown);
                        type = other_types[fuzz_u8(in) % ELEMENTSOF(other_types)];
                } else {
                        key = bus_program_key(b % n_keys, &type);
                        /* Concentration is a u or a (dsd). */
                        if (streq(key, "Concentration") && fuzz_u8(in) % 2)
                                type = "(dsd)";
                        if (b >= 222)
                                type = other_types[fuzz_u8(in) % ELEMENTSOF(other_types)];
                }
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", key);
                if (r >= 0)
                        r = append_value(m, in, key, type);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_seal(m, ++cookie, 0);
        if (r >= 0)
                r = sd_bus_message_rewind(m, true);
        if (r < 0)
                die("building the call", r, NULL);
        return m;
}

static void check_accepted(const struct program *prog, const struct ders_request *req) {
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
        if (!req->drug || prog->mode == PROGRAM_PCA || prog->mode == PROGRAM_INTERMITTENT)
                return;
        unsigned first = prog->mode == PROGRAM_LOADING ? ch->n_segments - 1 : 0;
        for (unsigned i = first; i < ch->n_segments; i++) {
                if (ch->plan[i].rate_nl_per_h <= 0)
                        continue;
                struct ders_request q = *req;
                struct ders_result res;
                q.have_dose = false;
                q.rate_nl_per_h = ch->plan[i].rate_nl_per_h;
                ders_check(pump_library(pump), &q, &res);
                FUZZ_CHECK(res.outcome == DERS_ACCEPTED || (res.outcome == DERS_OVERRIDDEN && req->confirm_soft_limits),
                           "segment %u at %lld nL/h of %s in %s is %s: %s", i, (long long) q.rate_nl_per_h,
                           req->drug, req->care_area ?: "-", ders_outcome_to_string(res.outcome), res.message);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static struct channel before;
        struct fuzz_input in = { data, size };
        struct pump_error err = {};
        struct program prog;
        struct ders_request req;
        struct pca_program pca;
        char args[768];

        if (size > 1024)
                return -1;
        if (!pump) {
                set_up();
                set_up_bus();
        }

        /* Alternate between programming an idle channel and replacing a
         * program, as a clinician may; both must leave a refused program
         * without effect. */
        if ((size & 1) && pump_channel(pump)->state == CHANNEL_PROGRAMMED) {
                int r = pump_stop(pump, &err);
                FUZZ_CHECK(r >= 0, "stop: %s", err.message);
        }
        before = *pump_channel(pump);

        sd_bus_message *m = build_call(&in);
        int r = bus_parse_program(m, pump, &prog, &req, &pca, &err, args, sizeof args);
        if (r >= 0)
                r = pump_program(pump, &prog, &req, 0, &err);
        if (getenv("FUZZ_VERBOSE"))
                fprintf(stderr, "Program(%s): %s%s\n", args, r < 0 ? "refused: " : "accepted",
                        r < 0 ? err.message : "");
        if (r >= 0) {
                /* The strings prog and req point at live in m. */
                check_accepted(&prog, &req);
                sd_bus_message_unref(m);
                return 0;
        }
        sd_bus_message_unref(m);

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
