/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-policy"

#include "sp-policy.h"

G_DEFINE_INTERFACE (SpPolicy, sp_policy, G_TYPE_OBJECT)

static void
sp_policy_default_init (SpPolicyInterface *iface)
{
}

const char *
sp_policy_get_name (SpPolicy *self)
{
  g_return_val_if_fail (SP_IS_POLICY (self), NULL);
  return SP_POLICY_GET_IFACE (self)->get_name (self);
}

void
sp_policy_decide (SpPolicy *self, const SpSnapshot *previous, SpSnapshot *next)
{
  g_return_if_fail (SP_IS_POLICY (self));
  g_return_if_fail (previous != NULL && next != NULL);
  SP_POLICY_GET_IFACE (self)->decide (self, previous, next);
}

const char *
sp_policy_urgent_reason (SpPolicy *self, const SpSnapshot *previous, const SpSnapshot *next)
{
  SpPolicyInterface *iface;

  g_return_val_if_fail (SP_IS_POLICY (self), NULL);
  iface = SP_POLICY_GET_IFACE (self);
  if (iface->urgent_reason == NULL)
    return NULL;
  return iface->urgent_reason (self, previous, next);
}
