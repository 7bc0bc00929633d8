/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-procfs"

#include "sp-procfs.h"

#include <string.h>

#include "sp-io.h"

typedef enum {
  KEY_RMAP_ITEMS,
  KEY_ZERO_PAGES,
  KEY_MERGING_PAGES,
  KEY_PROCESS_PROFIT,
  KEY_MERGE_ANY,
  KEY_MERGEABLE,
  N_KEYS,
} Key;

typedef enum {
  KIND_COUNT,  /* non-negative integer */
  KIND_SIGNED, /* integer, may be negative */
  KIND_YES_NO, /* "yes" or "no" */
} KeyKind;

typedef struct {
  const char *name;
  KeyKind kind;
} KeyInfo;

/* Added by Linux 6.1 (rmap_items), 6.4 (merging_pages, process_profit),
 * 6.6 (zero_pages) and 6.14 (merge_any, mergeable, as "key: value"). */
static const KeyInfo keys[] = {
  [KEY_RMAP_ITEMS] = { "ksm_rmap_items", KIND_COUNT },
  [KEY_ZERO_PAGES] = { "ksm_zero_pages", KIND_COUNT },
  [KEY_MERGING_PAGES] = { "ksm_merging_pages", KIND_COUNT },
  [KEY_PROCESS_PROFIT] = { "ksm_process_profit", KIND_SIGNED },
  [KEY_MERGE_ANY] = { "ksm_merge_any", KIND_YES_NO },
  [KEY_MERGEABLE] = { "ksm_mergeable", KIND_YES_NO },
};

G_STATIC_ASSERT (G_N_ELEMENTS (keys) == N_KEYS);

static gboolean
lookup_key (const char *name, Key *out)
{
  for (guint i = 0; i < N_KEYS; i++)
    {
      if (strcmp (keys[i].name, name) == 0)
        {
          *out = (Key) i;
          return TRUE;
        }
    }
  return FALSE;
}

static void
stat_init_unknown (SpKsmProcStat *stat)
{
  stat->present = FALSE;
  stat->rmap_items = -1;
  stat->merging_pages = -1;
  stat->zero_pages = -1;
  stat->process_profit = -1;
  stat->mergeable = SP_KSM_MERGEABLE_UNKNOWN;
  stat->merge_any = SP_KSM_MERGEABLE_UNKNOWN;
}

static gboolean
parse_yes_no (const char *str, SpKsmMergeable *out)
{
  if (strcmp (str, "yes") == 0)
    *out = SP_KSM_MERGEABLE_YES;
  else if (strcmp (str, "no") == 0)
    *out = SP_KSM_MERGEABLE_NO;
  else
    return FALSE;
  return TRUE;
}

static gint64 *
number_field (SpKsmProcStat *stat, Key key)
{
  switch (key)
    {
    case KEY_RMAP_ITEMS:
      return &stat->rmap_items;
    case KEY_ZERO_PAGES:
      return &stat->zero_pages;
    case KEY_MERGING_PAGES:
      return &stat->merging_pages;
    case KEY_PROCESS_PROFIT:
      return &stat->process_profit;
    case KEY_MERGE_ANY:
    case KEY_MERGEABLE:
    case N_KEYS:
    default:
      g_assert_not_reached ();
    }
}

static gboolean
parse_value (Key key, const char *value, SpKsmProcStat *stat, GError **error)
{
  const char *expected = NULL;
  g_autofree char *escaped = NULL;
  gint64 number;

  switch (keys[key].kind)
    {
    case KIND_COUNT:
      if (sp_parse_i64 (value, &number) && number >= 0)
        {
          *number_field (stat, key) = number;
          return TRUE;
        }
      expected = "a non-negative integer";
      break;
    case KIND_SIGNED:
      if (sp_parse_i64 (value, &number))
        {
          *number_field (stat, key) = number;
          return TRUE;
        }
      expected = "an integer";
      break;
    case KIND_YES_NO:
      if (parse_yes_no (value, key == KEY_MERGE_ANY ? &stat->merge_any : &stat->mergeable))
        return TRUE;
      expected = "“yes” or “no”";
      break;
    default:
      g_assert_not_reached ();
    }

  escaped = g_strescape (value, NULL);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "Invalid %s value “%.64s” in ksm_stat: expected %s", keys[key].name, escaped,
               expected);
  return FALSE;
}

