/* SPDX-License-Identifier: MIT */
#pragma once

/* The drug library file: JSON, read with json-c, written in one canonical
 * form. docs/LIBRARY.md describes every key. Library-like: no logging. */

#include <stddef.h>

#include "safety/library.h"

#define LIBRARY_JSON_FORMAT 1                   /* the "format" this build reads and writes */
#define LIBRARY_JSON_MAX_BYTES (32 * 1024 * 1024)

/* Parse len bytes of json_text (NUL-terminated or not) into a new library.
 * The whole file is refused on any problem: then *ret is not touched,
 * errs (reset first; may be NULL) holds every problem found as
 * "JSON path: message", up to LIBRARY_ERRORS_MAX, and the result is
 * -EINVAL. That covers JSON syntax (reported as "line L, column C: ..."),
 * unknown or duplicated keys, wrong types, values out of range, and every
 * rule drug_library_validate() checks. -ENOMEM when memory runs out. */
int library_from_json(const char *json_text, size_t len, struct drug_library **ret, struct library_errors *errs);

/* Write lib in canonical form: keys in a fixed order, limits in the order
 * of the care areas, numbers in their shortest exact form, two-space
 * indents, a final newline. The same library always gives the same bytes,
 * so a SHA-256 of them identifies it, and library_from_json() of the text
 * gives the same library back. *ret_text is NUL-terminated; the caller
 * frees it. -EINVAL if lib does not pass drug_library_validate() (it could
 * not be read back), -ENOMEM. */
int library_to_json(const struct drug_library *lib, char **ret_text);
