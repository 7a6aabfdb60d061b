/* SPDX-License-Identifier: MIT */
#pragma once

/* `infusionctl library ...`: the DrugLibrary object of docs/API.md. */

#include <systemd/sd-bus.h>

/* Checks the subcommand and its arguments before connecting, and reads
 * the file to import. care_area is --care-area (NULL when not given), which
 * only `library list` takes. Returns EXIT_OK, EXIT_USAGE, or EXIT_ERROR
 * for a file that cannot be read or sent. */
int library_check(char **args, const char *care_area);

/* Runs the subcommand library_check() accepted. */
int verb_library(sd_bus *bus, char **args);
