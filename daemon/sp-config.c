/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-config"

#include "sp-config.h"

#include <string.h>

#include "sp-error.h"
#include "sp-str.h"

G_STATIC_ASSERT (sizeof (guint) != sizeof (gint64));

#define INT_KEY(group_, key_, field_, min_, max_, ksmtuned_, unit_, default_, description_)  \
  {                                                                                          \
    .group = group_, .key = key_, .offset = G_STRUCT_OFFSET (SpConfig, field_), .min = min_, \
    .max = max_, .ksmtuned_name = ksmtuned_, .unit = unit_, .default_value = default_,       \
    .description = description_, .size = sizeof (((SpConfig *) NULL)->field_),               \
  }

/* Every integer key, once: parsing, checks, the ksmtuned import
 * (sp-ksmtuned-import.c), the generated text (sp-config-doc.c) and D-Bus
 * (sp-config-variant.c) follow this table. The defaults are ksmtuned's. */
static const SpConfigIntKey int_keys[] = {
  INT_KEY (SP_CONFIG_GROUP_DAEMON, "monitor_interval", monitor_interval_sec, 1, 86400,
           "KSM_MONITOR_INTERVAL", "s", 60, "Seconds between two tuning ticks."),
  INT_KEY (SP_CONFIG_GROUP_DAEMON, "resync_interval", resync_interval_sec, 1, 86400, NULL, "s", 600,
           "Seconds between two full resyncs of the libvirt domain list (also on Retune and "
           "SIGHUP), so a missed event never leaves committed memory wrong for longer."),
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
  INT_KEY (SP_CONFIG_GROUP_TUNING, "merge_across_nodes", merge_across_nodes, -1, 1, NULL, "", -1,
           "NUMA: 1 lets KSM merge pages of different nodes, 0 only of the same node, -1 "
           "leaves the kernel's setting. samepaged unmerges everything first (the kernel "
           "refuses the change while pages are shared), and refuses when MemAvailable cannot "
           "hold the unmerged pages plus the threshold."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "use_zero_pages", use_zero_pages, -1, 1, NULL, "", -1,
           "1 merges empty pages with the kernel's zero page (counted in ksm_zero_pages and in "
           "the saving), 0 merges them like any page, -1 leaves the kernel's setting. Put back "
           "on exit."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "profit_min_scans", profit_min_scans, 1, 1000, NULL,
           "full scans", 2,
           "The profit guard judges KSM after this many full scans, and stops it when the lowest "
           "scan rate has not helped within as many more."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "profit_min_kib_per_cpu_second", profit_min_kib_per_cpu_s, 0,
           G_GINT64_CONSTANT (1) << 40, NULL, "KiB", 1024,
           "KSM does not pay when the memory it saves per CPU-second of a full scan stays below "
           "this (0: only general_profit <= 0 counts)."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "profit_retry_interval", profit_retry_interval_sec, 60, 604800,
           NULL, "s", 1800, "A KSM the profit guard stopped is tried again after this long."),
  INT_KEY (SP_CONFIG_GROUP_TUNING, "profit_retry_committed_change", profit_retry_committed_pct, 1,
           1000, NULL, "%", 20,
           "... or as soon as the committed memory differs from what it was at the stop by more "
           "than this percentage of it."),
  INT_KEY (SP_CONFIG_GROUP_BALLOON, "balloon_threshold", balloon_threshold_pct, 0, 100, NULL, "%",
           20,
           "The host is under pressure when MemAvailable is below this percentage of MemTotal."),
  INT_KEY (SP_CONFIG_GROUP_BALLOON, "balloon_critical", balloon_critical_pct, 0, 100, NULL, "%", 5,
           "Critical pressure (larger steps) below this percentage of MemTotal."),
  INT_KEY (SP_CONFIG_GROUP_BALLOON, "guest_free_percent", guest_free_pct, 0, 90, NULL, "%", 20,
           "A shrunk guest keeps this percentage of its memory free (as it reports it)."),
  INT_KEY (SP_CONFIG_GROUP_BALLOON, "max_step_percent", max_step_pct, 1, 100, NULL, "%", 5,
           "A balloon moves at most this percentage of the guest's <memory> per decision."),
  INT_KEY (SP_CONFIG_GROUP_BALLOON, "critical_step_percent", critical_step_pct, 1, 100, NULL, "%",
           10, "The step under critical pressure."),
  INT_KEY (SP_CONFIG_GROUP_BALLOON, "min_percent", balloon_min_pct, 0, 100, NULL, "%", 50,
           "The floor of a guest without its own min: this percentage of its <memory>."),
  INT_KEY (SP_CONFIG_GROUP_BALLOON, "shares", balloon_shares, 1, 50000, NULL, "shares", 1000,
           "The weight of a guest without its own shares: more shares, shrunk later."),
  INT_KEY (SP_CONFIG_GROUP_BALLOON, "stats_period", balloon_stats_period_sec, 1, 3600, NULL, "s", 5,
           "Memory stats period set on managed guests that have none (put back on exit)."),
  INT_KEY (SP_CONFIG_GROUP_BALLOON, "target_timeout", balloon_timeout_sec, 1, 86400, NULL, "s", 60,
           "A guest that does not reach its balloon target by then is left alone."),
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
  { "balloon_critical", "balloon_threshold" },
  { "max_step_percent", "critical_step_percent" },
};

