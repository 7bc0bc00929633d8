/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The KSM policy, driven by tables: stop, boost, decay, clamp,
 * hysteresis, free source, modes, advisor. */
#include "sp-io.h"
#include "sp-ksm-policy.h"
#include "sp-test.h"

#define GIB (G_GUINT64_CONSTANT (1024) * 1024)
#define MIB G_GUINT64_CONSTANT (1024)

/* A kernel without the advisor (before 6.8). */
static void
ksm_classic (SpKsmState *ksm, gint64 pages_to_scan)
{
  memset (ksm, 0, sizeof (*ksm));
  ksm->available = TRUE;
  sp_test_ksm_set (ksm, SP_KSM_RUN, 0);
  sp_test_ksm_set (ksm, SP_KSM_PAGES_TO_SCAN, pages_to_scan);
  sp_test_ksm_set (ksm, SP_KSM_SLEEP_MILLISECS, 20);
}

static void
ksm_with_advisor (SpKsmState *ksm, gint64 pages_to_scan)
{
  ksm_classic (ksm, pages_to_scan);
  sp_test_ksm_set (ksm, SP_KSM_ADVISOR_MODE, SP_KSM_ADVISOR_NONE);
  sp_test_ksm_set (ksm, SP_KSM_ADVISOR_MAX_CPU, 70);
  sp_test_ksm_set (ksm, SP_KSM_ADVISOR_TARGET_SCAN_TIME, 200);
}

static void
mem_set (SpMeminfo *mem, guint64 total_kib, guint64 available_kib)
{
  memset (mem, 0, sizeof (*mem));
  mem->total_kib = total_kib;
  mem->available_kib = available_kib;
  mem->free_kib = available_kib / 2;
  mem->buffers_kib = 0;
  mem->cached_kib = available_kib / 2;
}

static gboolean
find_setting (const SpDecision *d, SpKsmField field, gint64 *value)
{
  for (guint i = 0; i < d->n_settings; i++)
    {
      if (d->settings[i].field == field)
        {
          if (value)
            *value = d->settings[i].value;
          return TRUE;
        }
    }
  return FALSE;
}

static gint64
setting (const SpDecision *d, SpKsmField field)
{
  gint64 v = -1;
  g_assert_true (find_setting (d, field, &v));
  return v;
}

typedef struct {
  const char *name;
  guint64 total_kib;
  guint64 available_kib;
  guint64 committed_kib;
  gint64 pages_to_scan;
  SpAction previous;
  SpAction expect_action;
  gint64 expect_npages; /* -1: no pages_to_scan setting expected */
  const char *expect_reason;
} PolicyCase;

/* 16 GiB host: threshold 20 % = 3355443 KiB (3.2 GiB), sleep 10 ms. */
static const PolicyCase classic_cases[] = {
  { "idle host stops", 16 * GIB, 10 * GIB, 4 * GIB, 100, SP_ACTION_NONE, SP_ACTION_STOP, -1,
    "stop: committed 4.0 GiB + threshold 3.2 GiB < total 16.0 GiB" },
  { "committed near total runs, free low boosts", 16 * GIB, 2 * GIB, 14 * GIB, 100, SP_ACTION_NONE,
    SP_ACTION_RUN, 400, "boost to 400 pages" },
  { "free low alone runs (boost)", 16 * GIB, 1 * GIB, 1 * GIB, 500, SP_ACTION_STOP, SP_ACTION_RUN,
    800, "available 1.0 GiB < threshold 3.2 GiB" },
  { "committed high, free above threshold decays", 16 * GIB, 5 * GIB, 14 * GIB, 1000, SP_ACTION_RUN,
    SP_ACTION_RUN, 950, "decay to 950 pages" },
  { "boost clamps at max", 16 * GIB, 1 * GIB, 15 * GIB, 1200, SP_ACTION_RUN, SP_ACTION_RUN, 1250,
    "boost to 1250 pages" },
  { "decay clamps at min", 16 * GIB, 5 * GIB, 15 * GIB, 100, SP_ACTION_RUN, SP_ACTION_RUN, 64,
    "decay to 64 pages" },
  { "outside value is the base (noticed)", 16 * GIB, 5 * GIB, 15 * GIB, 700, SP_ACTION_RUN,
    SP_ACTION_RUN, 650, "decay to 650 pages" },
  /* committed + thres is 100 MiB below total: ksmtuned would stop ... */
  { "hysteresis: stopped host stays stopped", 16 * GIB, 8 * GIB, 16 * GIB - 3355443 - 100 * MIB,
    500, SP_ACTION_STOP, SP_ACTION_STOP, -1, "stop:" },
  /* ... but a running KSM keeps running inside the 10 % band (335 MiB). */
  { "hysteresis: running host keeps running", 16 * GIB, 8 * GIB, 16 * GIB - 3355443 - 100 * MIB,
    500, SP_ACTION_RUN, SP_ACTION_RUN, 450, "within the hysteresis band" },
  { "hysteresis: free just above threshold keeps running", 16 * GIB, 3355443 + 100 * MIB, 2 * GIB,
    500, SP_ACTION_RUN, SP_ACTION_RUN, 450, "hysteresis" },
  { "beyond the band it stops", 16 * GIB, 8 * GIB, 16 * GIB - 3355443 - 400 * MIB, 500,
    SP_ACTION_RUN, SP_ACTION_STOP, -1, "stop:" },
  /* libvirt's sum saturated: committed + threshold (+ margin) must not wrap
   * around to a small number that stops KSM */
  { "saturated committed runs", 16 * GIB, 10 * GIB, G_MAXUINT64, 100, SP_ACTION_RUN, SP_ACTION_RUN,
    64, ">= total 16.0 GiB" },
  { "saturated committed runs from stopped", 16 * GIB, 10 * GIB, G_MAXUINT64 - 1, 100,
    SP_ACTION_STOP, SP_ACTION_RUN, 64, ">= total 16.0 GiB" },
};