gboolean
sp_ksm_proc_stat_parse (const char *contents, SpKsmProcStat *stat, GError **error)
{
  g_auto (GStrv) lines = NULL;
  gboolean seen[N_KEYS] = { FALSE };
  SpKsmProcStat result;

  g_return_val_if_fail (contents != NULL, FALSE);
  g_return_val_if_fail (stat != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  stat_init_unknown (&result);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      gsize name_len = strcspn (line, ": \t");
      g_autofree char *name = NULL;
      char *value;
      Key key;

      /* blank lines and keys this version does not know are ignored */
      if (name_len == 0)
        continue;
      name = g_strndup (line, name_len);
      if (!lookup_key (name, &key))
        continue;
      if (seen[key])
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "Invalid ksm_stat: %s appears twice", keys[key].name);
          return FALSE;
        }
      seen[key] = TRUE;

      /* "key value", "key: value", "key:\tvalue" */
      value = line + name_len;
      while (g_ascii_isspace (*value))
        value++;
      if (*value == ':')
        value++;
      while (g_ascii_isspace (*value))
        value++;
      if (!parse_value (key, value, &result, error))
        return FALSE;
      result.present = TRUE;
    }

  *stat = result;
  return TRUE;
}

/* Sets G_IO_ERROR_NOT_FOUND and returns TRUE when <procfs>/<pid> is gone. */
static gboolean
process_gone (const char *procfs_root, gint64 pid, GError **error)
{
  g_autofree char *name = g_strdup_printf ("%" G_GINT64_FORMAT, pid);
  g_autofree char *pid_path = sp_path_join_root (procfs_root, name);

  if (g_file_test (pid_path, G_FILE_TEST_IS_DIR))
    return FALSE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
               "Process %" G_GINT64_FORMAT " is gone (no %s)", pid, pid_path);
  return TRUE;
}

/* A read failed: the process vanished (NOT_FOUND), else the read error. */
static gboolean
fail_read (const char *procfs_root, gint64 pid, GError **local_error, GError **error)
{
  if (!process_gone (procfs_root, pid, error))
    g_propagate_error (error, g_steal_pointer (local_error));
  return FALSE;
}

/* ksm_merging_pages (Linux 5.19+): one integer; empty without an mm. */
static gboolean
read_merging_pages (const char *path, SpKsmProcStat *stat, GError **error)
{
  g_autofree char *contents = NULL;
  g_autofree char *escaped = NULL;
  gint64 value;

  if (!sp_file_read_string (path, &contents, error))
    return FALSE;
  g_strstrip (contents);
  if (contents[0] == '\0')
    return TRUE;
  if (sp_parse_i64 (contents, &value) && value >= 0)
    {
      stat->merging_pages = value;
      stat->present = TRUE;
      return TRUE;
    }
  escaped = g_strescape (contents, NULL);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "Unexpected content “%.64s” in %s: expected a non-negative integer", escaped, path);
  return FALSE;
}

gboolean
sp_ksm_proc_stat_read (const char *procfs_root, gint64 pid, SpKsmProcStat *stat, GError **error)
{
  g_autofree char *name = NULL;
  g_autofree char *stat_path = NULL;
  g_autofree char *merging_path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (GError) local_error = NULL;
  SpKsmProcStat result;

  g_return_val_if_fail (procfs_root != NULL, FALSE);
  g_return_val_if_fail (pid > 0, FALSE);
  g_return_val_if_fail (stat != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  name = g_strdup_printf ("%" G_GINT64_FORMAT, pid);
  stat_path = g_build_filename (procfs_root, name, "ksm_stat", NULL);
  merging_path = g_build_filename (procfs_root, name, "ksm_merging_pages", NULL);

  stat_init_unknown (&result);
  if (sp_file_read_string (stat_path, &contents, &local_error))
    {
      if (!sp_ksm_proc_stat_parse (contents, &result, error))
        {
          g_prefix_error (error, "%s: ", stat_path);
          return FALSE;
        }
    }
  else if (!g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      return fail_read (procfs_root, pid, &local_error, error);
    }
  g_clear_error (&local_error);

  /* before 6.4, merging pages has its own file only */
  if (result.merging_pages < 0 && !read_merging_pages (merging_path, &result, &local_error))
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      if (!g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        return fail_read (procfs_root, pid, &local_error, error);
      g_clear_error (&local_error);
    }

  /* neither file: an old kernel, or no process at all */
  if (!result.present && process_gone (procfs_root, pid, error))
    return FALSE;

  *stat = result;
  return TRUE;
}
