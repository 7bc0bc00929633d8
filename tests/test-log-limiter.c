/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SpLogLimiter on a clock the test drives: one line per key per interval,
 * the rest counted and reported, memory and lines bounded. */
#define G_LOG_DOMAIN "samepaged-test"

#include "sp-log-limiter.h"

#define MINUTE_US (60 * G_USEC_PER_SEC)
#define SECOND_US G_USEC_PER_SEC

/* What expire reported: "key=N", "others=N". */
static void
collect (const char *key, guint64 suppressed, gpointer user_data)
{
  GPtrArray *reports = user_data;

  g_ptr_array_add (reports,
                   g_strdup_printf ("%s=%" G_GUINT64_FORMAT, key ? key : "others", suppressed));
}

static char *
expire (SpLogLimiter *limiter, gint64 now_us)
{
  g_autoptr (GPtrArray) reports = g_ptr_array_new_with_free_func (g_free);

  sp_log_limiter_expire (limiter, now_us, collect, reports);
  g_ptr_array_add (reports, NULL);
  return g_strjoinv (" ", (char **) reports->pdata);
}

/* 1,000 lines in a minute: one let through, 999 reported when it ends. */
static void
test_one_line_per_minute (void)
{
  g_autoptr (SpLogLimiter) limiter = sp_log_limiter_new (MINUTE_US, 1000, 100);
  g_autofree char *early = NULL;
  g_autofree char *due = NULL;
  g_autofree char *after = NULL;
  guint64 suppressed = 42;
  guint allowed = 0;

  for (guint i = 0; i < 1000; i++)
    {
      gint64 now = 1000 * SECOND_US + i * 50000; /* 50 ms apart: 50 s */

      if (sp_log_limiter_allow (limiter, ":1.42", now, &suppressed))
        {
          allowed++;
          g_assert_cmpuint (suppressed, ==, 0);
        }
    }
  g_assert_cmpuint (allowed, ==, 1);
  g_assert_cmpint (sp_log_limiter_next_expiry (limiter), ==, 1000 * SECOND_US + MINUTE_US);

  /* not before the minute ends */
  early = expire (limiter, 1000 * SECOND_US + MINUTE_US - 1);
  g_assert_cmpstr (early, ==, "");
  due = expire (limiter, 1000 * SECOND_US + MINUTE_US);
  g_assert_cmpstr (due, ==, ":1.42=999");
  /* reported once, and forgotten */
  g_assert_cmpuint (sp_log_limiter_get_n_keys (limiter), ==, 0);
  g_assert_cmpint (sp_log_limiter_next_expiry (limiter), ==, G_MAXINT64);
  after = expire (limiter, 1000 * SECOND_US + 2 * MINUTE_US);
  g_assert_cmpstr (after, ==, "");

  /* the next line is let through again */
  g_assert_true (sp_log_limiter_allow (limiter, ":1.42", 1000 * SECOND_US + MINUTE_US, NULL));
}

/* A key's next line after its minute, before expire ran, carries the count. */
static void
test_count_with_next_line (void)
{
  g_autoptr (SpLogLimiter) limiter = sp_log_limiter_new (MINUTE_US, 1000, 100);
  g_autofree char *reports = NULL;
  guint64 suppressed = 0;

  g_assert_true (sp_log_limiter_allow (limiter, ":1.7", 0, &suppressed));
  for (guint i = 0; i < 5; i++)
    g_assert_false (sp_log_limiter_allow (limiter, ":1.7", SECOND_US, &suppressed));
  g_assert_true (sp_log_limiter_allow (limiter, ":1.7", MINUTE_US, &suppressed));
  g_assert_cmpuint (suppressed, ==, 5);
  /* counted once: expire has nothing left of that minute */
  reports = expire (limiter, 2 * MINUTE_US);
  g_assert_cmpstr (reports, ==, "");
}

/* Keys are independent; a key with nothing held back is not reported. */
static void
test_keys_independent (void)
{
  g_autoptr (SpLogLimiter) limiter = sp_log_limiter_new (MINUTE_US, 1000, 100);
  g_autofree char *reports = NULL;

  g_assert_true (sp_log_limiter_allow (limiter, "a", 0, NULL));
  g_assert_true (sp_log_limiter_allow (limiter, "b", 10 * SECOND_US, NULL));
  g_assert_true (sp_log_limiter_allow (limiter, "c", 20 * SECOND_US, NULL));
  g_assert_false (sp_log_limiter_allow (limiter, "a", 30 * SECOND_US, NULL));
  g_assert_false (sp_log_limiter_allow (limiter, "b", 30 * SECOND_US, NULL));
  g_assert_false (sp_log_limiter_allow (limiter, "b", 31 * SECOND_US, NULL));
  g_assert_cmpuint (sp_log_limiter_get_n_keys (limiter), ==, 3);

  /* a's minute ended, b's not yet */
  reports = expire (limiter, 65 * SECOND_US);
  g_assert_cmpstr (reports, ==, "a=1");
  g_assert_cmpint (sp_log_limiter_next_expiry (limiter), ==, 70 * SECOND_US);
  g_clear_pointer (&reports, g_free);
  reports = expire (limiter, 80 * SECOND_US);
  g_assert_cmpstr (reports, ==, "b=2");
  g_assert_cmpuint (sp_log_limiter_get_n_keys (limiter), ==, 0);
}