static void
run_case (const PolicyCase *c)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };

  g_test_message ("case: %s", c->name);
  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  in.config = config;
  mem_set (&in.mem, c->total_kib, c->available_kib);
  in.committed_kib = c->committed_kib;
  ksm_classic (&in.ksm, c->pages_to_scan);
  in.previous_action = c->previous;
  in.previous_npages = c->pages_to_scan;

  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpstr (sp_action_to_string (d.action), ==, sp_action_to_string (c->expect_action));
  g_assert_cmpuint (d.threshold_kib, ==, 3355443);
  g_assert_cmpint (d.sleep_millisecs, ==, 10);
  if (strstr (d.reason, c->expect_reason) == NULL)
    g_error ("%s: reason '%s' lacks '%s'", c->name, d.reason, c->expect_reason);

  if (c->expect_action == SP_ACTION_STOP)
    {
      g_assert_cmpuint (d.n_settings, ==, 1);
      g_assert_cmpint (setting (&d, SP_KSM_RUN), ==, SP_KSM_RUN_STOP);
    }
  else
    {
      g_assert_cmpint (d.npages, ==, c->expect_npages);
      g_assert_cmpint (setting (&d, SP_KSM_PAGES_TO_SCAN), ==, c->expect_npages);
      g_assert_cmpint (setting (&d, SP_KSM_SLEEP_MILLISECS), ==, 10);
      g_assert_cmpint (setting (&d, SP_KSM_RUN), ==, SP_KSM_RUN_MERGE);
      /* run=1 comes last, after the rate is set */
      g_assert_cmpint (d.settings[d.n_settings - 1].field, ==, SP_KSM_RUN);
      g_assert_false (find_setting (&d, SP_KSM_ADVISOR_MODE, NULL));
    }
  sp_decision_clear (&d);
}

static void
test_policy_table (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (classic_cases); i++)
    run_case (&classic_cases[i]);
}

static void
test_policy_hysteresis_off (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };

  config->hysteresis_pct = 0;
  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  in.config = config;
  mem_set (&in.mem, 16 * GIB, 8 * GIB);
  in.committed_kib = 16 * GIB - 3355443 - 100 * MIB;
  ksm_classic (&in.ksm, 500);
  in.previous_action = SP_ACTION_RUN;
  sp_ksm_policy_decide (&in, &d);
  /* plain ksmtuned semantics: stop */
  g_assert_cmpint (d.action, ==, SP_ACTION_STOP);
  sp_decision_clear (&d);
}

static void
test_policy_formulas (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();

  /* thres_const wins on a small host */
  g_assert_cmpuint (sp_ksm_policy_threshold_kib (config, 8000), ==, 2048);
  g_assert_cmpuint (sp_ksm_policy_threshold_kib (config, 16 * GIB), ==, 3355443);
  /* 4 TiB host: 64-bit, no overflow */
  g_assert_cmpuint (sp_ksm_policy_threshold_kib (config, 4096 * GIB), ==, 4096 * GIB / 5);
  config->thres_coef = 100;
  g_assert_cmpuint (sp_ksm_policy_threshold_kib (config, G_MAXUINT64 / 2), ==, G_MAXUINT64 / 2);
  config->thres_coef = 20;

  /* sleep = max(10, sleep_msec * 16 GiB / total) */
  g_assert_cmpint (sp_ksm_policy_sleep_millisecs (config, 16 * GIB), ==, 10);
  g_assert_cmpint (sp_ksm_policy_sleep_millisecs (config, 4 * GIB), ==, 40);
  g_assert_cmpint (sp_ksm_policy_sleep_millisecs (config, 2 * GIB), ==, 80);
  g_assert_cmpint (sp_ksm_policy_sleep_millisecs (config, 4096 * GIB), ==, 10);
  config->sleep_msec = 100;
  g_assert_cmpint (sp_ksm_policy_sleep_millisecs (config, 32 * GIB), ==, 50);
}

static void
test_policy_small_host_sleep (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };

  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  in.config = config;
  mem_set (&in.mem, 4 * GIB, 100 * MIB);
  ksm_classic (&in.ksm, 100);
  in.committed_kib = 3 * GIB;
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_cmpint (setting (&d, SP_KSM_SLEEP_MILLISECS), ==, 40);
  sp_decision_clear (&d);
}

static void
test_policy_free_source (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };

  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  in.config = config;
  /* MemAvailable is low, but MemFree + Buffers + Cached is high */
  in.mem.total_kib = 16 * GIB;
  in.mem.available_kib = 1 * GIB;
  in.mem.free_kib = 4 * GIB;
  in.mem.buffers_kib = 2 * GIB;
  in.mem.cached_kib = 4 * GIB;
  in.committed_kib = 2 * GIB;
  ksm_classic (&in.ksm, 100);

  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_cmpuint (d.free_kib, ==, 1 * GIB);
  sp_decision_clear (&d);

  config->free_source = SP_FREE_SOURCE_KSMTUNED;
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_STOP);
  g_assert_cmpuint (d.free_kib, ==, 10 * GIB);
  g_assert_nonnull (strstr (d.reason, "free 10.0 GiB"));
  sp_decision_clear (&d);
}

/* free_source = available+arc: the ARC's shrinkable part counts, and the
 * reason names it; without it (has_arc FALSE) MemAvailable alone. */
static void
test_policy_free_source_arc (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };

  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  config->free_source = SP_FREE_SOURCE_AVAILABLE_ARC;
  in.config = config;
  mem_set (&in.mem, 16 * GIB, 1 * GIB);
  in.mem.has_arc = TRUE;
  in.mem.arc_shrinkable_kib = 6 * GIB;
  in.committed_kib = 2 * GIB;
  ksm_classic (&in.ksm, 100);

  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_STOP);
  g_assert_cmpuint (d.free_kib, ==, 7 * GIB);
  sp_test_assert_contains (d.reason, "available+arc 7.0 GiB > threshold");
  sp_decision_clear (&d);

  in.mem.has_arc = FALSE;
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_cmpuint (d.free_kib, ==, 1 * GIB);
  sp_test_assert_contains (d.reason, "run: available 1.0 GiB < threshold");
  sp_decision_clear (&d);
}

/* Memory pressure (a PSI trigger): KSM runs at the top rate whatever the
 * threshold says, except with mode never; the reason starts with it. */
