/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-actuator"

#include "sp-actuator.h"

G_DEFINE_INTERFACE (SpActuator, sp_actuator, G_TYPE_OBJECT)

static void
sp_actuator_default_init (SpActuatorInterface *iface)
{
}

const char *
sp_actuator_get_name (SpActuator *self)
{
  g_return_val_if_fail (SP_IS_ACTUATOR (self), NULL);
  return SP_ACTUATOR_GET_IFACE (self)->get_name (self);
}

void
sp_actuator_observe (SpActuator *self, const SpSnapshot *next)
{
  SpActuatorInterface *iface;

  g_return_if_fail (SP_IS_ACTUATOR (self));
  g_return_if_fail (next != NULL);
  iface = SP_ACTUATOR_GET_IFACE (self);
  if (iface->observe != NULL)
    iface->observe (self, next);
}

void
sp_actuator_apply (SpActuator *self, SpSnapshot *next)
{
  g_return_if_fail (SP_IS_ACTUATOR (self));
  g_return_if_fail (next != NULL);
  SP_ACTUATOR_GET_IFACE (self)->apply (self, next);
}

gboolean
sp_actuator_restore (SpActuator *self, GError **error)
{
  g_return_val_if_fail (SP_IS_ACTUATOR (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  return SP_ACTUATOR_GET_IFACE (self)->restore (self, error);
}

void
sp_actuator_leave (SpActuator *self)
{
  SpActuatorInterface *iface;

  g_return_if_fail (SP_IS_ACTUATOR (self));
  iface = SP_ACTUATOR_GET_IFACE (self);
  if (iface->leave != NULL)
    iface->leave (self);
}
