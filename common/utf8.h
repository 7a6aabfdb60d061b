/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether s is valid UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF). */
bool utf8_valid(const char *s);

/* Replace every byte that is not part of a valid UTF-8 sequence with '?',
 * in place. Messages quote what callers sent with "%.24s" and the like,
 * which can cut a character in two; D-Bus refuses a string that is not
 * UTF-8, and the history must hold text IT can read, so every message and
 * audit text goes through this before it leaves the daemon. */
void utf8_scrub(char *s);

/* The code point at *s, advancing *s past it; a byte that starts no valid
 * sequence is U+FFFD and advances one. *s must not be at the NUL. */
uint32_t utf8_next(const char **s);
