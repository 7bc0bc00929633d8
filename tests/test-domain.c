/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The guest-memory input: what each domain brings to committed memory. */
#define G_LOG_DOMAIN "test-domain"

#include "sp-domain.h"

#define MIB G_GUINT64_CONSTANT (1024)
#define GIB (MIB * 1024)

static SpDomainInfo *
add_domain (SpGuests *guests, const char *name, gboolean active, guint64 current_kib,
            const char *reason, guint64 unmergeable_kib)
{
  SpDomainInfo *d = sp_domain_info_new ();

  d->name = g_strdup (name);
  d->uuid = g_strdup_printf ("%08x-0000-4000-8000-000000000000", g_str_hash (name));
  d->active = active;
  d->current_kib = current_kib;
  d->mergeable = reason == NULL;
  d->unmergeable_reason = g_strdup (reason);
  d->unmergeable_kib = unmergeable_kib;
  d->unmergeable_part = unmergeable_kib > 0 ? g_strdup ("hugepages (NUMA cell 1)") : NULL;
  g_ptr_array_add (guests->domains, d);
  return d;
}

/* Whole guests count, unmergeable ones do not, partly mergeable ones count
 * what is left of their current memory once the unmergeable regions are out. */
static void
test_committed_by_region (void)
{
  g_autoptr (SpGuests) guests = sp_guests_new ();
  SpDomainInfo *half;
  SpDomainInfo *copy;

  add_domain (guests, "plain", TRUE, 2 * GIB, NULL, 0);
  add_domain (guests, "huge", TRUE, 8 * GIB, "hugepages", 8 * GIB);
  half = add_domain (guests, "numa", TRUE, 6 * GIB, NULL, 2 * GIB);
  add_domain (guests, "off", FALSE, 4 * GIB, NULL, 0);
  /* ballooned below its unmergeable part: nothing of it to merge */
  add_domain (guests, "squeezed", TRUE, GIB, NULL, 2 * GIB);
  sp_guests_finish (guests);

  g_assert_cmpuint (guests->n_active, ==, 4);
  g_assert_cmpuint (guests->committed_kib, ==, 2 * GIB + 4 * GIB);
  g_assert_cmpuint (sp_domain_info_mergeable_kib (half), ==, 4 * GIB);

  /* a copy is whole: the part and its reason too */
  copy = sp_domain_info_copy (half);
  g_assert_cmpuint (copy->unmergeable_kib, ==, 2 * GIB);
  g_assert_cmpstr (copy->unmergeable_part, ==, "hugepages (NUMA cell 1)");
  g_assert_true (copy->unmergeable_part != half->unmergeable_part);
  sp_domain_info_free (copy);
}

/* Sizes come from libvirt: their sum saturates instead of wrapping. */
static void
test_committed_saturates (void)
{
  g_autoptr (SpGuests) guests = sp_guests_new ();

  add_domain (guests, "a", TRUE, G_MAXUINT64 - 10, NULL, 0);
  add_domain (guests, "b", TRUE, 100, NULL, 0);
  add_domain (guests, "c", TRUE, G_MAXUINT64, NULL, 0);
  sp_guests_finish (guests);
  g_assert_cmpuint (guests->committed_kib, ==, G_MAXUINT64);

  g_assert_cmpuint (sp_add_saturating_u64 (1, 2), ==, 3);
  g_assert_cmpuint (sp_add_saturating_u64 (G_MAXUINT64, 1), ==, G_MAXUINT64);
  g_assert_cmpuint (sp_add_saturating_u64 (G_MAXUINT64 - 1, 1), ==, G_MAXUINT64);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/domain/committed-by-region", test_committed_by_region);
  g_test_add_func ("/domain/committed-saturates", test_committed_saturates);
  return g_test_run ();
}
