/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-config"

#include "sp-config.h"

#include <string.h>

#include "sp-error.h"
#include "sp-str.h"

/* ksmtuned.conf is a few hundred bytes; anything much larger is not one. */
#define SP_KSMTUNED_MAX_SIZE ((gsize) 1024 * 1024)

/* What makes a ksmtuned.conf value more than a literal: samepaged never runs it. */
#define SP_SHELL_CHARS "$`\\;&|<>(){}\"'"

G_STATIC_ASSERT (sizeof (guint) != sizeof (gint64));

#define INT_KEY(group_, key_, field_, min_, max_, ksmtuned_, unit_, default_, description_)  \
  {                                                                                          \
    .group = group_, .key = key_, .offset = G_STRUCT_OFFSET (SpConfig, field_), .min = min_, \
    .max = max_, .ksmtuned_name = ksmtuned_, .unit = unit_, .default_value = default_,       \
    .description = description_, .size = sizeof (((SpConfig *) NULL)->field_),               \
  }

/* Every integer key, once: parsing, checks, ksmtuned import, docs and D-Bus
 * follow this table. The defaults are ksmtuned's. */
static const SpConfigIntKey int_keys[] = {
  INT_KEY (SP_CONFIG_GROUP_DAEMON, "monitor_interval", monitor_interval_sec, 1, 86400,
           "KSM_MONITOR_INTERVAL", "s", 60, "Seconds between two tuning ticks."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "npages_boost", npages_boost, 0, 100000, "KSM_NPAGES_BOOST",
           "pages", 300,
           "Added to pages_to_scan at each tick while free memory is below the threshold."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "npages_decay", npages_decay, -100000, 0, "KSM_NPAGES_DECAY",
           "pages", -50,
           "Added to pages_to_scan at each tick while free memory is above the threshold."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "npages_min", npages_min, 0, 100000, "KSM_NPAGES_MIN", "pages",
           64, "Lowest pages_to_scan while KSM runs."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "npages_max", npages_max, 1, 100000, "KSM_NPAGES_MAX", "pages",
           1250, "Highest pages_to_scan."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "sleep_msec", sleep_msec, 1, 10000, "KSM_SLEEP_MSEC", "ms", 10,
           "sleep_millisecs for a 16 GiB host, scaled by 16 GiB / MemTotal, at least 10."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "thres_coef", thres_coef, 0, 100, "KSM_THRES_COEF", "%", 20,
           "Memory threshold in percent of MemTotal."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "thres_const", thres_const_kib, 0, G_GINT64_CONSTANT (1) << 40,
           "KSM_THRES_CONST", "KiB", 2048,
           "Lowest memory threshold; the threshold is the larger of this and thres_coef."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "hysteresis", hysteresis_pct, 0, 100, NULL, "%", 10,
           "Once KSM runs, it stops only when free memory exceeds the threshold by this "
           "percentage of it (0: stop at the threshold, like ksmtuned)."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "advisor_max_cpu_min", advisor_max_cpu_min, 1, 100, NULL, "%",
           10,
           "advisor_max_cpu when pages_to_scan is at npages_min (the advisor steers the rate)."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "advisor_max_cpu_max", advisor_max_cpu_max, 1, 100, NULL, "%",
           70, "advisor_max_cpu when pages_to_scan is at npages_max."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "advisor_scan_time_min", advisor_scan_time_min, 1, 86400, NULL,
           "s", 30, "advisor_target_scan_time when pages_to_scan is at npages_max."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "advisor_scan_time_max", advisor_scan_time_max, 1, 86400, NULL,
           "s", 200, "advisor_target_scan_time when pages_to_scan is at npages_min."),
  { NULL },
};

/* Keys whose value must not exceed another's. */
static const struct {
  const char *min_key;
  const char *max_key;
} int_key_pairs[] = {
  { "npages_min", "npages_max" },
  { "advisor_max_cpu_min", "advisor_max_cpu_max" },
  { "advisor_scan_time_min", "advisor_scan_time_max" },
};

/* The keys that are not integers. */
typedef enum {
  OTHER_MODE,
  OTHER_RESTORE_ON_EXIT,
  OTHER_CONNECT,
  OTHER_METRICS_TEXTFILE,
  OTHER_SCAN_RATE,
  OTHER_FREE_SOURCE,
} OtherKeyId;

