/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Write data to path whole or not at all: through a temporary file beside
 * it (created with mode), synced and renamed over it, the directory synced
 * after, so a reader never sees half a file and a power cut leaves the old
 * one or the new. A symlink is followed and kept; something that is not a
 * regular file (a pipe, /dev/stdout) is written directly. Negative errno. */
int write_file_atomic(const char *path, const char *data, size_t size, mode_t mode);
