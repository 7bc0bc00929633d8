/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The config module: defaults, samepaged.conf, D-Bus style setters
 * (sp-config-variant) and the text form (sp-config-doc); the ksmtuned.conf
 * import has its own test-ksmtuned-import.c. */
#define G_LOG_DOMAIN "test-config"

#include <glib/gstdio.h>

#include "sp-config.h"
#include "sp-ksmtuned-import.h"
#include "sp-config-variant.h"
#include "sp-config-doc.h"
#include "sp-error.h"
#include "sp-test.h"

/* Defaults are ksmtuned's (KSM_*:-N in /usr/sbin/ksmtuned), plus ours. */
static void
test_defaults (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GError) error = NULL;
  guint n_ksmtuned = 0;

  g_assert_cmpuint (config->monitor_interval_sec, ==, 60);
  g_assert_cmpint (config->npages_boost, ==, 300);
  g_assert_cmpint (config->npages_decay, ==, -50);
  g_assert_cmpint (config->npages_min, ==, 64);
  g_assert_cmpint (config->npages_max, ==, 1250);
  g_assert_cmpint (config->sleep_msec, ==, 10);
  g_assert_cmpint (config->thres_coef, ==, 20);
  g_assert_cmpint (config->thres_const_kib, ==, 2048);

  g_assert_cmpint (config->mode, ==, SP_MODE_AUTO);
  g_assert_cmpint (config->hysteresis_pct, ==, 10);
  g_assert_cmpint (config->scan_rate, ==, SP_SCAN_RATE_AUTO);
  g_assert_cmpint (config->free_source, ==, SP_FREE_SOURCE_AVAILABLE);
  g_assert_true (config->restore_on_exit);
  g_assert_null (config->connect_uri);
  g_assert_null (config->metrics_textfile);
  g_assert_cmpint (config->advisor_max_cpu_min, ==, 10);
  g_assert_cmpint (config->advisor_max_cpu_max, ==, 70);
  g_assert_cmpint (config->advisor_scan_time_min, ==, 30);
  g_assert_cmpint (config->advisor_scan_time_max, ==, 200);

  g_assert_true (sp_config_validate (config, &error));
  g_assert_no_error (error);

  /* The table: defaults in range, fields that fit, the eight ksmtuned names. */
  for (const SpConfigIntKey *k = sp_config_int_keys (); k->key != NULL; k++)
    {
      g_assert_cmpint (k->min, <=, k->default_value);
      g_assert_cmpint (k->default_value, <=, k->max);
      g_assert_cmpint (sp_config_get_int (config, k), ==, k->default_value);
      g_assert_nonnull (k->unit);
      g_assert_nonnull (k->description);
      g_assert_true (k->size == sizeof (gint64) || k->size == sizeof (guint));
      if (k->size == sizeof (guint))
        g_assert_true (k->min >= 0 && k->max <= G_MAXUINT);
      if (k->ksmtuned_name != NULL)
        n_ksmtuned++;
      g_assert_true (sp_config_find_int_key (k->key) == k);
    }
  g_assert_cmpuint (n_ksmtuned, ==, 8);
  g_assert_cmpstr (sp_test_int_key ("thres_const")->ksmtuned_name, ==, "KSM_THRES_CONST");
  g_assert_cmpstr (sp_test_int_key ("monitor_interval")->ksmtuned_name, ==, "KSM_MONITOR_INTERVAL");
  g_assert_null (sp_config_find_int_key ("mode"));
}

/* copy gives an equal config; a change to any one field makes it unequal. */
static void
test_equal_copy (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();

  config->connect_uri = g_strdup ("qemu:///system");
  for (const SpConfigIntKey *k = sp_config_int_keys (); k->key != NULL; k++)
    {
      g_autoptr (SpConfig) copy = sp_config_copy (config);
      g_autofree char *value = NULL;

      g_assert_true (sp_config_equal (config, copy));
      value = g_strdup_printf ("%" G_GINT64_FORMAT,
                               k->default_value == k->max ? k->min : k->default_value + 1);
      g_assert_true (sp_config_set_from_string (copy, k->key, value, NULL));
      g_assert_false (sp_config_equal (config, copy));
    }

  {
    g_autoptr (SpConfig) copy = sp_config_copy (config);

    g_assert_true (copy->connect_uri != config->connect_uri);
    g_free (copy->connect_uri);
    copy->connect_uri = NULL;
    g_assert_false (sp_config_equal (config, copy));
    sp_config_free (g_steal_pointer (&copy));

    copy = sp_config_copy (config);
    copy->metrics_textfile = g_strdup ("/tmp/x.prom");
    g_assert_false (sp_config_equal (config, copy));
    sp_config_free (g_steal_pointer (&copy));

    copy = sp_config_copy (config);
    copy->restore_on_exit = FALSE;
    g_assert_false (sp_config_equal (config, copy));
    sp_config_free (g_steal_pointer (&copy));

    copy = sp_config_copy (config);
    copy->mode = SP_MODE_NEVER;
    g_assert_false (sp_config_equal (config, copy));
    sp_config_free (g_steal_pointer (&copy));

    copy = sp_config_copy (config);
    copy->scan_rate = SP_SCAN_RATE_CLASSIC;
    g_assert_false (sp_config_equal (config, copy));
    sp_config_free (g_steal_pointer (&copy));

    copy = sp_config_copy (config);
    copy->free_source = SP_FREE_SOURCE_KSMTUNED;
    g_assert_false (sp_config_equal (config, copy));
  }
}

