/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sp-str.h"

#include <string.h>

char *
sp_quote (const char *str)
{
  g_autofree char *escaped = g_strescape (str != NULL ? str : "", "\"");

  if (strlen (escaped) > SP_QUOTE_MAX)
    return g_strdup_printf ("'%.*s...'", SP_QUOTE_MAX, escaped);
  return g_strdup_printf ("'%s'", escaped);
}

char *
sp_format_kib (gint64 kib)
{
  static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  guint64 magnitude = kib < 0 ? -(guint64) kib : (guint64) kib;
  char number[G_ASCII_DTOSTR_BUF_SIZE];
  double value;
  guint unit = 0;

  if (magnitude < 1024)
    return g_strdup_printf ("%" G_GINT64_FORMAT " KiB", kib);
  value = (double) magnitude;
  /* 1023.95 MiB prints as 1.0 GiB, not 1024.0 MiB */
  while (value >= 1023.95 && unit + 1 < G_N_ELEMENTS (units))
    {
      value /= 1024.0;
      unit++;
    }
  g_ascii_formatd (number, sizeof number, "%.1f", value);
  return g_strdup_printf ("%s%s %s", kib < 0 ? "-" : "", number, units[unit]);
}

GPtrArray *
sp_str_fields (const char *line)
{
  g_auto (GStrv) parts = g_strsplit_set (line, " \t", -1);
  GPtrArray *fields = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0')
      g_ptr_array_add (fields, g_strdup (parts[i]));
  return fields;
}

gboolean
sp_str_check_key_file_escapes (const char *raw, char **problem)
{
  for (const char *p = raw; *p != '\0'; p++)
    {
      if (*p != '\\')
        continue;
      p++;
      if (*p == '\0')
        {
          *problem = g_strdup ("the value ends with a backslash (an escape with no character)");
          return FALSE;
        }
      if (strchr ("sntr\\", *p) == NULL)
        {
          *problem = g_strdup_printf ("invalid escape \"\\%c\" (known: \\s \\n \\t \\r \\\\)",
                                      g_ascii_isprint (*p) ? *p : '?');
          return FALSE;
        }
    }
  return TRUE;
}
