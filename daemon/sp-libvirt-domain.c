/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-libvirt"

#include "sp-libvirt-domain.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "sp-domain-xml.h"
#include "sp-io.h"
#include "sp-libvirt-util.h"

/* The guest's own memory statistics (a guest without the balloon driver,
 * or with a stats period of 0, has none). */
static void
sp_libvirt_domain_read_guest_stats (virTypedParameterPtr params, int nparams, SpBalloonStats *b)
{
  unsigned long long value;

  b->has_available = virTypedParamsGetULLong (params, nparams, "balloon.available", &value) == 1;
  b->available_kib = b->has_available ? value : 0;
  b->has_usable = virTypedParamsGetULLong (params, nparams, "balloon.usable", &value) == 1;
  b->usable_kib = b->has_usable ? value : 0;
  b->has_unused = virTypedParamsGetULLong (params, nparams, "balloon.unused", &value) == 1;
  b->unused_kib = b->has_unused ? value : 0;
  b->has_disk_caches =
      virTypedParamsGetULLong (params, nparams, "balloon.disk_caches", &value) == 1;
  b->disk_caches_kib = b->has_disk_caches ? value : 0;
  if (virTypedParamsGetULLong (params, nparams, "balloon.last-update", &value) == 1)
    b->last_update_sec = (gint64) MIN (value, (unsigned long long) G_MAXINT64);
}

