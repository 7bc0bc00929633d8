/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the /proc/meminfo parser (sp_meminfo_parse). */
#define G_LOG_DOMAIN "fuzz-meminfo"

#include "fuzz-common.h"
#include "sp-meminfo.h"

/* as in sp-meminfo.c: every value may be converted to bytes */
#define MAX_KIB (G_MAXUINT64 / 1024)

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
  SpMeminfo info;
  SpMeminfo untouched;

  memset (&info, 0xa5, sizeof (info));
  untouched = info;
  if (!sp_meminfo_parse (contents, &info, &error))
    {
      fuzz_check_refused (error, &info, &untouched, sizeof (info));
      return 0;
    }

  FUZZ_CHECK (error == NULL);
  /* the parser's promise: every value fits in bytes too (total >= 0 as a
   * guint64 is given; this is the bound that matters) */
  FUZZ_CHECK (info.total_kib <= MAX_KIB);
  FUZZ_CHECK (info.free_kib <= MAX_KIB);
  FUZZ_CHECK (info.buffers_kib <= MAX_KIB);
  FUZZ_CHECK (info.cached_kib <= MAX_KIB);
  FUZZ_CHECK (info.available_estimated == TRUE || info.available_estimated == FALSE);
  if (info.available_estimated)
    FUZZ_CHECK (info.available_kib == info.free_kib + info.buffers_kib + info.cached_kib);
  else
    FUZZ_CHECK (info.available_kib <= MAX_KIB);
  /* the kernel writes MemTotal; the parser requires it */
  FUZZ_CHECK (strstr (contents, "MemTotal:") != NULL);

  /* both free sources answer, without overflow (each value < 2^54) */
  FUZZ_CHECK (sp_meminfo_free_kib (&info, SP_FREE_SOURCE_AVAILABLE) == info.available_kib);
  FUZZ_CHECK (sp_meminfo_free_kib (&info, SP_FREE_SOURCE_KSMTUNED) ==
              info.free_kib + info.buffers_kib + info.cached_kib);
  return 0;
}
