/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-libvirt"

#include "sp-libvirt-util.h"

#include "sp-error.h"

void
sp_libvirt_set_error (GError **error, const char *format, ...)
{
  virErrorPtr err = virGetLastError ();
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error (error, SP_ERROR, SP_ERROR_LIBVIRT, "%s: %s", what,
               err != NULL && err->message != NULL ? err->message : "unknown libvirt error");
}

static void
quiet_handler (void *user_data, virErrorPtr error)
{
}

void
sp_libvirt_quiet_errors (void)
{
  virSetErrorFunc (NULL, quiet_handler);
}
