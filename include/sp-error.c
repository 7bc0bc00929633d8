/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sp-error.h"

static const GDBusErrorEntry sp_error_entries[] = {
  { SP_ERROR_FAILED, "org.samepage1.Error.Failed" },
  { SP_ERROR_INVALID_ARGS, "org.samepage1.Error.InvalidArgs" },
  { SP_ERROR_NOT_SUPPORTED, "org.samepage1.Error.NotSupported" },
  { SP_ERROR_ACCESS_DENIED, "org.samepage1.Error.AccessDenied" },
  { SP_ERROR_UNKNOWN_DOMAIN, "org.samepage1.Error.UnknownDomain" },
  { SP_ERROR_LIBVIRT, "org.samepage1.Error.Libvirt" },
  { SP_ERROR_NOT_CONNECTED, "org.samepage1.Error.NotConnected" },
  { SP_ERROR_KSM_UNAVAILABLE, "org.samepage1.Error.KsmUnavailable" },
  { SP_ERROR_CONFIG, "org.samepage1.Error.Config" },
  { SP_ERROR_CONFLICT, "org.samepage1.Error.Conflict" },
  { SP_ERROR_TRANSIENT, "org.samepage1.Error.TransientDomain" },
  { SP_ERROR_UNMERGEABLE, "org.samepage1.Error.Unmergeable" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (sp_error_entries) == SP_ERROR_N_ERRORS);

GQuark
sp_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("sp-error-quark", &quark, sp_error_entries,
                                      G_N_ELEMENTS (sp_error_entries));
  return (GQuark) quark;
}