typedef struct {
  const char *group;
  const char *key;
  OtherKeyId id;
  const char *description;
} OtherKey;

static const OtherKey other_keys[] = {
  { SP_CONFIG_GROUP_DAEMON, "mode", OTHER_MODE,
    "auto: the tuning policy starts and stops KSM; always: KSM runs; never: KSM is stopped." },
  { SP_CONFIG_GROUP_DAEMON, "restore_on_exit", OTHER_RESTORE_ON_EXIT,
    "Put back the KSM settings found at start when samepaged exits." },
  { SP_CONFIG_GROUP_DAEMON, "connect", OTHER_CONNECT,
    "libvirt URI of the guests to watch (unset: qemu:///system)." },
  { SP_CONFIG_GROUP_DAEMON, "metrics_textfile", OTHER_METRICS_TEXTFILE,
    "Prometheus textfile samepaged rewrites at each tick (unset: none)." },
  { SP_CONFIG_GROUP_TUNING, "scan_rate", OTHER_SCAN_RATE,
    "auto: the kernel's KSM advisor when it has one, else classic; advisor: only the advisor; "
    "classic: ksmtuned's pages_to_scan boost and decay." },
  { SP_CONFIG_GROUP_TUNING, "free_source", OTHER_FREE_SOURCE,
    "available: MemAvailable; ksmtuned: MemFree + Buffers + Cached, like ksmtuned." },
};

static const char *const groups[] = { SP_CONFIG_GROUP_DAEMON, SP_CONFIG_GROUP_TUNING, NULL };

const SpConfigIntKey *
sp_config_int_keys (void)
{
  return int_keys;
}

static gsize
int_key_index (const SpConfigIntKey *key)
{
  return (gsize) (key - int_keys);
}

static const SpConfigIntKey *
find_int_key (const char *group, const char *key)
{
  for (const SpConfigIntKey *k = int_keys; k->key != NULL; k++)
    if ((group == NULL || g_strcmp0 (k->group, group) == 0) && g_strcmp0 (k->key, key) == 0)
      return k;
  return NULL;
}

const SpConfigIntKey *
sp_config_find_int_key (const char *key)
{
  return find_int_key (NULL, key);
}

static const SpConfigIntKey *
find_int_key_by_ksmtuned_name (const char *name)
{
  for (const SpConfigIntKey *k = int_keys; k->key != NULL; k++)
    if (g_strcmp0 (k->ksmtuned_name, name) == 0)
      return k;
  return NULL;
}

static const OtherKey *
find_other_key (const char *group, const char *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (other_keys); i++)
    if ((group == NULL || g_strcmp0 (other_keys[i].group, group) == 0) &&
        g_strcmp0 (other_keys[i].key, key) == 0)
      return &other_keys[i];
  return NULL;
}

/* The keys SetTuning may change: [tuning] and monitor_interval. */
static gboolean
is_runtime_key (const char *group, const char *key)
{
  return g_strcmp0 (group, SP_CONFIG_GROUP_TUNING) == 0 || g_strcmp0 (key, "monitor_interval") == 0;
}

static void
list_key (GString *str, const char *group, gboolean runtime_only, const char *key_group,
          const char *key)
{
  if ((group == NULL || g_strcmp0 (key_group, group) == 0) &&
      (!runtime_only || is_runtime_key (key_group, key)))
    g_string_append_printf (str, "%s%s", str->len > 0 ? ", " : "", key);
}

/* "a, b, c": the keys of group (NULL: any), or only the runtime ones. */
static char *
list_keys (const char *group, gboolean runtime_only)
{
  g_autoptr (GString) str = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (other_keys); i++)
    list_key (str, group, runtime_only, other_keys[i].group, other_keys[i].key);
  for (const SpConfigIntKey *k = int_keys; k->key != NULL; k++)
    list_key (str, group, runtime_only, k->group, k->key);
  return g_string_free (g_steal_pointer (&str), FALSE);
}

gint64
sp_config_get_int (const SpConfig *config, const SpConfigIntKey *key)
{
  if (key->size == sizeof (guint))
    return G_STRUCT_MEMBER (guint, config, key->offset);
  return G_STRUCT_MEMBER (gint64, config, key->offset);
}