/* The profit guard's keys: on by default; on|off and booleans only; both
 * count in sp_config_equal; SetTuning takes them as strings. */
static void
test_profit_keys (SpTestTmpDir *tmp, gconstpointer data)
{
  g_autoptr (SpConfig) defaults = sp_config_new_default ();
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GError) error = NULL;
  g_autofree char *bad = sp_test_tmp_dir_write (tmp, "bad.conf", "[tuning]\nprofit_guard=yes\n");
  g_autofree char *bad_bool =
      sp_test_tmp_dir_write (tmp, "bad-bool.conf", "[tuning]\nprofit_guard_unmerge=on\n");
  g_autofree char *zero = sp_test_tmp_dir_write (tmp, "zero.conf", "[tuning]\nuse_zero_pages=2\n");

  g_assert_true (defaults->profit_guard);
  g_assert_false (defaults->profit_guard_unmerge);
  g_assert_cmpint (defaults->use_zero_pages, ==, -1);
  g_assert_false (sp_config_load_file (config, bad, TRUE, &error));
  sp_test_assert_contains (error->message, "profit_guard = 'yes' is not one of on|off");
  g_clear_error (&error);
  g_assert_false (sp_config_load_file (config, bad_bool, TRUE, &error));
  sp_test_assert_contains (error->message, "'on' is not a boolean (true|false)");
  g_clear_error (&error);
  g_assert_false (sp_config_load_file (config, zero, TRUE, &error));
  sp_test_assert_contains (error->message, "use_zero_pages = 2 is out of range (-1..1)");
  g_clear_error (&error);
  g_assert_true (sp_config_equal (config, defaults));

  g_assert_true (sp_config_set_from_string (config, "profit_guard", "off", &error));
  g_assert_no_error (error);
  g_assert_false (config->profit_guard);
  g_assert_false (sp_config_equal (config, defaults));
  config->profit_guard = TRUE;
  g_assert_true (sp_config_set_from_string (config, "profit_guard_unmerge", "true", &error));
  g_assert_true (config->profit_guard_unmerge);
  g_assert_false (sp_config_equal (config, defaults));
}

/* samepaged-full.conf sets every key to a value other than its default. */
/* [balloon]: off by default (it changes guests' memory); bad values name
 * what is allowed; the critical threshold and step are checked against
 * the normal ones. */
static void
test_balloon_keys (SpTestTmpDir *tmp, gconstpointer data)
{
  static const struct {
    const char *text;
    const char *error; /* NULL: loads */
  } cases[] = {
    { "[balloon]\nballoon=auto\n", NULL },
    { "[balloon]\nballoon=on\n", "'on' is not one of off|auto" },
    { "[balloon]\nballoon_critical=30\n",
      "balloon_critical = 30 is greater than balloon_threshold" },
    { "[balloon]\nmax_step_percent=20\n",
      "max_step_percent = 20 is greater than critical_step_percent" },
    { "[balloon]\nguest_free_percent=95\n", "95 is out of range (0..90%)" },
    { "[tuning]\nballoon=auto\n", "(it belongs in [balloon])" },
  };
  g_autoptr (SpConfig) defaults = sp_config_new_default ();

  g_assert_cmpint (defaults->balloon, ==, SP_BALLOON_MODE_OFF);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (SpConfig) config = sp_config_new_default ();
      g_autoptr (GError) error = NULL;
      g_autofree char *path = sp_test_tmp_dir_write (tmp, "balloon.conf", cases[i].text);
      gboolean ok = sp_config_load_file (config, path, TRUE, &error);

      if (cases[i].error == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpint (config->balloon, ==, SP_BALLOON_MODE_AUTO);
        }
      else
        {
          g_assert_false (ok);
          g_assert_error (error, SP_ERROR, SP_ERROR_CONFIG);
          if (strstr (error->message, cases[i].error) == NULL)
            g_error ("case %" G_GSIZE_FORMAT ": %s lacks %s", i, error->message, cases[i].error);
          g_assert_true (sp_config_equal (config, defaults));
        }
    }
}

