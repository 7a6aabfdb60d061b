/* SPDX-License-Identifier: MIT */
#pragma once

/* The parser's state, shared by config.c (the INI reading and the value
 * kinds) and hardware.c (the device choices and their checks). Private
 * to config/. */

#include <locale.h>
#include <stdbool.h>
#include <stdio.h>

#include "config/config-keys.h"
#include "config/config.h"

struct parser {
        const char *name;       /* what messages call the file */
        FILE *err;
        struct config *config;
        locale_t c_locale;

        /* The source: a FILE, or a string consumed as we go. */
        FILE *file;
        const char *text;

        unsigned line;          /* of the line the reader handed out last */
        int section;            /* enum section, SECTION_NONE or SECTION_IGNORED */
        bool key_line_pending;  /* last line was "key = value" and the handler has not run */
        unsigned first_refused_key_line;        /* what libinih will return */
        unsigned n_errors;
        bool out_of_memory;
        int read_errno;         /* from the FILE source, 0 if none */

        unsigned section_line[_SECTION_MAX];    /* first header, 0: not in the file */
        unsigned key_line[_KEY_MAX];            /* 0: not in the file */
        bool key_ok[_KEY_MAX];                  /* parsed (or defaulted) without error */
};

/* "FILE:LINE: message" (line 0: "FILE: message"), counted as an error. */
__attribute__((format(printf, 3, 4)))
void config_report(struct parser *p, unsigned line, const char *format, ...);

/* hardware.c */
/* Replace "auto" in [pump]'s device keys by what the backend implies,
 * and report a device choice the backend cannot have. */
void config_resolve_devices(struct parser *p);
/* Whether a section's required keys are required: its device is chosen
 * (and, for a sensor, the section is in the file). */
bool config_section_in_use(const struct parser *p, int section);
/* Sections in the file but not in use, the lines each device needs, and
 * the values that only make sense together. */
void config_check_hardware(struct parser *p);