GHashTable *
sp_libvirt_domain_balloon_stats (virConnectPtr conn, virDomainPtr *doms, GError **error)
{
  g_autoptr (GHashTable) table = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  virDomainStatsRecordPtr *records = NULL;
  const unsigned int stats = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_BALLOON;
  int n;

  if (doms == NULL)
    n = virConnectGetAllDomainStats (conn, stats, &records,
                                     VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
  else if (doms[0] == NULL)
    return g_steal_pointer (&table);
  else
    {
      n = virDomainListGetStats (doms, stats, &records, 0);
      /* one of doms went away meanwhile: all active ones, as a full refresh */
      if (n < 0)
        n = virConnectGetAllDomainStats (conn, stats, &records,
                                         VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
    }
  if (n < 0)
    {
      sp_libvirt_set_error (error, "Cannot get domain stats");
      return NULL;
    }
  for (int i = 0; i < n; i++)
    {
      SpBalloonStats *b = g_new0 (SpBalloonStats, 1);
      unsigned long long value;

      if (virDomainGetUUIDString (records[i]->dom, b->uuid) < 0)
        {
          g_free (b);
          continue;
        }
      if (virTypedParamsGetULLong (records[i]->params, records[i]->nparams, "balloon.current",
                                   &value) == 1)
        {
          b->has_current = TRUE;
          b->current_kib = value;
        }
      if (virTypedParamsGetULLong (records[i]->params, records[i]->nparams, "balloon.maximum",
                                   &value) == 1)
        {
          b->has_maximum = TRUE;
          b->maximum_kib = value;
        }
      sp_libvirt_domain_read_guest_stats (records[i]->params, records[i]->nparams, b);
      g_hash_table_insert (table, b->uuid, b);
    }
  virDomainStatsRecordListFree (records);
  return g_steal_pointer (&table);
}

static gboolean
domain_facts (virDomainPtr dom, unsigned int flags, SpDomainXmlFacts *facts, GError **error)
{
  /* the name first: virDomainGetName() resets libvirt's last error */
  const char *name = virDomainGetName (dom);
  g_autofree char *xml = virDomainGetXMLDesc (dom, flags);

  if (xml == NULL)
    {
      sp_libvirt_set_error (error, "Cannot get the XML of domain %s", name);
      return FALSE;
    }
  if (!sp_domain_xml_parse (xml, facts, error))
    {
      g_prefix_error (error, "Domain %s: ", name);
      return FALSE;
    }
  return TRUE;
}

/* The balloon facts: the device as it runs, what the next start gets and
 * samepage's metadata from the persistent config, the guest's stats. */
static void
balloon_info (SpDomainInfo *info, const SpBalloonStats *b, const SpDomainXmlFacts *live,
              const SpDomainXmlFacts *config)
{
  SpBalloonInfo *balloon = &info->balloon;

  balloon->model = g_strdup (info->active ? live->balloon.model : config->balloon.model);
  balloon->free_page_reporting = config->balloon.free_page_reporting;
  balloon->free_page_reporting_active =
      info->active ? live->balloon.free_page_reporting : config->balloon.free_page_reporting;
  balloon->autodeflate = config->balloon.autodeflate;
  balloon->stats_period_sec = info->active ? live->balloon.stats_period_sec : 0;
  balloon->memory_kib = config->memory_kib;
  balloon->config_current_kib = config->current_memory_kib;
  balloon->managed = config->balloon.managed;
  balloon->has_min = config->balloon.has_min;
  balloon->min_kib = config->balloon.min_kib;
  balloon->has_shares = config->balloon.has_shares;
  balloon->shares = config->balloon.shares;
  if (b == NULL)
    return;
  balloon->has_current = b->has_current;
  balloon->has_available = b->has_available;
  balloon->available_kib = b->available_kib;
  balloon->has_usable = b->has_usable;
  balloon->usable_kib = b->usable_kib;
  balloon->has_unused = b->has_unused;
  balloon->unused_kib = b->unused_kib;
  balloon->has_disk_caches = b->has_disk_caches;
  balloon->disk_caches_kib = b->disk_caches_kib;
  balloon->last_update_sec = b->last_update_sec;
}

gint64
sp_libvirt_domain_parse_dac_uid (const char *label)
{
  g_autofree char *user = NULL;
  const char *colon;
  gint64 uid;

  /* DAC labels are "user:group" (one colon); SELinux ones have three or
   * more, AppArmor's none */
  if (label == NULL || (colon = strchr (label, ':')) == NULL || strchr (colon + 1, ':') != NULL)
    return -1;
  user = g_strndup (label, colon - label);
  /* "+64055": a numeric uid; else a user name */
  if (user[0] == '+')
    return sp_parse_i64 (user + 1, &uid) && uid >= 0 && uid <= G_MAXUINT32 - 1 ? uid : -1;
  if (user[0] == '\0')
    return -1;
  {
    struct passwd pwd;
    struct passwd *found = NULL;
    char buf[4096];

    if (getpwnam_r (user, &pwd, buf, sizeof (buf), &found) != 0 || found == NULL)
      return -1;
    return found->pw_uid;
  }
}

/* The uid of QEMU's DAC label (virDomainGetSecurityLabelList), or -1. */
static gint64
qemu_uid (virDomainPtr dom)
{
  virSecurityLabelPtr labels = NULL;
  gint64 uid = -1;
  int n = virDomainGetSecurityLabelList (dom, &labels);

  for (int i = 0; i < n && uid < 0; i++)
    uid = sp_libvirt_domain_parse_dac_uid (labels[i].label);
  free (labels);
  return uid;
}

SpDomainInfo *
sp_libvirt_domain_query (virDomainPtr dom, GHashTable *balloon, GError **error)
{
  g_autoptr (SpDomainInfo) info = sp_domain_info_new ();
  g_auto (SpDomainXmlFacts) live = { 0 };
  g_auto (SpDomainXmlFacts) config = { 0 };
  char uuid[VIR_UUID_STRING_BUFLEN];
  const SpBalloonStats *b;
  const SpDomainXmlFacts *facts;
  const char *reason;
  /* the name first: virDomainGetName() resets libvirt's last error */
  const char *name = virDomainGetName (dom);
  int active = virDomainIsActive (dom);
  int persistent = virDomainIsPersistent (dom);

  if (active < 0 || persistent < 0 || virDomainGetUUIDString (dom, uuid) < 0)
    {
      sp_libvirt_set_error (error, "Cannot query domain %s", name);
      return NULL;
    }
  info->name = g_strdup (name);
  info->uuid = g_strdup (uuid);
  info->active = active == 1;
  info->persistent = persistent == 1;
  if (info->active)
    info->qemu_uid = qemu_uid (dom);

  if (!domain_facts (dom, 0, &live, error))
    return NULL;
  if (info->persistent && !domain_facts (dom, VIR_DOMAIN_XML_INACTIVE, &config, error))
    return NULL;

  info->mem_merge = !(info->persistent ? config.nosharepages : live.nosharepages);
  info->mem_merge_active = info->active ? !live.nosharepages : info->mem_merge;
  info->pending_restart = info->active && info->mem_merge != info->mem_merge_active;

  /* memory: balloon.current, else virDomainGetInfo, else the XML */
  b = info->active ? g_hash_table_lookup (balloon, uuid) : NULL;
  info->maximum_kib = live.memory_kib;
  if (b != NULL && b->has_current)
    {
      info->current_kib = b->current_kib;
      info->memory_source = g_strdup ("balloon");
      if (b->has_maximum)
        info->maximum_kib = b->maximum_kib;
    }
  else
    {
      virDomainInfo vinfo;

      if (info->active && virDomainGetInfo (dom, &vinfo) == 0)
        {
          info->current_kib = vinfo.memory;
          info->maximum_kib = vinfo.maxMem;
          info->memory_source = g_strdup ("info");
        }
      else
        {
          info->current_kib = live.current_memory_kib;
          info->memory_source = g_strdup ("xml");
        }
    }

  balloon_info (info, b, &live, info->persistent ? &config : &live);

  /* what the running guest can merge: its live XML; else its config (what
   * QEMU says is the caller's: sp_qemu_proc_follow_mergeable) */
  facts = info->active ? &live : (info->persistent ? &config : &live);
  reason = sp_domain_xml_unmergeable_reason (facts);
  info->mergeable = reason == NULL;
  info->unmergeable_reason = g_strdup (reason);
  if (info->mergeable && facts->unmergeable_kib > 0)
    {
      info->unmergeable_kib = facts->unmergeable_kib;
      info->unmergeable_part = g_strdup (facts->unmergeable_part);
    }
  return g_steal_pointer (&info);
}
