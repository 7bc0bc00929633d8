/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-ksm"

#include "sp-ksm.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sp-io.h"

typedef enum {
  FIELD_UNSIGNED,
  FIELD_SIGNED,
  FIELD_ADVISOR_MODE,
} FieldKind;

typedef struct {
  const char *name;
  FieldKind kind;
  gboolean knob;
} FieldInfo;

static const FieldInfo fields[] = {
  [SP_KSM_RUN] = { "run", FIELD_UNSIGNED, TRUE },
  [SP_KSM_PAGES_TO_SCAN] = { "pages_to_scan", FIELD_UNSIGNED, TRUE },
  [SP_KSM_SLEEP_MILLISECS] = { "sleep_millisecs", FIELD_UNSIGNED, TRUE },
  [SP_KSM_PAGES_SHARED] = { "pages_shared", FIELD_UNSIGNED, FALSE },
  [SP_KSM_PAGES_SHARING] = { "pages_sharing", FIELD_UNSIGNED, FALSE },
  [SP_KSM_PAGES_UNSHARED] = { "pages_unshared", FIELD_UNSIGNED, FALSE },
  [SP_KSM_PAGES_VOLATILE] = { "pages_volatile", FIELD_UNSIGNED, FALSE },
  [SP_KSM_FULL_SCANS] = { "full_scans", FIELD_UNSIGNED, FALSE },
  [SP_KSM_PAGES_SCANNED] = { "pages_scanned", FIELD_UNSIGNED, FALSE },
  [SP_KSM_PAGES_SKIPPED] = { "pages_skipped", FIELD_UNSIGNED, FALSE },
  [SP_KSM_GENERAL_PROFIT] = { "general_profit", FIELD_SIGNED, FALSE },
  [SP_KSM_KSM_ZERO_PAGES] = { "ksm_zero_pages", FIELD_UNSIGNED, FALSE },
  [SP_KSM_MAX_PAGE_SHARING] = { "max_page_sharing", FIELD_UNSIGNED, TRUE },
  [SP_KSM_MERGE_ACROSS_NODES] = { "merge_across_nodes", FIELD_UNSIGNED, TRUE },
  [SP_KSM_USE_ZERO_PAGES] = { "use_zero_pages", FIELD_UNSIGNED, TRUE },
  [SP_KSM_SMART_SCAN] = { "smart_scan", FIELD_UNSIGNED, TRUE },
  [SP_KSM_STABLE_NODE_CHAINS] = { "stable_node_chains", FIELD_UNSIGNED, FALSE },
  [SP_KSM_STABLE_NODE_DUPS] = { "stable_node_dups", FIELD_UNSIGNED, FALSE },
  [SP_KSM_ADVISOR_MODE] = { "advisor_mode", FIELD_ADVISOR_MODE, TRUE },
  [SP_KSM_ADVISOR_TARGET_SCAN_TIME] = { "advisor_target_scan_time", FIELD_UNSIGNED, TRUE },
  [SP_KSM_ADVISOR_MAX_CPU] = { "advisor_max_cpu", FIELD_UNSIGNED, TRUE },
  [SP_KSM_ADVISOR_MIN_PAGES_TO_SCAN] = { "advisor_min_pages_to_scan", FIELD_UNSIGNED, TRUE },
  [SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN] = { "advisor_max_pages_to_scan", FIELD_UNSIGNED, TRUE },
};

G_STATIC_ASSERT (G_N_ELEMENTS (fields) == SP_KSM_N_FIELDS);
/* present is a 64-bit mask */
G_STATIC_ASSERT (SP_KSM_N_FIELDS <= 64);

static const char *const advisor_mode_names[] = {
  [SP_KSM_ADVISOR_NONE] = "none",
  [SP_KSM_ADVISOR_SCAN_TIME] = "scan-time",
};

const char *
sp_ksm_field_name (SpKsmField field)
{
  if ((guint) field >= SP_KSM_N_FIELDS)
    return "unknown";
  return fields[field].name;
}

gboolean
sp_ksm_field_from_name (const char *name, SpKsmField *out)
{
  if (name == NULL)
    return FALSE;
  for (guint i = 0; i < SP_KSM_N_FIELDS; i++)
    {
      if (g_strcmp0 (fields[i].name, name) == 0)
        {
          if (out != NULL)
            *out = (SpKsmField) i;
          return TRUE;
        }
    }
  return FALSE;
}

