/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-balloon"

#include "sp-balloon-periods.h"

#include "sp-io.h"

#define GROUP "periods"

#define HEADER                                                                    \
  " samepaged: the domains whose memory stats period samepaged set (it was 0).\n" \
  " It puts them back to 0 on exit and then removes this file; a samepaged\n"     \
  " started after a crash puts back those it no longer manages."

gboolean
sp_balloon_periods_save (const char *path, GHashTable *periods, GError **error)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autoptr (GList) uuids = NULL;
  g_autofree char *data = NULL;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (periods != NULL, FALSE);

  if (g_hash_table_size (periods) == 0)
    return sp_record_remove (path, error);
  /* sorted: the same table gives the same file */
  uuids = g_list_sort (g_hash_table_get_keys (periods), (GCompareFunc) g_strcmp0);
  for (const GList *l = uuids; l != NULL; l = l->next)
    g_key_file_set_string (keyfile, GROUP, l->data, g_hash_table_lookup (periods, l->data));
  g_key_file_set_comment (keyfile, NULL, NULL, HEADER, NULL);
  data = g_key_file_to_data (keyfile, NULL, NULL);
  return sp_record_replace (path, data, SP_FILE_REPLACE_NONE, error);
}

gboolean
sp_balloon_periods_load (const char *path, GHashTable *periods, GError **error)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autoptr (GHashTable) loaded = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto (GStrv) keys = NULL;
  GHashTableIter iter;
  gpointer key, value;
  gboolean found;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (periods != NULL, FALSE);

  if (!sp_record_load (keyfile, path, &found, error))
    return FALSE;
  if (!found)
    return TRUE;
  keys = g_key_file_get_keys (keyfile, GROUP, NULL, NULL);
  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      char *name = g_key_file_get_string (keyfile, GROUP, keys[i], NULL);

      if (!g_uuid_string_is_valid (keys[i]) || name == NULL)
        {
          g_autofree char *escaped = g_strescape (keys[i], NULL);

          g_free (name);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "%s: %.64s is not a domain UUID with a name", path, escaped);
          return FALSE;
        }
      g_hash_table_insert (loaded, g_ascii_strdown (keys[i], -1), name);
    }
  g_hash_table_iter_init (&iter, loaded);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_hash_table_iter_steal (&iter);
      g_hash_table_insert (periods, key, value);
    }
  return TRUE;
}
