/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-policy"

#include "sp-ksm-decision.h"

#include <string.h>

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
