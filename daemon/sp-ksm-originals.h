/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The record of the KSM knobs as samepaged found them, kept in
 * <state-dir>/ksm-originals so that they survive a crash: the KSM actuator
 * (sp-ksm-actuator.h) replaces it atomically before each first write of a
 * knob, a samepaged started after a crash loads it instead of taking the
 * knobs as it finds them (they are its predecessor's), and a clean exit
 * removes it. A GKeyFile:
 *
 *   [originals]
 *   ksm_dir=/sys/kernel/mm/ksm
 *   advisor_mode=none
 *   pages_to_scan=1000
 *
 * ksm_dir names the KSM directory the values belong to: a record of
 * another one (another --sysfs-root) is not loaded.
 */
#pragma once

#include <glib.h>

#include "sp-ksm.h"

G_BEGIN_DECLS

#define SP_KSM_ORIGINALS_FILE "ksm-originals"

/* A knob and the value samepaged found it at. */
typedef struct {
  SpKsmField field;
  gint64 value;
} SpKnobOriginal;

/* "advisor_mode=none, pages_to_scan=1000" for logs; "none" when empty. */
char *sp_ksm_originals_to_string (const GArray *originals);

/* Replaces path (creating its directory) with originals (SpKnobOriginal). */
gboolean sp_ksm_originals_save (const char *path, const char *ksm_dir, const GArray *originals,
                                GError **error);

/*
 * Appends the record at path to originals. A missing file is no record
 * (TRUE, nothing appended). A file that cannot be parsed, or holds a knob
 * this version does not know or a value it cannot have, or belongs to
 * another ksm_dir, is an error naming the path (nothing appended).
 */
gboolean sp_ksm_originals_load (const char *path, const char *ksm_dir, GArray *originals,
                                GError **error);

/* Removes the record; a missing one is no error. */
gboolean sp_ksm_originals_remove (const char *path, GError **error);

G_END_DECLS
