/* SPDX-License-Identifier: MIT */
#pragma once

/* A pump of the daemon library on the sim backend, in a temp dir of its
 * own that holds its database: what the virtual-time benchmarks
 * (occlusion, trumpet) and tests/unit/test-pump-replay.c drive directly,
 * without D-Bus. The caller writes the config text, with the dir in its
 * [database] path. */

#include "config/config.h"
#include "daemon/pump.h"
#include "hal/sim.h"

struct sim_pump {
        char dir[64];
        struct config *cfg;
        struct pump *p;
        struct sim *sim;
};

/* Zero *sp and make /tmp/<name>-XXXXXX in sp->dir. Negative errno. */
int sim_pump_make_dir(struct sim_pump *sp, const char *name);
/* Load config_text (named config_name in messages) and build the pump on
 * it; it must have the sim backend. Errors go to stderr. Negative errno. */
int sim_pump_open(struct sim_pump *sp, const char *config_name, const char *config_text);
/* Shut the pump down (as the daemon does at a stop), free it and remove
 * the dir. Safe on a half-opened or zeroed sim_pump. */
void sim_pump_close(struct sim_pump *sp);

/* Print "what: Name: message" on stderr and return r. */
int sim_pump_report(int r, const char *what, const struct pump_error *err);
