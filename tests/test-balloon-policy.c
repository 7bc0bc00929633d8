/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The balloon policy, driven with tables: who shrinks under pressure, by
 * how much, never below the floor; who grows back; who is never touched and
 * why. And the balloon facts of a domain XML (memballoon, metadata). */
#define G_LOG_DOMAIN "test-balloon-policy"

#include <string.h>

#include "sp-balloon-policy.h"
#include "sp-balloon-settings.h"
#include "sp-domain-xml.h"
#include "sp-error.h"
#include "sp-ksm-policy.h"
#include "sp-test.h"

#define MIB 1024
#define GUEST_KIB (4096 * MIB)   /* <memory> and <currentMemory> of every guest */
#define HOST_KIB (16384 * MIB)   /* MemTotal: threshold 3355443 KiB, critical 838860 */
#define STEP_KIB 209715          /* 5 % of GUEST_KIB */
#define CRITICAL_STEP_KIB 419430 /* 10 % */
#define MIN_KIB (2048 * MIB)     /* 50 % of GUEST_KIB */
#define NOW_SEC 1700000000

typedef struct {
  const char *name;
  guint64 current_kib;
  gint64 free_kib;      /* balloon.usable; -1: no guest statistics */
  gint64 stats_age_sec; /* now - balloon.last-update */
  const char *model;    /* NULL: "virtio"; "-": no <memballoon> */
  gboolean opted_out;
  guint64 min_kib;                 /* 0: host default */
  guint64 shares;                  /* 0: host default */
  SpBalloonAction previous_action; /* NONE: no previous target */
  guint64 previous_target_kib;
  gboolean previous_timed_out;
  /* expected */
  SpBalloonAction action;
  guint64 target_kib;
  const char *reason; /* a part of it */
} DomainCase;

typedef struct {
  const char *what;
  SpBalloonMode mode;
  guint64 available_kib;
  gboolean previous_pressure;
  DomainCase domains[3];
} PolicyCase;

