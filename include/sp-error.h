/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one error domain of samepage, registered with its D-Bus names. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  SP_ERROR_FAILED,          /* org.samepage1.Error.Failed */
  SP_ERROR_INVALID_ARGS,    /* org.samepage1.Error.InvalidArgs */
  SP_ERROR_NOT_SUPPORTED,   /* org.samepage1.Error.NotSupported */
  SP_ERROR_ACCESS_DENIED,   /* org.samepage1.Error.AccessDenied */
  SP_ERROR_UNKNOWN_DOMAIN,  /* org.samepage1.Error.UnknownDomain */
  SP_ERROR_LIBVIRT,         /* org.samepage1.Error.Libvirt */
  SP_ERROR_NOT_CONNECTED,   /* org.samepage1.Error.NotConnected */
  SP_ERROR_KSM_UNAVAILABLE, /* org.samepage1.Error.KsmUnavailable */
  SP_ERROR_CONFIG,          /* org.samepage1.Error.Config */
  SP_ERROR_CONFLICT,        /* org.samepage1.Error.Conflict */
  SP_ERROR_TRANSIENT,       /* org.samepage1.Error.TransientDomain */
  SP_ERROR_UNMERGEABLE,     /* org.samepage1.Error.Unmergeable */
} SpError;

#define SP_ERROR_N_ERRORS (SP_ERROR_UNMERGEABLE + 1)

#define SP_ERROR (sp_error_quark ())
GQuark sp_error_quark (void);

G_END_DECLS
