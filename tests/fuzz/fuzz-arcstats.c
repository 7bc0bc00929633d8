/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: the ZFS arcstats parser (sp_arcstats_parse). */
#define G_LOG_DOMAIN "fuzz-arcstats"

#include "fuzz-common.h"
#include "sp-arcstats.h"

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
  const guint64 untouched = G_GUINT64_CONSTANT (0xa5a5a5a5a5a5a5a5);
  guint64 kib = untouched;

  if (!sp_arcstats_parse (contents, &kib, &error))
    {
      fuzz_check_refused (error, &kib, &untouched, sizeof (kib));
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  /* the promise of sp-meminfo.h: a KiB count that still fits in bytes, so
   * MemAvailable + the ARC cannot overflow */
  FUZZ_CHECK (kib <= G_MAXUINT64 / 1024);
  /* both rows are required */
  FUZZ_CHECK (strstr (contents, "size") != NULL && strstr (contents, "c_min") != NULL);
  return 0;
}