/* 4 GiB guests; "free" is what the guest reports as usable */
static const PolicyCase cases[] = {
  { "off: never touched",
    SP_BALLOON_MODE_OFF,
    1000 * MIB,
    TRUE,
    { { "a", GUEST_KIB, 3000 * MIB, 1, .action = SP_BALLOON_ACTION_NONE, .target_kib = GUEST_KIB,
        .reason = "balloon off" } } },
  { "pressure: a guest with free memory shrinks by one step",
    SP_BALLOON_MODE_AUTO,
    2000 * MIB,
    FALSE,
    { { "a", GUEST_KIB, 3000 * MIB, 1, .action = SP_BALLOON_ACTION_SHRINK,
        .target_kib = GUEST_KIB - STEP_KIB, .reason = "pressure: shrink to" } } },
  { "critical pressure: a larger step",
    SP_BALLOON_MODE_AUTO,
    500 * MIB,
    FALSE,
    { { "a", GUEST_KIB, 3000 * MIB, 1, .action = SP_BALLOON_ACTION_SHRINK,
        .target_kib = GUEST_KIB - CRITICAL_STEP_KIB, .reason = "critical pressure" } } },
  { "never below min",
    SP_BALLOON_MODE_AUTO,
    2000 * MIB,
    FALSE,
    { { "a", MIN_KIB + 100 * MIB, 1500 * MIB, 1, .action = SP_BALLOON_ACTION_SHRINK,
        .target_kib = MIN_KIB },
      { "b", MIN_KIB, 1500 * MIB, 1, .action = SP_BALLOON_ACTION_HOLD, .target_kib = MIN_KIB,
        .reason = "at its floor" } } },
  { "never below used + guest_free_percent",
    SP_BALLOON_MODE_AUTO,
    2000 * MIB,
    FALSE,
    /* uses 3000 MiB of 3850: floor 3000 * 100 / 80 = 3750 MiB */
    { { "a", 3850 * MIB, 850 * MIB, 1, .action = SP_BALLOON_ACTION_SHRINK,
        .target_kib = 3750 * MIB } } },
  { "a guest's own min and shares",
    SP_BALLOON_MODE_AUTO,
    2000 * MIB,
    FALSE,
    { { "a", 3500 * MIB, 3000 * MIB, 1, .min_kib = 3400 * MIB, .shares = 10,
        .action = SP_BALLOON_ACTION_SHRINK, .target_kib = 3400 * MIB } } },
  { "little free memory: kept",
    SP_BALLOON_MODE_AUTO,
    2000 * MIB,
    FALSE,
    { { "a", GUEST_KIB, 400 * MIB, 1, .action = SP_BALLOON_ACTION_HOLD, .target_kib = GUEST_KIB,
        .reason = "keeps its free memory" } } },
  { "stale, missing statistics, no balloon, opted out: never shrunk",
    SP_BALLOON_MODE_AUTO,
    2000 * MIB,
    FALSE,
    { { "stale", GUEST_KIB, 3000 * MIB, 16, .action = SP_BALLOON_ACTION_HOLD,
        .target_kib = GUEST_KIB, .reason = "never shrunk: guest statistics stale (16 s old" },
      { "nostats", GUEST_KIB, -1, 1, .action = SP_BALLOON_ACTION_HOLD, .target_kib = GUEST_KIB,
        .reason = "never shrunk: no guest statistics" },
      { "none", GUEST_KIB, 3000 * MIB, 1, .model = "none", .action = SP_BALLOON_ACTION_NONE,
        .target_kib = GUEST_KIB, .reason = "memballoon model 'none'" } } },
  { "no device, opted out",
    SP_BALLOON_MODE_AUTO,
    2000 * MIB,
    FALSE,
    { { "nodev", GUEST_KIB, 3000 * MIB, 1, .model = "-", .action = SP_BALLOON_ACTION_NONE,
        .target_kib = GUEST_KIB, .reason = "no memballoon device" },
      { "out", GUEST_KIB, 3000 * MIB, 1, .opted_out = TRUE, .action = SP_BALLOON_ACTION_NONE,
        .target_kib = GUEST_KIB, .reason = "opted out" } } },
  /* the host lacks 3355443 - 3270 MiB = 6963 KiB: one step of the first covers it */
  { "the most free, weighted by shares, first",
    SP_BALLOON_MODE_AUTO,
    3270 * MIB,
    FALSE,
    { { "big", GUEST_KIB, 3000 * MIB, 1, .shares = 8000, .action = SP_BALLOON_ACTION_HOLD,
        .target_kib = GUEST_KIB, .reason = "enough reclaimed" },
      { "small", GUEST_KIB, 1500 * MIB, 1, .action = SP_BALLOON_ACTION_SHRINK,
        .target_kib = GUEST_KIB - STEP_KIB } } },
  { "a shrink in progress is waited for",
    SP_BALLOON_MODE_AUTO,
    2000 * MIB,
    TRUE,
    { { "a", GUEST_KIB - 50 * MIB, 3000 * MIB, 1, .previous_action = SP_BALLOON_ACTION_SHRINK,
        .previous_target_kib = GUEST_KIB - STEP_KIB, .action = SP_BALLOON_ACTION_SHRINK,
        .target_kib = GUEST_KIB - STEP_KIB, .reason = "shrinking to" } } },
  { "a target reached: the next step",
    SP_BALLOON_MODE_AUTO,
    2000 * MIB,
    TRUE,
    { { "a", GUEST_KIB - STEP_KIB, 3000 * MIB, 1, .previous_action = SP_BALLOON_ACTION_SHRINK,
        .previous_target_kib = GUEST_KIB - STEP_KIB, .action = SP_BALLOON_ACTION_SHRINK,
        .target_kib = GUEST_KIB - 2 * STEP_KIB } } },
  { "timed out: left alone while the pressure lasts",
    SP_BALLOON_MODE_AUTO,
    2000 * MIB,
    TRUE,
    { { "a", GUEST_KIB - 50 * MIB, 3000 * MIB, 1, .previous_action = SP_BALLOON_ACTION_SHRINK,
        .previous_target_kib = GUEST_KIB - STEP_KIB, .previous_timed_out = TRUE,
        .action = SP_BALLOON_ACTION_NONE, .target_kib = GUEST_KIB - 50 * MIB,
        .reason = "did not reach" } } },
  { "no pressure: grow back by one step, stale statistics too",
    SP_BALLOON_MODE_AUTO,
    8000 * MIB,
    TRUE,
    { { "a", 3000 * MIB, 2000 * MIB, 1, .action = SP_BALLOON_ACTION_GROW,
        .target_kib = 3000 * MIB + STEP_KIB, .reason = "no pressure: grow to" },
      { "stale", 3000 * MIB, -1, 1, .action = SP_BALLOON_ACTION_GROW,
        .target_kib = 3000 * MIB + STEP_KIB },
      { "full", GUEST_KIB, 2000 * MIB, 1, .action = SP_BALLOON_ACTION_HOLD, .target_kib = GUEST_KIB,
        .reason = "at <currentMemory>" } } },
  { "no pressure: never past <currentMemory>",
    SP_BALLOON_MODE_AUTO,
    8000 * MIB,
    FALSE,
    { { "a", GUEST_KIB - 10 * MIB, 2000 * MIB, 1, .action = SP_BALLOON_ACTION_GROW,
        .target_kib = GUEST_KIB } } },
  { "no pressure, but growing would cause it",
    SP_BALLOON_MODE_AUTO,
    3300 * MIB,
    TRUE,
    { { "a", 3000 * MIB, 2000 * MIB, 1, .action = SP_BALLOON_ACTION_HOLD, .target_kib = 3000 * MIB,
        .reason = "too near the threshold" } } },
};

