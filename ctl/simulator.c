/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "ctl/format.h"
#include "ctl/simulator.h"

#define OUTPUT_COLUMNS          3

const char *const sim_actions[] = {
        [SIM_ADVANCE]     = "advance",
        [SIM_OCCLUDE]     = "occlude",
        [SIM_UPSTREAM]    = "upstream",
        [SIM_AIR]         = "air",
        [SIM_DOOR]        = "door",
        [SIM_BATTERY]     = "battery",
        [SIM_FAIL_SENSOR] = "fail-sensor",
        [SIM_MOTOR_GAIN]  = "motor-gain",
        [SIM_STALL]       = "stall",
        [SIM_OUTPUTS]     = "outputs",
        [SIM_PRESS_PCA]   = "press-pca",
        [_SIM_ACTION_MAX] = NULL,
};

const char *const sim_sensors[] = {
        "pressure-downstream", "pressure-upstream", "plunger-position", "battery-voltage", NULL,
};

const char *const sim_faults[] = {
        "ok", "read-error", "stuck", "out-of-range", "gone", NULL,
};

/* What each subcommand takes, for the arity check and its message. */
static const struct {
        unsigned min_args;
        unsigned max_args;
        const char *syntax;
} sim_syntax[_SIM_ACTION_MAX] = {
        [SIM_ADVANCE]     = { 1, 1, "DURATION" },
        [SIM_OCCLUDE]     = { 1, 1, "on|off" },
        [SIM_UPSTREAM]    = { 1, 1, "on|off" },
        [SIM_AIR]         = { 1, 1, "UL" },
        [SIM_DOOR]        = { 1, 1, "open|closed" },
        [SIM_BATTERY]     = { 1, 2, "PCT | mains [PCT]" },
        [SIM_FAIL_SENSOR] = { 2, 2, "SENSOR FAULT" },
        [SIM_MOTOR_GAIN]  = { 1, 1, "G" },
        [SIM_STALL]       = { 1, 1, "on|off" },
        [SIM_OUTPUTS]     = { 0, 0, "" },
        [SIM_PRESS_PCA]   = { 0, 0, "" },
};