/* value is in the key's range, which fits the field. */
static void
int_set (SpConfig *config, const SpConfigIntKey *key, gint64 value)
{
  if (key->size == sizeof (guint))
    G_STRUCT_MEMBER (guint, config, key->offset) = (guint) value;
  else
    G_STRUCT_MEMBER (gint64, config, key->offset) = value;
}

/* "1..100000 pages", "0..100%" */
static char *
int_key_range (const SpConfigIntKey *key)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT "%s%s", key->min, key->max,
                          g_strcmp0 (key->unit, "%") == 0 ? "" : " ", key->unit);
}

static gboolean
int_key_check (const SpConfigIntKey *key, gint64 value, char **problem)
{
  g_autofree char *range = NULL;

  if (value >= key->min && value <= key->max)
    return TRUE;
  range = int_key_range (key);
  *problem = g_strdup_printf ("%" G_GINT64_FORMAT " is out of range (%s)", value, range);
  return FALSE;
}

/* Parses a decimal integer in the key's range; else *problem says why, as in
 * "'abc' is not an integer" (what follows "key = " in a message). */
static gboolean
int_key_parse (const SpConfigIntKey *key, const char *value, gint64 *out, char **problem)
{
  g_autofree char *stripped = g_strstrip (g_strdup (value));
  g_autoptr (GError) local_error = NULL;
  gint64 v;

  if (!g_ascii_string_to_signed (stripped, 10, G_MININT64, G_MAXINT64, &v, &local_error))
    {
      g_autofree char *quoted = sp_quote (value);
      g_autofree char *range = int_key_range (key);

      if (g_error_matches (local_error, G_NUMBER_PARSER_ERROR, G_NUMBER_PARSER_ERROR_OUT_OF_BOUNDS))
        *problem = g_strdup_printf ("%s is out of range (%s)", stripped, range);
      else
        *problem = g_strdup_printf ("%s is not an integer", quoted);
      return FALSE;
    }
  if (!int_key_check (key, v, problem))
    return FALSE;
  *out = v;
  return TRUE;
}

static void
append_choice (GString *str, const char *choice)
{
  if (str->len > 0)
    g_string_append_c (str, '|');
  g_string_append (str, choice);
}

/* What the key takes: "one of auto|always|never", "an absolute path"... */
static char *
other_key_allowed (OtherKeyId id)
{
  g_autoptr (GString) str = g_string_new (NULL);

/* The to_string functions answer "unknown" past the last value. */
#define APPEND_CHOICES(to_string)                                             \
  for (guint v = 0; v < 32 && g_strcmp0 (to_string (v), "unknown") != 0; v++) \
    append_choice (str, to_string (v));

  switch (id)
    {
    case OTHER_MODE:
      APPEND_CHOICES (sp_mode_to_string);
      break;
    case OTHER_SCAN_RATE:
      APPEND_CHOICES (sp_scan_rate_to_string);
      break;
    case OTHER_FREE_SOURCE:
      APPEND_CHOICES (sp_free_source_to_string);
      break;
    case OTHER_RESTORE_ON_EXIT:
      g_string_append (str, "a boolean (true|false)");
      break;
    case OTHER_CONNECT:
      g_string_append (str, "a libvirt URI such as qemu:///system");
      break;
    case OTHER_METRICS_TEXTFILE:
      g_string_append (str, "an absolute path");
      break;
    default:
      g_assert_not_reached ();
    }
#undef APPEND_CHOICES
  if (id == OTHER_MODE || id == OTHER_SCAN_RATE || id == OTHER_FREE_SOURCE)
    g_string_prepend (str, "one of ");
  return g_string_free (g_steal_pointer (&str), FALSE);
}

/* The value in config file syntax, unescaped; NULL when unset. */
static char *
other_key_get (const SpConfig *config, OtherKeyId id)
{
  switch (id)
    {
    case OTHER_MODE:
      return g_strdup (sp_mode_to_string (config->mode));
    case OTHER_RESTORE_ON_EXIT:
      return g_strdup (config->restore_on_exit ? "true" : "false");
    case OTHER_CONNECT:
      return g_strdup (config->connect_uri);
    case OTHER_METRICS_TEXTFILE:
      return g_strdup (config->metrics_textfile);
    case OTHER_SCAN_RATE:
      return g_strdup (sp_scan_rate_to_string (config->scan_rate));
    case OTHER_FREE_SOURCE:
      return g_strdup (sp_free_source_to_string (config->free_source));
    default:
      g_assert_not_reached ();
    }
  return NULL;
}

