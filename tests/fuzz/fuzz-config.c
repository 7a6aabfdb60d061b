/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the config file parser (config/), both readers.
 *
 * The input is an infusiond.conf. It is parsed from a string
 * (config_load_string) and from a file (config_load), and checked:
 * - the two readers agree byte for byte on the result and on every error
 *   message, for any text without a NUL (the file reader sees a NUL, the
 *   string reader stops at it);
 * - a refused file has at least one error, every error line names the file
 *   ("FILE:LINE: " with a line that is in the file, or "FILE: "), and a
 *   refused file gives no config;
 * - an accepted file has no error and obeys the rules the parser promises
 *   across keys (KVO below its ceiling, the lease outlives three control
 *   ticks, the alert before the alarm, a drivable mechanism, every device
 *   resolved). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macros.h"
#include "config/config.h"
#include "core/mechanism.h"
#include "tests/fuzz/fuzz-util.h"

/* Larger inputs only slow the fuzzer down: no config is this long. */
#define INPUT_MAX_BYTES (64 * 1024)

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static unsigned count_lines(const char *text, size_t size) {
        unsigned n = 1;
        for (size_t i = 0; i < size; i++)
                n += text[i] == '\n';
        return n;
}

/* Every line of a non-empty error text is "name:LINE: ..." or "name: ...". */
static void check_errors(const char *name, const char *errors, unsigned lines_in_file) {
        size_t name_len = strlen(name);
        const char *line = errors;

        FUZZ_CHECK(*errors, "refused without a message");
        while (*line) {
                const char *end = strchr(line, '\n');
                FUZZ_CHECK(end, "error text does not end in a newline: %s", line);
                FUZZ_CHECK(strncmp(line, name, name_len) == 0 && line[name_len] == ':',
                           "error line does not name the file: %.*s", (int) (end - line), line);
                const char *rest = line + name_len + 1;
                if (*rest != ' ') {
                        char *after;
                        unsigned long n = strtoul(rest, &after, 10);
                        FUZZ_CHECK(after != rest && *after == ':' && n >= 1 && n <= lines_in_file,
                                   "error line has no line number in the file (%u lines): %.*s", lines_in_file,
                                   (int) (end - line), line);
                }
                line = end + 1;
        }
}

static void check_config(const struct config *c) {
        struct mechanism m;

        FUZZ_CHECK(c->kvo_rate_nl_per_h >= 0 && c->kvo_rate_nl_per_h <= c->max_kvo_rate_nl_per_h,
                   "kvo %lld above max %lld", (long long) c->kvo_rate_nl_per_h, (long long) c->max_kvo_rate_nl_per_h);
        FUZZ_CHECK(c->max_rate_nl_per_h > 0 && c->max_vtbi_nl > 0, "no rate or VTBI allowed");
        FUZZ_CHECK(c->control_period_us > 0 && c->control_period_us * 3 <= c->lease_us,
                   "control period %lld us vs lease %lld us", (long long) c->control_period_us,
                   (long long) c->lease_us);
        FUZZ_CHECK(c->idle_alarm_us > c->idle_alert_us, "idle alarm not after the alert");
        FUZZ_CHECK(c->battery_depleted_s < c->battery_low_s, "battery depleted not below low");
        FUZZ_CHECK(c->syringe_fill_nl <= c->syringe_volume_nl, "syringe overfilled");
        FUZZ_CHECK(c->database_max_size_bytes == 0 || c->database_max_size_bytes >= 16 * 1024 * 1024,
                   "database size limit too small");
        FUZZ_CHECK(mechanism_from_geometry(&c->geometry, &m) >= 0, "accepted geometry cannot be driven");
        FUZZ_CHECK(c->backend && (streq(c->backend, "sim") || streq(c->backend, "rig")), "backend %s",
                   c->backend ?: "(null)");
        const char *const devices[] = { c->drive, c->sensors, c->inputs, c->outputs, c->power };
        for (size_t i = 0; i < ELEMENTSOF(devices); i++)
                FUZZ_CHECK(devices[i] && *devices[i] && !streq(devices[i], "auto"), "device %zu not resolved", i);
        FUZZ_CHECK(c->database_path && *c->database_path, "no database path");
}

/* Parse through one reader; returns the error text (caller frees). */
static char *parse(const char *name, const char *text, const char *path, int *ret_r, struct config **ret_c) {
        char *errors = NULL;
        size_t size = 0;
        _cleanup_(fclosep) FILE *err = open_memstream(&errors, &size);

        FUZZ_CHECK(err, "open_memstream: %s", strerror(errno));
        *ret_c = NULL;
        *ret_r = path ? config_load(path, err, ret_c) : config_load_string(name, text, err, ret_c);
        fclose(TAKE_PTR(err));
        return errors;
}

static void check_outcome(const char *name, int r, const struct config *c, const char *errors, unsigned lines) {
        if (r == 0) {
                FUZZ_CHECK(c, "accepted without a config");
                FUZZ_CHECK(!*errors, "accepted with errors: %s", errors);
                FUZZ_CHECK(streq(c->path, name), "config path %s, not %s", c->path, name);
                check_config(c);
        } else {
                FUZZ_CHECK(r == -EINVAL, "refused with %d (%s), not -EINVAL", r, strerror(-r));
                FUZZ_CHECK(!c, "refused but a config was returned");
                check_errors(name, errors, lines);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static char path[600];
        _cleanup_(freep) char *text = NULL, *errors_string = NULL, *errors_file = NULL;
        _cleanup_(config_freep) struct config *from_string = NULL, *from_file = NULL;
        int r_string, r_file;

        if (size > INPUT_MAX_BYTES)
                return -1;      /* not added to the corpus */

        if (!path[0])
                snprintf(path, sizeof path, "%s/infusiond.conf", fuzz_scratch_dir("fuzz-config"));

        text = malloc(size + 1);
        FUZZ_CHECK(text, "out of memory");
        memcpy(text, data, size);
        text[size] = '\0';
        bool has_nul = memchr(data, '\0', size) != NULL;
        unsigned lines = count_lines(text, size);

        /* The string reader under the file's name, so that messages compare. */
        errors_string = parse(path, text, NULL, &r_string, &from_string);
        check_outcome(path, r_string, from_string, errors_string, count_lines(text, strlen(text)));

        FILE *f = fopen(path, "we");
        FUZZ_CHECK(f, "cannot write %s: %s", path, strerror(errno));
        FUZZ_CHECK(fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write %s", path);
        errors_file = parse(NULL, NULL, path, &r_file, &from_file);
        check_outcome(path, r_file, from_file, errors_file, lines);

        if (!has_nul) {
                FUZZ_CHECK(r_string == r_file, "string reader %d, file reader %d", r_string, r_file);
                FUZZ_CHECK(streq(errors_string, errors_file), "readers disagree:\n--- string\n%s--- file\n%s",
                           errors_string, errors_file);
        }
        return 0;
}
