/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-config"

#include "sp-ksmtuned-import.h"

#include <string.h>

#include "sp-config.h"
#include "sp-error.h"
#include "sp-str.h"

/* ksmtuned.conf is a few hundred bytes; anything much larger is not one. */
#define SP_KSMTUNED_MAX_SIZE ((gsize) 1024 * 1024)

/* What makes a ksmtuned.conf value more than a literal: samepaged never runs it. */
#define SP_SHELL_CHARS "$`\\;&|<>(){}\"'"

static gsize
int_key_index (const SpConfigIntKey *key)
{
  return (gsize) (key - sp_config_int_keys ());
}

/* The terminator of the integer key table. */
static const SpConfigIntKey *
int_keys_end (void)
{
  const SpConfigIntKey *k = sp_config_int_keys ();

  while (k->key != NULL)
    k++;
  return k;
}

static const SpConfigIntKey *
find_int_key_by_ksmtuned_name (const char *name)
{
  for (const SpConfigIntKey *k = sp_config_int_keys (); k->key != NULL; k++)
    if (g_strcmp0 (k->ksmtuned_name, name) == 0)
      return k;
  return NULL;
}

static void add_warning (GPtrArray *warnings, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
add_warning (GPtrArray *warnings, const char *format, ...)
{
  va_list args;

  if (warnings == NULL)
    return;
  va_start (args, format);
  g_ptr_array_add (warnings, g_strdup_vprintf (format, args));
  va_end (args);
}

/* A shell variable name: [A-Za-z_][A-Za-z0-9_]* */
static gboolean
is_shell_name (const char *str, gsize len)
{
  return len > 0 && !g_ascii_isdigit (str[0]) &&
         strspn (str, "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == len;
}

/*
 * The literal value of a shell assignment's right-hand side: a word, "..."
 * or '...', then nothing or a # comment. Whatever the shell would expand or
 * run is refused, never interpreted.
 */
static gboolean
parse_shell_value (const char *raw, char **value, char **problem)
{
  g_autofree char *quoted = sp_quote (raw);
  g_autofree char *word = NULL;
  const char *rest;
  const char *after;
  gboolean shell;

  if (*raw == '"' || *raw == '\'')
    {
      const char *end = strchr (raw + 1, *raw);

      if (end == NULL)
        {
          *problem = g_strdup_printf ("%s has an unterminated quote", quoted);
          return FALSE;
        }
      word = g_strndup (raw + 1, (gsize) (end - raw - 1));
      rest = end + 1;
      /* inside "...", $, ` and \ still expand; nothing does inside '...' */
      shell = *raw == '"' && strpbrk (word, "$`\\") != NULL;
    }
  else
    {
      word = g_strndup (raw, strcspn (raw, " \t"));
      rest = raw + strlen (word);
      shell = strpbrk (word, SP_SHELL_CHARS) != NULL;
    }

  after = rest + strspn (rest, " \t");
  if (!shell && (*after == '\0' || (*after == '#' && after > rest)))
    {
      *value = g_steal_pointer (&word);
      return TRUE;
    }
  if (shell || strpbrk (after, SP_SHELL_CHARS) != NULL)
    *problem = g_strdup_printf ("%s is shell syntax, which samepaged does not run", quoted);
  else
    *problem = g_strdup_printf ("%s has text after the value", quoted);
  return FALSE;
}

typedef struct {
  const char *path;
  const SpConfig *previous; /* as before the import */
  SpConfig *config;
  GPtrArray *warnings;
  guint *set_at; /* per int key: line of its last assignment, or 0 */
  gboolean warned_ignored;
} ImportState;

static void
import_line (ImportState *state, guint lineno, const char *line)
{
  g_autofree char *text = g_strstrip (g_strdup (line));
  g_autofree char *name = NULL;
  g_autofree char *value = NULL;
  g_autofree char *problem = NULL;
  const SpConfigIntKey *key;
  const char *eq;
  gint64 v = 0;

  if (*text == '\0' || *text == '#')
    return;

  eq = strchr (text, '=');
  if (eq == NULL || !is_shell_name (text, (gsize) (eq - text)))
    {
      g_autofree char *quoted = sp_quote (text);
      add_warning (state->warnings,
                   "%s:%u: %s is not a KEY=value line (samepaged reads this file, it does not "
                   "run it: no export, no commands); ignored",
                   state->path, lineno, quoted);
      return;
    }

  name = g_strndup (text, (gsize) (eq - text));
  if (g_strcmp0 (name, "DEBUG") == 0 || g_strcmp0 (name, "LOGFILE") == 0)
    {
      if (!state->warned_ignored)
        add_warning (state->warnings,
                     "%s:%u: %s: samepaged ignores DEBUG and LOGFILE, it logs to the journal "
                     "(or stderr); run it with --verbose for debug messages",
                     state->path, lineno, name);
      state->warned_ignored = TRUE;
      return;
    }

  key = find_int_key_by_ksmtuned_name (name);
  if (key == NULL)
    {
      add_warning (state->warnings, "%s:%u: unknown ksmtuned setting %s; ignored", state->path,
                   lineno, name);
      return;
    }

  /* A bad line, like an empty value (ksmtuned reads ${KSM_...:-default}),
   * gives the default, whatever an earlier line said. */
  if (!parse_shell_value (eq + 1, &value, &problem) ||
      (*value != '\0' && !sp_config_int_key_parse (key, value, &v, &problem)))
    {
      gint64 previous = sp_config_get_int (state->previous, key);
      add_warning (state->warnings, "%s:%u: %s=%s; %s %" G_GINT64_FORMAT, state->path, lineno, name,
                   problem, previous == key->default_value ? "using default" : "keeping", previous);
    }
  else if (*value != '\0')
    {
      sp_config_set_int (state->config, key, v);
      state->set_at[int_key_index (key)] = lineno;
      return;
    }
  sp_config_set_int (state->config, key, sp_config_get_int (state->previous, key));
  state->set_at[int_key_index (key)] = 0;
}

/* A pair the file left inverted (npages_min > npages_max) falls back to
 * what config had for both keys. */
static void
import_check_pairs (ImportState *state)
{
  const SpConfig *previous = state->previous;

  for (const SpConfigIntKey *lo = sp_config_int_keys (); lo->key != NULL; lo++)
    {
      const SpConfigIntKey *hi = sp_config_int_key_upper (lo);
      guint lineno;
      gint64 lo_value;
      gint64 hi_value;
      gint64 lo_previous;
      gint64 hi_previous;

      if (hi == NULL)
        continue;
      lineno = MAX (state->set_at[int_key_index (lo)], state->set_at[int_key_index (hi)]);
      lo_value = sp_config_get_int (state->config, lo);
      hi_value = sp_config_get_int (state->config, hi);
      lo_previous = sp_config_get_int (previous, lo);
      hi_previous = sp_config_get_int (previous, hi);
      if (lineno == 0 || lo_value <= hi_value)
        continue;
      add_warning (state->warnings,
                   "%s:%u: %s=%" G_GINT64_FORMAT " is greater than %s=%" G_GINT64_FORMAT
                   "; %s %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT,
                   state->path, lineno, lo->ksmtuned_name ? lo->ksmtuned_name : lo->key, lo_value,
                   hi->ksmtuned_name ? hi->ksmtuned_name : hi->key, hi_value,
                   lo_previous == lo->default_value && hi_previous == hi->default_value
                       ? "using the defaults"
                       : "keeping",
                   lo_previous, hi_previous);
      sp_config_set_int (state->config, lo, lo_previous);
      sp_config_set_int (state->config, hi, hi_previous);
    }
}

gboolean
sp_config_import_ksmtuned (SpConfig *config, const char *path, GPtrArray *warnings, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (SpConfig) work = NULL;
  g_autofree char *contents = NULL;
  g_autofree guint *set_at = NULL;
  g_auto (GStrv) lines = NULL;
  ImportState state = { 0 };
  gsize length = 0;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_debug ("%s: not found, nothing to import", path);
      return TRUE;
    }
  /* not a device or a FIFO, which could be read forever */
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_CONFIG, "%s: not a regular file", path);
      return FALSE;
    }
  if (!g_file_get_contents (path, &contents, &length, &local_error))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_CONFIG, "%s", local_error->message);
      return FALSE;
    }
  if (length > SP_KSMTUNED_MAX_SIZE || memchr (contents, '\0', length) != NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_CONFIG,
                   "%s: not a ksmtuned.conf (a text file of at most %" G_GSIZE_FORMAT " bytes)",
                   path, SP_KSMTUNED_MAX_SIZE);
      return FALSE;
    }

  work = sp_config_copy (config);
  set_at = g_new0 (guint, int_key_index (int_keys_end ()));
  state.path = path;
  state.previous = config;
  state.config = work;
  state.warnings = warnings;
  state.set_at = set_at;

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    import_line (&state, i + 1, lines[i]);
  import_check_pairs (&state);

  /* only the integer keys change */
  for (const SpConfigIntKey *k = sp_config_int_keys (); k->key != NULL; k++)
    sp_config_set_int (config, k, sp_config_get_int (work, k));
  return TRUE;
}