static void
set_string (char **field, const char *value)
{
  g_free (*field);
  *field = *value != '\0' ? g_strdup (value) : NULL;
}

/* Sets the key from its config file form; else *problem says why. */
static gboolean
other_key_parse (SpConfig *config, OtherKeyId id, const char *value, char **problem)
{
  /* what g_key_file_get_boolean() takes */
  static const char *const booleans[] = { "true", "false", "1", "0", NULL };
  g_autofree char *stripped = g_strstrip (g_strdup (value));
  gboolean ok = FALSE;

  switch (id)
    {
    case OTHER_MODE:
      ok = sp_mode_from_string (stripped, &config->mode);
      break;
    case OTHER_SCAN_RATE:
      ok = sp_scan_rate_from_string (stripped, &config->scan_rate);
      break;
    case OTHER_FREE_SOURCE:
      ok = sp_free_source_from_string (stripped, &config->free_source);
      break;
    case OTHER_RESTORE_ON_EXIT:
      ok = g_strv_contains (booleans, stripped);
      if (ok)
        config->restore_on_exit = *stripped == 't' || *stripped == '1';
      break;
    case OTHER_CONNECT:
      ok = *stripped == '\0' || g_uri_is_valid (stripped, G_URI_FLAGS_NONE, NULL);
      if (ok)
        set_string (&config->connect_uri, stripped);
      break;
    case OTHER_METRICS_TEXTFILE:
      ok = *stripped == '\0' || g_path_is_absolute (stripped);
      if (ok)
        set_string (&config->metrics_textfile, stripped);
      break;
    default:
      g_assert_not_reached ();
    }
  if (!ok)
    {
      g_autofree char *quoted = sp_quote (value);
      g_autofree char *allowed = other_key_allowed (id);
      *problem = g_strdup_printf ("%s is not %s", quoted, allowed);
    }
  return ok;
}

/* Sets one key (int_key or other_key) from its config file form. */
static gboolean
set_key (SpConfig *config, const SpConfigIntKey *int_key, const OtherKey *other_key,
         const char *value, char **problem)
{
  gint64 v;

  if (other_key != NULL)
    return other_key_parse (config, other_key->id, value, problem);
  if (!int_key_parse (int_key, value, &v, problem))
    return FALSE;
  int_set (config, int_key, v);
  return TRUE;
}

SpConfig *
sp_config_new_default (void)
{
  SpConfig *config = g_new0 (SpConfig, 1);

  config->mode = SP_MODE_AUTO;
  config->restore_on_exit = TRUE;
  config->scan_rate = SP_SCAN_RATE_AUTO;
  config->free_source = SP_FREE_SOURCE_AVAILABLE;
  for (const SpConfigIntKey *k = int_keys; k->key != NULL; k++)
    int_set (config, k, k->default_value);
  return config;
}

SpConfig *
sp_config_copy (const SpConfig *config)
{
  SpConfig *copy;

  g_return_val_if_fail (config != NULL, NULL);

  copy = g_new (SpConfig, 1);
  *copy = *config;
  copy->connect_uri = g_strdup (config->connect_uri);
  copy->metrics_textfile = g_strdup (config->metrics_textfile);
  return copy;
}

void
sp_config_free (SpConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->connect_uri);
  g_free (config->metrics_textfile);
  g_free (config);
}

/* Moves the content of src into dest and frees src. */
static void
config_take (SpConfig *dest, SpConfig *src)
{
  g_free (dest->connect_uri);
  g_free (dest->metrics_textfile);
  *dest = *src;
  g_free (src);
}

gboolean
sp_config_equal (const SpConfig *a, const SpConfig *b)
{
  g_return_val_if_fail (a != NULL, FALSE);
  g_return_val_if_fail (b != NULL, FALSE);

  for (const SpConfigIntKey *k = int_keys; k->key != NULL; k++)
    if (sp_config_get_int (a, k) != sp_config_get_int (b, k))
      return FALSE;
  return a->mode == b->mode && !a->restore_on_exit == !b->restore_on_exit &&
         g_strcmp0 (a->connect_uri, b->connect_uri) == 0 &&
         g_strcmp0 (a->metrics_textfile, b->metrics_textfile) == 0 &&
         a->scan_rate == b->scan_rate && a->free_source == b->free_source;
}

