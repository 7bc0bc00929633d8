/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-meminfo"

#include "sp-meminfo.h"

#include <string.h>

#include "sp-io.h"

typedef enum {
  KEY_MEM_TOTAL,
  KEY_MEM_FREE,
  KEY_MEM_AVAILABLE,
  KEY_BUFFERS,
  KEY_CACHED,
  N_KEYS,
} Key;

static const char *const key_names[] = {
  [KEY_MEM_TOTAL] = "MemTotal", [KEY_MEM_FREE] = "MemFree", [KEY_MEM_AVAILABLE] = "MemAvailable",
  [KEY_BUFFERS] = "Buffers",    [KEY_CACHED] = "Cached",
};

G_STATIC_ASSERT (G_N_ELEMENTS (key_names) == N_KEYS);

static gboolean
lookup_key (const char *name, Key *out)
{
  for (guint i = 0; i < N_KEYS; i++)
    {
      if (strcmp (key_names[i], name) == 0)
        {
          *out = (Key) i;
          return TRUE;
        }
    }
  return FALSE;
}

/* "      24684092 kB" → 24684092 */
static gboolean
parse_value (const char *key, const char *text, guint64 *out, GError **error)
{
  g_auto (GStrv) tokens = g_strsplit_set (text, " \t", -1);
  g_autoptr (GError) local_error = NULL;
  const char *number = NULL;
  const char *unit = NULL;
  guint n = 0;

  for (guint i = 0; tokens[i] != NULL; i++)
    {
      if (tokens[i][0] == '\0')
        continue;
      if (n == 0)
        number = tokens[i];
      else if (n == 1)
        unit = tokens[i];
      n++;
    }
  if (number == NULL || n > 2)
    {
      g_autofree char *escaped = g_strescape (text, NULL);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Invalid %s line in meminfo: “%.64s”", key, escaped);
      return FALSE;
    }
  if (unit != NULL && strcmp (unit, "kB") != 0)
    {
      g_autofree char *escaped = g_strescape (unit, NULL);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Invalid %s in meminfo: unit “%.64s” is not kB", key, escaped);
      return FALSE;
    }
  if (!g_ascii_string_to_unsigned (number, 10, 0, SP_MEMINFO_MAX_KIB, out, &local_error))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Invalid %s in meminfo: %s", key,
                   local_error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
sp_meminfo_parse (const char *contents, SpMeminfo *out, GError **error)
{
  g_auto (GStrv) lines = NULL;
  guint64 values[N_KEYS] = { 0 };
  gboolean seen[N_KEYS] = { FALSE };
  SpMeminfo result = { 0 };

  g_return_val_if_fail (contents != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      const char *colon = strchr (line, ':');
      g_autofree char *name = NULL;
      Key key;

      /* lines samepaged does not use are ignored, whatever their form */
      if (colon == NULL)
        continue;
      name = g_strndup (line, colon - line);
      if (!lookup_key (name, &key))
        continue;
      if (seen[key])
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "Invalid meminfo: %s appears twice", name);
          return FALSE;
        }
      if (!parse_value (name, colon + 1, &values[key], error))
        return FALSE;
      seen[key] = TRUE;
    }

  for (guint i = 0; i < N_KEYS; i++)
    {
      if (i == KEY_MEM_AVAILABLE || seen[i])
        continue;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Invalid meminfo: no %s line",
                   key_names[i]);
      return FALSE;
    }

  result.total_kib = values[KEY_MEM_TOTAL];
  result.free_kib = values[KEY_MEM_FREE];
  result.buffers_kib = values[KEY_BUFFERS];
  result.cached_kib = values[KEY_CACHED];
  if (seen[KEY_MEM_AVAILABLE])
    {
      result.available_kib = values[KEY_MEM_AVAILABLE];
    }
  else
    {
      /* kernel < 3.14: what ksmtuned counts; values are bounded, no overflow */
      result.available_kib = result.free_kib + result.buffers_kib + result.cached_kib;
      result.available_estimated = TRUE;
    }

  *out = result;
  return TRUE;
}

gboolean
sp_meminfo_read (const char *procfs_root, SpMeminfo *out, GError **error)
{
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;

  g_return_val_if_fail (procfs_root != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  path = g_build_filename (procfs_root, "meminfo", NULL);
  if (!sp_file_read_string (path, &contents, error))
    return FALSE;
  if (!sp_meminfo_parse (contents, out, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

guint64
sp_meminfo_free_kib (const SpMeminfo *info, SpFreeSource source)
{
  g_return_val_if_fail (info != NULL, 0);

  switch (source)
    {
    case SP_FREE_SOURCE_AVAILABLE:
      return info->available_kib;
    case SP_FREE_SOURCE_KSMTUNED:
      return info->free_kib + info->buffers_kib + info->cached_kib;
    case SP_FREE_SOURCE_AVAILABLE_ARC:
      /* both are below 2^54: no overflow */
      return info->available_kib + (info->has_arc ? info->arc_shrinkable_kib : 0);
    default:
      g_return_val_if_reached (info->available_kib);
    }
}