gboolean
sp_ksm_field_is_knob (SpKsmField field)
{
  if ((guint) field >= SP_KSM_N_FIELDS)
    return FALSE;
  return fields[field].knob;
}

const char *
sp_ksm_advisor_mode_to_string (SpKsmAdvisorMode mode)
{
  if ((guint) mode >= G_N_ELEMENTS (advisor_mode_names))
    return "unknown";
  return advisor_mode_names[mode];
}

static gboolean
advisor_mode_from_name (const char *name, SpKsmAdvisorMode *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (advisor_mode_names); i++)
    {
      if (g_strcmp0 (advisor_mode_names[i], name) == 0)
        {
          *out = (SpKsmAdvisorMode) i;
          return TRUE;
        }
    }
  return FALSE;
}

/* A mode name a later kernel could list: lower case, digits, '-' and '_'. */
static gboolean
is_mode_word (const char *word)
{
  if (*word == '\0')
    return FALSE;
  for (const char *p = word; *p != '\0'; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

/*
 * Either a bare mode ("scan-time") or the sysfs list with exactly one
 * bracketed, selected entry ("[none] scan-time"). Sets *selected to the
 * selected name (pointing into words). FALSE when str is not such a list.
 */
static gboolean
advisor_mode_selected (char **words, const char **selected)
{
  guint n_words = 0;

  *selected = NULL;
  for (guint i = 0; words[i] != NULL; i++)
    {
      char *word = words[i];
      gsize len = strlen (word);

      if (len == 0)
        continue;
      n_words++;
      if (word[0] == '[')
        {
          if (len < 3 || word[len - 1] != ']' || *selected != NULL)
            return FALSE;
          word[len - 1] = '\0';
          word++;
          *selected = word;
        }
      if (!is_mode_word (word))
        return FALSE;
    }

  if (*selected == NULL)
    {
      /* the bare form: exactly one word */
      if (n_words != 1)
        return FALSE;
      for (guint i = 0; words[i] != NULL; i++)
        if (words[i][0] != '\0')
          *selected = words[i];
    }
  return TRUE;
}

/* Splits str and looks its selected mode up: FALSE when str is not a mode
 * list; *known FALSE for a mode this version does not know. */
static gboolean
advisor_mode_lookup (const char *str, gboolean *known, SpKsmAdvisorMode *mode)
{
  g_auto (GStrv) words = NULL;
  const char *selected;

  if (str == NULL)
    return FALSE;
  words = g_strsplit_set (str, " \t\n", -1);
  if (!advisor_mode_selected (words, &selected))
    return FALSE;
  *known = advisor_mode_from_name (selected, mode);
  return TRUE;
}

/* Unselected names this version does not know are tolerated, so that a
 * kernel adding a mode does not break reading; a selected unknown mode is
 * FALSE here (sp_ksm_read marks the field unknown). */
gboolean
sp_ksm_advisor_mode_parse (const char *str, SpKsmAdvisorMode *out)
{
  gboolean known;
  SpKsmAdvisorMode mode;

  if (!advisor_mode_lookup (str, &known, &mode) || !known)
    return FALSE;
  if (out != NULL)
    *out = mode;
  return TRUE;
}

gboolean
sp_ksm_advisor_mode_is_unknown (const char *str)
{
  gboolean known;
  SpKsmAdvisorMode mode;

  return advisor_mode_lookup (str, &known, &mode) && !known;
}

gboolean
sp_ksm_state_has_advisor (const SpKsmState *state)
{
  g_return_val_if_fail (state != NULL, FALSE);

  return sp_ksm_state_has (state, SP_KSM_ADVISOR_MODE);
}

guint64
sp_ksm_state_saved_kib (const SpKsmState *state)
{
  gint64 pages_sharing;
  gint64 zero_pages;

  g_return_val_if_fail (state != NULL, 0);

  pages_sharing = MAX (sp_ksm_state_get (state, SP_KSM_PAGES_SHARING), 0);
  zero_pages = MAX (sp_ksm_state_get (state, SP_KSM_KSM_ZERO_PAGES), 0);
  /* pages are whole KiB: no overflow for any real count */
  return ((guint64) pages_sharing + (guint64) zero_pages) * sp_page_size_kib ();
}

char *
sp_ksm_dir (const char *sysfs_root)
{
  g_return_val_if_fail (sysfs_root != NULL, NULL);

  return g_build_filename (sysfs_root, "kernel", "mm", "ksm", NULL);
}

static gboolean
parse_field (SpKsmField field, const char *path, const char *contents, gint64 *out, GError **error)
{
  g_autofree char *escaped = NULL;
  const char *expected = "an unsigned integer";

  switch (fields[field].kind)
    {
    case FIELD_UNSIGNED:
      {
        guint64 value;

        if (sp_parse_u64 (contents, &value) && value <= G_MAXINT64)
          {
            *out = (gint64) value;
            return TRUE;
          }
        break;
      }
    case FIELD_SIGNED:
      if (sp_parse_i64 (contents, out))
        return TRUE;
      expected = "an integer";
      break;
    case FIELD_ADVISOR_MODE:
      {
        SpKsmAdvisorMode mode;

        if (sp_ksm_advisor_mode_parse (contents, &mode))
          {
            *out = mode;
            return TRUE;
          }
        expected = "an advisor mode list like “[none] scan-time”";
        break;
      }
    default:
      g_assert_not_reached ();
    }

  escaped = g_strescape (contents, NULL);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "Unexpected content “%.64s” in %s: expected %s", escaped, path, expected);
  return FALSE;
}

gboolean
sp_ksm_read (const char *sysfs_root, SpKsmState *state, GError **error)
{
  g_autofree char *dir = NULL;
  SpKsmState result = { 0 };
  struct stat st;

  g_return_val_if_fail (sysfs_root != NULL, FALSE);
  g_return_val_if_fail (state != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  dir = sp_ksm_dir (sysfs_root);
  if (stat (dir, &st) < 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT)
        {
          /* kernel without CONFIG_KSM */
          *state = result;
          return TRUE;
        }
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "Cannot access %s: %s",
                   dir, g_strerror (saved_errno));
      return FALSE;
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY, "%s is not a directory", dir);
      return FALSE;
    }
  result.available = TRUE;

  for (guint i = 0; i < SP_KSM_N_FIELDS; i++)
    {
      g_autofree char *path = g_build_filename (dir, fields[i].name, NULL);
      g_autofree char *contents = NULL;
      g_autoptr (GError) local_error = NULL;

      if (!sp_file_read_string (path, &contents, &local_error))
        {
          /* a file this kernel does not have */
          if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
            continue;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      if (fields[i].kind == FIELD_ADVISOR_MODE && sp_ksm_advisor_mode_is_unknown (contents))
        {
          /* a mode a later kernel added: this one field is unknown, and
           * samepaged leaves it alone; everything else is read */
          result.unknown |= G_GUINT64_CONSTANT (1) << i;
          continue;
        }
      if (!parse_field ((SpKsmField) i, path, contents, &result.values[i], error))
        return FALSE;
      result.present |= G_GUINT64_CONSTANT (1) << i;
    }

  *state = result;
  return TRUE;
}