static SpDomainInfo *
make_domain (const DomainCase *d)
{
  SpDomainInfo *info = sp_domain_info_new ();

  info->name = g_strdup (d->name);
  info->uuid = g_strdup_printf ("uuid-%s", d->name);
  info->active = TRUE;
  info->persistent = TRUE;
  info->current_kib = d->current_kib;
  info->maximum_kib = GUEST_KIB;
  info->memory_source = g_strdup ("balloon");
  info->balloon.model =
      g_strcmp0 (d->model, "-") == 0 ? NULL : g_strdup (d->model ? d->model : "virtio");
  info->balloon.stats_period_sec = 5;
  info->balloon.memory_kib = GUEST_KIB;
  info->balloon.config_current_kib = GUEST_KIB;
  info->balloon.has_current = TRUE;
  if (d->free_kib >= 0)
    {
      info->balloon.has_available = TRUE;
      info->balloon.available_kib = d->current_kib;
      info->balloon.has_usable = TRUE;
      info->balloon.usable_kib = (guint64) d->free_kib;
      info->balloon.has_unused = TRUE;
      info->balloon.unused_kib = (guint64) d->free_kib / 2;
      info->balloon.last_update_sec = NOW_SEC - d->stats_age_sec;
    }
  info->balloon.managed = !d->opted_out;
  info->balloon.has_min = d->min_kib > 0;
  info->balloon.min_kib = d->min_kib;
  info->balloon.has_shares = d->shares > 0;
  info->balloon.shares = d->shares;
  return info;
}

static SpMeminfo
host_mem (guint64 available_kib)
{
  SpMeminfo mem = { .total_kib = HOST_KIB,
                    .available_kib = available_kib,
                    .free_kib = available_kib };
  return mem;
}