/* Memory: a full table forgets its oldest key; what it held back goes to
 * "other senders". */
static void
test_table_capped (void)
{
  g_autoptr (SpLogLimiter) limiter = sp_log_limiter_new (MINUTE_US, 1000, 100000);
  g_autofree char *reports = NULL;

  for (guint i = 0; i < 5000; i++)
    {
      g_autofree char *key = g_strdup_printf (":1.%u", i);

      g_assert_true (sp_log_limiter_allow (limiter, key, i, NULL));
      g_assert_false (sp_log_limiter_allow (limiter, key, i, NULL));
      g_assert_cmpuint (sp_log_limiter_get_n_keys (limiter), <=, 1000);
    }
  g_assert_cmpuint (sp_log_limiter_get_n_keys (limiter), ==, 1000);
  /* the newest 1,000 are remembered: still held back */
  g_assert_false (sp_log_limiter_allow (limiter, ":1.4999", 5000, NULL));
  g_assert_false (sp_log_limiter_allow (limiter, ":1.4000", 5000, NULL));

  reports = expire (limiter, G_MAXINT64);
  g_assert_true (g_str_has_prefix (reports, ":1.4000=2 :1.4001=1 "));
  g_assert_true (g_str_has_suffix (reports, " :1.4999=2 others=4000"));
  g_assert_cmpuint (sp_log_limiter_get_n_keys (limiter), ==, 0);
}

/* Lines: a client opening connection after connection (a new key each
 * time) gets max_lines lines a minute, the rest is one count. */
static void
test_lines_capped (void)
{
  g_autoptr (SpLogLimiter) limiter = sp_log_limiter_new (MINUTE_US, 1000, 10);
  g_autofree char *reports = NULL;
  g_autofree char *later = NULL;
  guint allowed = 0;

  for (guint i = 0; i < 3000; i++)
    {
      g_autofree char *key = g_strdup_printf (":1.%u", i);

      allowed += sp_log_limiter_allow (limiter, key, i * 1000, NULL);
    }
  g_assert_cmpuint (allowed, ==, 10);
  g_assert_cmpuint (sp_log_limiter_get_n_keys (limiter), ==, 10);
  g_assert_cmpint (sp_log_limiter_next_expiry (limiter), ==, MINUTE_US);

  reports = expire (limiter, MINUTE_US + 10 * 1000);
  g_assert_cmpstr (reports, ==, "others=2990");
  g_assert_cmpint (sp_log_limiter_next_expiry (limiter), ==, G_MAXINT64);

  /* a new minute, a new budget */
  g_assert_true (sp_log_limiter_allow (limiter, ":2.1", MINUTE_US + 10 * 1000, NULL));
  later = expire (limiter, G_MAXINT64);
  g_assert_cmpstr (later, ==, "");
}

/* A key coming back after its minute while the budget is spent: its
 * count and this line go to "other senders". */
static void
test_returning_key_over_budget (void)
{
  g_autoptr (SpLogLimiter) limiter = sp_log_limiter_new (MINUTE_US, 1000, 1);
  g_autofree char *reports = NULL;
  guint64 suppressed = 0;

  g_assert_true (sp_log_limiter_allow (limiter, "a", 0, NULL));
  g_assert_false (sp_log_limiter_allow (limiter, "a", 1, NULL));
  g_assert_false (sp_log_limiter_allow (limiter, "a", 2, NULL));
  /* a new budget minute: b takes its one line */
  g_assert_true (sp_log_limiter_allow (limiter, "b", MINUTE_US, NULL));
  g_assert_false (sp_log_limiter_allow (limiter, "a", MINUTE_US + 1, &suppressed));
  g_assert_cmpuint (suppressed, ==, 0);
  g_assert_cmpuint (sp_log_limiter_get_n_keys (limiter), ==, 1);
  reports = expire (limiter, G_MAXINT64);
  g_assert_cmpstr (reports, ==, "others=3");
}

/* Flushing at exit: every count comes out, whatever the time. */
static void
test_flush (void)
{
  g_autoptr (SpLogLimiter) limiter = sp_log_limiter_new (MINUTE_US, 1000, 100);
  g_autofree char *reports = NULL;

  g_assert_true (sp_log_limiter_allow (limiter, "x", G_MAXINT64 - 5, NULL));
  g_assert_false (sp_log_limiter_allow (limiter, "x", G_MAXINT64 - 4, NULL));
  g_assert_cmpint (sp_log_limiter_next_expiry (limiter), ==, G_MAXINT64);
  reports = expire (limiter, G_MAXINT64);
  g_assert_cmpstr (reports, ==, "x=1");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/log-limiter/one-line-per-minute", test_one_line_per_minute);
  g_test_add_func ("/log-limiter/count-with-next-line", test_count_with_next_line);
  g_test_add_func ("/log-limiter/keys-independent", test_keys_independent);
  g_test_add_func ("/log-limiter/table-capped", test_table_capped);
  g_test_add_func ("/log-limiter/lines-capped", test_lines_capped);
  g_test_add_func ("/log-limiter/returning-key-over-budget", test_returning_key_over_budget);
  g_test_add_func ("/log-limiter/flush", test_flush);
  return g_test_run ();
}
