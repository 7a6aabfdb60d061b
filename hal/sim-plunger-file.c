/* SPDX-License-Identifier: MIT */
#include "hal/sim-plunger-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/units.h"

#define SIM_PLUNGER_MAGIC "infusiond sim plunger 1"
/* One page: the whole record always lies in one mapped page. */
#define SIM_PLUNGER_FILE_BYTES 4096
/* The sim's sub-pL remainder is in millionths of a pL. */
#define SIM_PLUNGER_PPM INT64_C(1000000)
#define SIM_PLUNGER_READ_TRIES 10000

struct sim_plunger_slot {
        uint64_t seq;                   /* the record's seq this slot holds; 0 while written */
        int64_t plunger_steps;
        int64_t travel_pl;
        int64_t travel_rem_pl_ppm;
};

/* Native byte order and layout: the file belongs to this machine's sim. */
struct sim_plunger_record {
        char magic[24];
        int64_t pl_per_step;            /* the syringe and mechanism it describes */
        int64_t fill_nl;
        uint64_t seq;                   /* slots[seq & 1] is current; 0: never written */
        struct sim_plunger_slot slots[2];
};

_Static_assert(sizeof(struct sim_plunger_record) <= SIM_PLUNGER_FILE_BYTES, "the record fits in one page");
_Static_assert(sizeof(SIM_PLUNGER_MAGIC) <= sizeof(((struct sim_plunger_record *) 0)->magic), "magic fits");

/* Read the current slot with the seqlock protocol of store(): every field
 * relaxed between two reads of the slot's seq. false: caught mid-store. */
static bool read_current(const struct sim_plunger_record *r, struct sim_plunger_position *ret) {
        uint64_t n = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
        if (n == 0)
                return false;
        const struct sim_plunger_slot *sl = &r->slots[n & 1];
        if (__atomic_load_n(&sl->seq, __ATOMIC_ACQUIRE) != n)
                return false;
        struct sim_plunger_position pos = {
                .plunger_steps = __atomic_load_n(&sl->plunger_steps, __ATOMIC_RELAXED),
                .travel_pl = __atomic_load_n(&sl->travel_pl, __ATOMIC_RELAXED),
                .travel_rem_pl_ppm = __atomic_load_n(&sl->travel_rem_pl_ppm, __ATOMIC_RELAXED),
        };
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&sl->seq, __ATOMIC_RELAXED) != n)
                return false;
        *ret = pos;
        return true;
}

static bool plausible(const struct sim_plunger_position *pos, int64_t fill_nl) {
        /* Relief pulls the plunger back a little, and right after a new
         * syringe that can be behind where the file began; a travel of
         * more than a whole syringe either way is no position at all. */
        return pos->travel_pl >= -fill_nl * PL_PER_NL && pos->travel_pl <= fill_nl * PL_PER_NL &&
               pos->travel_rem_pl_ppm >= 0 && pos->travel_rem_pl_ppm < SIM_PLUNGER_PPM;
}

int sim_plunger_file_open(struct sim_plunger_file *f, const char *path, int64_t pl_per_step, int64_t fill_nl,
                          struct sim_plunger_position *ret_pos) {
        struct stat st;

        if (!f || f->rec || !path || !ret_pos || pl_per_step <= 0 || fill_nl <= 0 ||
            fill_nl > INT64_MAX / PL_PER_NL / 2)
                return -EINVAL;

        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        int r = fstat(fd, &st) < 0 ? -errno : 0;
        if (r == 0 && !S_ISREG(st.st_mode))
                r = -EINVAL;
        if (r == 0 && st.st_size < SIM_PLUNGER_FILE_BYTES && ftruncate(fd, SIM_PLUNGER_FILE_BYTES) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return r;
        }
        void *m = mmap(NULL, SIM_PLUNGER_FILE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        r = m == MAP_FAILED ? -errno : 0;
        close(fd);      /* the mapping keeps the file */
        if (r < 0)
                return r;

        struct sim_plunger_record *rec = m;
        struct sim_plunger_position pos;
        if (memcmp(rec->magic, SIM_PLUNGER_MAGIC, sizeof(SIM_PLUNGER_MAGIC)) == 0 &&
            rec->pl_per_step == pl_per_step && rec->fill_nl == fill_nl && read_current(rec, &pos) &&
            plausible(&pos, fill_nl)) {
                f->rec = rec;
                *ret_pos = pos;
                return 1;
        }

        /* Another syringe, or nothing usable: a full one, from now on in
         * this file. Writing it also touches the page before any step. */
        memset(rec, 0, sizeof(*rec));
        memcpy(rec->magic, SIM_PLUNGER_MAGIC, sizeof(SIM_PLUNGER_MAGIC));
        rec->pl_per_step = pl_per_step;
        rec->fill_nl = fill_nl;
        f->rec = rec;
        *ret_pos = (struct sim_plunger_position) {};
        sim_plunger_file_store(f, ret_pos);
        return 0;
}

void sim_plunger_file_close(struct sim_plunger_file *f) {
        if (!f || !f->rec)
                return;
        (void) munmap(f->rec, SIM_PLUNGER_FILE_BYTES);
        f->rec = NULL;
}

void sim_plunger_file_store(struct sim_plunger_file *f, const struct sim_plunger_position *pos) {
        struct sim_plunger_record *r = f->rec;
        uint64_t n = __atomic_load_n(&r->seq, __ATOMIC_RELAXED) + 1;
        if (n == 0)             /* 0 means "never written" */
                n = 2;
        struct sim_plunger_slot *sl = &r->slots[n & 1];

        /* The slot that is not current: mark it, fill it, then publish it.
         * The fences order the stores as the compiler emits them, which is
         * all a kill can cut. */
        __atomic_store_n(&sl->seq, 0, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&sl->plunger_steps, pos->plunger_steps, __ATOMIC_RELAXED);
        __atomic_store_n(&sl->travel_pl, pos->travel_pl, __ATOMIC_RELAXED);
        __atomic_store_n(&sl->travel_rem_pl_ppm, pos->travel_rem_pl_ppm, __ATOMIC_RELAXED);
        __atomic_store_n(&sl->seq, n, __ATOMIC_RELEASE);
        __atomic_store_n(&r->seq, n, __ATOMIC_RELEASE);
}

int sim_plunger_file_read(const char *path, struct sim_plunger_position *ret_pos, int64_t *ret_pl_per_step,
                          int64_t *ret_fill_nl) {
        struct stat st;

        if (!path || !ret_pos)
                return -EINVAL;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_size < (off_t) sizeof(struct sim_plunger_record)) {
                close(fd);
                return -EBADMSG;
        }
        void *m = mmap(NULL, sizeof(struct sim_plunger_record), PROT_READ, MAP_SHARED, fd, 0);
        int r = m == MAP_FAILED ? -errno : 0;
        close(fd);
        if (r < 0)
                return r;

        const struct sim_plunger_record *rec = m;
        r = -EBADMSG;
        if (memcmp(rec->magic, SIM_PLUNGER_MAGIC, sizeof(SIM_PLUNGER_MAGIC)) == 0) {
                r = -EAGAIN;
                for (int i = 0; i < SIM_PLUNGER_READ_TRIES && r == -EAGAIN; i++)
                        if (read_current(rec, ret_pos))
                                r = 0;
                if (r == 0 && ret_pl_per_step)
                        *ret_pl_per_step = rec->pl_per_step;
                if (r == 0 && ret_fill_nl)
                        *ret_fill_nl = rec->fill_nl;
        }
        (void) munmap(m, sizeof(struct sim_plunger_record));
        return r;
}
