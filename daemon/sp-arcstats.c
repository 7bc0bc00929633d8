/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-arcstats"

#include "sp-arcstats.h"

#include "sp-io.h"
#include "sp-str.h"

/* KSTAT_DATA_UINT64 */
#define SP_KSTAT_TYPE_UINT64 "4"

static gboolean
invalid (GError **error, guint line_no, const char *what, const char *line)
{
  g_autofree char *quoted = sp_quote (line);

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Invalid arcstats, line %u: %s: %.80s",
               line_no, what, quoted);
  return FALSE;
}

gboolean
sp_arcstats_parse (const char *contents, guint64 *shrinkable_kib, GError **error)
{
  static const char *const names[] = { "size", "c_min" };
  g_auto (GStrv) lines = NULL;
  guint64 values[G_N_ELEMENTS (names)] = { 0 };
  gboolean seen[G_N_ELEMENTS (names)] = { FALSE };
  guint64 size_bytes;
  guint64 c_min_bytes;

  g_return_val_if_fail (contents != NULL && shrinkable_kib != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  lines = g_strsplit (contents, "\n", -1);
  if (lines[0] == NULL)
    return invalid (error, 1, "not a kstat header", "");
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (GPtrArray) fields = sp_str_fields (lines[i]);
      const char *name = fields->len > 0 ? g_ptr_array_index (fields, 0) : "";
      guint k;

      /* line 1: the kstat header (numbers); line 2: the column names */
      if (i == 0)
        {
          guint64 unused;
          if (fields->len == 0 ||
              !g_ascii_string_to_unsigned (name, 10, 0, G_MAXUINT64, &unused, NULL))
            return invalid (error, i + 1, "not a kstat header", lines[i]);
          continue;
        }
      if (i == 1)
        {
          if (fields->len != 3 || !g_str_equal (name, "name") ||
              !g_str_equal (g_ptr_array_index (fields, 1), "type") ||
              !g_str_equal (g_ptr_array_index (fields, 2), "data"))
            return invalid (error, i + 1, "expected \"name type data\"", lines[i]);
          continue;
        }
      for (k = 0; k < G_N_ELEMENTS (names); k++)
        if (g_str_equal (name, names[k]))
          break;
      if (k == G_N_ELEMENTS (names))
        continue; /* rows samepaged does not use */
      if (seen[k])
        return invalid (error, i + 1, "repeated row", lines[i]);
      if (fields->len != 3 || !g_str_equal (g_ptr_array_index (fields, 1), SP_KSTAT_TYPE_UINT64) ||
          !g_ascii_string_to_unsigned (g_ptr_array_index (fields, 2), 10, 0, G_MAXUINT64,
                                       &values[k], NULL))
        return invalid (error, i + 1, "expected \"<name> 4 <bytes>\"", lines[i]);
      seen[k] = TRUE;
    }
  for (guint k = 0; k < G_N_ELEMENTS (names); k++)
    if (!seen[k])
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Invalid arcstats: no %s row",
                     names[k]);
        return FALSE;
      }
  size_bytes = values[0];
  c_min_bytes = values[1];
  *shrinkable_kib =
      size_bytes > c_min_bytes ? MIN ((size_bytes - c_min_bytes) / 1024, SP_MEMINFO_MAX_KIB) : 0;
  return TRUE;
}

void
sp_arcstats_add (const char *procfs_root, SpMeminfo *mem, SpLogOnce *problem)
{
  g_autoptr (GError) error = NULL;

  mem->has_arc = sp_arcstats_read (procfs_root, &mem->arc_shrinkable_kib, &error);
  if (!mem->has_arc)
    {
      mem->arc_shrinkable_kib = 0;
      if (sp_log_once_changed (problem, error->message))
        g_warning ("free_source = available+arc, but the ZFS ARC size is unknown (%s); counting "
                   "MemAvailable alone",
                   error->message);
    }
  else if (sp_log_once_reset (problem))
    g_message ("ZFS ARC size readable again");
}

gboolean
sp_arcstats_read (const char *procfs_root, guint64 *shrinkable_kib, GError **error)
{
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;

  g_return_val_if_fail (procfs_root != NULL && shrinkable_kib != NULL, FALSE);

  path = g_build_filename (procfs_root, "spl", "kstat", "zfs", "arcstats", NULL);
  if (!sp_file_read_string (path, &contents, error))
    return FALSE;
  if (!sp_arcstats_parse (contents, shrinkable_kib, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}
