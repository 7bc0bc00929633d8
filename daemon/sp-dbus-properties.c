/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-dbus"

#include "config.h"
#include "sp-config-variant.h"

#include "sp-dbus-properties.h"

#include "sp-error.h"
#include "sp-names.h"

static void
add (GVariantBuilder *builder, const char *name, GVariant *value)
{
  g_variant_builder_add (builder, "{sv}", name, value);
}

/* Counters the kernel keeps as unsigned, read into a gint64. */
static GVariant *
new_unsigned (gint64 value)
{
  return g_variant_new_uint64 (value < 0 ? 0 : (guint64) value);
}

static GVariant *
ksm_files (const SpKsmState *ksm)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sx}"));
  for (guint field = 0; field < SP_KSM_N_FIELDS; field++)
    if (sp_ksm_state_has (ksm, field))
      g_variant_builder_add (&builder, "{sx}", sp_ksm_field_name (field), ksm->values[field]);
  return g_variant_builder_end (&builder);
}

/* Every property of org.samepage1.Manager: the last snapshot, and the config
 * in effect (a setter's change shows even when no decision could follow). */
GVariant *
sp_dbus_manager_properties (const SpSnapshot *snapshot, const SpConfig *config)
{
  const SpKsmState *ksm = &snapshot->ksm;
  const SpDecision *decision = &snapshot->decision;
  const SpGuests *guests = snapshot->guests;
  const SpBalloonDecision *balloon = snapshot->balloon;
  const char *advisor = "";
  GVariantBuilder b;

  if (sp_ksm_state_has_advisor (ksm))
    advisor = sp_ksm_advisor_mode_to_string (sp_ksm_state_get (ksm, SP_KSM_ADVISOR_MODE));

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add (&b, "Version", g_variant_new_string (PACKAGE_VERSION));
  add (&b, "ApiVersion", g_variant_new_uint32 (SP_DBUS_API_VERSION));
  add (&b, "Mode", g_variant_new_string (sp_mode_to_string (config->mode)));
  add (&b, "DryRun", g_variant_new_boolean (snapshot->dry_run));
  add (&b, "KsmAvailable", g_variant_new_boolean (ksm->available));
  add (&b, "Run",
       g_variant_new_uint32 ((guint32) CLAMP (sp_ksm_state_get (ksm, SP_KSM_RUN), 0, G_MAXUINT32)));
  add (&b, "PagesToScan", new_unsigned (sp_ksm_state_get (ksm, SP_KSM_PAGES_TO_SCAN)));
  add (&b, "SleepMillisecs", new_unsigned (sp_ksm_state_get (ksm, SP_KSM_SLEEP_MILLISECS)));
  add (&b, "PagesShared", new_unsigned (sp_ksm_state_get (ksm, SP_KSM_PAGES_SHARED)));
  add (&b, "PagesSharing", new_unsigned (sp_ksm_state_get (ksm, SP_KSM_PAGES_SHARING)));
  add (&b, "GeneralProfit", g_variant_new_int64 (sp_ksm_state_get (ksm, SP_KSM_GENERAL_PROFIT)));
  add (&b, "SavedKiB", g_variant_new_uint64 (sp_ksm_state_saved_kib (ksm)));
  add (&b, "KsmZeroPages", new_unsigned (sp_ksm_state_get (ksm, SP_KSM_KSM_ZERO_PAGES)));
  add (&b, "KsmdCpuPercent", g_variant_new_double (snapshot->cost.cpu_percent));
  add (&b, "FullScanSeconds", g_variant_new_double (snapshot->cost.full_scan_seconds));
  add (&b, "SavedKiBPerCpuSecond", g_variant_new_double (snapshot->cost.saved_kib_per_cpu_second));
  add (&b, "ProfitRatio", g_variant_new_double (snapshot->cost.profit_ratio));
  add (&b, "ProfitGuard",
       g_variant_new_string (sp_profit_guard_phase_to_string (decision->guard.phase)));
  add (&b, "AdvisorMode", g_variant_new_string (advisor));
  add (&b, "KsmFiles", ksm_files (ksm));
  add (&b, "MemTotalKiB", g_variant_new_uint64 (snapshot->mem.total_kib));
  add (&b, "MemAvailableKiB", g_variant_new_uint64 (snapshot->mem.available_kib));
  add (&b, "FreeKiB", g_variant_new_uint64 (decision->free_kib));
  add (&b, "CommittedKiB", g_variant_new_uint64 (guests->committed_kib));
  add (&b, "ThresholdKiB", g_variant_new_uint64 (decision->threshold_kib));
  add (&b, "LibvirtUri", g_variant_new_string (guests->uri ? guests->uri : ""));
  add (&b, "LibvirtConnected", g_variant_new_boolean (guests->connected));
  add (&b, "LibvirtStatus", g_variant_new_string (guests->status ? guests->status : ""));
  add (&b, "DomainsActive", g_variant_new_uint32 (guests->n_active));
  add (&b, "LastAction", g_variant_new_string (sp_action_to_string (decision->action)));
  add (&b, "LastReason", g_variant_new_string (decision->reason ? decision->reason : ""));
  add (&b, "LastDecisionTime", new_unsigned (snapshot->time_us));
  add (&b, "Tuning", sp_config_tuning_to_variant (config));
  add (&b, "BalloonMode", g_variant_new_string (sp_balloon_mode_to_string (config->balloon)));
  add (&b, "BalloonPressure", g_variant_new_boolean (balloon != NULL && balloon->pressure));
  add (&b, "BalloonGuestsManaged", g_variant_new_uint32 (balloon != NULL ? balloon->n_managed : 0));
  add (&b, "BalloonReclaimedKiB",
       g_variant_new_uint64 (balloon != NULL ? balloon->reclaimed_kib : 0));
  add (&b, "BalloonReason",
       g_variant_new_string (balloon != NULL && balloon->reason != NULL ? balloon->reason : ""));
  add (&b, "PressureTrigger",
       g_variant_new_string (snapshot->pressure_trigger ? snapshot->pressure_trigger : ""));
  add (&b, "PressureLastTrigger",
       g_variant_new_string (snapshot->pressure_last ? snapshot->pressure_last : ""));
  return g_variant_builder_end (&b);
}