static void
test_policy_pressure (void)
{
  static const char *const pressure = "memory pressure: some >= 15 % over 1 s (avg10 18.00 %)";
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };

  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  in.config = config;
  /* an idle host: without pressure, KSM stops */
  mem_set (&in.mem, 16 * GIB, 12 * GIB);
  in.committed_kib = 2 * GIB;
  ksm_classic (&in.ksm, 100);
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_STOP);
  sp_decision_clear (&d);

  in.pressure = pressure;
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_cmpint (d.npages, ==, 1250);
  g_assert_cmpint (setting (&d, SP_KSM_PAGES_TO_SCAN), ==, 1250);
  g_assert_cmpint (setting (&d, SP_KSM_RUN), ==, SP_KSM_RUN_MERGE);
  g_assert_cmpstr (d.reason, ==,
                   "run: memory pressure: some >= 15 % over 1 s (avg10 18.00 %), available "
                   "12.0 GiB, threshold 3.2 GiB, pressure boost to 1250 pages");
  sp_decision_clear (&d);

  /* below the threshold too: the top rate, not one boost step */
  mem_set (&in.mem, 16 * GIB, 1 * GIB);
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.npages, ==, 1250);
  sp_decision_clear (&d);

  /* the advisor at its top: max_cpu max, shortest scan time */
  config->scan_rate = SP_SCAN_RATE_AUTO;
  ksm_with_advisor (&in.ksm, 100);
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_MAX_CPU), ==, config->advisor_max_cpu_max);
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_TARGET_SCAN_TIME), ==,
                   config->advisor_scan_time_min);
  sp_test_assert_contains (d.reason, ", pressure boost: advisor max_cpu 70 %");
  sp_decision_clear (&d);

  /* mode always: runs at the top rate, and says why */
  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  config->mode = SP_MODE_ALWAYS;
  ksm_classic (&in.ksm, 100);
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.npages, ==, 1250);
  g_assert_true (g_str_has_prefix (d.reason, "run: mode is always, memory pressure: some"));
  sp_decision_clear (&d);

  /* mode never: stopped, pressure or not */
  config->mode = SP_MODE_NEVER;
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_STOP);
  sp_decision_clear (&d);
}

static void
test_policy_modes (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };

  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  in.config = config;
  ksm_classic (&in.ksm, 100);

  /* never: stop even under heavy pressure */
  config->mode = SP_MODE_NEVER;
  mem_set (&in.mem, 16 * GIB, 100 * MIB);
  in.committed_kib = 15 * GIB;
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_STOP);
  g_assert_cmpint (setting (&d, SP_KSM_RUN), ==, 0);
  g_assert_nonnull (strstr (d.reason, "mode is never"));
  sp_decision_clear (&d);

  /* always: run on an idle host, with the decayed rate */
  config->mode = SP_MODE_ALWAYS;
  mem_set (&in.mem, 16 * GIB, 12 * GIB);
  in.committed_kib = 0;
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_cmpint (setting (&d, SP_KSM_RUN), ==, 1);
  g_assert_cmpint (setting (&d, SP_KSM_PAGES_TO_SCAN), ==, 64);
  g_assert_nonnull (strstr (d.reason, "mode is always"));
  sp_decision_clear (&d);
}

static void
test_policy_advisor (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };

  in.config = config; /* scan_rate=auto */
  mem_set (&in.mem, 16 * GIB, 1 * GIB);
  in.committed_kib = 15 * GIB;
  ksm_with_advisor (&in.ksm, 5000); /* pages_to_scan steered by the kernel */
  in.previous_action = SP_ACTION_NONE;
  in.previous_npages = 0;

  /* boost from 0 → 300: a quarter of the way from min 64 to max 1250 */
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_true (d.use_advisor);
  g_assert_cmpint (d.npages, ==, 300);
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_MODE), ==, SP_KSM_ADVISOR_SCAN_TIME);
  /* 10 + (70 - 10) * 236 / 1186 = 21.9 → 22; 200 - 170 * 236 / 1186 = 166.2 → 166 */
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_MAX_CPU), ==, 22);
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_TARGET_SCAN_TIME), ==, 166);
  /* never pages_to_scan: the kernel answers EINVAL under the advisor */
  g_assert_false (find_setting (&d, SP_KSM_PAGES_TO_SCAN, NULL));
  g_assert_cmpint (d.settings[d.n_settings - 1].field, ==, SP_KSM_RUN);
  g_assert_cmpint (d.settings[0].field, ==, SP_KSM_ADVISOR_MODE);
  g_assert_nonnull (strstr (d.reason, "advisor max_cpu 22 %"));
  sp_decision_clear (&d);

  /* full pressure for long: clamps at the max end of both ranges */
  in.previous_action = SP_ACTION_RUN;
  in.previous_npages = 1250;
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_MAX_CPU), ==, 70);
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_TARGET_SCAN_TIME), ==, 30);
  sp_decision_clear (&d);

  /* classic on an advisor kernel: advisor off first, then pages_to_scan */
  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  sp_ksm_policy_decide (&in, &d);
  g_assert_false (d.use_advisor);
  g_assert_cmpint (d.settings[0].field, ==, SP_KSM_ADVISOR_MODE);
  g_assert_cmpint (d.settings[0].value, ==, SP_KSM_ADVISOR_NONE);
  g_assert_cmpint (setting (&d, SP_KSM_PAGES_TO_SCAN), ==, 1250);
  sp_decision_clear (&d);

  /* advisor asked for on a kernel without it: classic, and the reason says */
  config->scan_rate = SP_SCAN_RATE_ADVISOR;
  ksm_classic (&in.ksm, 100);
  sp_ksm_policy_decide (&in, &d);
  g_assert_false (d.use_advisor);
  g_assert_false (find_setting (&d, SP_KSM_ADVISOR_MODE, NULL));
  g_assert_cmpint (setting (&d, SP_KSM_PAGES_TO_SCAN), ==, 400);
  g_assert_nonnull (strstr (d.reason, "no KSM advisor"));
  sp_decision_clear (&d);
}

/* advisor_max_pages_to_scan: the advisor's page rate, capped by the guests'
 * committed memory (scanned once per target scan time, 4× headroom), never
 * under classic's npages */
