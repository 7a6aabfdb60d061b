/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

static const char *bus_address(void) {
        const char *a = getenv("DBUS_SYSTEM_BUS_ADDRESS");

        return a && *a ? a : DEFAULT_SYSTEM_BUS " (the default: DBUS_SYSTEM_BUS_ADDRESS is unset)";
}

int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("infusionctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry 'infusionctl --help' for more information.\n", stderr);
        return EXIT_USAGE;
}

int log_call_error(int r, const sd_bus_error *error, const char *what, const char *unknown_object_hint) {
        if (!sd_bus_error_is_set(error)) {
                fprintf(stderr, "infusionctl: %s: %s\n", what, strerror(-r));
                return EXIT_ERROR;
        }

        fprintf(stderr, "infusionctl: %s (%s)\n", error->message ?: strerror(-r), error->name);

        if (sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                fprintf(stderr, "infusionctl: infusiond does not seem to be running: nothing owns %s on the bus at %s.\n",
                        BUS_NAME, bus_address());
        else if (sd_bus_error_has_names(error, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE) &&
                 unknown_object_hint)
                fprintf(stderr, "infusionctl: %s\n", unknown_object_hint);
        else if (sd_bus_error_has_names(error, SD_BUS_ERROR_ACCESS_DENIED, ERROR_PREFIX "AccessDenied"))
                fprintf(stderr, "infusionctl: your user may lack the role for this (groups infusiond-clinician, "
                        "infusiond-patient, infusiond-pharmacy).\n");
        else if (sd_bus_error_has_names(error, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT))
                fprintf(stderr, "infusionctl: infusiond did not answer in time.\n");
        else if (sd_bus_error_has_name(error, ERROR_PREFIX "SoftLimitUnconfirmed"))
                fprintf(stderr, "infusionctl: Re-run with --confirm-soft-limits --reason \"...\" to override.\n");
        else if (sd_bus_error_has_name(error, ERROR_PREFIX "BasicInfusionNotAllowed"))
                fprintf(stderr, "infusionctl: Choose a drug with --drug "
                        "('infusionctl library list --care-area ID' lists them).\n");
        return EXIT_ERROR;
}

int connect_bus(sd_bus **ret) {
        int r;

        r = sd_bus_open_system(ret);
        if (r < 0) {
                fprintf(stderr, "infusionctl: Failed to connect to the system bus at %s: %s\n",
                        bus_address(), strerror(-r));
                fprintf(stderr, "infusionctl: Is dbus-daemon running there, and infusiond on it? "
                        "Set DBUS_SYSTEM_BUS_ADDRESS to reach a private bus.\n");
                return EXIT_ERROR;
        }
        return EXIT_OK;
}

void fputs_one_line(const char *s, FILE *f) {
        for (const unsigned char *p = (const unsigned char *) s; p && *p; p++)
                fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
}
