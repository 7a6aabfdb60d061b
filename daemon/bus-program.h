/* SPDX-License-Identifier: MIT */
/* Channel.Program's a{sv}, as daemon/bus-channel.c reads it: exposed so the
 * fuzz target (tests/fuzz/fuzz-program.c) drives the very parser the bus
 * does, with messages built as a client would send them. */
#pragma once

#include <stddef.h>
#include <systemd/sd-bus.h>

#include "core/channel.h"
#include "daemon/pump.h"
#include "safety/ders.h"
#include "safety/pca-check.h"

/* Reads Program's one argument from m into prog, req and pca (req->pca
 * points at pca for a PCA program). On a refusal, returns < 0 with perr
 * naming what is wrong and what is allowed. args gets a summary of the
 * settings, for the audit log. */
int bus_parse_program(sd_bus_message *m, const struct pump *pump, struct program *prog,
                      struct ders_request *req, struct pca_program *pca, struct pump_error *perr, char *args,
                      size_t args_size);

/* The i-th Program key's name, and its D-Bus type in *type; NULL past the
 * last. */
const char *bus_program_key(unsigned i, const char **type);
