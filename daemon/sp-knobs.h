/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The knob writer: applies a decision to KSM sysfs, writing only knobs whose
 * value differs from what sysfs holds, and remembers the value each knob had
 * before samepaged first wrote it so it can be restored on exit.
 */
#pragma once

#include <gio/gio.h>

#include "sp-ksm.h"
#include "sp-policy.h"

G_BEGIN_DECLS

#define SP_TYPE_KNOBS (sp_knobs_get_type ())
G_DECLARE_FINAL_TYPE (SpKnobs, sp_knobs, SP, KNOBS, GObject)

SpKnobs *sp_knobs_new (const char *sysfs_root, gboolean dry_run);

/*
 * Writes the decision's settings that differ from current. n_written (may be
 * NULL) counts real writes. Stops at the first failed write and returns its
 * error; knobs already written stay recorded for restore.
 */
gboolean sp_knobs_apply (SpKnobs *self, const SpKsmState *current, const SpDecision *decision,
                         guint *n_written, GError **error);

/* Writes back every knob samepaged changed, in reverse order of first write. */
gboolean sp_knobs_restore (SpKnobs *self, GError **error);

/* Number of knobs changed since start (for tests and logs). */
guint sp_knobs_get_n_changed (SpKnobs *self);

G_END_DECLS