static void
test_load_full (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = sp_test_data_path (NULL, "samepaged-full.conf");

  g_assert_true (sp_config_load_file (config, path, TRUE, &error));
  g_assert_no_error (error);

  g_assert_cmpint (config->mode, ==, SP_MODE_ALWAYS);
  g_assert_cmpuint (config->monitor_interval_sec, ==, 15);
  g_assert_false (config->restore_on_exit);
  g_assert_cmpstr (config->connect_uri, ==, "qemu+ssh://root@host.example/system");
  g_assert_cmpstr (config->metrics_textfile, ==, "/var/lib/prometheus/node-exporter/samepage.prom");
  g_assert_cmpint (config->npages_boost, ==, 1000);
  g_assert_cmpint (config->npages_decay, ==, -200);
  g_assert_cmpint (config->npages_min, ==, 100);
  g_assert_cmpint (config->npages_max, ==, 5000);
  g_assert_cmpint (config->sleep_msec, ==, 50);
  g_assert_cmpint (config->thres_coef, ==, 25);
  g_assert_cmpint (config->thres_const_kib, ==, 1048576);
  g_assert_cmpint (config->hysteresis_pct, ==, 0);
  g_assert_cmpint (config->scan_rate, ==, SP_SCAN_RATE_CLASSIC);
  g_assert_cmpint (config->free_source, ==, SP_FREE_SOURCE_KSMTUNED);
  g_assert_cmpint (config->advisor_max_cpu_min, ==, 5);
  g_assert_cmpint (config->advisor_max_cpu_max, ==, 90);
  g_assert_cmpint (config->advisor_scan_time_min, ==, 60);
  g_assert_cmpint (config->advisor_scan_time_max, ==, 600);
  g_assert_cmpint (config->use_zero_pages, ==, 1);
  g_assert_false (config->profit_guard);
  g_assert_true (config->profit_guard_unmerge);
  g_assert_cmpint (config->profit_min_scans, ==, 5);
  g_assert_cmpint (config->profit_min_kib_per_cpu_s, ==, 4096);
  g_assert_cmpint (config->profit_retry_interval_sec, ==, 600);
  g_assert_cmpint (config->profit_retry_committed_pct, ==, 50);
  g_assert_cmpint (config->balloon, ==, SP_BALLOON_MODE_AUTO);
  g_assert_cmpint (config->balloon_threshold_pct, ==, 30);
  g_assert_cmpint (config->balloon_critical_pct, ==, 10);
  g_assert_cmpint (config->guest_free_pct, ==, 15);
  g_assert_cmpint (config->max_step_pct, ==, 8);
  g_assert_cmpint (config->critical_step_pct, ==, 20);
  g_assert_cmpint (config->balloon_min_pct, ==, 40);
  g_assert_cmpint (config->balloon_shares, ==, 2000);
  g_assert_cmpint (config->balloon_stats_period_sec, ==, 2);
  g_assert_cmpint (config->balloon_timeout_sec, ==, 30);

  /* every integer key of the table differs from its default */
  for (const SpConfigIntKey *k = sp_config_int_keys (); k->key != NULL; k++)
    if (sp_config_get_int (config, k) == k->default_value)
      g_error ("samepaged-full.conf leaves %s at its default", k->key);
}

