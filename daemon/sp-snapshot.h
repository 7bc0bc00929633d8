/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One immutable picture of everything samepaged knows after a decision:
 * KSM state, host memory, guests, config and the decision. The D-Bus service
 * and metrics answer from it, never from sysfs or libvirt directly.
 *
 * The tuner builds each one in a tuning pass (sp-policy.h): the inputs
 * first, then each policy adds its decision and each actuator the result;
 * once published it does not change. A new policy adds its decision here.
 */
#pragma once

#include <glib.h>

#include "sp-balloon-decision.h"
#include "sp-config.h"
#include "sp-domain.h"
#include "sp-ksm-decision.h"
#include "sp-ksm.h"
#include "sp-ksmd-cost.h"
#include "sp-meminfo.h"

G_BEGIN_DECLS

typedef struct {
  guint64 serial; /* increments with every snapshot */
  gint64 time_us; /* wall-clock time of the decision (g_get_real_time) */
  SpKsmState ksm; /* after the knobs were written */
  SpMeminfo mem;
  SpKsmCost cost;      /* what KSM cost and returned in the window this decision ends */
  SpDecision decision; /* the KSM policy's (sp-ksm-policy.h) */
  SpConfig *config;
  SpGuests *guests;
  gboolean dry_run;
  /* the balloon policy's (sp-balloon-policy.h), NULL without one; the
   * balloon actuator marks its targets' timed_out */
  SpBalloonDecision *balloon;
  /* memory pressure (sp-psi-trigger.h), all NULL when none: the event this
   * decision reacts to (the KSM policy's input), the trigger registered
   * ("some 300000 2000000"), the last event's description */
  char *pressure;
  char *pressure_trigger;
  char *pressure_last;
} SpSnapshot;

SpSnapshot *sp_snapshot_new (void);
SpSnapshot *sp_snapshot_ref (SpSnapshot *snapshot);
void sp_snapshot_unref (SpSnapshot *snapshot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SpSnapshot, sp_snapshot_unref)

G_END_DECLS