/* The keys that are not integers (SpConfigStringKey.id). */
typedef enum {
  STRING_KEY_MODE,
  STRING_KEY_RESTORE_ON_EXIT,
  STRING_KEY_CONNECT,
  STRING_KEY_METRICS_TEXTFILE,
  STRING_KEY_SCAN_RATE,
  STRING_KEY_FREE_SOURCE,
  STRING_KEY_BALLOON,
  STRING_KEY_PRESSURE_TRIGGER,
  STRING_KEY_PROFIT_GUARD,
  STRING_KEY_PROFIT_GUARD_UNMERGE,
} StringKeyId;

static const SpConfigStringKey string_keys[] = {
  { SP_CONFIG_GROUP_DAEMON, "mode", STRING_KEY_MODE,
    "auto: the tuning policy starts and stops KSM; always: KSM runs; never: KSM is stopped." },
  { SP_CONFIG_GROUP_DAEMON, "restore_on_exit", STRING_KEY_RESTORE_ON_EXIT,
    "Put back the KSM settings found at start when samepaged exits." },
  { SP_CONFIG_GROUP_DAEMON, "connect", STRING_KEY_CONNECT,
    "libvirt URI of the guests to watch (unset: qemu:///system)." },
  { SP_CONFIG_GROUP_DAEMON, "metrics_textfile", STRING_KEY_METRICS_TEXTFILE,
    "Prometheus textfile samepaged rewrites at each tick (unset: none)." },
  { SP_CONFIG_GROUP_TUNING, "scan_rate", STRING_KEY_SCAN_RATE,
    "auto: the kernel's KSM advisor when it has one, else classic; advisor: only the advisor; "
    "classic: ksmtuned's pages_to_scan boost and decay." },
  { SP_CONFIG_GROUP_TUNING, "free_source", STRING_KEY_FREE_SOURCE,
    "available: MemAvailable; ksmtuned: MemFree + Buffers + Cached, like ksmtuned; "
    "available+arc: MemAvailable + the ZFS ARC above its minimum (size - c_min in "
    "/proc/spl/kstat/zfs/arcstats)." },
  { SP_CONFIG_GROUP_TUNING, "pressure_trigger", STRING_KEY_PRESSURE_TRIGGER,
    "A PSI trigger on /proc/pressure/memory, \"some|full <stall µs> <window µs>\" (window "
    "500000..10000000): when it fires, samepaged retunes at once at the top scan rate. off: "
    "none (the 5 s meminfo watch alone)." },
  { SP_CONFIG_GROUP_TUNING, "profit_guard", STRING_KEY_PROFIT_GUARD,
    "on: once KSM has run profit_min_scans full scans without paying (general_profit <= 0, or "
    "less saved per CPU-second than profit_min_kib_per_cpu_second), samepaged lowers the scan "
    "rate to the minimum, then stops KSM; off: KSM runs whatever it returns." },
  { SP_CONFIG_GROUP_TUNING, "profit_guard_unmerge", STRING_KEY_PROFIT_GUARD_UNMERGE,
    "How the profit guard stops KSM: false keeps the merged pages (run=0), true splits them "
    "(run=2)." },
  { SP_CONFIG_GROUP_BALLOON, "balloon", STRING_KEY_BALLOON,
    "off: samepaged never sets a balloon; auto: it shrinks guests with free memory while the "
    "host is under pressure and grows them back after." },
  { NULL },
};

