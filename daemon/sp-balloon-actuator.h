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
 * running domains that have none, and on exit puts those periods back to 0,
 * whatever restore_on_exit says: the period is samepaged's own change to a
 * guest, which no operator asked for (restore_on_exit is about the KSM
 * knobs, which an operator may want to keep). The domains whose period it
 * set are kept in <state-dir>/balloon-periods (sp-balloon-periods.h),
 * written before each period is set, so that after a crash, or an exit
 * while libvirtd could not be reached, the next samepaged puts them back:
 * at each decision, a recorded domain that runs and is not managed (balloon
 * off, opted out) gets 0 again, a managed one keeps its period and its
 * record, and an undefined or shut-off one is forgotten.
 *
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

/* Loads the record of a previous samepaged and keeps it from now on
 * (nothing with dry_run). Before the first apply. */
void sp_balloon_actuator_set_state_dir (SpBalloonActuator *self, const char *state_dir);
/* The record's path, NULL when none is kept. */
const char *sp_balloon_actuator_get_record_path (SpBalloonActuator *self);

/* Counters for tests: balloon targets and stats periods set so far. */
guint sp_balloon_actuator_get_n_targets_set (SpBalloonActuator *self);
guint sp_balloon_actuator_get_n_periods_set (SpBalloonActuator *self);

G_END_DECLS