/* A file sets only what it names; a missing file is fine unless required. */
static void
test_load_partial_and_missing (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpConfig) expected = sp_config_new_default ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = sp_test_data_path (NULL, "samepaged-override.conf");
  g_autofree char *missing = sp_test_data_path (NULL, "does-not-exist.conf");

  g_assert_true (sp_config_load_file (config, path, TRUE, &error));
  g_assert_no_error (error);
  expected->monitor_interval_sec = 15;
  expected->npages_max = 3000;
  g_assert_true (sp_config_equal (config, expected));

  g_assert_true (sp_config_load_file (config, missing, FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (sp_config_equal (config, expected));

  g_assert_false (sp_config_load_file (config, missing, TRUE, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_CONFIG);
  sp_test_assert_contains (error->message, missing);
  g_assert_true (sp_config_equal (config, expected));
}

typedef struct {
  const char *file;
  const char *expect[4]; /* substrings of the message */
} BadFileCase;

static const BadFileCase bad_files[] = {
  { "samepaged-out-of-range.conf",
    { "[tuning] npages_max = 99999999 is out of range (1..100000 pages)" } },
  { "samepaged-not-integer.conf", { "[tuning] sleep_msec = 'abc' is not an integer" } },
  { "samepaged-unknown-key.conf",
    { "[tuning] unknown key 'npages_maxx'", "known: ", "npages_max" } },
  { "samepaged-wrong-group.conf",
    { "[daemon] unknown key 'npages_max'", "it belongs in [tuning]" } },
  { "samepaged-unknown-group.conf", { "unknown group [Tuning]", "[daemon], [tuning]" } },
  { "samepaged-bad-enum.conf",
    { "[tuning] scan_rate = 'fast' is not one of auto|advisor|classic" } },
  { "samepaged-bad-bool.conf",
    { "[daemon] restore_on_exit = 'yes' is not a boolean (true|false)" } },
  { "samepaged-min-gt-max.conf",
    { "npages_min = 2000 is greater than npages_max = 1000", "npages_min must be <= npages_max" } },
  { "samepaged-advisor-inverted.conf",
    { "advisor_max_cpu_min = 80 is greater than advisor_max_cpu_max = 50" } },
  { "samepaged-syntax.conf", { "npages_max 5000" } },
  { "samepaged-translation.conf", { "[daemon] unknown key 'mode[de]'" } },
  { "samepaged-bad-uri.conf", { "[daemon] connect = 'not a uri' is not a libvirt URI" } },
  { "samepaged-relative-path.conf",
    { "[daemon] metrics_textfile = 'samepage.prom' is not an absolute path" } },
};

/* Each kind of mistake fails with file, key, value and range in the message,
 * and leaves the config as it was, including keys the file set before. */
static void
test_load_bad (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (bad_files); i++)
    {
      const BadFileCase *c = &bad_files[i];
      g_autoptr (SpConfig) config = sp_config_new_default ();
      g_autoptr (SpConfig) before = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *path = sp_test_data_path (NULL, c->file);

      config->connect_uri = g_strdup ("test:///default");
      before = sp_config_copy (config);
      g_test_message ("%s", c->file);
      g_assert_false (sp_config_load_file (config, path, TRUE, &error));
      g_assert_error (error, SP_ERROR, SP_ERROR_CONFIG);
      g_test_message ("  %s", error->message);
      sp_test_assert_contains (error->message, path);
      for (guint j = 0; j < G_N_ELEMENTS (c->expect) && c->expect[j] != NULL; j++)
        sp_test_assert_contains (error->message, c->expect[j]);
      /* every bad file sets npages_boost=500 first */
      g_assert_cmpint (config->npages_boost, ==, 300);
      g_assert_true (sp_config_equal (config, before));
    }
}

/* Every key of the table is checked against its own range: bounds load,
 * one past them fails naming the key and the range. */
static void
test_load_every_range (SpTestTmpDir *tmp, gconstpointer data)
{
  for (const SpConfigIntKey *k = sp_config_int_keys (); k->key != NULL; k++)
    {
      const gint64 good[] = { k->min, k->max };
      const gint64 bad[] = { k->min - 1, k->max + 1 };
      g_autofree char *range =
          g_strdup_printf ("(%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT "%s%s)", k->min, k->max,
                           g_str_equal (k->unit, "%") || *k->unit == '\0' ? "" : " ", k->unit);

      for (guint i = 0; i < G_N_ELEMENTS (good); i++)
        {
          g_autoptr (SpConfig) config = sp_config_new_default ();
          g_autoptr (GError) error = NULL;
          g_autofree char *text =
              g_strdup_printf ("[%s]\n%s=%" G_GINT64_FORMAT "\n", k->group, k->key, good[i]);
          g_autofree char *path = sp_test_tmp_dir_write (tmp, "range.conf", text);

          /* keep the pairs ordered whatever the bound */
          config->npages_min = 0;
          config->npages_max = 100000;
          config->advisor_max_cpu_min = config->advisor_scan_time_min = 1;
          config->advisor_max_cpu_max = 100;
          config->advisor_scan_time_max = 86400;
          config->balloon_critical_pct = 0;
          config->max_step_pct = 1;
          config->balloon_threshold_pct = config->critical_step_pct = 100;
          g_assert_true (sp_config_load_file (config, path, TRUE, &error));
          g_assert_no_error (error);
          g_assert_cmpint (sp_config_get_int (config, k), ==, good[i]);
        }
      for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
        {
          g_autoptr (SpConfig) config = sp_config_new_default ();
          g_autoptr (GError) error = NULL;
          g_autofree char *text =
              g_strdup_printf ("[%s]\n%s=%" G_GINT64_FORMAT "\n", k->group, k->key, bad[i]);
          g_autofree char *path = sp_test_tmp_dir_write (tmp, "range.conf", text);
          g_autofree char *expect = g_strdup_printf (
              "[%s] %s = %" G_GINT64_FORMAT " is out of range %s", k->group, k->key, bad[i], range);

          g_assert_false (sp_config_load_file (config, path, TRUE, &error));
          g_assert_error (error, SP_ERROR, SP_ERROR_CONFIG);
          sp_test_assert_contains (error->message, expect);
          g_assert_cmpint (sp_config_get_int (config, k), ==, k->default_value);
        }
    }
}