static const char *const groups[] = { SP_CONFIG_GROUP_DAEMON, SP_CONFIG_GROUP_TUNING,
                                      SP_CONFIG_GROUP_BALLOON, NULL };

const SpConfigIntKey *
sp_config_int_keys (void)
{
  return int_keys;
}

const char *const *
sp_config_groups (void)
{
  return groups;
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

const SpConfigIntKey *
sp_config_int_key_upper (const SpConfigIntKey *key)
{
  for (gsize i = 0; i < G_N_ELEMENTS (int_key_pairs); i++)
    if (g_strcmp0 (int_key_pairs[i].min_key, key->key) == 0)
      return find_int_key (NULL, int_key_pairs[i].max_key);
  return NULL;
}

const SpConfigStringKey *
sp_config_string_keys (void)
{
  return string_keys;
}

static const SpConfigStringKey *
find_string_key (const char *group, const char *key)
{
  for (const SpConfigStringKey *k = string_keys; k->key != NULL; k++)
    if ((group == NULL || g_strcmp0 (k->group, group) == 0) && g_strcmp0 (k->key, key) == 0)
      return k;
  return NULL;
}

const SpConfigStringKey *
sp_config_find_string_key (const char *key)
{
  return find_string_key (NULL, key);
}

static void
list_key (GString *str, const char *group, const char *key_group, const char *key)
{
  if (g_strcmp0 (key_group, group) == 0)
    g_string_append_printf (str, "%s%s", str->len > 0 ? ", " : "", key);
}

/* "a, b, c": the keys of group. */
static char *
list_keys (const char *group)
{
  g_autoptr (GString) str = g_string_new (NULL);

  for (const SpConfigStringKey *k = string_keys; k->key != NULL; k++)
    list_key (str, group, k->group, k->key);
  for (const SpConfigIntKey *k = int_keys; k->key != NULL; k++)
    list_key (str, group, k->group, k->key);
  return g_string_free (g_steal_pointer (&str), FALSE);
}

gint64
sp_config_get_int (const SpConfig *config, const SpConfigIntKey *key)
{
  if (key->size == sizeof (guint))
    return G_STRUCT_MEMBER (guint, config, key->offset);
  return G_STRUCT_MEMBER (gint64, config, key->offset);
}

void
sp_config_set_int (SpConfig *config, const SpConfigIntKey *key, gint64 value)
{
  if (key->size == sizeof (guint))
    G_STRUCT_MEMBER (guint, config, key->offset) = (guint) value;
  else
    G_STRUCT_MEMBER (gint64, config, key->offset) = value;
}

char *
sp_config_int_key_range (const SpConfigIntKey *key)
{
  gboolean no_space = key->unit == NULL || *key->unit == '\0' || g_str_equal (key->unit, "%");

  return g_strdup_printf ("%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT "%s%s", key->min, key->max,
                          no_space ? "" : " ", key->unit != NULL ? key->unit : "");
}

static gboolean
int_key_check (const SpConfigIntKey *key, gint64 value, char **problem)
{
  g_autofree char *range = NULL;

  if (value >= key->min && value <= key->max)
    return TRUE;
  range = sp_config_int_key_range (key);
  *problem = g_strdup_printf ("%" G_GINT64_FORMAT " is out of range (%s)", value, range);
  return FALSE;
}

gboolean
sp_config_int_key_parse (const SpConfigIntKey *key, const char *value, gint64 *out, char **problem)
{
  g_autofree char *stripped = g_strstrip (g_strdup (value));
  g_autoptr (GError) local_error = NULL;
  gint64 v;

  if (!g_ascii_string_to_signed (stripped, 10, G_MININT64, G_MAXINT64, &v, &local_error))
    {
      g_autofree char *quoted = sp_quote (value);
      g_autofree char *range = sp_config_int_key_range (key);

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

char *
sp_config_string_key_allowed (const SpConfigStringKey *key)
{
  g_autoptr (GString) str = g_string_new (NULL);
  StringKeyId id = (StringKeyId) key->id;

/* The to_string functions answer "unknown" past the last value. */
#define APPEND_CHOICES(to_string)                                             \
  for (guint v = 0; v < 32 && g_strcmp0 (to_string (v), "unknown") != 0; v++) \
    append_choice (str, to_string (v));

  switch (id)
    {
    case STRING_KEY_MODE:
      APPEND_CHOICES (sp_mode_to_string);
      break;
    case STRING_KEY_SCAN_RATE:
      APPEND_CHOICES (sp_scan_rate_to_string);
      break;
    case STRING_KEY_FREE_SOURCE:
      APPEND_CHOICES (sp_free_source_to_string);
      break;
    case STRING_KEY_BALLOON:
      APPEND_CHOICES (sp_balloon_mode_to_string);
      break;
    case STRING_KEY_RESTORE_ON_EXIT:
    case STRING_KEY_PROFIT_GUARD_UNMERGE:
      g_string_append (str, "a boolean (true|false)");
      break;
    case STRING_KEY_PROFIT_GUARD:
      g_string_append (str, "one of on|off");
      break;
    case STRING_KEY_CONNECT:
      g_string_append (str, "a libvirt URI such as qemu:///system");
      break;
    case STRING_KEY_METRICS_TEXTFILE:
      g_string_append (str, "an absolute path");
      break;
    case STRING_KEY_PRESSURE_TRIGGER:
      g_string_append (str, "\"off\" or \"some|full <stall µs> <window µs>\"");
      break;
    default:
      g_assert_not_reached ();
    }
#undef APPEND_CHOICES
  if (id == STRING_KEY_MODE || id == STRING_KEY_SCAN_RATE || id == STRING_KEY_FREE_SOURCE ||
      id == STRING_KEY_BALLOON)
    g_string_prepend (str, "one of ");
  return g_string_free (g_steal_pointer (&str), FALSE);
}

char *
sp_config_get_string (const SpConfig *config, const SpConfigStringKey *key)
{
  switch ((StringKeyId) key->id)
    {
    case STRING_KEY_MODE:
      return g_strdup (sp_mode_to_string (config->mode));
    case STRING_KEY_RESTORE_ON_EXIT:
      return g_strdup (config->restore_on_exit ? "true" : "false");
    case STRING_KEY_PROFIT_GUARD:
      return g_strdup (config->profit_guard ? "on" : "off");
    case STRING_KEY_PROFIT_GUARD_UNMERGE:
      return g_strdup (config->profit_guard_unmerge ? "true" : "false");
    case STRING_KEY_CONNECT:
      return g_strdup (config->connect_uri);
    case STRING_KEY_METRICS_TEXTFILE:
      return g_strdup (config->metrics_textfile);
    case STRING_KEY_SCAN_RATE:
      return g_strdup (sp_scan_rate_to_string (config->scan_rate));
    case STRING_KEY_FREE_SOURCE:
      return g_strdup (sp_free_source_to_string (config->free_source));
    case STRING_KEY_BALLOON:
      return g_strdup (sp_balloon_mode_to_string (config->balloon));
    case STRING_KEY_PRESSURE_TRIGGER:
      return sp_psi_spec_to_string (&config->pressure_trigger);
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

gboolean
sp_config_set_string (SpConfig *config, const SpConfigStringKey *key, const char *value,
                      char **problem)
{
  /* what g_key_file_get_boolean() takes */
  static const char *const booleans[] = { "true", "false", "1", "0", NULL };
  static const char *const on_off[] = { "on", "off", NULL };
  g_autofree char *stripped = g_strstrip (g_strdup (value));
  gboolean ok = FALSE;

  switch ((StringKeyId) key->id)
    {
    case STRING_KEY_PRESSURE_TRIGGER:
      return sp_psi_spec_parse (value, &config->pressure_trigger, problem);
    case STRING_KEY_MODE:
      ok = sp_mode_from_string (stripped, &config->mode);
      break;
    case STRING_KEY_SCAN_RATE:
      ok = sp_scan_rate_from_string (stripped, &config->scan_rate);
      break;
    case STRING_KEY_FREE_SOURCE:
      ok = sp_free_source_from_string (stripped, &config->free_source);
      break;
    case STRING_KEY_BALLOON:
      ok = sp_balloon_mode_from_string (stripped, &config->balloon);
      break;
    case STRING_KEY_RESTORE_ON_EXIT:
      ok = g_strv_contains (booleans, stripped);
      if (ok)
        config->restore_on_exit = *stripped == 't' || *stripped == '1';
      break;
    case STRING_KEY_PROFIT_GUARD_UNMERGE:
      ok = g_strv_contains (booleans, stripped);
      if (ok)
        config->profit_guard_unmerge = *stripped == 't' || *stripped == '1';
      break;
    case STRING_KEY_PROFIT_GUARD:
      ok = g_strv_contains (on_off, stripped);
      if (ok)
        config->profit_guard = g_str_equal (stripped, "on");
      break;
    case STRING_KEY_CONNECT:
      ok = *stripped == '\0' || g_uri_is_valid (stripped, G_URI_FLAGS_NONE, NULL);
      if (ok)
        set_string (&config->connect_uri, stripped);
      break;
    case STRING_KEY_METRICS_TEXTFILE:
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
      g_autofree char *allowed = sp_config_string_key_allowed (key);
      *problem = g_strdup_printf ("%s is not %s", quoted, allowed);
    }
  return ok;
}

gboolean
sp_config_set_key (SpConfig *config, const SpConfigIntKey *int_key,
                   const SpConfigStringKey *string_key, const char *value, char **problem)
{
  gint64 v;

  if (string_key != NULL)
    return sp_config_set_string (config, string_key, value, problem);
  if (!sp_config_int_key_parse (int_key, value, &v, problem))
    return FALSE;
  sp_config_set_int (config, int_key, v);
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
  config->pressure_trigger =
      (SpPsiSpec){ TRUE, FALSE, 150000, 1000000 }; /* SP_PSI_DEFAULT_TRIGGER */
  config->profit_guard = TRUE;
  for (const SpConfigIntKey *k = int_keys; k->key != NULL; k++)
    sp_config_set_int (config, k, k->default_value);
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
         a->scan_rate == b->scan_rate && a->free_source == b->free_source &&
         a->balloon == b->balloon &&
         sp_psi_spec_equal (&a->pressure_trigger, &b->pressure_trigger) &&
         !a->profit_guard == !b->profit_guard &&
         !a->profit_guard_unmerge == !b->profit_guard_unmerge;
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
  const SpConfigStringKey *string_key = find_string_key (NULL, key);
  const char *elsewhere = int_key ? int_key->group : string_key ? string_key->group : NULL;
  g_autofree char *quoted = sp_quote (key);
  g_autofree char *known = list_keys (group);

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
  const SpConfigStringKey *string_key = find_string_key (group, key);
  g_autoptr (GError) local_error = NULL;
  g_autofree char *value = NULL;
  g_autofree char *problem = NULL;
  g_autofree char *raw = NULL;

  if (int_key == NULL && string_key == NULL)
    return set_unknown_key_error (error, path, group, key);
  /* GLib 2.74's g_key_file_get_string() sets its GError twice on a value
   * with a bad escape and a backslash at its end (a GLib warning, found by
   * fuzz-config): escapes are checked here first */
  raw = g_key_file_get_value (keyfile, group, key, NULL);
  if (raw != NULL && !sp_str_check_key_file_escapes (raw, &problem))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_CONFIG, "%s: [%s] %s: %s", path, group, key, problem);
      return FALSE;
    }
  value = g_key_file_get_string (keyfile, group, key, &local_error);
  if (value == NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_CONFIG, "%s: [%s] %s: %s", path, group, key,
                   local_error->message);
      return FALSE;
    }
  if (!sp_config_set_key (config, int_key, string_key, value, &problem))
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
                       "%s: unknown group [%s] (known: [%s], [%s], [%s])", path, escaped,
                       SP_CONFIG_GROUP_DAEMON, SP_CONFIG_GROUP_TUNING, SP_CONFIG_GROUP_BALLOON);
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
