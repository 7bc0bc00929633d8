/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl status: KSM, host memory, libvirt and the last decision, from one GetAll. */
#define G_LOG_DOMAIN "ksmctl"

#include "ksmctl.h"

typedef struct {
  const char *member;   /* JSON member */
  const char *property; /* org.samepage1.Manager property */
} JsonField;

static const JsonField top_fields[] = {
  { "version", "Version" }, { "api_version", "ApiVersion" },
  { "mode", "Mode" },       { "dry_run", "DryRun" },
  { NULL, NULL },
};

static const JsonField ksm_fields[] = {
  { "available", "KsmAvailable" },
  { "run", "Run" },
  { "pages_to_scan", "PagesToScan" },
  { "sleep_millisecs", "SleepMillisecs" },
  { "pages_shared", "PagesShared" },
  { "pages_sharing", "PagesSharing" },
  { "general_profit", "GeneralProfit" },
  { "saved_kib", "SavedKiB" },
  { "zero_pages", "KsmZeroPages" },
  { "cpu_percent", "KsmdCpuPercent" },
  { "full_scan_seconds", "FullScanSeconds" },
  { "saved_kib_per_cpu_second", "SavedKiBPerCpuSecond" },
  { "profit_ratio", "ProfitRatio" },
  { "profit_guard", "ProfitGuard" },
  { "advisor_mode", "AdvisorMode" },
  { "files", "KsmFiles" },
  { NULL, NULL },
};

static const JsonField memory_fields[] = {
  { "total_kib", "MemTotalKiB" },      { "available_kib", "MemAvailableKiB" },
  { "free_kib", "FreeKiB" },           { "committed_kib", "CommittedKiB" },
  { "threshold_kib", "ThresholdKiB" }, { NULL, NULL },
};

static const JsonField libvirt_fields[] = {
  { "uri", "LibvirtUri" },
  { "connected", "LibvirtConnected" },
  { "status", "LibvirtStatus" },
  { "domains_active", "DomainsActive" },
  { NULL, NULL },
};

static const JsonField balloon_fields[] = {
  { "mode", "BalloonMode" },
  { "pressure", "BalloonPressure" },
  { "managed", "BalloonGuestsManaged" },
  { "reclaimed_kib", "BalloonReclaimedKiB" },
  { "reason", "BalloonReason" },
  { NULL, NULL },
};

static const JsonField pressure_fields[] = {
  { "trigger", "PressureTrigger" },
  { "last", "PressureLastTrigger" },
  { NULL, NULL },
};

static void
add_fields (JsonBuilder *builder, GVariant *props, const JsonField *fields)
{
  for (const JsonField *f = fields; f->member != NULL; f++)
    ksmctl_json_add_dict_member (builder, f->member, props, f->property);
}

static void
add_section (JsonBuilder *builder, const char *name, GVariant *props, const JsonField *fields)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_object (builder);
  add_fields (builder, props, fields);
  json_builder_end_object (builder);
}

static JsonNode *
status_to_json (GVariant *props)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  add_fields (builder, props, top_fields);
  add_section (builder, "ksm", props, ksm_fields);
  add_section (builder, "memory", props, memory_fields);
  add_section (builder, "balloon", props, balloon_fields);
  add_section (builder, "pressure", props, pressure_fields);
  add_section (builder, "libvirt", props, libvirt_fields);
  json_builder_set_member_name (builder, "decision");
  ksmctl_json_add_decision (builder, ksmctl_dict_string (props, "LastAction"),
                            ksmctl_dict_string (props, "LastReason"),
                            ksmctl_dict_int (props, "LastDecisionTime"));
  ksmctl_json_add_dict_member (builder, "tuning", props, "Tuning");
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