gboolean
sp_config_validate (const SpConfig *config, GError **error)
{
  g_return_val_if_fail (config != NULL, FALSE);

  for (const SpConfigIntKey *k = int_keys; k->key != NULL; k++)
    {
      g_autofree char *problem = NULL;

      if (!int_key_check (k, sp_config_get_int (config, k), &problem))
        {
          g_set_error (error, SP_ERROR, SP_ERROR_CONFIG, "[%s] %s = %s", k->group, k->key, problem);
          return FALSE;
        }
    }
  for (gsize i = 0; i < G_N_ELEMENTS (int_key_pairs); i++)
    {
      const SpConfigIntKey *lo = find_int_key (NULL, int_key_pairs[i].min_key);
      const SpConfigIntKey *hi = find_int_key (NULL, int_key_pairs[i].max_key);
      gint64 lo_value = sp_config_get_int (config, lo);
      gint64 hi_value = sp_config_get_int (config, hi);

      if (lo_value > hi_value)
        {
          g_set_error (error, SP_ERROR, SP_ERROR_CONFIG,
                       "[%s] %s = %" G_GINT64_FORMAT " is greater than %s = %" G_GINT64_FORMAT
                       " (%s must be <= %s)",
                       lo->group, lo->key, lo_value, hi->key, hi_value, lo->key, hi->key);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
set_unknown_key_error (GError **error, const char *path, const char *group, const char *key)
{
  const SpConfigIntKey *int_key = find_int_key (NULL, key);
  const OtherKey *other_key = find_other_key (NULL, key);
  const char *elsewhere = int_key ? int_key->group : other_key ? other_key->group : NULL;
  g_autofree char *quoted = sp_quote (key);
  g_autofree char *known = list_keys (group, FALSE);

  if (elsewhere != NULL)
    g_set_error (error, SP_ERROR, SP_ERROR_CONFIG, "%s: [%s] unknown key %s (it belongs in [%s])",
                 path, group, quoted, elsewhere);
  else
    g_set_error (error, SP_ERROR, SP_ERROR_CONFIG, "%s: [%s] unknown key %s (known: %s)", path,
                 group, quoted, known);
  return FALSE;
}

static gboolean
load_key (SpConfig *config, GKeyFile *keyfile, const char *path, const char *group, const char *key,
          GError **error)
{
  const SpConfigIntKey *int_key = find_int_key (group, key);
  const OtherKey *other_key = find_other_key (group, key);
  g_autoptr (GError) local_error = NULL;
  g_autofree char *value = NULL;
  g_autofree char *problem = NULL;

  if (int_key == NULL && other_key == NULL)
    return set_unknown_key_error (error, path, group, key);
  value = g_key_file_get_string (keyfile, group, key, &local_error);
  if (value == NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_CONFIG, "%s: [%s] %s: %s", path, group, key,
                   local_error->message);
      return FALSE;
    }
  if (!set_key (config, int_key, other_key, value, &problem))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_CONFIG, "%s: [%s] %s = %s", path, group, key, problem);
      return FALSE;
    }
  return TRUE;
}

