/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The record of the domains whose memory stats period samepaged set, kept
 * in <state-dir>/balloon-periods so that it survives a crash (SIGKILL, a
 * power cut) and an exit while libvirtd could not be reached: the balloon
 * actuator (sp-balloon-actuator.h) replaces it atomically before it sets a
 * period, and after it put periods back; with nothing left to put back the
 * file goes. A GKeyFile, a domain's UUID to its name (for the log):
 *
 *   [periods]
 *   6695eb01-f6a4-8304-79aa-97f2502e193f=web1
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SP_BALLOON_PERIODS_FILE "balloon-periods"

/* Replaces path (creating its directory) with periods (UUID → name); an
 * empty table removes it (a missing file is no error). */
gboolean sp_balloon_periods_save (const char *path, GHashTable *periods, GError **error);

/*
 * Adds the record at path to periods (UUID → name, both owned by the
 * table). A missing file is no record (TRUE, nothing added). A file that
 * cannot be parsed or holds a key that is not a UUID is an error naming the
 * path (nothing added).
 */
gboolean sp_balloon_periods_load (const char *path, GHashTable *periods, GError **error);

G_END_DECLS
