/* SPDX-License-Identifier: MIT */
#pragma once

/* Where the sim's plunger is, kept in a small file the sim's drive maps
 * MAP_SHARED and updates at every step ([simulation] plunger_file).
 *
 * A real plunger stays where the motor left it when the daemon dies; the
 * sim's lives in the daemon's memory and would die with it. Stores into a
 * shared file mapping land in the page cache, which outlives the process:
 * after kill -9 the file holds every step the sim took, so a test can
 * compare what the history recorded with what the "hardware" really did,
 * and the next start carries on from the same syringe. (Power loss is
 * another matter: nothing here is synced. It is a sim.)
 *
 * The record has two slots and a sequence number saying which is current.
 * A store writes the other slot, then publishes it: a kill between any two
 * instructions leaves the current slot whole. Each slot also carries its
 * own sequence number (0 while it is being written), so a reader in
 * another process can read a consistent position while the sim steps.
 *
 * The file describes one syringe: the step volume and fill it was written
 * for are in it, and a sim with another mechanism or fill starts from a
 * full syringe and takes the file over. No lock, no clock, no logging. */

#include <stdint.h>

struct sim_plunger_position {
        int64_t plunger_steps;          /* net forward steps commanded */
        int64_t travel_pl;              /* real travel (after the motor gain) */
        int64_t travel_rem_pl_ppm;      /* below a pL of travel, carried to the next step */
};

struct sim_plunger_record;

struct sim_plunger_file {
        struct sim_plunger_record *rec;         /* NULL: not kept */
};

/* Map path (created if missing, mode 0644) for a syringe of fill_nl on a
 * mechanism of pl_per_step. Returns 1 and the position in *ret_pos when
 * the file holds one for that syringe; 0 when it does not (missing, empty,
 * not a plunger file, another mechanism or fill, or damaged), after
 * writing the zero position to it; or a negative errno (-EINVAL for a
 * step volume or fill <= 0). *f must be zero-initialised. */
int sim_plunger_file_open(struct sim_plunger_file *f, const char *path, int64_t pl_per_step, int64_t fill_nl,
                          struct sim_plunger_position *ret_pos);
/* Unmap. The file stays, with the last position stored. */
void sim_plunger_file_close(struct sim_plunger_file *f);

/* Publish pos. A handful of stores into mapped memory: fine on the step
 * thread (the page is touched at open; the first store after a writeback
 * can take a minor fault). */
void sim_plunger_file_store(struct sim_plunger_file *f, const struct sim_plunger_position *pos);

/* Read the position in path, also while a sim is stepping it, for tests
 * and tools. The step volume and fill the file was written for go to
 * *ret_pl_per_step and *ret_fill_nl (either may be NULL). -ENOENT,
 * -EBADMSG when it is not a whole plunger file, -EAGAIN if no consistent
 * read was had in many tries. */
int sim_plunger_file_read(const char *path, struct sim_plunger_position *ret_pos, int64_t *ret_pl_per_step,
                          int64_t *ret_fill_nl);