/* BalloonState: the action, or "timed-out" when its target was not reached
 * in time; "none" without a target. */
static const char *
balloon_state (const SpBalloonTarget *target)
{
  if (target == NULL)
    return sp_balloon_action_to_string (SP_BALLOON_ACTION_NONE);
  if (target->timed_out)
    return "timed-out";
  return sp_balloon_action_to_string (target->action);
}

/* Every property of org.samepage1.Domain: the domain, and its target in the
 * balloon decision (none when balloon is NULL or has no target for it). */
GVariant *
sp_dbus_domain_properties (const SpDomainInfo *d, const SpBalloonDecision *balloon)
{
  const SpBalloonTarget *target = sp_balloon_decision_find (balloon, d->uuid);
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add (&b, "Name", g_variant_new_string (d->name ? d->name : ""));
  add (&b, "Uuid", g_variant_new_string (d->uuid ? d->uuid : ""));
  add (&b, "Active", g_variant_new_boolean (d->active));
  add (&b, "Persistent", g_variant_new_boolean (d->persistent));
  add (&b, "CurrentKiB", g_variant_new_uint64 (d->current_kib));
  add (&b, "MaximumKiB", g_variant_new_uint64 (d->maximum_kib));
  add (&b, "MemorySource", g_variant_new_string (d->memory_source ? d->memory_source : ""));
  add (&b, "MemMerge", g_variant_new_boolean (d->mem_merge));
  add (&b, "MemMergeActive", g_variant_new_boolean (d->mem_merge_active));
  add (&b, "PendingRestart", g_variant_new_boolean (d->pending_restart));
  add (&b, "Mergeable", g_variant_new_boolean (d->mergeable));
  add (&b, "UnmergeableReason",
       g_variant_new_string (d->unmergeable_reason ? d->unmergeable_reason : ""));
  add (&b, "UnmergeableKiB", g_variant_new_uint64 (d->unmergeable_kib));
  add (&b, "UnmergeablePart",
       g_variant_new_string (d->unmergeable_part ? d->unmergeable_part : ""));
  add (&b, "Pid", g_variant_new_int64 (d->pid));
  add (&b, "MergingPages", g_variant_new_int64 (d->ksm_merging_pages));
  add (&b, "ZeroPages", g_variant_new_int64 (d->ksm_zero_pages));
  add (&b, "ProcessProfit", g_variant_new_int64 (d->ksm_process_profit));
  add (&b, "KsmMergeable", g_variant_new_string (sp_ksm_mergeable_to_string (d->ksm_mergeable)));
  add (&b, "BalloonModel", g_variant_new_string (d->balloon.model ? d->balloon.model : ""));
  add (&b, "BalloonManaged", g_variant_new_boolean (d->balloon.managed));
  add (&b, "BalloonMinKiB", g_variant_new_uint64 (d->balloon.has_min ? d->balloon.min_kib : 0));
  add (&b, "BalloonShares", g_variant_new_uint64 (d->balloon.has_shares ? d->balloon.shares : 0));
  add (&b, "BalloonConfigKiB", g_variant_new_uint64 (d->balloon.config_current_kib));
  add (&b, "GuestUsableKiB", g_variant_new_uint64 (d->balloon.usable_kib));
  add (&b, "GuestUnusedKiB", g_variant_new_uint64 (d->balloon.unused_kib));
  add (&b, "GuestStatsUpdated", g_variant_new_int64 (d->balloon.last_update_sec));
  add (&b, "StatsPeriod", g_variant_new_uint64 (d->balloon.stats_period_sec));
  add (&b, "FreePageReporting", g_variant_new_boolean (d->balloon.free_page_reporting));
  add (&b, "FreePageReportingActive",
       g_variant_new_boolean (d->balloon.free_page_reporting_active));
  add (&b, "AutoDeflate", g_variant_new_boolean (d->balloon.autodeflate));
  add (&b, "GuestAvailableKiB",
       g_variant_new_uint64 (d->balloon.has_available ? d->balloon.available_kib : 0));
  add (&b, "BalloonTargetKiB", g_variant_new_uint64 (target != NULL ? target->target_kib : 0));
  add (&b, "BalloonFloorKiB", g_variant_new_uint64 (target != NULL ? target->floor_kib : 0));
  add (&b, "BalloonState", g_variant_new_string (balloon_state (target)));
  add (&b, "BalloonReason",
       g_variant_new_string (target != NULL && target->reason != NULL ? target->reason : ""));
  return g_variant_builder_end (&b);
}

