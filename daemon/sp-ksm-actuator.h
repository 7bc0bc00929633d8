/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KSM actuator, the tuner's SpActuator (sp-actuator.h) for the KSM
 * policy's decision (SpSnapshot.decision): writes the decision's knob
 * settings to KSM sysfs, only knobs whose value differs from what sysfs
 * holds; notices knobs someone else changed since; and remembers the value
 * each knob had before samepaged first wrote it, to restore it on exit,
 * with the knobs the kernel changes as a side effect of that write (writing
 * advisor_mode resets pages_to_scan). The originals are kept in
 * <state-dir>/ksm-originals (sp-ksm-originals.h) before the first write, so
 * that a samepaged started after a crash restores them too. Restoring
 * writes advisor_mode first, run last.
 */
#pragma once

#include <gio/gio.h>

#include "sp-actuator.h"
#include "sp-ksm-decision.h"
#include "sp-ksm.h"

G_BEGIN_DECLS

#define SP_TYPE_KSM_ACTUATOR (sp_ksm_actuator_get_type ())
G_DECLARE_FINAL_TYPE (SpKsmActuator, sp_ksm_actuator, SP, KSM_ACTUATOR, GObject)

/* dry_run: logs what it would write instead. */
SpKsmActuator *sp_ksm_actuator_new (const char *sysfs_root, gboolean dry_run);

/*
 * Writes the decision's settings that differ from current. n_written (may be
 * NULL) counts real writes. Stops at the first failed write and returns its
 * error; knobs already written stay recorded for restore. (apply() of the
 * SpActuator interface calls it with the snapshot's state and decision.)
 */
gboolean sp_ksm_actuator_write (SpKsmActuator *self, const SpKsmState *current,
                                const SpDecision *decision, guint *n_written, GError **error);

/*
 * Keeps the originals in <state_dir>/ksm-originals (NULL: not kept; a dry
 * run keeps nothing). A record already there (a samepaged that did not exit
 * cleanly) is loaded: its values are the originals, and knobs it does not
 * hold are recorded from what they are when first written. Call once,
 * before the first write.
 */
void sp_ksm_actuator_set_state_dir (SpKsmActuator *self, const char *state_dir);
/* <state_dir>/ksm-originals, or NULL. */
const char *sp_ksm_actuator_get_record_path (SpKsmActuator *self);

/*
 * For samepaged's own writes outside a decision (an unmerge): records the
 * original of field (and of what the kernel resets when value is written)
 * as sp_ksm_actuator_write() does, before the caller writes it. TRUE when
 * something new was recorded. Nothing in a dry run.
 */
gboolean sp_ksm_actuator_record (SpKsmActuator *self, const SpKsmState *current, SpKsmField field,
                                 gint64 value);

/* While held, apply() writes nothing (an unmerge in progress owns run). */
void sp_ksm_actuator_set_held (SpKsmActuator *self, gboolean held);
gboolean sp_ksm_actuator_is_held (SpKsmActuator *self);

/* Number of knobs changed since start (for tests and logs). */
guint sp_ksm_actuator_get_n_changed (SpKsmActuator *self);

G_END_DECLS
