/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prints sp_metrics_format() of a snapshot in which every part samepaged's
 * metrics can show is present: every KSM sysfs file, a libvirt connection
 * with a running and a shut-off domain, a balloon decision with a managed
 * domain. tests/check-prometheus-rules.py takes the metric names the
 * Prometheus rules may use from this output, so a name that drifts in
 * daemon/sp-metrics.c fails that test.
 */
#include <stdio.h>

#include "sp-metrics.h"
#include "sp-test.h"

static SpSnapshot *
full_snapshot (void)
{
  SpSnapshot *s = sp_snapshot_new ();
  SpDomainInfo *d;
  SpBalloonTarget *t;

  s->serial = 1;
  s->time_us = g_get_real_time ();
  s->ksm.available = TRUE;
  for (int field = 0; field < SP_KSM_N_FIELDS; field++)
    sp_test_ksm_set (&s->ksm, field, 1);
  s->mem.total_kib = 16 * 1024 * 1024;
  s->mem.available_kib = 8 * 1024 * 1024;
  s->decision.action = SP_ACTION_RUN;
  s->guests = sp_guests_new ();
  s->guests->connected = TRUE;
  for (int i = 0; i < 2; i++)
    {
      d = sp_domain_info_new ();
      d->name = g_strdup_printf ("g%d", i);
      d->uuid = g_strdup_printf ("%d1111111-1111-4111-8111-111111111111", i);
      d->active = i == 0;
      d->mergeable = TRUE;
      g_ptr_array_add (s->guests->domains, d);
    }
  sp_guests_finish (s->guests);
  s->balloon = sp_balloon_decision_new ();
  t = g_new0 (SpBalloonTarget, 1);
  t->name = g_strdup ("g0");
  t->uuid = g_strdup ("01111111-1111-4111-8111-111111111111");
  t->managed = TRUE;
  g_ptr_array_add (s->balloon->targets, t);
  return s;
}

int
main (void)
{
  g_autoptr (SpSnapshot) s = full_snapshot ();
  g_autofree char *text = sp_metrics_format (s);

  fputs (text, stdout);
  return fflush (stdout) == 0 ? 0 : 1;
}