gboolean
sp_config_load_file (SpConfig *config, const char *path, gboolean must_exist, GError **error)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;
  g_autoptr (SpConfig) work = NULL;
  g_auto (GStrv) file_groups = NULL;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* translations kept, so "mode[de]=..." is reported instead of ignored */
  if (!g_key_file_load_from_file (keyfile, path, G_KEY_FILE_KEEP_TRANSLATIONS, &local_error))
    {
      if (!must_exist && g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          g_debug ("%s: not found, nothing to load", path);
          return TRUE;
        }
      g_set_error (error, SP_ERROR, SP_ERROR_CONFIG, "%s: %s", path, local_error->message);
      return FALSE;
    }

  /* on any error config stays as it was */
  work = sp_config_copy (config);
  file_groups = g_key_file_get_groups (keyfile, NULL);
  for (guint i = 0; file_groups[i] != NULL; i++)
    {
      g_auto (GStrv) keys = NULL;

      if (!g_strv_contains (groups, file_groups[i]))
        {
          g_autofree char *escaped = g_strescape (file_groups[i], NULL);
          g_set_error (error, SP_ERROR, SP_ERROR_CONFIG,
                       "%s: unknown group [%s] (known: [%s], [%s])", path, escaped,
                       SP_CONFIG_GROUP_DAEMON, SP_CONFIG_GROUP_TUNING);
          return FALSE;
        }
      keys = g_key_file_get_keys (keyfile, file_groups[i], NULL, NULL);
      for (guint j = 0; keys != NULL && keys[j] != NULL; j++)
        if (!load_key (work, keyfile, path, file_groups[i], keys[j], error))
          return FALSE;
    }
  if (!sp_config_validate (work, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  config_take (config, g_steal_pointer (&work));
  return TRUE;
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
      (*value != '\0' && !int_key_parse (key, value, &v, &problem)))
    {
      gint64 previous = sp_config_get_int (state->previous, key);
      add_warning (state->warnings, "%s:%u: %s=%s; %s %" G_GINT64_FORMAT, state->path, lineno, name,
                   problem, previous == key->default_value ? "using default" : "keeping", previous);
    }
  else if (*value != '\0')
    {
      int_set (state->config, key, v);
      state->set_at[int_key_index (key)] = lineno;
      return;
    }
  int_set (state->config, key, sp_config_get_int (state->previous, key));
  state->set_at[int_key_index (key)] = 0;
}

/* A pair the file left inverted (npages_min > npages_max) falls back to
 * what config had for both keys. */
static void
import_check_pairs (ImportState *state)
{
  const SpConfig *previous = state->previous;

  for (gsize i = 0; i < G_N_ELEMENTS (int_key_pairs); i++)
    {
      const SpConfigIntKey *lo = find_int_key (NULL, int_key_pairs[i].min_key);
      const SpConfigIntKey *hi = find_int_key (NULL, int_key_pairs[i].max_key);
      guint lineno = MAX (state->set_at[int_key_index (lo)], state->set_at[int_key_index (hi)]);
      gint64 lo_value = sp_config_get_int (state->config, lo);
      gint64 hi_value = sp_config_get_int (state->config, hi);
      gint64 lo_previous = sp_config_get_int (previous, lo);
      gint64 hi_previous = sp_config_get_int (previous, hi);

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
      int_set (state->config, lo, lo_previous);
      int_set (state->config, hi, hi_previous);
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
  set_at = g_new0 (guint, G_N_ELEMENTS (int_keys));
  state.path = path;
  state.previous = config;
  state.config = work;
  state.warnings = warnings;
  state.set_at = set_at;

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    import_line (&state, i + 1, lines[i]);
  import_check_pairs (&state);

  config_take (config, g_steal_pointer (&work));
  return TRUE;
}

/* The runtime key called key, or an error. */
static gboolean
find_runtime_key (const char *key, const SpConfigIntKey **int_key, const OtherKey **other_key,
                  GError **error)
{
  g_autofree char *quoted = NULL;
  g_autofree char *known = NULL;

  *int_key = find_int_key (NULL, key);
  *other_key = find_other_key (NULL, key);
  if (*int_key != NULL && is_runtime_key ((*int_key)->group, key))
    return TRUE;
  if (*other_key != NULL && is_runtime_key ((*other_key)->group, key))
    return TRUE;
  quoted = sp_quote (key);
  known = list_keys (NULL, TRUE);
  g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS, "Unknown tuning key %s (known: %s)", quoted,
               known);
  return FALSE;
}

gboolean
sp_config_set_from_string (SpConfig *config, const char *key, const char *value, GError **error)
{
  const SpConfigIntKey *int_key;
  const OtherKey *other_key;
  g_autofree char *problem = NULL;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);

  if (!find_runtime_key (key, &int_key, &other_key, error))
    return FALSE;
  if (!set_key (config, int_key, other_key, value, &problem))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS, "%s = %s", key, problem);
      return FALSE;
    }
  return TRUE;
}