static void print_line (const char *label, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
print_line (const char *label, const char *format, ...)
{
  g_autofree char *text = NULL;
  g_autofree char *prefixed = g_strconcat (label, ":", NULL);
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_print ("%-11s %s\n", prefixed, text);
}

static const char *
or_unknown (const char *str)
{
  return str != NULL && *str != '\0' ? str : "unknown";
}

/* A double property, -1 when samepaged did not send it. */
static double
dict_double (GVariant *props, const char *key)
{
  double value;

  if (!g_variant_lookup (props, key, "d", &value))
    return -1;
  return value;
}

/* "Cost: ksmd 4 % of a core, 590 MiB saved, 150 MiB per CPU-second" */
static void
print_cost (GVariant *props)
{
  double cpu = dict_double (props, "KsmdCpuPercent");
  double per_cpu_second = dict_double (props, "SavedKiBPerCpuSecond");
  double ratio = dict_double (props, "ProfitRatio");
  double scan = dict_double (props, "FullScanSeconds");
  const char *guard = ksmctl_dict_string (props, "ProfitGuard");
  g_autofree char *saved = sp_format_kib (ksmctl_dict_int (props, "SavedKiB"));
  g_autofree char *cpu_s = NULL;
  g_autofree char *rate_s = NULL;
  g_autofree char *extra = NULL;

  if (cpu < 0)
    cpu_s = g_strdup ("ksmd's CPU not measured yet");
  else
    cpu_s = g_strdup_printf ("ksmd %.*f %% of a core", cpu > 0 && cpu < 1 ? 1 : 0, cpu);
  if (per_cpu_second < 0)
    rate_s = g_strdup ("per CPU-second not measured yet (no full scan timed)");
  else
    {
      g_autofree char *rate = sp_format_kib ((gint64) MIN (per_cpu_second, 1e18));
      rate_s = g_strdup_printf ("%s per CPU-second", rate);
    }
  print_line ("Cost", "%s, %s saved, %s", cpu_s, saved, rate_s);
  if (g_strcmp0 (guard, "slowed") == 0)
    print_line ("Guard", "KSM did not pay: the lowest scan rate (see Why)");
  else if (g_strcmp0 (guard, "stopped") == 0)
    print_line ("Guard", "KSM did not pay: stopped until a retry (see Why)");
  if (scan >= 0 || ratio >= 0)
    {
      g_autofree char *scan_s =
          scan >= 0 ? g_strdup_printf ("full scan %.1f s", scan) : g_strdup ("full scan not timed");
      g_autofree char *ratio_s = ratio >= 0
                                     ? g_strdup_printf ("%.1f rmap items per saved page", ratio)
                                     : g_strdup ("profit ratio unknown");
      extra = g_strdup_printf ("%s, %s", scan_s, ratio_s);
      print_line ("Scans", "%s", extra);
    }
}

static void
print_ksm (GVariant *props)
{
  gint64 run = ksmctl_dict_int (props, "Run");
  const char *advisor = ksmctl_dict_string (props, "AdvisorMode");
  g_autofree char *saved = sp_format_kib (ksmctl_dict_int (props, "SavedKiB"));
  g_autofree char *profit = sp_format_kib (ksmctl_dict_int (props, "GeneralProfit") / 1024);
  g_autofree char *zero = NULL;
  gint64 zero_pages;
  const char *state;

  if (!ksmctl_dict_boolean (props, "KsmAvailable"))
    {
      print_line ("KSM", "not available (this kernel has no /sys/kernel/mm/ksm)");
      return;
    }
  switch (run)
    {
    case 0:
      state = "off (stopped)";
      break;
    case 1:
      state = "on (merging)";
      break;
    case 2:
      state = "off (unmerging every merged page)";
      break;
    default:
      state = "unknown run value";
      break;
    }
  print_line ("KSM", "%s, run=%" G_GINT64_FORMAT, state, run);
  if (g_strcmp0 (advisor, "scan-time") == 0)
    print_line ("Scan rate",
                "steered by the kernel's KSM advisor (%" G_GINT64_FORMAT
                " pages to scan, every %" G_GINT64_FORMAT " ms)",
                ksmctl_dict_int (props, "PagesToScan"), ksmctl_dict_int (props, "SleepMillisecs"));
  else
    print_line ("Scan rate", "%" G_GINT64_FORMAT " pages every %" G_GINT64_FORMAT " ms",
                ksmctl_dict_int (props, "PagesToScan"), ksmctl_dict_int (props, "SleepMillisecs"));
  zero_pages = ksmctl_dict_int (props, "KsmZeroPages");
  if (zero_pages > 0)
    zero = g_strdup_printf (", %" G_GINT64_FORMAT " empty pages merged with the zero page",
                            zero_pages);
  print_line ("Saved",
              "%s (%" G_GINT64_FORMAT " pages sharing %" G_GINT64_FORMAT " shared pages%s)", saved,
              ksmctl_dict_int (props, "PagesSharing"), ksmctl_dict_int (props, "PagesShared"),
              zero != NULL ? zero : "");
  print_line ("Profit", "%s (saved minus KSM's metadata)", profit);
  print_cost (props);
}

static void
print_memory (GVariant *props)
{
  g_autofree char *total = sp_format_kib (ksmctl_dict_int (props, "MemTotalKiB"));
  g_autofree char *available = sp_format_kib (ksmctl_dict_int (props, "MemAvailableKiB"));
  g_autofree char *free_mem = sp_format_kib (ksmctl_dict_int (props, "FreeKiB"));
  g_autofree char *committed = sp_format_kib (ksmctl_dict_int (props, "CommittedKiB"));
  g_autofree char *threshold = sp_format_kib (ksmctl_dict_int (props, "ThresholdKiB"));

  print_line ("Memory", "%s total, %s available, %s free as the policy counts it", total, available,
              free_mem);
  print_line ("Committed", "%s (running guests KSM can merge)", committed);
  print_line ("Threshold", "%s (KSM runs while free memory is below it)", threshold);
}

static void
print_libvirt (GVariant *props)
{
  const char *uri = ksmctl_dict_string (props, "LibvirtUri");
  const char *status = ksmctl_dict_string (props, "LibvirtStatus");
  gint64 active = ksmctl_dict_int (props, "DomainsActive");

  if (ksmctl_dict_boolean (props, "LibvirtConnected"))
    print_line ("libvirt", "%s, connected, %" G_GINT64_FORMAT " %s running", or_unknown (uri),
                active, active == 1 ? "domain" : "domains");
  else
    print_line ("libvirt", "%s, not connected (%s)",
                uri != NULL && *uri != '\0' ? uri : "no connection yet", or_unknown (status));
}

static void
print_decision (GVariant *props)
{
  const char *action = ksmctl_dict_string (props, "LastAction");
  const char *reason = ksmctl_dict_string (props, "LastReason");
  g_autofree char *when = ksmctl_format_time_local (ksmctl_dict_int (props, "LastDecisionTime"));

  if (when == NULL)
    {
      print_line ("Decision", "none yet");
      return;
    }
  print_line ("Decision", "%s at %s", or_unknown (action), when);
  print_line ("Why", "%s", or_unknown (reason));
}

/* "Balloons: auto, 3 guests managed, 1.2 GiB returned to the host" */
static void
print_balloon (GVariant *props)
{
  const char *mode = ksmctl_dict_string (props, "BalloonMode");
  gint64 managed = ksmctl_dict_int (props, "BalloonGuestsManaged");
  g_autofree char *reclaimed = sp_format_kib (ksmctl_dict_int (props, "BalloonReclaimedKiB"));

  if (g_strcmp0 (mode, "auto") != 0)
    {
      print_line ("Balloons", "%s", or_unknown (mode));
      return;
    }
  print_line ("Balloons", "auto, %" G_GINT64_FORMAT " guest%s managed, %s returned to the host",
              managed, managed == 1 ? "" : "s", reclaimed);
  print_line ("Balloon why", "%s", or_unknown (ksmctl_dict_string (props, "BalloonReason")));
}

/* "Pressure: trigger some 300000 2000000, last: memory pressure: ..." */
static void
print_pressure (GVariant *props)
{
  const char *trigger = ksmctl_dict_string (props, "PressureTrigger");
  const char *last = ksmctl_dict_string (props, "PressureLastTrigger");

  if (trigger == NULL) /* an older samepaged */
    return;
  print_line ("Pressure", "%s%s, last: %s", *trigger != '\0' ? "trigger " : "",
              *trigger != '\0' ? trigger : "no trigger (the 5 s meminfo watch alone)",
              last != NULL && *last != '\0' ? last : "never");
}

static void
status_print (GVariant *props)
{
  print_line ("Version", "samepaged %s", or_unknown (ksmctl_dict_string (props, "Version")));
  print_line ("Mode", "%s", or_unknown (ksmctl_dict_string (props, "Mode")));
  if (ksmctl_dict_boolean (props, "DryRun"))
    print_line ("Dry run", "yes: samepaged decides but writes nothing");
  print_ksm (props);
  print_memory (props);
  print_libvirt (props);
  print_balloon (props);
  print_pressure (props);
  print_decision (props);
}

gboolean
ksmctl_cmd_status (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  g_autoptr (GVariant) props = ksmctl_get_manager_properties (ctl, error);

  if (props == NULL)
    return FALSE;
  if (ctl->json)
    {
      g_autoptr (JsonNode) root = status_to_json (props);

      ksmctl_print_json (root, TRUE);
    }
  else
    {
      status_print (props);
    }
  return TRUE;
}
