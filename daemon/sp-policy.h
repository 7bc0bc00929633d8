/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpPolicy: the deciding half of the seam between SpTuner and its parts;
 * SpActuator (sp-actuator.h) is the acting half. One tuning pass:
 *
 *   inputs ──► snapshot ──► policies ──► actuators ──► published snapshot ──► D-Bus, metrics
 *
 * 1. The tuner reads the inputs (KSM sysfs, /proc/meminfo, the guests from
 *    libvirt, the config) into a new SpSnapshot, next.
 * 2. Each actuator observes next: what changed behind its back since it last
 *    applied (optional).
 * 3. Each policy, in the order added, decides from next's inputs and the
 *    previous snapshot and writes its decision into next, in a field of
 *    SpSnapshot it alone writes (the KSM policy: next->decision). A policy
 *    is a pure function of the two snapshots: no I/O, no clock, no logging,
 *    so tests drive it with tables; it may read what the policies before it
 *    decided.
 * 4. Each actuator, in the order added, applies the decision it serves and
 *    records the result in next (the KSM actuator writes the knobs and reads
 *    them back into next->ksm). It logs its own problems, once, and never
 *    blocks the main loop: slow work (libvirt calls) goes to a worker.
 * 5. next is published: immutable from then on, D-Bus and metrics read it.
 * On exit each actuator restores what it changed, in reverse order.
 *
 * Between ticks the pressure watch runs step 3 alone on fresh memory
 * information and retunes at once when a policy says its new decision
 * cannot wait for the next tick (urgent_reason).
 *
 * Adding a part, e.g. ballooning: a balloon policy (next's guests and
 * memory → per-domain balloon targets, in a new SpSnapshot field) and a
 * balloon actuator (applies the targets through libvirt in a worker, puts
 * them back on exit) implement these two interfaces in their own files and
 * are registered with sp_tuner_add_policy() and sp_tuner_add_actuator()
 * where the daemon creates the tuner. The libvirt and D-Bus code changes
 * only to register them (and, should D-Bus show the targets, to read the
 * new snapshot field). sp_tuner_new() registers the KSM policy
 * (sp-ksm-policy.h) and the KSM actuator (sp-ksm-actuator.h).
 */
#pragma once

#include <glib-object.h>

#include "sp-snapshot.h"

G_BEGIN_DECLS

#define SP_TYPE_POLICY (sp_policy_get_type ())
G_DECLARE_INTERFACE (SpPolicy, sp_policy, SP, POLICY, GObject)

struct _SpPolicyInterface {
  GTypeInterface parent_iface;

  /* A short name for logs ("ksm"). */
  const char *(*get_name) (SpPolicy *self);

  /* Writes the policy's decision into next from next's inputs and previous
   * (the last published snapshot). Pure: see above. */
  void (*decide) (SpPolicy *self, const SpSnapshot *previous, SpSnapshot *next);

  /* Optional. Why next's decision cannot wait for the next tick (a string
   * next owns, for the debug log), or NULL. Unset: it always can. */
  const char *(*urgent_reason) (SpPolicy *self, const SpSnapshot *previous, const SpSnapshot *next);
};

const char *sp_policy_get_name (SpPolicy *self);
void sp_policy_decide (SpPolicy *self, const SpSnapshot *previous, SpSnapshot *next);
const char *sp_policy_urgent_reason (SpPolicy *self, const SpSnapshot *previous,
                                     const SpSnapshot *next);

G_END_DECLS
