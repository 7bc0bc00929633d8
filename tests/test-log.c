/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Per-domain log lines carry the domain as journal fields. */
#define G_LOG_DOMAIN "samepaged-test"

#include "sp-log.h"

typedef struct {
  GLogLevelFlags level;
  GHashTable *fields; /* key → value, of the last line */
  guint n_lines;
} Captured;

static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  Captured *c = user_data;

  c->level = level;
  c->n_lines++;
  g_hash_table_remove_all (c->fields);
  for (gsize i = 0; i < n_fields; i++)
    g_hash_table_insert (c->fields, g_strdup (fields[i].key),
                         fields[i].length < 0 ? g_strdup (fields[i].value)
                                              : g_strndup (fields[i].value, fields[i].length));
  return G_LOG_WRITER_HANDLED;
}

static Captured captured;

static void
test_log_domain_fields (void)
{
  sp_log_domain (G_LOG_LEVEL_MESSAGE, "web1", "6695eb01-f6a4-8304-79aa-97f2502e193f",
                 "Domain %s starts with memory merging %s", "web1", "off");

  g_assert_cmpuint (captured.n_lines, ==, 1);
  g_assert_cmpint (captured.level, ==, G_LOG_LEVEL_MESSAGE);
  g_assert_cmpstr (g_hash_table_lookup (captured.fields, "MESSAGE"), ==,
                   "Domain web1 starts with memory merging off");
  g_assert_cmpstr (g_hash_table_lookup (captured.fields, SP_LOG_FIELD_DOMAIN), ==, "web1");
  g_assert_cmpstr (g_hash_table_lookup (captured.fields, SP_LOG_FIELD_DOMAIN_UUID), ==,
                   "6695eb01-f6a4-8304-79aa-97f2502e193f");
  /* notice, as g_message gives it, and the caller's log domain */
  g_assert_cmpstr (g_hash_table_lookup (captured.fields, "PRIORITY"), ==, "5");
  g_assert_cmpstr (g_hash_table_lookup (captured.fields, "GLIB_DOMAIN"), ==, "samepaged-test");
}

static void
test_log_domain_priorities (void)
{
  static const struct {
    GLogLevelFlags level;
    const char *priority;
  } cases[] = {
    { G_LOG_LEVEL_WARNING, "4" },
    { G_LOG_LEVEL_MESSAGE, "5" },
    { G_LOG_LEVEL_INFO, "6" },
    { G_LOG_LEVEL_DEBUG, "7" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      sp_log_domain (cases[i].level, "g1", NULL, "line %zu", i);
      g_assert_cmpstr (g_hash_table_lookup (captured.fields, "PRIORITY"), ==, cases[i].priority);
      g_assert_cmpstr (g_hash_table_lookup (captured.fields, SP_LOG_FIELD_DOMAIN), ==, "g1");
      /* no UUID given, no field */
      g_assert_false (g_hash_table_contains (captured.fields, SP_LOG_FIELD_DOMAIN_UUID));
    }
}

static void
test_log_once (void)
{
  SpLogOnce slot = { NULL };

  g_assert_true (sp_log_once_changed (&slot, "cannot read"));
  g_assert_false (sp_log_once_changed (&slot, "cannot read"));
  g_assert_true (sp_log_once_changed (&slot, "cannot write"));
  g_assert_true (sp_log_once_reset (&slot));
  g_assert_false (sp_log_once_reset (&slot));
  g_assert_true (sp_log_once_changed (&slot, "cannot write"));
  g_assert_true (sp_log_once_reset (&slot));
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  captured.fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_log_set_writer_func (capture_writer, &captured, NULL);
  g_test_add_func ("/log/domain-fields", test_log_domain_fields);
  g_test_add_func ("/log/domain-priorities", test_log_domain_priorities);
  g_test_add_func ("/log/once", test_log_once);
  ret = g_test_run ();
  g_hash_table_unref (captured.fields);
  return ret;
}