static void
test_table (gconstpointer data)
{
  const PolicyCase *c = data;
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpGuests) guests = sp_guests_new ();
  g_autoptr (SpBalloonDecision) previous = sp_balloon_decision_new ();
  g_autoptr (SpBalloonDecision) decision = NULL;
  SpBalloonPolicyInput input = { 0 };

  config->balloon = c->mode;
  previous->pressure = c->previous_pressure;
  for (guint i = 0; i < G_N_ELEMENTS (c->domains) && c->domains[i].name != NULL; i++)
    {
      const DomainCase *d = &c->domains[i];

      g_ptr_array_add (guests->domains, make_domain (d));
      if (d->previous_action != SP_BALLOON_ACTION_NONE)
        {
          SpBalloonTarget *t = g_new0 (SpBalloonTarget, 1);

          t->name = g_strdup (d->name);
          t->uuid = g_strdup_printf ("uuid-%s", d->name);
          t->action = d->previous_action;
          t->target_kib = d->previous_target_kib;
          t->timed_out = d->previous_timed_out;
          g_ptr_array_add (previous->targets, t);
        }
    }
  sp_guests_finish (guests);

  input.config = config;
  input.mem = host_mem (c->available_kib);
  input.guests = guests;
  input.now_sec = NOW_SEC;
  input.previous = previous;
  decision = sp_balloon_policy_decide (&input);

  for (guint i = 0; i < G_N_ELEMENTS (c->domains) && c->domains[i].name != NULL; i++)
    {
      const DomainCase *d = &c->domains[i];
      g_autofree char *uuid = g_strdup_printf ("uuid-%s", d->name);
      const SpBalloonTarget *t = sp_balloon_decision_find (decision, uuid);

      g_assert_nonnull (t);
      g_test_message ("%s: %s -> %s %" G_GUINT64_FORMAT " (%s)", c->what, d->name,
                      sp_balloon_action_to_string (t->action), t->target_kib, t->reason);
      g_assert_cmpstr (sp_balloon_action_to_string (t->action), ==,
                       sp_balloon_action_to_string (d->action));
      g_assert_cmpuint (t->target_kib, ==, d->target_kib);
      g_assert_nonnull (t->reason);
      if (d->reason != NULL && strstr (t->reason, d->reason) == NULL)
        g_error ("%s: %s: reason '%s' lacks '%s'", c->what, d->name, t->reason, d->reason);
      /* whatever happens, never below the floor when shrinking */
      if (t->action == SP_BALLOON_ACTION_SHRINK)
        g_assert_cmpuint (t->target_kib, >=, t->floor_kib);
      if (t->action == SP_BALLOON_ACTION_GROW)
        g_assert_cmpuint (t->target_kib, <=, GUEST_KIB);
    }
}

/* Repeated decisions under lasting pressure, each target reached: the
 * balloon walks down by steps to the floor and stays there; pressure gone,
 * it walks back up to <currentMemory>. Reclaimed memory and the KSM
 * policy's committed memory follow balloon.current. */
static void
test_walk (void)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpBalloonDecision) previous = NULL;
  DomainCase d = { "a", GUEST_KIB, 3500 * MIB, 1 };
  guint64 committed_start = 0;
  guint steps = 0;

  config->balloon = SP_BALLOON_MODE_AUTO;
  for (guint round = 0; round < 2; round++)
    for (guint i = 0; i < 40; i++)
      {
        g_autoptr (SpGuests) guests = sp_guests_new ();
        SpBalloonPolicyInput input = { config, host_mem (round == 0 ? 1000 * MIB : 9000 * MIB),
                                       NULL, NOW_SEC, previous };
        SpBalloonDecision *decision;
        const SpBalloonTarget *t;

        g_ptr_array_add (guests->domains, make_domain (&d));
        sp_guests_finish (guests);
        if (committed_start == 0)
          committed_start = guests->committed_kib;
        input.guests = guests;
        decision = sp_balloon_policy_decide (&input);
        t = sp_balloon_decision_find (decision, "uuid-a");
        g_assert_cmpuint (decision->n_managed, ==, 1);
        g_assert_cmpuint (decision->reclaimed_kib, ==, GUEST_KIB - d.current_kib);
        /* the KSM policy counts what the guest holds now */
        g_assert_cmpuint (guests->committed_kib, ==, d.current_kib);
        g_assert_cmpuint (t->target_kib, >=, MIN_KIB);
        if (t->action == SP_BALLOON_ACTION_SHRINK || t->action == SP_BALLOON_ACTION_GROW)
          steps++;
        /* the guest reaches its target, its free memory follows */
        if (round == 0)
          d.free_kib -= (gint64) (d.current_kib - t->target_kib);
        else
          d.free_kib += (gint64) (t->target_kib - d.current_kib);
        d.current_kib = t->target_kib;
        g_clear_pointer (&previous, sp_balloon_decision_free);
        previous = decision;
      }
  /* (4096 - 2048) MiB in steps of 209715 KiB: 10 steps and 2 KiB down, as many up */
  g_assert_cmpuint (steps, ==, 22);
  g_assert_cmpuint (d.current_kib, ==, GUEST_KIB);
  g_assert_cmpuint (committed_start, ==, GUEST_KIB);
}

