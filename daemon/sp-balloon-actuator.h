/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The balloon actuator: applies the balloon policy's targets
 * (sp-balloon-policy.h) with virDomainSetMemoryFlags (VIR_DOMAIN_AFFECT_LIVE)
 * in a worker thread, the libvirt balloon-change event and the next refresh
 * confirming them. A target still not reached target_timeout seconds after
 * it was set is marked timed_out in the snapshot (the policy then leaves
 * the guest alone) and reported once.
 *
 * It sets the memory stats period ([balloon] stats_period, live) of managed
 * running domains that have none, and on exit puts those periods back to 0.
 * On exit it sets no balloon: deflating every guest at once could push a
 * host under pressure over the edge.
 */
#pragma once

#include "sp-actuator.h"
#include "sp-libvirt.h"

G_BEGIN_DECLS

#define SP_TYPE_BALLOON_ACTUATOR (sp_balloon_actuator_get_type ())
G_DECLARE_FINAL_TYPE (SpBalloonActuator, sp_balloon_actuator, SP, BALLOON_ACTUATOR, GObject)

/* dry_run: decides and logs, never calls libvirt. */
SpActuator *sp_balloon_actuator_new (SpLibvirt *libvirt, gboolean dry_run);

/* Counters for tests: balloon targets and stats periods set so far. */
guint sp_balloon_actuator_get_n_targets_set (SpBalloonActuator *self);
guint sp_balloon_actuator_get_n_periods_set (SpBalloonActuator *self);

G_END_DECLS