static void
test_policy_advisor_max_pages (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };
  const struct {
    const char *what;
    guint64 committed_kib;
    gint64 previous_npages; /* 0: target 166 s; 1250: full pressure, 30 s */
    gint64 min_pages;
    gint64 expected;
  } cases[] = {
    /* 15 GiB = 3932160 pages; 166 s / 10 ms = 16600 wake-ups: 237 × 4 */
    { "15 GiB, first boost", 15 * GIB, 0, 500, 948 },
    /* 3000 wake-ups: 1311 × 4 */
    { "15 GiB, full pressure", 15 * GIB, 1250, 500, 5244 },
    /* 196608 pages / 3000 = 66 × 4 = 264: classic's 1250 instead */
    { "768 MiB, full pressure", 768 * 1024, 1250, 500, 1250 },
    /* 196608 / 16600 = 12 × 4 = 48, npages 300: 300 */
    { "768 MiB, first boost", 768 * 1024, 0, 200, 300 },
    /* and never under the kernel's advisor_min_pages_to_scan */
    { "768 MiB, minimum 2000", 768 * 1024, 1250, 2000, 2000 },
    /* 17477 pages per wake-up already: the kernel's default maximum */
    { "200 GiB, full pressure", 200 * GIB, 1250, 500, 30000 },
    /* guests unknown: nothing to size the cap by */
    { "no guests", 0, 1250, 500, 30000 },
  };

  in.config = config;                   /* scan_rate=auto */
  mem_set (&in.mem, 16 * GIB, 1 * GIB); /* sleep 10 ms */
  in.previous_action = SP_ACTION_RUN;
  config->mode = SP_MODE_ALWAYS; /* runs whatever the committed memory */
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *expected_reason =
          g_strdup_printf ("at most %" G_GINT64_FORMAT " pages", cases[i].expected);

      g_test_message ("%s", cases[i].what);
      ksm_with_advisor (&in.ksm, 5000);
      sp_test_ksm_set (&in.ksm, SP_KSM_ADVISOR_MIN_PAGES_TO_SCAN, cases[i].min_pages);
      sp_test_ksm_set (&in.ksm, SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN, 30000);
      in.committed_kib = cases[i].committed_kib;
      in.previous_npages = cases[i].previous_npages;
      sp_ksm_policy_decide (&in, &d);
      g_assert_true (d.use_advisor);
      g_assert_cmpint (d.sleep_millisecs, ==, 10);
      g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN), ==, cases[i].expected);
      g_assert_cmpint (d.advisor_max_pages, ==, cases[i].expected);
      g_assert_nonnull (strstr (d.reason, expected_reason));
      /* run stays last */
      g_assert_cmpint (d.settings[d.n_settings - 1].field, ==, SP_KSM_RUN);
      sp_decision_clear (&d);
    }

  /* a 4 KiB-page count: 64 KiB pages make 16× fewer pages to scan */
  in.page_kib = 64;
  in.committed_kib = 15 * GIB;
  in.previous_npages = 1250;
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN), ==, 1250); /* 82 × 4 < 1250 */
  sp_decision_clear (&d);
  in.page_kib = 0;

  /* a kernel without the file: not written */
  ksm_with_advisor (&in.ksm, 5000);
  sp_ksm_policy_decide (&in, &d);
  g_assert_true (d.use_advisor);
  g_assert_false (find_setting (&d, SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN, NULL));
  g_assert_cmpint (d.advisor_max_pages, ==, 0);
  sp_decision_clear (&d);

  /* classic: the advisor's cap is not touched */
  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  sp_test_ksm_set (&in.ksm, SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN, 30000);
  sp_ksm_policy_decide (&in, &d);
  g_assert_false (find_setting (&d, SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN, NULL));
  sp_decision_clear (&d);
}

/* The next decision of a running KSM, the warm-up's state carried over as
 * the tuner does, with this committed memory. */
static void
warmup_next (SpKsmPolicyInput *in, SpDecision *d, guint64 committed_kib)
{
  in->previous_warmup = d->warmup;
  sp_decision_clear (d);
  in->committed_kib = committed_kib;
  sp_ksm_policy_decide (in, d);
}

/* The advisor's warm-up: a run starts with classic steering, at least at
 * the rate that scans the committed memory once in the target scan time,
 * and the advisor takes over after 2 full scans. */
