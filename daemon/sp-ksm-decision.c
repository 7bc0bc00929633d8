/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-policy"

#include "sp-ksm-decision.h"

#include <string.h>

const char *
sp_profit_guard_phase_to_string (SpProfitGuardPhase phase)
{
  switch (phase)
    {
    case SP_PROFIT_GUARD_OFF:
      return "off";
    case SP_PROFIT_GUARD_WATCHING:
      return "watching";
    case SP_PROFIT_GUARD_SLOWED:
      return "slowed";
    case SP_PROFIT_GUARD_STOPPED:
      return "stopped";
    default:
      return "unknown";
    }
}

void
sp_decision_clear (SpDecision *decision)
{
  g_clear_pointer (&decision->reason, g_free);
  memset (decision, 0, sizeof (*decision));
}

void
sp_decision_copy (SpDecision *dest, const SpDecision *src)
{
  *dest = *src;
  dest->reason = g_strdup (src->reason);
}
