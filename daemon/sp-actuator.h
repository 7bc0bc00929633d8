/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpActuator: the acting half of the seam between SpTuner and its parts. An
 * actuator applies the decision of a policy (sp-policy.h, where the whole
 * tuning pass and how to add a part are described) to the host, records the
 * result in the snapshot being built, and puts back what it changed on exit.
 */
#pragma once

#include <gio/gio.h>

#include "sp-snapshot.h"

G_BEGIN_DECLS

#define SP_TYPE_ACTUATOR (sp_actuator_get_type ())
G_DECLARE_INTERFACE (SpActuator, sp_actuator, SP, ACTUATOR, GObject)

struct _SpActuatorInterface {
  GTypeInterface parent_iface;

  /* A short name for logs ("ksm"). */
  const char *(*get_name) (SpActuator *self);

  /* Optional. next holds the inputs just read, before the policies decide:
   * notice (and log) what others changed since the last apply. */
  void (*observe) (SpActuator *self, const SpSnapshot *next);

  /* Applies the decision in next it serves, records the result in next
   * (what the host looks like now), and logs its own problems, once. Never
   * blocks the main loop. */
  void (*apply) (SpActuator *self, SpSnapshot *next);

  /* Puts back what it changed since start; on error the first one, after
   * trying everything. */
  gboolean (*restore) (SpActuator *self, GError **error);

  /* Optional. Instead of restore (restore_on_exit=false): leaves what it
   * changed as it is, says so in the log, and forgets it. */
  void (*leave) (SpActuator *self);
};

const char *sp_actuator_get_name (SpActuator *self);
void sp_actuator_observe (SpActuator *self, const SpSnapshot *next);
void sp_actuator_apply (SpActuator *self, SpSnapshot *next);
gboolean sp_actuator_restore (SpActuator *self, GError **error);

/*
 * sp_actuator_restore() in a thread of its own, waited for at most
 * timeout_ms: once the main loop no longer runs, a libvirt call to a
 * libvirtd that answers nothing (stopped, deadlocked) never returns (the
 * keepalive that would drop the connection needs the main loop), and what
 * the other actuators changed must still be put back before samepaged
 * exits. On time: its result. Too late: SP_ERROR_FAILED saying so; the
 * thread keeps its reference to the actuator and is left to end (or not)
 * on its own. The main loop must not run meanwhile: restore runs in that
 * thread while this one waits.
 */
gboolean sp_actuator_restore_within (SpActuator *self, guint timeout_ms, GError **error);

/* The same for sp_actuator_leave() (restore_on_exit=false): FALSE only when
 * it did not finish in time. */
gboolean sp_actuator_leave_within (SpActuator *self, guint timeout_ms, GError **error);
void sp_actuator_leave (SpActuator *self);

G_END_DECLS
