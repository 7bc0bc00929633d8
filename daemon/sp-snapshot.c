/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-snapshot"

#include "sp-snapshot.h"

static void
sp_snapshot_clear (SpSnapshot *snapshot)
{
  sp_decision_clear (&snapshot->decision);
  g_clear_pointer (&snapshot->config, sp_config_free);
  g_clear_pointer (&snapshot->guests, sp_guests_unref);
  g_clear_pointer (&snapshot->balloon, sp_balloon_decision_free);
  g_clear_pointer (&snapshot->pressure, g_free);
  g_clear_pointer (&snapshot->pressure_trigger, g_free);
  g_clear_pointer (&snapshot->pressure_last, g_free);
}

SpSnapshot *
sp_snapshot_new (void)
{
  SpSnapshot *snapshot = g_atomic_rc_box_new0 (SpSnapshot);

  sp_ksm_cost_init (&snapshot->cost);
  return snapshot;
}

SpSnapshot *
sp_snapshot_ref (SpSnapshot *snapshot)
{
  return g_atomic_rc_box_acquire (snapshot);
}

void
sp_snapshot_unref (SpSnapshot *snapshot)
{
  g_atomic_rc_box_release_full (snapshot, (GDestroyNotify) sp_snapshot_clear);
}