/* What this code computes must be exactly the properties of the XML, with
 * their types: checked once at start with sample values. */
gboolean
sp_dbus_check_properties (GDBusInterfaceInfo *info, GVariant *properties, GError **error)
{
  g_autoptr (GVariant) values = g_variant_ref_sink (properties);
  gsize n_info = 0;

  for (GDBusPropertyInfo **p = info->properties; p != NULL && *p != NULL; p++, n_info++)
    {
      g_autoptr (GVariant) value = g_variant_lookup_value (values, (*p)->name, NULL);

      if (value == NULL)
        {
          g_set_error (error, SP_ERROR, SP_ERROR_FAILED,
                       "%s.%s is in the introspection XML but samepaged has no value for it",
                       info->name, (*p)->name);
          return FALSE;
        }
      if (g_strcmp0 (g_variant_get_type_string (value), (*p)->signature) != 0)
        {
          g_set_error (error, SP_ERROR, SP_ERROR_FAILED,
                       "%s.%s has type '%s' in the introspection XML but samepaged computes '%s'",
                       info->name, (*p)->name, (*p)->signature, g_variant_get_type_string (value));
          return FALSE;
        }
    }
  if (g_variant_n_children (values) != n_info)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED,
                   "samepaged computes %" G_GSIZE_FORMAT " properties of %s, the introspection "
                   "XML has %" G_GSIZE_FORMAT,
                   g_variant_n_children (values), info->name, n_info);
      return FALSE;
    }
  return TRUE;
}

/* /org/samepage1/domain/<uuid with '-' as '_'>; NULL when the UUID cannot
 * be a path element (libvirt UUIDs always can). */
char *
sp_dbus_domain_object_path (const char *uuid)
{
  g_autofree char *element = NULL;
  g_autofree char *path = NULL;

  if (uuid == NULL || *uuid == '\0')
    return NULL;
  element = g_strdelimit (g_strdup (uuid), "-", '_');
  path = g_strconcat (SP_DBUS_DOMAIN_PATH "/", element, NULL);
  return g_variant_is_object_path (path) ? g_steal_pointer (&path) : NULL;
}