static void
test_policy_advisor_warmup (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };
  SpDecision prev = { 0 };

  in.config = config; /* scan_rate=auto */
  in.page_kib = 4;
  /* no pressure, run by committed 15 + threshold 3.2 >= 16 GiB: decay */
  mem_set (&in.mem, 16 * GIB, 10 * GIB);
  in.committed_kib = 15 * GIB;
  ksm_with_advisor (&in.ksm, 100);
  sp_test_ksm_set (&in.ksm, SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN, 30000);
  sp_test_ksm_set (&in.ksm, SP_KSM_FULL_SCANS, 10);
  in.previous_action = SP_ACTION_NONE; /* samepaged's first decision */

  /* classic, decayed to 64, raised to 3932160 pages / 20000 wake-ups of
   * 10 ms in the 200 s target = 197 */
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_false (d.use_advisor);
  g_assert_true (d.warmup.active);
  g_assert_cmpint (d.warmup.since_scans, ==, 10);
  g_assert_cmpint (d.npages, ==, 197);
  g_assert_cmpint (d.settings[0].field, ==, SP_KSM_ADVISOR_MODE);
  g_assert_cmpint (d.settings[0].value, ==, SP_KSM_ADVISOR_NONE);
  g_assert_cmpint (setting (&d, SP_KSM_PAGES_TO_SCAN), ==, 197);
  g_assert_false (find_setting (&d, SP_KSM_ADVISOR_TARGET_SCAN_TIME, NULL));
  sp_test_assert_contains (d.reason,
                           ", advisor warm-up (0 of 2 full scans done), decay to 197 pages");
  g_assert_null (strstr (d.reason, "no KSM advisor"));

  /* one full scan later: still classic, from pages_to_scan as written:
   * 197 - 50 = 147 gives a 188 s target, 18800 wake-ups: 210 pages */
  sp_decision_copy (&prev, &d);
  sp_decision_clear (&d);
  in.previous_action = prev.action;
  in.previous_npages = prev.npages;
  in.previous_warmup = prev.warmup;
  sp_test_ksm_set (&in.ksm, SP_KSM_PAGES_TO_SCAN, prev.npages);
  sp_test_ksm_set (&in.ksm, SP_KSM_FULL_SCANS, 11);
  sp_ksm_policy_decide (&in, &d);
  g_assert_false (d.use_advisor);
  g_assert_true (d.warmup.active);
  g_assert_cmpint (d.warmup.since_scans, ==, 10);
  g_assert_cmpint (setting (&d, SP_KSM_PAGES_TO_SCAN), ==, 210);
  sp_test_assert_contains (d.reason,
                           "advisor warm-up (1 of 2 full scans done), decay to 210 pages");

  /* the second full scan done: the advisor, from the warm-up's rate */
  sp_decision_clear (&prev);
  sp_decision_copy (&prev, &d);
  sp_decision_clear (&d);
  in.previous_warmup = prev.warmup;
  in.previous_npages = prev.npages;
  sp_test_ksm_set (&in.ksm, SP_KSM_FULL_SCANS, 12);
  sp_ksm_policy_decide (&in, &d);
  g_assert_true (d.use_advisor);
  g_assert_false (d.warmup.active);
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_MODE), ==, SP_KSM_ADVISOR_SCAN_TIME);
  g_assert_false (find_setting (&d, SP_KSM_PAGES_TO_SCAN, NULL));
  g_assert_cmpint (d.npages, ==, 210 - 50);
  g_assert_null (strstr (d.reason, "warm-up"));

  g_assert_cmpuint (d.warmup.committed_kib, ==, 15 * GIB); /* where the advisor took over */

  /* and it keeps the advisor while KSM runs */
  sp_test_ksm_set (&in.ksm, SP_KSM_FULL_SCANS, 40);
  warmup_next (&in, &d, 15 * GIB);
  g_assert_true (d.use_advisor);

  /* a guest started: 17 GiB is 13 % more, the advisor goes on */
  warmup_next (&in, &d, 17 * GIB);
  g_assert_true (d.use_advisor);
  g_assert_cmpuint (d.warmup.committed_kib, ==, 15 * GIB);

  /* another: 19 GiB is 27 % more than 15, a warm-up again from here */
  warmup_next (&in, &d, 19 * GIB);
  g_assert_false (d.use_advisor);
  g_assert_true (d.warmup.active);
  g_assert_cmpint (d.warmup.since_scans, ==, 40);
  sp_test_assert_contains (d.reason, "advisor warm-up (0 of 2 full scans done)");

  /* over, at 19 GiB; guests stop (10 GiB, the least since) and one
   * starts again (13 GiB, 30 % more than the least): a warm-up */
  sp_test_ksm_set (&in.ksm, SP_KSM_FULL_SCANS, 42);
  warmup_next (&in, &d, 19 * GIB);
  g_assert_true (d.use_advisor);
  g_assert_cmpuint (d.warmup.committed_kib, ==, 19 * GIB);
  mem_set (&in.mem, 16 * GIB, 1 * GIB); /* still running: pressure */
  warmup_next (&in, &d, 10 * GIB);
  g_assert_true (d.use_advisor);
  g_assert_cmpuint (d.warmup.committed_kib, ==, 10 * GIB);
  warmup_next (&in, &d, 13 * GIB);
  g_assert_false (d.use_advisor);
  g_assert_true (d.warmup.active);
  g_assert_cmpint (d.warmup.since_scans, ==, 42);
  sp_decision_clear (&d);
  in.committed_kib = 15 * GIB;
  mem_set (&in.mem, 16 * GIB, 10 * GIB);
  sp_test_ksm_set (&in.ksm, SP_KSM_FULL_SCANS, 40);

  /* KSM resumed after a stop: a new warm-up */
  in.previous_action = SP_ACTION_STOP;
  sp_ksm_policy_decide (&in, &d);
  g_assert_false (d.use_advisor);
  g_assert_true (d.warmup.active);
  g_assert_cmpint (d.warmup.since_scans, ==, 40);
  sp_decision_clear (&d);

  /* a full_scans count that went down ends the warm-up */
  in.previous_action = SP_ACTION_RUN;
  in.previous_warmup.active = TRUE;
  in.previous_warmup.since_scans = 50;
  sp_ksm_policy_decide (&in, &d);
  g_assert_true (d.use_advisor);
  g_assert_false (d.warmup.active);
  sp_decision_clear (&d);

  /* a large host: above npages_max, as far as the advisor's cap. 1 TiB is
   * 268435456 pages; under pressure the boost 100 + 300 = 400 gives a
   * 152 s target, 15200 wake-ups: 17661 pages */
  mem_set (&in.mem, 1100 * GIB, 10 * GIB);
  in.committed_kib = 1024 * GIB;
  in.previous_action = SP_ACTION_NONE;
  memset (&in.previous_warmup, 0, sizeof (in.previous_warmup));
  ksm_with_advisor (&in.ksm, 100);
  sp_test_ksm_set (&in.ksm, SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN, 30000);
  sp_test_ksm_set (&in.ksm, SP_KSM_FULL_SCANS, 10);
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.sleep_millisecs, ==, 10);
  g_assert_true (d.warmup.active);
  g_assert_cmpint (d.npages, ==, 17661);
  sp_test_assert_contains (d.reason,
                           "advisor warm-up (0 of 2 full scans done), boost to 17661 pages");
  sp_decision_clear (&d);

  /* the profit guard's lowest rate is not raised */
  /* (covered by /ksm-policy/profit-guard-advisor: a run already going) */

  /* a kernel without full_scans: the advisor at once */
  ksm_with_advisor (&in.ksm, 100);
  sp_ksm_policy_decide (&in, &d);
  g_assert_true (d.use_advisor);
  g_assert_false (d.warmup.active);
  sp_decision_clear (&d);

  /* classic asked for: no warm-up, classic's own rate */
  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  sp_test_ksm_set (&in.ksm, SP_KSM_FULL_SCANS, 10);
  sp_ksm_policy_decide (&in, &d);
  g_assert_false (d.warmup.active);
  g_assert_cmpint (d.npages, ==, 400);
  g_assert_null (strstr (d.reason, "warm-up"));
  sp_decision_clear (&d);
  sp_decision_clear (&prev);
}

static void
test_policy_unavailable (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };

  in.config = config;
  mem_set (&in.mem, 16 * GIB, 100 * MIB);
  in.committed_kib = 15 * GIB;
  sp_ksm_policy_decide (&in, &d); /* ksm.available = FALSE */
  g_assert_cmpint (d.action, ==, SP_ACTION_NONE);
  g_assert_cmpuint (d.n_settings, ==, 0);
  g_assert_nonnull (strstr (d.reason, "not available"));
  sp_decision_clear (&d);
}

/* SpKsmPolicy, the policy as the tuner runs it: next->decision is what the
 * pure function decides from next's inputs and the previous decision; it is
 * urgent only when the action changes from one that was made on KSM. */
