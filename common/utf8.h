/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Whether s is valid UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF). */
bool utf8_valid(const char *s);

/* Replace every byte that is not part of a valid UTF-8 sequence with '?',
 * in place. Messages quote what callers sent with "%.24s" and the like,
 * which can cut a character in two; D-Bus refuses a string that is not
 * UTF-8, and the history must hold text IT can read, so every message and
 * audit text goes through this before it leaves the daemon. */
void utf8_scrub(char *s);
