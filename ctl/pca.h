/* SPDX-License-Identifier: MIT */
#pragma once

/* Patient-controlled analgesia in infusionctl (docs/API.md, "PCA"): the
 * `demand` and `pca` verbs and the PCA line of `status`. The text and
 * JSON they print are made by the pure helpers of format.h; this file
 * makes the calls. channel_path is the channel's object path and hint
 * what to say when it does not exist (see log_call_error()). */

#include <stdbool.h>

#include <systemd/sd-bus.h>

#include "ctl/format.h"

/* `demand` exits with this when the pump answered but did not grant the
 * demand (denied, or debounced into an earlier press). Not EXIT_ERROR: a
 * button service must tell "no dose now" (tell the patient to wait) from
 * "the pump did not answer" (call a nurse). 0 is still the only "a dose
 * is coming". */
#define EXIT_DEMAND_NOT_GRANTED 4

/* GetPcaDemands returns at most this many. */
#define PCA_DEMANDS_MAX         1000u
#define PCA_DEMANDS_DEFAULT     20u

/* Reads the PCA properties, Mode and State from a Channel GetAll reply
 * (rewound first; it is left rewound, so the caller may read it again).
 * Strings are copied with control characters as spaces. -ENODATA when
 * the daemon has no PCA properties (one older than PCA), -EBADMSG for a
 * malformed reply. A known property of an unexpected type is skipped
 * with a warning, like status does, and reads as 0. */
int pca_status_from_reply(sd_bus_message *reply, PcaStatus *ret);

/* `status`, in mode pca: prints "             PCA: ..." (the line of
 * format_pca_status_line()) from the GetAll reply status already has.
 * Prints nothing in another mode, or for an infusiond without PCA. */
void pca_print_status_line(sd_bus_message *reply);

/* `demand`: Channel.PcaDemand, and the answer as one line. EXIT_OK for a
 * granted demand, EXIT_DEMAND_NOT_GRANTED for any other outcome,
 * EXIT_ERROR when the call failed. */
int pca_demand(sd_bus *bus, const char *channel_path, const char *hint);

/* `pca [--json] [--count N]`: the channel's PCA properties (one GetAll)
 * and the newest count (1 to PCA_DEMANDS_MAX) demands of GetPcaDemands,
 * as a report or one JSON object. EXIT_OK or EXIT_ERROR. */
int pca_show(sd_bus *bus, const char *channel_path, const char *hint, unsigned channel, bool json, unsigned count);
