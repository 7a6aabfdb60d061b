/* SPDX-License-Identifier: MIT */
#pragma once

/* `infusionctl history`, `export` and `audit verify`: the History object
 * of docs/API.md, and the audit chain checked offline in the database file
 * (read-only, through db/: the one thing infusionctl does without the
 * daemon, as DESIGN.md allows). */

#include <stdbool.h>

#include <systemd/sd-bus.h>

/* audit verify: the chain is intact (EXIT_OK), broken, or could not be
 * checked at all (no file, no permission, another schema, a bus error). */
#define EXIT_AUDIT_BROKEN       1
#define EXIT_AUDIT_UNCHECKED    5

#define HISTORY_DEFAULT_DB      "/var/lib/infusiond/history.db"

/* The options of these verbs; infusionctl.c gives them to getopt_long(). */
typedef enum HistoryOption {
        HISTORY_OPT_SINCE,
        HISTORY_OPT_UNTIL,
        HISTORY_OPT_CSV,
        HISTORY_OPT_FORMAT,
        HISTORY_OPT_OUTPUT,
        HISTORY_OPT_DB,
        _HISTORY_OPT_MAX,
} HistoryOption;

typedef struct HistoryOptionInfo {
        const char *option;             /* long option, without "--" */
        bool has_arg;
        const char *verbs;              /* for the message when given elsewhere */
} HistoryOptionInfo;

extern const HistoryOptionInfo history_options[_HISTORY_OPT_MAX];

/* Records an option as given (arg is kept: argv outlives it). -EEXIST
 * when it was given before. */
int history_option_set(HistoryOption o, const char *arg);

/* EXIT_USAGE, after saying so, when an option of these verbs was given to
 * verb, which does not take it; EXIT_OK otherwise. */
int history_options_check(const char *verb);

/* --drug, which history and export take as their filter (NULL: none). */
void history_set_drug(const char *drug);

/* Check the arguments and options before connecting: EXIT_OK or
 * EXIT_USAGE. json is --json. */
int history_check(char **args, bool json);
int export_check(char **args);
int audit_check(char **args);

int verb_history(sd_bus *bus, char **args);
int verb_export(sd_bus *bus, char **args);
/* Runs without the daemon (bus may be NULL), on the file: a walk of the
 * whole chain is no work for the daemon's loop. EXIT_OK intact,
 * EXIT_AUDIT_BROKEN, or EXIT_AUDIT_UNCHECKED. */
int verb_audit(sd_bus *bus, char **args);
