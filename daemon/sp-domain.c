/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-domain"

#include "sp-domain.h"

SpDomainInfo *
sp_domain_info_new (void)
{
  SpDomainInfo *info = g_new0 (SpDomainInfo, 1);

  info->mem_merge = TRUE;
  info->mem_merge_active = TRUE;
  info->mergeable = TRUE;
  info->ksm_mergeable = SP_KSM_MERGEABLE_UNKNOWN;
  info->balloon.managed = TRUE;
  info->qemu_uid = -1;
  return info;
}

SpDomainInfo *
sp_domain_info_copy (const SpDomainInfo *info)
{
  SpDomainInfo *copy = g_memdup2 (info, sizeof (*info));

  copy->name = g_strdup (info->name);
  copy->uuid = g_strdup (info->uuid);
  copy->memory_source = g_strdup (info->memory_source);
  copy->unmergeable_reason = g_strdup (info->unmergeable_reason);
  copy->unmergeable_part = g_strdup (info->unmergeable_part);
  copy->balloon.model = g_strdup (info->balloon.model);
  return copy;
}

void
sp_domain_info_free (SpDomainInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->uuid);
  g_free (info->memory_source);
  g_free (info->unmergeable_reason);
  g_free (info->unmergeable_part);
  g_free (info->balloon.model);
  g_free (info);
}

static void
sp_guests_clear (SpGuests *guests)
{
  g_ptr_array_unref (guests->domains);
  g_free (guests->uri);
  g_free (guests->status);
}

SpGuests *
sp_guests_new (void)
{
  SpGuests *guests = g_atomic_rc_box_new0 (SpGuests);

  guests->domains = g_ptr_array_new_with_free_func ((GDestroyNotify) sp_domain_info_free);
  return guests;
}

SpGuests *
sp_guests_ref (SpGuests *guests)
{
  return g_atomic_rc_box_acquire (guests);
}

void
sp_guests_unref (SpGuests *guests)
{
  g_atomic_rc_box_release_full (guests, (GDestroyNotify) sp_guests_clear);
}

static gint
compare_by_name (gconstpointer a, gconstpointer b)
{
  const SpDomainInfo *da = *(const SpDomainInfo *const *) a;
  const SpDomainInfo *db = *(const SpDomainInfo *const *) b;

  return g_strcmp0 (da->name, db->name);
}

guint64
sp_add_saturating_u64 (guint64 a, guint64 b)
{
  return a > G_MAXUINT64 - b ? G_MAXUINT64 : a + b;
}

guint64
sp_domain_info_mergeable_kib (const SpDomainInfo *info)
{
  /* the unmergeable regions count in full: a balloon shrinks what is left */
  if (!info->mergeable)
    return 0;
  return info->current_kib - MIN (info->current_kib, info->unmergeable_kib);
}

void
sp_guests_finish (SpGuests *guests)
{
  g_ptr_array_sort (guests->domains, compare_by_name);
  guests->committed_kib = 0;
  guests->n_active = 0;
  for (guint i = 0; i < guests->domains->len; i++)
    {
      const SpDomainInfo *d = g_ptr_array_index (guests->domains, i);

      if (!d->active)
        continue;
      guests->n_active++;
      if (d->mergeable)
        guests->committed_kib =
            sp_add_saturating_u64 (guests->committed_kib, sp_domain_info_mergeable_kib (d));
    }
}

const SpDomainInfo *
sp_guests_find (const SpGuests *guests, const char *name_or_uuid)
{
  for (guint i = 0; i < guests->domains->len; i++)
    {
      const SpDomainInfo *d = g_ptr_array_index (guests->domains, i);

      if (g_strcmp0 (d->name, name_or_uuid) == 0 ||
          (d->uuid != NULL && g_ascii_strcasecmp (d->uuid, name_or_uuid) == 0))
        return d;
    }
  return NULL;
}
