/* SPDX-License-Identifier: MIT */
#include "ctl/write-file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macros.h"

int write_file_atomic(const char *path, const char *data, size_t size, mode_t mode) {
        _cleanup_(freep) char *tmp = NULL, *dir_copy = NULL, *target = NULL;
        const char *slash;
        struct stat st;
        FILE *f;
        int fd;

        /* A symlink: write where it points, and keep the link (rename
         * over the link itself would replace it with a file). */
        if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
                target = realpath(path, NULL);
                if (!target)
                        return -errno;
                path = target;
        }
        slash = strrchr(path, '/');
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
                f = fopen(path, "we");
                if (!f)
                        return -errno;
                fwrite(data, 1, size, f);
                if (fflush(f) != 0 || ferror(f)) {
                        int e = errno ?: EIO;

                        fclose(f);
                        return -e;
                }
                if (fclose(f) != 0)
                        return -errno;
                return 0;
        }

        if ((slash ? asprintf(&tmp, "%.*s/.%s.XXXXXX", (int) (slash - path), path, slash + 1)
                   : asprintf(&tmp, ".%s.XXXXXX", path)) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0) {
                int e = errno;

                close(fd);
                unlink(tmp);
                return -e;
        }
        f = fdopen(fd, "w");
        if (!f) {
                int e = errno;

                close(fd);
                unlink(tmp);
                return -e;
        }
        fwrite(data, 1, size, f);
        if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) < 0) {
                int e = errno ?: EIO;

                fclose(f);
                unlink(tmp);
                return -e;
        }
        if (fclose(f) != 0 || rename(tmp, path) < 0) {
                int e = errno;

                unlink(tmp);
                return -e;
        }

        /* The rename itself survives a power cut once the directory is synced. */
        dir_copy = strdup(path);
        if (dir_copy) {
                fd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) fsync(fd);
                        close(fd);
                }
        }
        return 0;
}

