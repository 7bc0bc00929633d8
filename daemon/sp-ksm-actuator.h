/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KSM actuator, the tuner's SpActuator (sp-actuator.h) for the KSM
 * policy's decision (SpSnapshot.decision): writes the decision's knob
 * settings to KSM sysfs, only knobs whose value differs from what sysfs
 * holds; notices knobs someone else changed since; and remembers the value
 * each knob had before samepaged first wrote it, to restore it on exit.
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

/* Number of knobs changed since start (for tests and logs). */
guint sp_ksm_actuator_get_n_changed (SpKsmActuator *self);

G_END_DECLS