static const char *balloon_xml =
    "<domain type='kvm'><name>g1</name><memory unit='MiB'>256</memory>"
    "<currentMemory unit='MiB'>200</currentMemory>"
    "<metadata><samepage:balloon xmlns:samepage='" SP_BALLOON_METADATA_URI "' managed='no' "
    "min-kib='131072' shares='300'/>"
    "<other:balloon xmlns:other='https://example.com/x' min-kib='1'/></metadata>"
    "<devices><memballoon model='virtio' freePageReporting='on' autodeflate='on'>"
    "<stats period='2'/></memballoon></devices></domain>";

static void
test_xml (void)
{
  g_auto (SpDomainXmlFacts) facts = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *metadata = NULL;
  static const char *bad[] = {
    "min-kib='lots'",
    "shares='0'",
    "shares='50001'",
  };

  g_assert_true (sp_domain_xml_parse (balloon_xml, &facts, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (facts.balloon.model, ==, "virtio");
  g_assert_true (facts.balloon.free_page_reporting);
  g_assert_true (facts.balloon.autodeflate);
  g_assert_cmpuint (facts.balloon.stats_period_sec, ==, 2);
  g_assert_false (facts.balloon.managed);
  g_assert_true (facts.balloon.has_min);
  g_assert_cmpuint (facts.balloon.min_kib, ==, 131072);
  g_assert_true (facts.balloon.has_shares);
  g_assert_cmpuint (facts.balloon.shares, ==, 300);

  /* defaults: managed, no min or shares, no device */
  g_assert_true (sp_domain_xml_parse (
      "<domain><name>g2</name><memory>1024</memory><devices/></domain>", &facts, &error));
  g_assert_null (facts.balloon.model);
  g_assert_true (facts.balloon.managed);
  g_assert_false (facts.balloon.has_min);
  g_assert_false (facts.balloon.has_shares);
  g_assert_false (facts.balloon.free_page_reporting);

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) local_error = NULL;
      g_auto (SpDomainXmlFacts) f = { 0 };
      g_autofree char *xml =
          g_strdup_printf ("<domain><name>g</name><memory>1024</memory><metadata><samepage:balloon "
                           "xmlns:samepage='" SP_BALLOON_METADATA_URI "' %s/></metadata></domain>",
                           bad[i]);

      g_assert_false (sp_domain_xml_parse (xml, &f, &local_error));
      g_assert_error (local_error, SP_ERROR, SP_ERROR_INVALID_ARGS);
    }

  metadata = sp_balloon_xml_metadata (TRUE, TRUE, 524288, FALSE, 0);
  g_assert_cmpstr (metadata, ==, "<balloon managed=\"yes\" min-kib=\"524288\"/>");
}

/* SetBalloon's checks: sizes in range of <memory>, shares 1..50000, new
 * values merged with the metadata the domain has. */
