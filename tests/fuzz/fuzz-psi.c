/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the pressure file parser (sp_psi_stat_parse) and the
 * pressure_trigger parser (sp_psi_spec_parse), on the same input.
 */
#define G_LOG_DOMAIN "fuzz-psi"

#include "fuzz-common.h"
#include "sp-psi-trigger.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_logging ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *contents = fuzz_strndup (data, size);
  g_autoptr (GError) error = NULL;
  g_autofree char *problem = NULL;
  SpPsiStat stat;
  SpPsiStat untouched;
  SpPsiSpec spec = { .enabled = TRUE, .stall_us = -7 };

  memset (&stat, 0xa5, sizeof (stat));
  untouched = stat;
  if (!sp_psi_stat_parse (contents, &stat, &error))
    {
      fuzz_check_refused (error, &stat, &untouched, sizeof (stat));
    }
  else
    {
      g_autofree char *described = NULL;
      SpPsiSpec some = { TRUE, FALSE, 150000, 1000000 };

      FUZZ_CHECK (stat.some.present);
      FUZZ_CHECK (stat.some.avg10 >= 0.0 && stat.some.avg10 <= 100.0);
      FUZZ_CHECK (!stat.full.present || (stat.full.avg300 >= 0.0 && stat.full.avg300 <= 100.0));
      described = sp_psi_describe (&some, &stat);
      FUZZ_CHECK (g_str_has_prefix (described, "memory pressure: some >= 15 % over 1 s (avg10 "));
    }

  if (!sp_psi_spec_parse (contents, &spec, &problem))
    {
      FUZZ_CHECK (problem != NULL);
      FUZZ_CHECK (spec.stall_us == -7); /* unchanged */
    }
  else if (spec.enabled)
    {
      g_autofree char *text = sp_psi_spec_to_string (&spec);
      g_autofree char *again_problem = NULL;
      SpPsiSpec again = { 0 };

      /* within the kernel's limits, and the canonical text parses to the same */
      FUZZ_CHECK (spec.window_us >= SP_PSI_WINDOW_MIN_US && spec.window_us <= SP_PSI_WINDOW_MAX_US);
      FUZZ_CHECK (spec.stall_us >= 1 && spec.stall_us <= spec.window_us);
      FUZZ_CHECK (sp_psi_spec_parse (text, &again, &again_problem));
      FUZZ_CHECK (sp_psi_spec_equal (&spec, &again));
    }
  return 0;
}