gboolean
sp_config_set_from_variant (SpConfig *config, const char *key, GVariant *value, GError **error)
{
  const SpConfigIntKey *int_key;
  const OtherKey *other_key;
  g_autoptr (GVariant) inner = NULL;
  g_autofree char *allowed = NULL;
  g_autofree char *str = NULL;

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);

  if (!find_runtime_key (key, &int_key, &other_key, error))
    return FALSE;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_VARIANT))
    value = inner = g_variant_get_variant (value);

  if (other_key != NULL)
    {
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        return sp_config_set_from_string (config, key, g_variant_get_string (value, NULL), error);
      allowed = other_key_allowed (other_key->id);
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                   "%s has type '%s', expected a string (%s)", key,
                   g_variant_get_type_string (value), allowed);
      return FALSE;
    }
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE_INT32) &&
      !g_variant_is_of_type (value, G_VARIANT_TYPE_INT64) &&
      !g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32) &&
      !g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                   "%s has type '%s', expected an integer (int32, int64, uint32 or uint64)", key,
                   g_variant_get_type_string (value));
      return FALSE;
    }
  /* the decimal form: one range check for every type, uint64 above G_MAXINT64 too */
  str = g_variant_print (value, FALSE);
  return sp_config_set_from_string (config, key, str, error);
}

GVariant *
sp_config_tuning_to_variant (const SpConfig *config)
{
  GVariantBuilder builder;

  g_return_val_if_fail (config != NULL, NULL);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (const SpConfigIntKey *k = int_keys; k->key != NULL; k++)
    if (is_runtime_key (k->group, k->key))
      g_variant_builder_add (&builder, "{sv}", k->key,
                             g_variant_new_int64 (sp_config_get_int (config, k)));
  for (gsize i = 0; i < G_N_ELEMENTS (other_keys); i++)
    {
      const OtherKey *k = &other_keys[i];
      g_autofree char *value = NULL;

      if (!is_runtime_key (k->group, k->key))
        continue;
      value = other_key_get (config, k->id);
      g_variant_builder_add (&builder, "{sv}", k->key, g_variant_new_string (value));
    }
  return g_variant_builder_end (&builder);
}

/* A string as a GKeyFile value: leading spaces, newlines, backslashes escaped. */
static char *
keyfile_escape (const char *value)
{
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();

  g_key_file_set_string (keyfile, "x", "x", value ? value : "");
  return g_key_file_get_value (keyfile, "x", "x", NULL);
}

char *
sp_config_to_data (const SpConfig *config)
{
  g_autoptr (SpConfig) defaults = sp_config_new_default ();
  g_autoptr (GString) str = g_string_new ("# samepaged configuration\n");

  g_return_val_if_fail (config != NULL, NULL);

  for (gsize g = 0; groups[g] != NULL; g++)
    {
      g_string_append_printf (str, "\n[%s]\n", groups[g]);
      for (gsize i = 0; i < G_N_ELEMENTS (other_keys); i++)
        {
          const OtherKey *k = &other_keys[i];
          g_autofree char *allowed = NULL;
          g_autofree char *value = NULL;
          g_autofree char *default_value = NULL;
          g_autofree char *escaped = NULL;

          if (g_strcmp0 (k->group, groups[g]) != 0)
            continue;
          allowed = other_key_allowed (k->id);
          value = other_key_get (config, k->id);
          default_value = other_key_get (defaults, k->id);
          escaped = keyfile_escape (value);
          /* an unset key stays commented out */
          g_string_append_printf (str, "# %s\n# %s; default %s\n%s%s=%s\n", k->description, allowed,
                                  default_value ? default_value : "unset", value ? "" : "#", k->key,
                                  escaped);
        }
      for (const SpConfigIntKey *k = int_keys; k->key != NULL; k++)
        {
          g_autofree char *range = NULL;

          if (g_strcmp0 (k->group, groups[g]) != 0)
            continue;
          range = int_key_range (k);
          g_string_append_printf (str, "# %s\n# %s; default %" G_GINT64_FORMAT, k->description,
                                  range, k->default_value);
          if (k->ksmtuned_name != NULL)
            g_string_append_printf (str, " (ksmtuned: %s)", k->ksmtuned_name);
          g_string_append_printf (str, "\n%s=%" G_GINT64_FORMAT "\n", k->key,
                                  sp_config_get_int (config, k));
        }
    }
  return g_string_free (g_steal_pointer (&str), FALSE);
}