static void
test_policy_part (void)
{
  g_autoptr (SpPolicy) policy = sp_ksm_policy_new ();
  g_autoptr (SpSnapshot) previous = sp_snapshot_new ();
  g_autoptr (SpSnapshot) next = sp_snapshot_new ();
  SpKsmPolicyInput in = { 0 };
  SpDecision d = { 0 };

  g_assert_cmpstr (sp_policy_get_name (policy), ==, "ksm");
  previous->config = sp_config_new_default ();
  previous->decision.action = SP_ACTION_RUN;
  previous->decision.npages = 500;
  ksm_classic (&previous->ksm, 500);
  next->config = sp_config_new_default ();
  next->config->scan_rate = SP_SCAN_RATE_CLASSIC;
  next->guests = sp_guests_new ();
  next->guests->committed_kib = 4 * GIB;
  mem_set (&next->mem, 16 * GIB, 10 * GIB);
  ksm_classic (&next->ksm, 500);

  sp_policy_decide (policy, previous, next);
  g_assert_cmpint (next->decision.action, ==, SP_ACTION_STOP);
  g_assert_cmpuint (next->decision.committed_kib, ==, 4 * GIB);

  in.config = next->config;
  in.mem = next->mem;
  in.committed_kib = 4 * GIB;
  in.ksm = next->ksm;
  in.previous_action = SP_ACTION_RUN;
  in.previous_npages = 500;
  in.page_kib = sp_page_size_kib ();
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpstr (next->decision.reason, ==, d.reason);
  g_assert_cmpuint (next->decision.n_settings, ==, d.n_settings);
  g_assert_cmpint (setting (&next->decision, SP_KSM_RUN), ==, SP_KSM_RUN_STOP);
  sp_decision_clear (&d);

  /* run → stop cannot wait for the tick */
  g_assert_true (sp_policy_urgent_reason (policy, previous, next) == next->decision.reason);
  /* the same action can */
  previous->decision.action = SP_ACTION_STOP;
  g_assert_null (sp_policy_urgent_reason (policy, previous, next));
  /* and so can anything after no decision, or one made without KSM */
  previous->decision.action = SP_ACTION_NONE;
  g_assert_null (sp_policy_urgent_reason (policy, previous, next));
  previous->decision.action = SP_ACTION_RUN;
  previous->ksm.available = FALSE;
  g_assert_null (sp_policy_urgent_reason (policy, previous, next));
}

/* ---- the profit guard ------------------------------------------------- */

/* One decision of a story: what the kernel and the host say, what the
 * policy must answer. The guard's state carries from row to row. */
typedef struct {
  gint64 now_s;          /* monotonic */
  gint64 full_scans;     /* -1: the kernel has no full_scans */
  gint64 general_profit; /* bytes */
  double kib_per_cpu_s;  /* -1: not measured yet */
  guint64 committed_kib;
  guint64 available_kib; /* of 16 GiB */
  SpAction expect_action;
  gint64 expect_run;    /* the run setting */
  gint64 expect_npages; /* -1: none expected (a stop) */
  SpProfitGuardPhase expect_phase;
  const char *expect_reason; /* a part of the reason; NULL: no "profit guard" in it */
} GuardStep;

#define PRESSED (1 * GIB) /* available: under the 3.2 GiB threshold, KSM runs */
#define RELAXED (14 * GIB)
#define NO_RATE (-1.0)
#define OFF SP_PROFIT_GUARD_OFF
#define WATCHING SP_PROFIT_GUARD_WATCHING
#define SLOWED SP_PROFIT_GUARD_SLOWED
#define STOPPED SP_PROFIT_GUARD_STOPPED
#define RUN SP_ACTION_RUN
#define STOP SP_ACTION_STOP

static void
run_story (const char *name, const SpConfig *config, const GuardStep *steps, gsize n_steps)
{
  SpProfitGuard guard = { 0 };
  SpAction previous_action = SP_ACTION_NONE;
  gint64 npages = 1000;

  for (gsize i = 0; i < n_steps; i++)
    {
      const GuardStep *s = &steps[i];
      SpKsmPolicyInput in = { 0 };
      SpKsmCost cost;
      SpDecision d = { 0 };

      g_test_message ("%s, step %" G_GSIZE_FORMAT, name, i + 1);
      sp_ksm_cost_init (&cost);
      cost.time_us = s->now_s * G_USEC_PER_SEC;
      cost.full_scans = s->full_scans;
      cost.has_general_profit = TRUE;
      cost.general_profit = s->general_profit;
      cost.saved_kib_per_cpu_second = s->kib_per_cpu_s;
      in.config = config;
      mem_set (&in.mem, 16 * GIB, s->available_kib);
      in.committed_kib = s->committed_kib;
      ksm_classic (&in.ksm, npages);
      in.previous_action = previous_action;
      in.previous_npages = npages;
      in.page_kib = 4;
      in.previous_guard = guard;
      in.cost = &cost;
      in.now_us = cost.time_us;

      sp_ksm_policy_decide (&in, &d);
      g_test_message ("  %s", d.reason);
      g_assert_cmpint (d.action, ==, s->expect_action);
      g_assert_cmpint (setting (&d, SP_KSM_RUN), ==, s->expect_run);
      if (s->expect_npages >= 0)
        g_assert_cmpint (setting (&d, SP_KSM_PAGES_TO_SCAN), ==, s->expect_npages);
      else
        g_assert_false (find_setting (&d, SP_KSM_PAGES_TO_SCAN, NULL));
      g_assert_cmpstr (sp_profit_guard_phase_to_string (d.guard.phase), ==,
                       sp_profit_guard_phase_to_string (s->expect_phase));
      if (s->expect_reason != NULL)
        sp_test_assert_contains (d.reason, s->expect_reason);
      else
        g_assert_null (strstr (d.reason, "profit guard"));

      guard = d.guard;
      previous_action = d.action;
      if (d.action == SP_ACTION_RUN)
        npages = d.npages;
      sp_decision_clear (&d);
    }
}

static SpConfig *
guard_config (void)
{
  SpConfig *config = sp_config_new_default ();

  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  config->npages_max = 2000;
  return config;
}

/* Random guests: nothing merges, the rmap items cost memory. Boost +300,
 * min 64. */