static int fail(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_size, const char *fmt, ...) {
        va_list ap;

        if (err_size > 0) {
                va_start(ap, fmt);
                vsnprintf(err, err_size, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

/* "a, b, c or d" */
static void list_words(char *buf, size_t size, const char *const *words) {
        size_t pos = 0;

        buf[0] = '\0';
        for (size_t i = 0; words[i] && pos < size; i++) {
                int n = snprintf(buf + pos, size - pos, "%s%s",
                                 i == 0 ? "" : words[i + 1] ? ", " : " or ", words[i]);
                if (n < 0)
                        break;
                pos += (size_t) n;
        }
}

static int find_word(const char *const *words, const char *s) {
        for (int i = 0; words[i]; i++)
                if (strcmp(words[i], s) == 0)
                        return i;
        return -1;
}

/* A percentage of charge, 0..100. */
static int parse_percent(const char *s, double *ret, char *err, size_t err_size) {
        double v;

        if (parse_double_strict(s, &v) < 0)
                return fail(err, err_size, "sim battery: '%s' is not a charge (a number from 0 to 100, in %%).", s);
        if (v < 0 || v > 100)
                return fail(err, err_size, "sim battery: charge %s is out of range (0 to 100 %%).", s);
        *ret = v;
        return 0;
}

int sim_command_parse(char *const *args, size_t n_args, SimCommand *ret, char *err, size_t err_size) {
        char allowed[256];
        SimCommand c = {};
        const char *arg;
        int i, r;

        if (n_args == 0 || !args[0]) {
                list_words(allowed, sizeof allowed, sim_actions);
                return fail(err, err_size, "sim: expected a command (%s).", allowed);
        }
        i = find_word(sim_actions, args[0]);
        if (i < 0) {
                list_words(allowed, sizeof allowed, sim_actions);
                return fail(err, err_size, "Unknown sim command '%s' (expected %s).", args[0], allowed);
        }
        c.action = (SimAction) i;

        if (n_args - 1 < sim_syntax[i].min_args || n_args - 1 > sim_syntax[i].max_args)
                return fail(err, err_size, "sim %s: too %s arguments (usage: sim %s%s%s).", args[0],
                            n_args - 1 < sim_syntax[i].min_args ? "few" : "many",
                            args[0], sim_syntax[i].syntax[0] ? " " : "", sim_syntax[i].syntax);
        arg = n_args > 1 ? args[1] : NULL;

        switch (c.action) {

        case SIM_ADVANCE:
                r = parse_duration_usec(arg, &c.advance_usec);
                if (r == -ERANGE)
                        return fail(err, err_size, "sim advance: duration '%s' is too long.", arg);
                if (r < 0)
                        return fail(err, err_size,
                                    "sim advance: '%s' is not a duration (like 90, 360s, 5m, 2h, 1500ms, 250us).", arg);
                break;

        case SIM_OCCLUDE:
        case SIM_UPSTREAM:
        case SIM_STALL:
                if (parse_on_off(arg, &c.on) < 0)
                        return fail(err, err_size, "sim %s: expected on or off, got '%s'.", args[0], arg);
                break;

        case SIM_AIR:
                r = parse_double_strict(arg, &c.volume_ul);
                if (r == -ERANGE || (r >= 0 && c.volume_ul <= 0))
                        return fail(err, err_size, "sim air: volume %s is out of range (more than 0 microlitres).", arg);
                if (r < 0)
                        return fail(err, err_size,
                                    "sim air: '%s' is not a volume (in microlitres, like 50 or 0.5).", arg);
                break;

        case SIM_DOOR:
                if (strcmp(arg, "open") == 0)
                        c.on = true;
                else if (strcmp(arg, "closed") == 0)
                        c.on = false;
                else
                        return fail(err, err_size, "sim door: expected open or closed, got '%s'.", arg);
                break;

        case SIM_BATTERY:
                c.on = strcmp(arg, "mains") == 0;
                if (c.on) {
                        /* SetBattery needs a charge: plugged in alone means full. */
                        c.battery_percent = 100;
                        if (n_args > 2 && parse_percent(args[2], &c.battery_percent, err, err_size) < 0)
                                return -EINVAL;
                        break;
                }
                if (n_args > 2)
                        return fail(err, err_size,
                                    "sim battery: only mains takes a charge after it, got '%s %s' "
                                    "(usage: sim battery %s).", arg, args[2], sim_syntax[i].syntax);
                if (parse_double_strict(arg, &c.battery_percent) < 0)
                        return fail(err, err_size,
                                    "sim battery: expected mains or a charge from 0 to 100 (%%), got '%s'.", arg);
                if (parse_percent(arg, &c.battery_percent, err, err_size) < 0)
                        return -EINVAL;
                break;

        case SIM_FAIL_SENSOR:
                if (find_word(sim_sensors, arg) < 0) {
                        list_words(allowed, sizeof allowed, sim_sensors);
                        return fail(err, err_size, "sim fail-sensor: unknown sensor '%s' (expected %s).", arg, allowed);
                }
                if (find_word(sim_faults, args[2]) < 0) {
                        list_words(allowed, sizeof allowed, sim_faults);
                        return fail(err, err_size, "sim fail-sensor: unknown fault '%s' (expected %s).",
                                    args[2], allowed);
                }
                c.sensor = arg;
                c.fault = args[2];
                break;

        case SIM_MOTOR_GAIN:
                r = parse_double_strict(arg, &c.motor_gain);
                if (r == -ERANGE || (r >= 0 && (c.motor_gain < 0 || c.motor_gain > 2)))
                        return fail(err, err_size, "sim motor-gain: gain %s is out of range (0 to 2; 1 is nominal).", arg);
                if (r < 0)
                        return fail(err, err_size,
                                    "sim motor-gain: '%s' is not a gain (a number from 0 to 2, like 0.9; 1 is nominal).",
                                    arg);
                break;

        case SIM_OUTPUTS:
        case SIM_PRESS_PCA:
        default:
                break;
        }

        *ret = c;
        return 0;
}

int sim_outputs_write_table(FILE *f, const SimOutput *outputs, size_t n) {
        static const char *const header[OUTPUT_COLUMNS] = { "OUTPUT", "STATE", "CHANGES" };
        _cleanup_(freep) const char **cells = NULL;
        _cleanup_(freep) char *counts = NULL;
        enum { COUNT_MAX = 16 };

        if (n == 0) {
                fputs("No outputs.\n", f);
                return ferror(f) ? -EIO : 0;
        }
        if (n > (SIZE_MAX / sizeof *cells - 1) / OUTPUT_COLUMNS)
                return -ENOMEM;
        cells = calloc((n + 1) * OUTPUT_COLUMNS, sizeof *cells);
        counts = calloc(n, COUNT_MAX);
        if (!cells || !counts)
                return -ENOMEM;

        memcpy(cells, header, sizeof header);
        for (size_t i = 0; i < n; i++) {
                const char **row = cells + (i + 1) * OUTPUT_COLUMNS;
                char *count = counts + i * COUNT_MAX;

                snprintf(count, COUNT_MAX, "%" PRIu32, outputs[i].changes);
                row[0] = outputs[i].name ?: "";
                row[1] = outputs[i].on ? "on" : "off";
                row[2] = count;
        }
        return table_write(f, cells, (n + 1) * OUTPUT_COLUMNS, OUTPUT_COLUMNS);
}