static SpKsmWriteHook write_hook;
static gpointer write_hook_data;

void
sp_ksm_set_write_hook (SpKsmWriteHook hook, gpointer user_data)
{
  write_hook = hook;
  write_hook_data = user_data;
}

gboolean
sp_ksm_write (const char *sysfs_root, SpKsmField field, gint64 value, GError **error)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autofree char *str = NULL;

  g_return_val_if_fail (sysfs_root != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!sp_ksm_field_is_knob (field))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s is not a KSM tunable",
                   sp_ksm_field_name (field));
      return FALSE;
    }

  if (fields[field].kind == FIELD_ADVISOR_MODE)
    {
      if (value < 0 || value >= (gint64) G_N_ELEMENTS (advisor_mode_names))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "Invalid advisor mode %" G_GINT64_FORMAT, value);
          return FALSE;
        }
      str = g_strdup (advisor_mode_names[value]);
    }
  else
    {
      if (value < 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "Invalid value %" G_GINT64_FORMAT " for %s: must not be negative", value,
                       fields[field].name);
          return FALSE;
        }
      str = g_strdup_printf ("%" G_GINT64_FORMAT, value);
    }

  if (write_hook != NULL && !write_hook (sysfs_root, field, value, write_hook_data, error))
    return FALSE;
  dir = sp_ksm_dir (sysfs_root);
  path = g_build_filename (dir, fields[field].name, NULL);
  return sp_file_write_string (path, str, error);
}