/* Values too big for 64 bits, empty values, hex and floats are refused. */
static void
test_load_int_syntax (SpTestTmpDir *tmp, gconstpointer data)
{
  const struct {
    const char *value;
    const char *expect;
  } cases[] = {
    { "99999999999999999999999", "99999999999999999999999 is out of range (1..100000 pages)" },
    { "", "'' is not an integer" },
    { "0x100", "'0x100' is not an integer" },
    { "1e3", "'1e3' is not an integer" },
    { "12.5", "'12.5' is not an integer" },
    { "100 pages", "'100 pages' is not an integer" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (SpConfig) config = sp_config_new_default ();
      g_autoptr (GError) error = NULL;
      g_autofree char *text = g_strdup_printf ("[tuning]\nnpages_max=%s\n", cases[i].value);
      g_autofree char *path = sp_test_tmp_dir_write (tmp, "syntax.conf", text);

      g_assert_false (sp_config_load_file (config, path, TRUE, &error));
      g_assert_error (error, SP_ERROR, SP_ERROR_CONFIG);
      sp_test_assert_contains (error->message, cases[i].expect);
    }

  /* spaces around the value are fine, as GKeyFile allows them around '=' */
  {
    g_autoptr (SpConfig) config = sp_config_new_default ();
    g_autoptr (GError) error = NULL;
    g_autofree char *path = sp_test_tmp_dir_write (
        tmp, "spaces.conf", "[tuning]\nnpages_max =  2000  \nscan_rate = advisor \n");

    g_assert_true (sp_config_load_file (config, path, TRUE, &error));
    g_assert_no_error (error);
    g_assert_cmpint (config->npages_max, ==, 2000);
    g_assert_cmpint (config->scan_rate, ==, SP_SCAN_RATE_ADVISOR);
  }
}

/* Every key, value set and unset, survives to_data and load. */
static void
test_round_trip (SpTestTmpDir *tmp, gconstpointer data)
{
  g_autoptr (SpConfig) full = sp_config_new_default ();
  g_autoptr (SpConfig) defaults = sp_config_new_default ();
  g_autofree char *full_path = sp_test_data_path (NULL, "samepaged-full.conf");
  SpConfig *configs[] = { NULL, NULL };

  g_assert_true (sp_config_load_file (full, full_path, TRUE, NULL));
  /* characters GKeyFile has to escape */
  g_free (full->metrics_textfile);
  full->metrics_textfile = g_strdup ("/var/lib/node exporter/sa\\me\tpage\n.prom");
  configs[0] = full;
  configs[1] = defaults;

  for (gsize i = 0; i < G_N_ELEMENTS (configs); i++)
    {
      g_autoptr (SpConfig) loaded = sp_config_new_default ();
      g_autoptr (GError) error = NULL;
      g_autofree char *text = sp_config_to_data (configs[i]);
      g_autofree char *path = sp_test_tmp_dir_write (tmp, "round-trip.conf", text);

      /* on top of a config that differs everywhere */
      if (configs[i] == defaults)
        g_assert_true (sp_config_load_file (loaded, full_path, TRUE, NULL));
      g_assert_true (sp_config_load_file (loaded, path, TRUE, &error));
      g_assert_no_error (error);
      if (configs[i] == defaults)
        {
          /* unset keys are written commented out: they cannot unset */
          g_assert_nonnull (loaded->connect_uri);
          g_clear_pointer (&loaded->connect_uri, g_free);
          g_clear_pointer (&loaded->metrics_textfile, g_free);
        }
      g_assert_true (sp_config_equal (loaded, configs[i]));
    }
}

/* data/samepaged.conf, installed as /etc/samepage/samepaged.conf, documents
 * every key commented out with its default, so loading it changes nothing. */
static void
test_default_file (void)
{
  g_autoptr (SpConfig) defaults = sp_config_new_default ();
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "..", "data", "samepaged.conf", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *generated = sp_config_to_data (defaults);
  g_auto (GStrv) lines = NULL;
  g_auto (GStrv) generated_lines = g_strsplit (generated, "\n", -1);
  guint n_keys = 0;

  g_assert_true (sp_config_load_file (config, path, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (sp_config_equal (config, defaults));

  g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
  g_assert_no_error (error);
  lines = g_strsplit (contents, "\n", -1);

  /* each key=default line of to_data() appears as #key=default */
  for (guint i = 0; generated_lines[i] != NULL; i++)
    {
      const char *line = generated_lines[i];
      const char *setting = line[0] == '#' ? line + 1 : line;
      g_autofree char *expect = NULL;
      gboolean unset = g_str_has_suffix (setting, "=");
      gboolean found = FALSE;

      if (line[0] == '\0' || line[0] == '[' || strchr (setting, '=') == NULL ||
          g_str_has_prefix (line, "# "))
        continue;
      n_keys++;
      expect = g_strdup_printf ("#%s", setting);
      for (guint j = 0; lines[j] != NULL && !found; j++)
        found = unset ? g_str_has_prefix (lines[j], expect) : g_str_equal (lines[j], expect);
      if (!found)
        g_error ("%s does not document “%s”", path, expect);
    }
  g_assert_cmpuint (n_keys, ==, 39);
}

/* defaults < ksmtuned.conf < samepaged.conf */
static void
test_precedence (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GError) error = NULL;
  g_autofree char *ksmtuned = sp_test_data_path (NULL, "ksmtuned-custom.conf");
  g_autofree char *samepaged = sp_test_data_path (NULL, "samepaged-override.conf");

  g_assert_true (sp_config_import_ksmtuned (config, ksmtuned, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (sp_config_load_file (config, samepaged, TRUE, &error));
  g_assert_no_error (error);

  /* samepaged.conf wins where it has the key */
  g_assert_cmpuint (config->monitor_interval_sec, ==, 15);
  g_assert_cmpint (config->npages_max, ==, 3000);
  /* ksmtuned.conf where samepaged.conf is silent */
  g_assert_cmpint (config->npages_boost, ==, 600);
  g_assert_cmpint (config->npages_min, ==, 128);
  g_assert_cmpint (config->thres_const_kib, ==, 8192);
  /* the defaults where both are */
  g_assert_cmpint (config->npages_decay, ==, -50);
  g_assert_cmpint (config->hysteresis_pct, ==, 10);
}

static void
test_set_from_string (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpConfig) before = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (sp_config_set_from_string (config, "npages_max", "4000", &error));
  g_assert_no_error (error);
  g_assert_cmpint (config->npages_max, ==, 4000);
  g_assert_true (sp_config_set_from_string (config, "monitor_interval", "5", &error));
  g_assert_cmpuint (config->monitor_interval_sec, ==, 5);
  g_assert_true (sp_config_set_from_string (config, "scan_rate", "classic", &error));
  g_assert_cmpint (config->scan_rate, ==, SP_SCAN_RATE_CLASSIC);
  g_assert_true (sp_config_set_from_string (config, "free_source", "ksmtuned", &error));
  g_assert_cmpint (config->free_source, ==, SP_FREE_SOURCE_KSMTUNED);
  g_assert_no_error (error);

  before = sp_config_copy (config);

  g_assert_false (sp_config_set_from_string (config, "npages_max", "0", &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
  g_assert_cmpstr (error->message, ==, "npages_max = 0 is out of range (1..100000 pages)");
  g_clear_error (&error);

  g_assert_false (sp_config_set_from_string (config, "thres_coef", "lots", &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
  g_assert_cmpstr (error->message, ==, "thres_coef = 'lots' is not an integer");
  g_clear_error (&error);

  g_assert_false (sp_config_set_from_string (config, "scan_rate", "fast", &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
  g_assert_cmpstr (error->message, ==, "scan_rate = 'fast' is not one of auto|advisor|classic");
  g_clear_error (&error);

  /* [daemon] keys other than monitor_interval are not tuning keys */
  for (guint i = 0; i < 3; i++)
    {
      const char *keys[] = { "mode", "connect", "nonsense" };

      g_assert_false (sp_config_set_from_string (config, keys[i], "never", &error));
      g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
      sp_test_assert_contains (error->message, "Unknown tuning key");
      sp_test_assert_contains (error->message, keys[i]);
      sp_test_assert_contains (error->message, "npages_boost");
      g_clear_error (&error);
    }
  g_assert_true (sp_config_equal (config, before));
}

typedef struct {
  const char *key;
  GVariant *value; /* floating */
  gboolean ok;
  const char *expect; /* the message, or the value read back as text */
} VariantCase;

static void
test_set_from_variant (void)
{
  VariantCase cases[] = {
    { "npages_max", g_variant_new_int32 (2000), TRUE, "2000" },
    { "npages_max", g_variant_new_int64 (3000), TRUE, "3000" },
    { "npages_max", g_variant_new_uint32 (4000), TRUE, "4000" },
    { "npages_max", g_variant_new_uint64 (5000), TRUE, "5000" },
    { "npages_decay", g_variant_new_int32 (-7), TRUE, "-7" },
    { "monitor_interval", g_variant_new_uint32 (120), TRUE, "120" },
    { "thres_const", g_variant_new_int64 (G_GINT64_CONSTANT (1) << 40), TRUE, "1099511627776" },
    { "npages_max", g_variant_new_variant (g_variant_new_int32 (6000)), TRUE, "6000" },
    { "npages_max", g_variant_new_int32 (0), FALSE,
      "npages_max = 0 is out of range (1..100000 pages)" },
    { "npages_decay", g_variant_new_uint32 (1), FALSE,
      "npages_decay = 1 is out of range (-100000..0 pages)" },
    { "npages_max", g_variant_new_uint64 (G_MAXUINT64), FALSE,
      "npages_max = 18446744073709551615 is out of range (1..100000 pages)" },
    { "monitor_interval", g_variant_new_int64 (G_MININT64), FALSE,
      "monitor_interval = -9223372036854775808 is out of range (1..86400 s)" },
    { "thres_const", g_variant_new_int64 ((G_GINT64_CONSTANT (1) << 40) + 1), FALSE,
      "thres_const = 1099511627777 is out of range (0..1099511627776 KiB)" },
    { "npages_max", g_variant_new_string ("2000"), FALSE,
      "npages_max has type 's', expected an integer (int32, int64, uint32 or uint64)" },
    { "npages_max", g_variant_new_double (2000.0), FALSE,
      "npages_max has type 'd', expected an integer" },
    { "npages_max", g_variant_new_boolean (TRUE), FALSE,
      "npages_max has type 'b', expected an integer" },
    { "npages_max", g_variant_new_int16 (2000), FALSE,
      "npages_max has type 'n', expected an integer" },
    { "scan_rate", g_variant_new_string ("advisor"), TRUE, "advisor" },
    { "free_source", g_variant_new_string ("ksmtuned"), TRUE, "ksmtuned" },
    { "free_source", g_variant_new_string ("available+arc"), TRUE, "available+arc" },
    { "free_source", g_variant_new_string ("arc"), FALSE,
      "free_source = 'arc' is not one of available|ksmtuned|available+arc" },
    { "pressure_trigger", g_variant_new_string ("  full\t500000   2000000 "), TRUE,
      "full 500000 2000000" },
    { "pressure_trigger", g_variant_new_string ("off"), TRUE, "off" },
    { "pressure_trigger", g_variant_new_string ("some 500 10000000"), TRUE, "some 500 10000000" },
    { "pressure_trigger", g_variant_new_string ("some 150000 499999"), FALSE,
      "pressure_trigger = 'some 150000 499999': the window must be 500000..10000000 µs (the "
      "kernel's limits)" },
    { "pressure_trigger", g_variant_new_string ("some 150000 10000001"), FALSE,
      "pressure_trigger = 'some 150000 10000001': the window must be 500000..10000000 µs (the "
      "kernel's limits)" },
    { "pressure_trigger", g_variant_new_string ("some 1000001 1000000"), FALSE,
      "pressure_trigger = 'some 1000001 1000000': the stall must be 1..1000000 µs (at most the "
      "window)" },
    { "pressure_trigger", g_variant_new_string ("some 0 1000000"), FALSE,
      "pressure_trigger = 'some 0 1000000': the stall must be 1..1000000 µs (at most the "
      "window)" },
    { "pressure_trigger", g_variant_new_string ("partial 1 1000000"), FALSE,
      "pressure_trigger = 'partial 1 1000000' is not \"off\" or \"some|full <stall µs> <window "
      "µs>\"" },
    { "pressure_trigger", g_variant_new_string ("some 150000"), FALSE,
      "pressure_trigger = 'some 150000' is not \"off\" or \"some|full <stall µs> <window µs>\"" },
    { "pressure_trigger", g_variant_new_string ("some -1 1000000"), FALSE,
      "pressure_trigger = 'some -1 1000000': the stall must be 1..1000000 µs (at most the "
      "window)" },
    { "scan_rate", g_variant_new_string ("fast"), FALSE,
      "scan_rate = 'fast' is not one of auto|advisor|classic" },
    { "scan_rate", g_variant_new_int32 (1), FALSE,
      "scan_rate has type 'i', expected a string (one of auto|advisor|classic)" },
    { "mode", g_variant_new_string ("never"), FALSE, "Unknown tuning key 'mode'" },
    { "restore_on_exit", g_variant_new_boolean (FALSE), FALSE,
      "Unknown tuning key 'restore_on_exit'" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (SpConfig) config = sp_config_new_default ();
      g_autoptr (SpConfig) before = sp_config_copy (config);
      g_autoptr (GVariant) value = g_variant_ref_sink (cases[i].value);
      g_autoptr (GError) error = NULL;
      g_autofree char *printed = g_variant_print (value, TRUE);
      gboolean ok = sp_config_set_from_variant (config, cases[i].key, value, &error);

      g_test_message ("%s = %s: %s", cases[i].key, printed, error ? error->message : "ok");
      if (cases[i].ok)
        {
          g_autoptr (GVariant) dict = g_variant_ref_sink (sp_config_tuning_to_variant (config));
          g_autoptr (GVariant) got = g_variant_lookup_value (dict, cases[i].key, NULL);
          g_autofree char *text = g_variant_is_of_type (got, G_VARIANT_TYPE_STRING)
                                      ? g_variant_dup_string (got, NULL)
                                      : g_variant_print (got, FALSE);

          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_cmpstr (text, ==, cases[i].expect);
        }
      else
        {
          g_assert_false (ok);
          g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
          sp_test_assert_contains (error->message, cases[i].expect);
          g_assert_true (sp_config_equal (config, before));
        }
    }
}

/* a{sv}: the [tuning] and [balloon] keys, monitor_interval and resync_interval, ints as
 * 'x', enums as 's'; fed back through set_from_variant it gives the same config. */
static void
test_tuning_to_variant (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpConfig) copy = sp_config_new_default ();
  g_autofree char *path = sp_test_data_path (NULL, "samepaged-full.conf");
  g_autoptr (GVariant) dict = NULL;
  g_autoptr (GVariant) value = NULL;
  GVariantIter iter;
  const char *key;

  g_assert_true (sp_config_load_file (config, path, TRUE, NULL));
  dict = g_variant_ref_sink (sp_config_tuning_to_variant (config));
  g_assert_cmpstr (g_variant_get_type_string (dict), ==, "a{sv}");
  g_assert_cmpuint (g_variant_n_children (dict), ==, 35);

  for (const SpConfigIntKey *k = sp_config_int_keys (); k->key != NULL; k++)
    {
      g_autoptr (GVariant) v = g_variant_lookup_value (dict, k->key, G_VARIANT_TYPE_INT64);

      g_assert_nonnull (v);
      g_assert_cmpint (g_variant_get_int64 (v), ==, sp_config_get_int (config, k));
    }
  g_assert_true (g_variant_lookup (dict, "scan_rate", "&s", &key));
  g_assert_cmpstr (key, ==, "classic");
  g_assert_true (g_variant_lookup (dict, "free_source", "&s", &key));
  g_assert_cmpstr (key, ==, "ksmtuned");
  g_assert_false (g_variant_lookup (dict, "mode", "&s", &key));
  g_assert_false (g_variant_lookup (dict, "restore_on_exit", "b", NULL));

  /* the [daemon] keys are not in the dict: copy them over */
  copy->mode = config->mode;
  copy->restore_on_exit = config->restore_on_exit;
  copy->connect_uri = g_strdup (config->connect_uri);
  copy->metrics_textfile = g_strdup (config->metrics_textfile);
  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GError) error = NULL;

      g_assert_true (sp_config_set_from_variant (copy, key, value, &error));
      g_assert_no_error (error);
      g_clear_pointer (&value, g_variant_unref);
    }
  g_assert_true (sp_config_equal (copy, config));
}

/* Relations between keys; ranges of fields written directly. */
static void
test_validate (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GError) error = NULL;

  config->npages_min = config->npages_max;
  g_assert_true (sp_config_validate (config, &error));
  g_assert_no_error (error);

  config->npages_min = config->npages_max + 1;
  g_assert_false (sp_config_validate (config, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_CONFIG);
  sp_test_assert_contains (error->message, "npages_min = 1251 is greater than npages_max = 1250");
  g_clear_error (&error);
  config->npages_min = 64;

  config->advisor_scan_time_min = 300;
  g_assert_false (sp_config_validate (config, &error));
  sp_test_assert_contains (error->message, "advisor_scan_time_min = 300 is greater than "
                                           "advisor_scan_time_max = 200");
  g_clear_error (&error);
  config->advisor_scan_time_min = 30;

  config->monitor_interval_sec = 0;
  g_assert_false (sp_config_validate (config, &error));
  sp_test_assert_contains (error->message,
                           "[daemon] monitor_interval = 0 is out of range (1..86400 s)");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/equal-copy", test_equal_copy);
  g_test_add_func ("/config/validate", test_validate);
  g_test_add_func ("/config/load/full", test_load_full);
  g_test_add_func ("/config/load/partial-and-missing", test_load_partial_and_missing);
  g_test_add_func ("/config/load/bad", test_load_bad);
  g_test_add ("/config/load/every-range", SpTestTmpDir, NULL, sp_test_tmp_dir_setup,
              test_load_every_range, sp_test_tmp_dir_teardown);
  g_test_add ("/config/load/int-syntax", SpTestTmpDir, NULL, sp_test_tmp_dir_setup,
              test_load_int_syntax, sp_test_tmp_dir_teardown);
  g_test_add ("/config/round-trip", SpTestTmpDir, NULL, sp_test_tmp_dir_setup, test_round_trip,
              sp_test_tmp_dir_teardown);
  g_test_add_func ("/config/default-file", test_default_file);
  g_test_add ("/config/profit-keys", SpTestTmpDir, NULL, sp_test_tmp_dir_setup, test_profit_keys,
              sp_test_tmp_dir_teardown);
  g_test_add ("/config/balloon-keys", SpTestTmpDir, NULL, sp_test_tmp_dir_setup, test_balloon_keys,
              sp_test_tmp_dir_teardown);
  g_test_add_func ("/config/precedence", test_precedence);
  g_test_add_func ("/config/set-from-string", test_set_from_string);
  g_test_add_func ("/config/set-from-variant", test_set_from_variant);
  g_test_add_func ("/config/tuning-to-variant", test_tuning_to_variant);

  return g_test_run ();
}