static const GuardStep unprofitable[] = {
  /* KSM starts: the guard counts scans from here */
  { 0, 100, 0, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 1300, WATCHING, NULL },
  /* one full scan is not enough to judge */
  { 60, 101, -4 * 1024 * 1024, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 1600, WATCHING, NULL },
  /* two: general profit negative → the lowest rate */
  { 120, 102, -4 * 1024 * 1024, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 64, SLOWED,
    "profit guard: general profit -4.0 MiB <= 0 after 2 full scans, lowest rate to 64 pages" },
  /* still not paying, one scan at the lowest rate: stays there */
  { 180, 103, -4 * 1024 * 1024, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 64, SLOWED,
    "<= 0 (1 of 2 full scans at the lowest rate), lowest rate to 64 pages" },
  /* two scans at the lowest rate and still not paying: stopped, pages kept */
  { 240, 104, -4 * 1024 * 1024, NO_RATE, 8 * GIB, PRESSED, STOP, 0, -1, STOPPED,
    "stop: profit guard: general profit -4.0 MiB <= 0 after 2 more full scans at the lowest "
    "scan rate, merged pages kept (run=0); retry when committed memory changes by more than "
    "20 % or in 30 min" },
  /* stays stopped while the pressure lasts */
  { 840, 104, -4 * 1024 * 1024, NO_RATE, 8 * GIB + GIB, PRESSED, STOP, 0, -1, STOPPED,
    "stop: profit guard: KSM did not pay; retry when committed memory changes by more than "
    "20 % or in 20 min" },
  /* memory plentiful: a stop anyway, and the guard keeps its verdict */
  { 900, 104, -4 * 1024 * 1024, NO_RATE, 8 * GIB, RELAXED, STOP, 0, -1, STOPPED, NULL },
  /* 30 min after the stop: tried again */
  { 2040, 104, -4 * 1024 * 1024, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 364, WATCHING,
    "profit guard: trying KSM again (stopped for 30 min)" },
};

/* Guests booting: the committed memory grows while the guard watches, so
 * the scans of the emptier host are not held against the full one. */
static const GuardStep booting[] = {
  { 0, 100, 0, NO_RATE, 1 * GIB, PRESSED, RUN, 1, 1300, WATCHING, NULL },
  /* two scans without profit, but committed went from 1 to 8 GiB: watched afresh */
  { 60, 102, -4 * 1024 * 1024, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 1600, WATCHING, NULL },
  { 120, 103, -4 * 1024 * 1024, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 1900, WATCHING, NULL },
  /* two scans of the full host without profit: slowed */
  { 180, 104, -4 * 1024 * 1024, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 64, SLOWED,
    "profit guard: general profit -4.0 MiB <= 0 after 2 full scans" },
  /* a guest starts while slowed: watched afresh at the policy's rate */
  { 240, 105, -4 * 1024 * 1024, NO_RATE, 10 * GIB, PRESSED, RUN, 1, 364, WATCHING,
    "profit guard: watching afresh (committed changed from 8.0 GiB to 10.0 GiB)" },
};

/* Identical guests: merging pays, the guard only watches. */
static const GuardStep profitable[] = {
  { 0, 0, 0, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 1300, WATCHING, NULL },
  { 60, 1, 100 * 1024 * 1024, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 1600, WATCHING, NULL },
  { 120, 5, 300 * 1024 * 1024, 150 * 1024, 8 * GIB, PRESSED, RUN, 1, 1900, WATCHING, NULL },
  { 600, 50, 300 * 1024 * 1024, 150 * 1024, 8 * GIB, PRESSED, RUN, 1, 2000, WATCHING, NULL },
  /* memory plentiful: stopped for memory, the guard resets */
  { 660, 51, 300 * 1024 * 1024, 150 * 1024, 8 * GIB, RELAXED, STOP, 0, -1, OFF, NULL },
};

/* A positive profit, but too little for the CPU: the rate minimum, then
 * paying again at the lowest rate. */
static const GuardStep cpu_bound[] = {
  { 0, 10, 0, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 1300, WATCHING, NULL },
  { 60, 12, 1024 * 1024, 100, 8 * GIB, PRESSED, RUN, 1, 64, SLOWED,
    "saved 100 KiB per CPU-second < 1.0 MiB after 2 full scans" },
  { 120, 13, 1024 * 1024, 4096, 8 * GIB, PRESSED, RUN, 1, 364, WATCHING,
    "profit guard: KSM pays again" },
};

/* Retry on a committed change above the fraction, not below it; unmerge. */
static const GuardStep committed_change[] = {
  { 0, 0, 0, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 1300, WATCHING, NULL },
  { 60, 2, -1024 * 1024, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 64, SLOWED, "lowest rate to 64" },
  { 120, 4, -1024 * 1024, NO_RATE, 8 * GIB, PRESSED, STOP, 2, -1, STOPPED,
    "merged pages split (run=2)" },
  /* +10 %: not enough */
  { 180, 4, -1024 * 1024, NO_RATE, 8 * GIB + 819 * MIB, PRESSED, STOP, 2, -1, STOPPED,
    "KSM did not pay" },
  /* +25 %: a new guest, tried again */
  { 240, 4, -1024 * 1024, NO_RATE, 10 * GIB, PRESSED, RUN, 1, 364, WATCHING,
    "profit guard: trying KSM again (committed changed from 8.0 GiB to 10.0 GiB)" },
};

/* profit_guard = off, or a kernel without full_scans: KSM runs regardless. */
static const GuardStep guard_off[] = {
  { 0, 0, 0, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 1300, OFF, NULL },
  { 60, 2, -1024 * 1024, 10, 8 * GIB, PRESSED, RUN, 1, 1600, OFF, NULL },
  { 120, 4, -1024 * 1024, 10, 8 * GIB, PRESSED, RUN, 1, 1900, OFF, NULL },
  { 180, 6, -1024 * 1024, 10, 8 * GIB, PRESSED, RUN, 1, 2000, OFF, NULL },
};

static const GuardStep no_full_scans[] = {
  { 0, -1, 0, NO_RATE, 8 * GIB, PRESSED, RUN, 1, 1300, OFF, NULL },
  { 60, -1, -1024 * 1024, 10, 8 * GIB, PRESSED, RUN, 1, 1600, OFF, NULL },
  { 120, -1, -1024 * 1024, 10, 8 * GIB, PRESSED, RUN, 1, 1900, OFF, NULL },
};

