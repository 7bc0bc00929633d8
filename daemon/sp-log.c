/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-log"

#include "sp-log.h"

#include <stdio.h>
#include <unistd.h>

static gboolean log_verbose;
static gboolean log_to_journal;

static const char *
level_name (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "error";
  if (level & G_LOG_LEVEL_CRITICAL)
    return "critical";
  if (level & G_LOG_LEVEL_WARNING)
    return "warning";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "notice";
  if (level & G_LOG_LEVEL_INFO)
    return "info";
  return "debug";
}

static GLogWriterOutput
sp_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *message = NULL;
  const char *domain = NULL;
  g_autoptr (GDateTime) now = NULL;
  g_autofree char *stamp = NULL;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
        message = fields[i].value;
      else if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
    }

  /* --verbose shows samepaged's own debug messages; the libraries' (the
   * libvirt-glib event loop is chatty) only with G_MESSAGES_DEBUG. */
  if (level & G_LOG_LEVEL_DEBUG)
    {
      gboolean ours = domain != NULL && g_str_has_prefix (domain, "samepaged");
      if (!(log_verbose && ours) && g_log_writer_default_would_drop (level, domain))
        return G_LOG_WRITER_HANDLED;
    }

  if (log_to_journal)
    {
      if (g_log_writer_journald (level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
        return G_LOG_WRITER_HANDLED;
    }

  now = g_date_time_new_now_local ();
  stamp = g_date_time_format (now, "%H:%M:%S.%f");
  stamp[12] = '\0'; /* milliseconds */
  fprintf (stderr, "%s %s: %s%s%s\n", stamp, level_name (level), domain ? domain : "",
           domain ? ": " : "", message ? message : "");
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

void
sp_log_setup (gboolean verbose)
{
  log_verbose = verbose;
  log_to_journal = g_log_writer_is_journald (fileno (stderr));
  g_log_set_writer_func (sp_log_writer, NULL, NULL);
}

/* syslog priorities, as GLib's own structured logging gives them */
static const char *
level_priority (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "3";
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    return "4";
  if (level & G_LOG_LEVEL_MESSAGE)
    return "5";
  if (level & G_LOG_LEVEL_INFO)
    return "6";
  return "7";
}

void
sp_log_domain_full (const char *log_domain, GLogLevelFlags level, const char *name,
                    const char *uuid, const char *format, ...)
{
  g_autofree char *message = NULL;
  GLogField fields[5];
  gsize n = 0;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  fields[n++] = (GLogField){ "PRIORITY", level_priority (level), -1 };
  fields[n++] = (GLogField){ "GLIB_DOMAIN", log_domain, -1 };
  fields[n++] = (GLogField){ "MESSAGE", message, -1 };
  if (name != NULL)
    fields[n++] = (GLogField){ SP_LOG_FIELD_DOMAIN, name, -1 };
  if (uuid != NULL)
    fields[n++] = (GLogField){ SP_LOG_FIELD_DOMAIN_UUID, uuid, -1 };
  g_log_structured_array (level, fields, n);
}

gboolean
sp_log_once_changed (SpLogOnce *slot, const char *message)
{
  if (g_strcmp0 (slot->last, message) == 0)
    return FALSE;
  g_free (slot->last);
  slot->last = g_strdup (message);
  return TRUE;
}

gboolean
sp_log_once_reset (SpLogOnce *slot)
{
  if (slot->last == NULL)
    return FALSE;
  g_clear_pointer (&slot->last, g_free);
  return TRUE;
}
