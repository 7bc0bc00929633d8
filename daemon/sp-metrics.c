/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-metrics"

#include "sp-metrics.h"

#include <unistd.h>

#include "sp-io.h"

#define KIB 1024.0

static void
family (GString *out, const char *name, const char *type, const char *help)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
sample (GString *out, const char *name, double value)
{
  g_string_append_printf (out, "%s %.17g\n", name, value);
}

static void
metric (GString *out, const char *name, const char *type, const char *help, double value)
{
  family (out, name, type, help);
  sample (out, name, value);
}

/* Label values escape backslash, double quote and newline. */
static void
append_label_value (GString *out, const char *value)
{
  for (const char *p = value ? value : ""; *p != '\0'; p++)
    {
      if (*p == '\\')
        g_string_append (out, "\\\\");
      else if (*p == '"')
        g_string_append (out, "\\\"");
      else if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

static void
domain_sample (GString *out, const char *name, const SpDomainInfo *d, double value)
{
  g_string_append_printf (out, "%s{domain=\"", name);
  append_label_value (out, d->name);
  g_string_append (out, "\",uuid=\"");
  append_label_value (out, d->uuid);
  g_string_append_printf (out, "\"} %.17g\n", value);
}

typedef struct {
  SpKsmField field;
  const char *name;
  const char *type;
  const char *help;
  double scale; /* to the metric's base unit; 0 means 1 */
} KsmMetric;

static const KsmMetric ksm_metrics[] = {
  { SP_KSM_RUN, "samepage_ksm_run", "gauge", "KSM run knob: 0 stopped, 1 merging, 2 unmerging." },
  { SP_KSM_PAGES_TO_SCAN, "samepage_ksm_pages_to_scan", "gauge", "Pages ksmd scans per wake-up." },
  { SP_KSM_SLEEP_MILLISECS, "samepage_ksm_sleep_seconds", "gauge",
    "Pause of ksmd between scans (sleep_millisecs).", 0.001 },
  { SP_KSM_PAGES_SHARED, "samepage_ksm_pages_shared", "gauge", "Shared pages in use." },
  { SP_KSM_PAGES_SHARING, "samepage_ksm_pages_sharing", "gauge",
    "Sites sharing KSM pages (pages saved)." },
  { SP_KSM_PAGES_UNSHARED, "samepage_ksm_pages_unshared", "gauge",
    "Pages unique but repeatedly checked for merging." },
  { SP_KSM_PAGES_VOLATILE, "samepage_ksm_pages_volatile", "gauge",
    "Pages changing too fast to be merged." },
  { SP_KSM_FULL_SCANS, "samepage_ksm_full_scans_total", "counter",
    "Full scans of all mergeable areas." },
  { SP_KSM_PAGES_SCANNED, "samepage_ksm_pages_scanned_total", "counter", "Pages scanned by ksmd." },
  { SP_KSM_PAGES_SKIPPED, "samepage_ksm_pages_skipped_total", "counter",
    "Pages skipped by smart scan." },
  { SP_KSM_KSM_ZERO_PAGES, "samepage_ksm_zero_pages", "gauge",
    "Empty pages merged with the kernel zero page." },
  { SP_KSM_STABLE_NODE_CHAINS, "samepage_ksm_stable_node_chains", "gauge",
    "KSM pages that hit the max_page_sharing limit." },
  { SP_KSM_STABLE_NODE_DUPS, "samepage_ksm_stable_node_dups", "gauge", "Duplicated KSM pages." },
};

/* The balloon policy's targets: balloon.current and the target of each
 * managed running domain, and the memory the balloons return to the host. */
static void
balloon_metrics (GString *out, const SpBalloonDecision *balloon)
{
  if (balloon == NULL)
    return;
  metric (out, "samepage_balloon_reclaimed_bytes", "gauge",
          "Memory managed guests' balloons return to the host (currentMemory less current).",
          balloon->reclaimed_kib * KIB);
  metric (out, "samepage_balloon_pressure", "gauge",
          "1 while MemAvailable is below balloon_threshold.", balloon->pressure ? 1 : 0);
  family (out, "samepage_domain_balloon_current_bytes", "gauge",
          "balloon.current of a managed running domain.");
  for (guint i = 0; i < balloon->targets->len; i++)
    {
      const SpBalloonTarget *t = g_ptr_array_index (balloon->targets, i);
      SpDomainInfo d = { .name = t->name, .uuid = t->uuid };

      if (t->managed)
        domain_sample (out, "samepage_domain_balloon_current_bytes", &d, t->current_kib * KIB);
    }
  family (out, "samepage_domain_balloon_target_bytes", "gauge",
          "Where the balloon policy wants a managed running domain's balloon.");
  for (guint i = 0; i < balloon->targets->len; i++)
    {
      const SpBalloonTarget *t = g_ptr_array_index (balloon->targets, i);
      SpDomainInfo d = { .name = t->name, .uuid = t->uuid };

      if (t->managed)
        domain_sample (out, "samepage_domain_balloon_target_bytes", &d, t->target_kib * KIB);
    }
}

/* What KSM costs and returns (sp-ksmd-cost.h); unknown values are left out. */
static void
cost_metrics (GString *out, const SpKsmCost *cost)
{
  if (cost->cpu_seconds >= 0)
    metric (out, "samepage_ksmd_cpu_seconds_total", "counter",
            "CPU time of the ksmd kernel thread (utime + stime).", cost->cpu_seconds);
  if (cost->cpu_percent >= 0)
    metric (out, "samepage_ksmd_cpu_ratio", "gauge",
            "CPU ksmd used in the last decision window, in cores.", cost->cpu_percent / 100);
  if (cost->full_scan_seconds >= 0)
    metric (out, "samepage_ksm_full_scan_seconds", "gauge", "Duration of ksmd's last full scans.",
            cost->full_scan_seconds);
  if (cost->saved_kib_per_cpu_second >= 0)
    metric (out, "samepage_ksm_saved_bytes_per_cpu_second", "gauge",
            "Memory saved per CPU-second ksmd spends on one full scan.",
            cost->saved_kib_per_cpu_second * KIB);
  if (cost->profit_ratio >= 0)
    metric (out, "samepage_ksm_profit_ratio", "gauge",
            "rmap items per saved page; above page size / 64 merging costs more than it saves.",
            cost->profit_ratio);
}

char *
sp_metrics_format (const SpSnapshot *snapshot)
{
  g_autoptr (GString) out = g_string_new (NULL);
  const SpKsmState *ksm = &snapshot->ksm;
  const SpDecision *decision = &snapshot->decision;
  const SpGuests *guests = snapshot->guests;
  const SpAction actions[] = { SP_ACTION_RUN, SP_ACTION_STOP, SP_ACTION_NONE };

  metric (out, "samepage_ksm_available", "gauge", "1 when the kernel has /sys/kernel/mm/ksm.",
          ksm->available ? 1 : 0);
  for (gsize i = 0; i < G_N_ELEMENTS (ksm_metrics); i++)
    {
      if (!sp_ksm_state_has (ksm, ksm_metrics[i].field))
        continue;
      double scale = ksm_metrics[i].scale != 0 ? ksm_metrics[i].scale : 1;
      metric (out, ksm_metrics[i].name, ksm_metrics[i].type, ksm_metrics[i].help,
              (double) sp_ksm_state_get (ksm, ksm_metrics[i].field) * scale);
    }
  if (sp_ksm_state_has (ksm, SP_KSM_GENERAL_PROFIT))
    metric (out, "samepage_ksm_general_profit_bytes", "gauge",
            "Kernel estimate of memory saved minus KSM metadata (may be negative).",
            (double) sp_ksm_state_get (ksm, SP_KSM_GENERAL_PROFIT));
  metric (out, "samepage_ksm_saved_bytes", "gauge",
          "Memory saved: (pages_sharing + ksm_zero_pages) x page size.",
          (double) sp_ksm_state_saved_kib (ksm) * KIB);
  cost_metrics (out, &snapshot->cost);

  metric (out, "samepage_memory_total_bytes", "gauge", "MemTotal of /proc/meminfo.",
          snapshot->mem.total_kib * KIB);
  metric (out, "samepage_memory_available_bytes", "gauge", "MemAvailable of /proc/meminfo.",
          snapshot->mem.available_kib * KIB);
  metric (out, "samepage_memory_free_bytes", "gauge",
          "Free memory as the policy counts it (free_source).", decision->free_kib * KIB);
  metric (out, "samepage_memory_committed_bytes", "gauge",
          "Memory of running guests KSM can merge.", decision->committed_kib * KIB);
  metric (out, "samepage_memory_threshold_bytes", "gauge",
          "max(thres_const, MemTotal x thres_coef / 100).", decision->threshold_kib * KIB);

  family (out, "samepage_decision", "gauge",
          "The last decision: 1 for its action, 0 for the others.");
  for (gsize i = 0; i < G_N_ELEMENTS (actions); i++)
    g_string_append_printf (out, "samepage_decision{action=\"%s\"} %d\n",
                            sp_action_to_string (actions[i]),
                            decision->action == actions[i] ? 1 : 0);
  metric (out, "samepage_decision_timestamp_seconds", "gauge",
          "Time of the last decision, seconds since the epoch.", snapshot->time_us / 1e6);
  metric (out, "samepage_decisions_total", "counter", "Decisions made since samepaged started.",
          (double) snapshot->serial);

  if (guests != NULL)
    {
      metric (out, "samepage_libvirt_connected", "gauge", "1 while the libvirt connection is up.",
              guests->connected ? 1 : 0);
      metric (out, "samepage_domains_active", "gauge", "Running libvirt domains.",
              guests->n_active);

      family (out, "samepage_domain_current_bytes", "gauge", "Current memory of a domain.");
      for (guint i = 0; i < guests->domains->len; i++)
        {
          const SpDomainInfo *d = g_ptr_array_index (guests->domains, i);
          domain_sample (out, "samepage_domain_current_bytes", d, d->current_kib * KIB);
        }
      family (out, "samepage_domain_mergeable", "gauge",
              "1 when KSM can merge the domain's memory.");
      for (guint i = 0; i < guests->domains->len; i++)
        {
          const SpDomainInfo *d = g_ptr_array_index (guests->domains, i);
          domain_sample (out, "samepage_domain_mergeable", d, d->mergeable ? 1 : 0);
        }
      family (out, "samepage_domain_merging_pages", "gauge",
              "Pages of a running domain merged by KSM (/proc/PID/ksm_stat).");
      for (guint i = 0; i < guests->domains->len; i++)
        {
          const SpDomainInfo *d = g_ptr_array_index (guests->domains, i);
          if (d->active)
            domain_sample (out, "samepage_domain_merging_pages", d, (double) d->ksm_merging_pages);
        }
    }
  balloon_metrics (out, snapshot->balloon);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

gboolean
sp_metrics_write (const SpSnapshot *snapshot, const char *path, GError **error)
{
  g_autofree char *text = sp_metrics_format (snapshot);

  if (!sp_file_replace (path, text, error))
    {
      g_prefix_error (error, "Cannot write metrics: ");
      return FALSE;
    }
  return TRUE;
}
