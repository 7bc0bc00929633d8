/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the /proc/<pid>/stat parser (sp_proc_pid_stat_parse),
 * which finds ksmd and reads its CPU time. comm may hold anything but NUL,
 * ')' included; on failure the result is untouched, on success the
 * fields come after the last ')'.
 */
#define G_LOG_DOMAIN "fuzz-pid-stat"

#include "fuzz-common.h"
#include "sp-ksmd-cost.h"

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
  SpProcPidStat stat;
  SpProcPidStat untouched;

  memset (&stat, 0x5a, sizeof (stat));
  untouched = stat;
  if (!sp_proc_pid_stat_parse (contents, &stat, &error))
    {
      fuzz_check_refused (error, &stat, &untouched, sizeof (stat));
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (stat.ppid >= 0);
  FUZZ_CHECK (strlen (stat.comm) < sizeof (stat.comm));
  /* the sum samepaged takes cannot wrap */
  FUZZ_CHECK (stat.utime_ticks + stat.stime_ticks >= stat.utime_ticks);
  FUZZ_CHECK (strchr (contents, '(') != NULL && strrchr (contents, ')') != NULL);
  return 0;
}