static void
test_settings (void)
{
  static const struct {
    const char *settings; /* GVariant text */
    GQuark domain;
    int code; /* -1: accepted */
    const char *message;
  } settings_cases[] = {
    { "{'min': <uint64 131072>}", 0, -1, NULL },
    { "{'min': <int64 -1>}", 0, SP_ERROR_INVALID_ARGS,
      "out of range (0..4194304 KiB: 0 to 4.0 GiB" },
    { "{'min': <uint64 4194305>}", 0, SP_ERROR_INVALID_ARGS, "out of range (0..4194304 KiB" },
    { "{'min': <'128M'>}", 0, SP_ERROR_INVALID_ARGS, "expects an integer" },
    { "{'shares': <0>}", 0, SP_ERROR_INVALID_ARGS, "1..50000" },
    { "{'shares': <50001>}", 0, SP_ERROR_INVALID_ARGS, "1..50000" },
    { "{'managed': <1>}", 0, SP_ERROR_INVALID_ARGS, "expects a boolean" },
    { "{'reporting': <true>}", 0, -1, NULL },
    { "{'reporting': <1>}", 0, SP_ERROR_INVALID_ARGS, "'reporting' expects a boolean" },
    { "{'bogus': <1>}", 0, SP_ERROR_INVALID_ARGS, "Unknown balloon setting 'bogus'" },
    { "@a{sv} {}", 0, SP_ERROR_INVALID_ARGS, "No balloon setting" },
  };
  DomainCase d = { "a", GUEST_KIB, 1000 * MIB, 1, .shares = 300 };
  g_autoptr (SpDomainInfo) info = make_domain (&d);

  for (gsize i = 0; i < G_N_ELEMENTS (settings_cases); i++)
    {
      g_autoptr (GVariant) settings =
          g_variant_ref_sink (g_variant_new_parsed (settings_cases[i].settings));
      g_autoptr (GError) error = NULL;
      SpBalloonChange change = { 0 };
      gboolean ok = sp_balloon_settings_check (info, settings, &change, &error);

      if (settings_cases[i].code < 0)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          continue;
        }
      g_assert_false (ok);
      g_assert_error (error, SP_ERROR, settings_cases[i].code);
      if (strstr (error->message, settings_cases[i].message) == NULL)
        g_error ("%s: '%s' lacks '%s'", settings_cases[i].settings, error->message,
                 settings_cases[i].message);
    }

  /* merged: shares kept from the metadata, min and managed set */
  {
    g_autoptr (GVariant) settings =
        g_variant_ref_sink (g_variant_new_parsed ("{'min': <uint64 131072>, 'managed': <false>}"));
    SpBalloonChange change = { 0 };
    g_autofree char *described = NULL;

    g_assert_true (sp_balloon_settings_check (info, settings, &change, NULL));
    g_assert_false (change.managed);
    g_assert_true (change.has_min);
    g_assert_cmpuint (change.min_kib, ==, 131072);
    g_assert_true (change.has_shares);
    g_assert_cmpuint (change.shares, ==, 300);
    described = sp_balloon_change_describe (&change);
    g_assert_cmpstr (described, ==, "opted out, min 128.0 MiB, shares 300");
  }

  /* reporting alone writes no metadata; merged with it, it does */
  {
    g_autoptr (GVariant) alone =
        g_variant_ref_sink (g_variant_new_parsed ("{'reporting': <true>}"));
    g_autoptr (GVariant) both =
        g_variant_ref_sink (g_variant_new_parsed ("{'reporting': <false>, 'shares': <7>}"));
    SpBalloonChange change = { 0 };

    g_assert_true (sp_balloon_settings_check (info, alone, &change, NULL));
    g_assert_true (change.has_reporting);
    g_assert_true (change.reporting);
    g_assert_false (change.has_metadata);
    g_assert_true (sp_balloon_settings_check (info, both, &change, NULL));
    g_assert_true (change.has_reporting);
    g_assert_false (change.reporting);
    g_assert_true (change.has_metadata);
    g_assert_cmpuint (change.shares, ==, 7);
  }

  /* reporting needs a virtio balloon: none, model='none' or another model are refused */
  {
    const struct {
      const char *model;
      const char *message;
    } refused[] = {
      { "-", "has no <memballoon> device" },
      { "none", "has <memballoon model='none'>" },
      { "xen", "has <memballoon model='xen'>" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
      {
        DomainCase r = { "r", GUEST_KIB, 1000 * MIB, 1, .model = refused[i].model };
        g_autoptr (SpDomainInfo) other = make_domain (&r);
        g_autoptr (GVariant) settings =
            g_variant_ref_sink (g_variant_new_parsed ("{'reporting': <true>, 'shares': <5>}"));
        g_autoptr (GError) error = NULL;
        SpBalloonChange change = { 0 };

        g_assert_false (sp_balloon_settings_check (other, settings, &change, &error));
        g_assert_error (error, SP_ERROR, SP_ERROR_NOT_SUPPORTED);
        g_assert_nonnull (strstr (error->message, refused[i].message));
      }
  }

  /* a transient domain has no persistent XML to keep them */
  {
    g_autoptr (GVariant) settings = g_variant_ref_sink (g_variant_new_parsed ("{'shares': <5>}"));
    g_autoptr (GError) error = NULL;
    SpBalloonChange change;

    info->persistent = FALSE;
    g_assert_false (sp_balloon_settings_check (info, settings, &change, &error));
    g_assert_error (error, SP_ERROR, SP_ERROR_TRANSIENT);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/balloon-policy/table/%" G_GSIZE_FORMAT, i);
      g_test_add_data_func (path, &cases[i], test_table);
    }
  g_test_add_func ("/balloon-policy/walk", test_walk);
  g_test_add_func ("/balloon-policy/xml", test_xml);
  g_test_add_func ("/balloon-policy/settings", test_settings);
  return g_test_run ();
}
