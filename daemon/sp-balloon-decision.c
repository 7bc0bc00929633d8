/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-balloon"

#include "sp-balloon-decision.h"

void
sp_balloon_target_free (SpBalloonTarget *target)
{
  if (target == NULL)
    return;
  g_free (target->name);
  g_free (target->uuid);
  g_free (target->reason);
  g_free (target);
}

SpBalloonDecision *
sp_balloon_decision_new (void)
{
  SpBalloonDecision *decision = g_new0 (SpBalloonDecision, 1);

  decision->targets = g_ptr_array_new_with_free_func ((GDestroyNotify) sp_balloon_target_free);
  return decision;
}

void
sp_balloon_decision_free (SpBalloonDecision *decision)
{
  if (decision == NULL)
    return;
  g_ptr_array_unref (decision->targets);
  g_free (decision->reason);
  g_free (decision);
}

const SpBalloonTarget *
sp_balloon_decision_find (const SpBalloonDecision *decision, const char *uuid)
{
  if (decision == NULL || uuid == NULL)
    return NULL;
  for (guint i = 0; i < decision->targets->len; i++)
    {
      const SpBalloonTarget *target = g_ptr_array_index (decision->targets, i);

      if (g_strcmp0 (target->uuid, uuid) == 0)
        return target;
    }
  return NULL;
}