static void
test_policy_profit_guard (void)
{
  g_autoptr (SpConfig) config = guard_config ();
  g_autoptr (SpConfig) unmerge = guard_config ();
  g_autoptr (SpConfig) off = guard_config ();

  unmerge->profit_guard_unmerge = TRUE;
  off->profit_guard = FALSE;
  run_story ("unprofitable", config, unprofitable, G_N_ELEMENTS (unprofitable));
  run_story ("profitable", config, profitable, G_N_ELEMENTS (profitable));
  run_story ("booting", config, booting, G_N_ELEMENTS (booting));
  run_story ("cpu-bound", config, cpu_bound, G_N_ELEMENTS (cpu_bound));
  run_story ("committed-change", unmerge, committed_change, G_N_ELEMENTS (committed_change));
  run_story ("off", off, guard_off, G_N_ELEMENTS (guard_off));
  run_story ("no-full-scans", config, no_full_scans, G_N_ELEMENTS (no_full_scans));
}

/* Inputs under pressure with a KSM that does not pay: general profit
 * -1 MiB at full_scans, the guard in phase since full scan 10. */
static void
unpaying_input (SpKsmPolicyInput *in, SpKsmCost *cost, const SpConfig *config, gint64 full_scans,
                SpProfitGuardPhase phase)
{
  memset (in, 0, sizeof (*in));
  sp_ksm_cost_init (cost);
  cost->full_scans = full_scans;
  cost->has_general_profit = TRUE;
  cost->general_profit = -1024 * 1024;
  in->config = config;
  mem_set (&in->mem, 16 * GIB, PRESSED);
  in->committed_kib = 8 * GIB;
  ksm_classic (&in->ksm, 100);
  in->previous_action = SP_ACTION_RUN;
  in->previous_npages = 100;
  in->previous_guard.phase = phase;
  in->previous_guard.since_scans = 10;
  in->previous_guard.committed_kib = in->committed_kib; /* as the phase began */
  in->cost = cost;
}

/* With the advisor, the lowest rate is its least CPU and longest scan time. */
static void
test_policy_profit_guard_advisor (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  SpKsmPolicyInput in;
  SpKsmCost cost;
  SpDecision d = { 0 };

  unpaying_input (&in, &cost, config, 12, SP_PROFIT_GUARD_WATCHING);
  ksm_with_advisor (&in.ksm, 100);
  in.previous_npages = 1000;
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_cmpint (d.guard.phase, ==, SP_PROFIT_GUARD_SLOWED);
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_MAX_CPU), ==, config->advisor_max_cpu_min);
  g_assert_cmpint (setting (&d, SP_KSM_ADVISOR_TARGET_SCAN_TIME), ==,
                   config->advisor_scan_time_max);
  sp_test_assert_contains (d.reason, "lowest rate: advisor max_cpu 10 %, target scan time 200 s");
  sp_decision_clear (&d);
}

/* mode = always is the user's word: the guard stays out of it. */
static void
test_policy_profit_guard_mode_always (void)
{
  g_autoptr (SpConfig) config = guard_config ();
  SpKsmPolicyInput in;
  SpKsmCost cost;
  SpDecision d = { 0 };

  config->mode = SP_MODE_ALWAYS;
  unpaying_input (&in, &cost, config, 50, SP_PROFIT_GUARD_SLOWED);
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_cmpint (setting (&d, SP_KSM_PAGES_TO_SCAN), ==, 400);
  g_assert_cmpint (d.guard.phase, ==, SP_PROFIT_GUARD_OFF);
  sp_decision_clear (&d);
}

/* Memory pressure (PSI) is news the guard's past scans do not know: the
 * stop the guard would give yields to the top rate, and the guard starts
 * afresh; without pressure the same inputs stop KSM. */
static void
test_policy_profit_guard_pressure (void)
{
  g_autoptr (SpConfig) config = guard_config ();
  SpKsmPolicyInput in;
  SpKsmCost cost;
  SpDecision d = { 0 };

  unpaying_input (&in, &cost, config, 12, SP_PROFIT_GUARD_SLOWED);
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_STOP);
  g_assert_cmpint (d.guard.phase, ==, SP_PROFIT_GUARD_STOPPED);
  sp_decision_clear (&d);

  in.pressure = "memory pressure: some >= 15 % over 1 s (avg10 18.00 %)";
  sp_ksm_policy_decide (&in, &d);
  g_assert_cmpint (d.action, ==, SP_ACTION_RUN);
  g_assert_cmpint (setting (&d, SP_KSM_RUN), ==, 1);
  g_assert_cmpint (setting (&d, SP_KSM_PAGES_TO_SCAN), ==, config->npages_max);
  g_assert_cmpint (d.guard.phase, ==, SP_PROFIT_GUARD_OFF);
  g_assert_true (g_str_has_prefix (d.reason, "run: memory pressure: some"));
  sp_test_assert_contains (d.reason, "pressure boost to 2000 pages");
  g_assert_null (strstr (d.reason, "profit guard"));
  sp_decision_clear (&d);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ksm-policy/table", test_policy_table);
  g_test_add_func ("/ksm-policy/hysteresis-off", test_policy_hysteresis_off);
  g_test_add_func ("/ksm-policy/formulas", test_policy_formulas);
  g_test_add_func ("/ksm-policy/small-host-sleep", test_policy_small_host_sleep);
  g_test_add_func ("/ksm-policy/free-source", test_policy_free_source);
  g_test_add_func ("/ksm-policy/free-source-arc", test_policy_free_source_arc);
  g_test_add_func ("/ksm-policy/pressure", test_policy_pressure);
  g_test_add_func ("/ksm-policy/modes", test_policy_modes);
  g_test_add_func ("/ksm-policy/advisor", test_policy_advisor);
  g_test_add_func ("/ksm-policy/advisor-max-pages", test_policy_advisor_max_pages);
  g_test_add_func ("/ksm-policy/advisor-warmup", test_policy_advisor_warmup);
  g_test_add_func ("/ksm-policy/unavailable", test_policy_unavailable);
  g_test_add_func ("/ksm-policy/part", test_policy_part);
  g_test_add_func ("/ksm-policy/profit-guard", test_policy_profit_guard);
  g_test_add_func ("/ksm-policy/profit-guard-mode-always", test_policy_profit_guard_mode_always);
  g_test_add_func ("/ksm-policy/profit-guard-advisor", test_policy_profit_guard_advisor);
  g_test_add_func ("/ksm-policy/profit-guard-pressure", test_policy_profit_guard_pressure);
  return g_test_run ();
}
