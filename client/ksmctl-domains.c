/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl domains: the org.samepage1.Domain objects, from one ListDomains call. */
#define G_LOG_DOMAIN "ksmctl"

#include <stdio.h>
#include <string.h>

#include "ksmctl-json-writer.h"
#include "ksmctl.h"
#include "sp-names.h"

/* ListDomains: the Domain objects' paths, sorted by name, and the columns of
 * their properties (name -> array, one value per path). */
typedef struct {
  GVariant *paths;
  GHashTable *columns; /* property name (borrowed from properties) -> GVariant array */
  GVariant *properties;
} DomainColumns;

static void
domain_columns_clear (DomainColumns *c)
{
  g_clear_pointer (&c->paths, g_variant_unref);
  g_clear_pointer (&c->columns, g_hash_table_unref);
  g_clear_pointer (&c->properties, g_variant_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DomainColumns, domain_columns_clear)

static gboolean
domain_columns_fetch (Ksmctl *ctl, DomainColumns *c, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  gsize n_columns;

  reply = ksmctl_call (ctl, SP_DBUS_PATH, SP_DBUS_INTERFACE_MANAGER, "ListDomains", NULL,
                       "(aoa{sv})", error);
  if (reply == NULL)
    return FALSE;
  c->paths = g_variant_get_child_value (reply, 0);
  c->properties = g_variant_get_child_value (reply, 1);
  c->columns =
      g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) g_variant_unref);
  n_columns = g_variant_n_children (c->properties);
  for (gsize i = 0; i < n_columns; i++)
    {
      g_autoptr (GVariant) entry = g_variant_get_child_value (c->properties, i);
      g_autoptr (GVariant) key = g_variant_get_child_value (entry, 0);
      g_autoptr (GVariant) boxed = g_variant_get_child_value (entry, 1);
      GVariant *column = g_variant_get_variant (boxed);

      /* a column of another length would pair values with the wrong domain */
      if (!g_variant_is_of_type (column, G_VARIANT_TYPE_ARRAY) ||
          g_variant_n_children (column) != g_variant_n_children (c->paths))
        {
          g_variant_unref (column);
          continue;
        }
      g_hash_table_replace (c->columns, (gpointer) g_variant_get_string (key, NULL), column);
    }
  return TRUE;
}

/* Every object of samepaged with org.samepage1.Domain, as (oa{sv}), sorted by
 * name (ListDomains sorts them). */
GPtrArray *
ksmctl_get_domains (Ksmctl *ctl, GError **error)
{
  g_auto (DomainColumns) c = { 0 };
  g_autoptr (GPtrArray) domains = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  gsize n;

  if (!domain_columns_fetch (ctl, &c, error))
    return NULL;
  n = g_variant_n_children (c.paths);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GVariant) path = g_variant_get_child_value (c.paths, i);
      GVariantBuilder props;
      GHashTableIter iter;
      gpointer name;
      gpointer column;

      g_variant_builder_init (&props, G_VARIANT_TYPE_VARDICT);
      g_hash_table_iter_init (&iter, c.columns);
      while (g_hash_table_iter_next (&iter, &name, &column))
        {
          g_autoptr (GVariant) value = g_variant_get_child_value (column, i);

          g_variant_builder_add (&props, "{sv}", name, value);
        }
      g_ptr_array_add (domains, g_variant_ref_sink (g_variant_new ("(@oa{sv})", path, &props)));
    }
  return g_steal_pointer (&domains);
}

/* The domain (oa{sv}) with this name or UUID, NULL if none. */
GVariant *
ksmctl_find_domain (GPtrArray *domains, const char *name_or_uuid)
{
  for (guint i = 0; i < domains->len; i++)
    {
      g_autoptr (GVariant) props = g_variant_get_child_value (domains->pdata[i], 1);
      const char *uuid = ksmctl_dict_string (props, "Uuid");

      if (g_strcmp0 (ksmctl_dict_string (props, "Name"), name_or_uuid) == 0 ||
          (uuid != NULL && g_ascii_strcasecmp (uuid, name_or_uuid) == 0))
        return g_variant_ref (domains->pdata[i]);
    }
  return NULL;
}

typedef struct {
  const char *member;
  const char *property;
} DomainField;

static const DomainField domain_fields[] = {
  { "name", "Name" },
  { "uuid", "Uuid" },
  { "active", "Active" },
  { "persistent", "Persistent" },
  { "mem_merge", "MemMerge" },
  { "mem_merge_active", "MemMergeActive" },
  { "pending_restart", "PendingRestart" },
  { "current_kib", "CurrentKiB" },
  { "maximum_kib", "MaximumKiB" },
  { "memory_source", "MemorySource" },
  { "mergeable", "Mergeable" },
  { "merging_pages", "MergingPages" },
  { "zero_pages", "ZeroPages" },
  { "process_profit", "ProcessProfit" },
  { "pid", "Pid" },
  { "ksm_mergeable", "KsmMergeable" },
  { "unmergeable_kib", "UnmergeableKiB" },
  { "balloon_model", "BalloonModel" },
  { "balloon_managed", "BalloonManaged" },
  { "balloon_min_kib", "BalloonMinKiB" },
  { "balloon_shares", "BalloonShares" },
  { "balloon_config_kib", "BalloonConfigKiB" },
  { "guest_usable_kib", "GuestUsableKiB" },
  { "guest_unused_kib", "GuestUnusedKiB" },
  { "guest_stats_updated", "GuestStatsUpdated" },
  { "stats_period", "StatsPeriod" },
  { "free_page_reporting", "FreePageReporting" },
  { "autodeflate", "AutoDeflate" },
  { "guest_available_kib", "GuestAvailableKiB" },
  { "balloon_target_kib", "BalloonTargetKiB" },
  { "balloon_floor_kib", "BalloonFloorKiB" },
  { "balloon_state", "BalloonState" },
  { "balloon_reason", "BalloonReason" },
};

/* A property of one domain (a new reference), NULL when it has none. */
typedef GVariant *(*DomainLookup) (gconstpointer row, const char *property);

static GVariant *
dict_lookup (gconstpointer row, const char *property)
{
  return g_variant_lookup_value ((GVariant *) row, property, NULL);
}

static const char *
string_or_null (GVariant *value)
{
  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return NULL;
  return g_variant_get_string (value, NULL);
}

/* One domain as a JSON object; unmergeable_reason is null when KSM can merge it. */
static void
json_add_domain_row (JsonBuilder *builder, const char *path, DomainLookup lookup, gconstpointer row)
{
  g_autoptr (GVariant) mergeable = lookup (row, "Mergeable");
  g_autoptr (GVariant) reason_value = lookup (row, "UnmergeableReason");
  g_autoptr (GVariant) part_value = lookup (row, "UnmergeablePart");
  const char *reason = string_or_null (reason_value);

  json_builder_begin_object (builder);
  for (gsize i = 0; i < G_N_ELEMENTS (domain_fields); i++)
    {
      g_autoptr (GVariant) value = lookup (row, domain_fields[i].property);

      ksmctl_json_add_value_member (builder, domain_fields[i].member, value);
    }
  json_builder_set_member_name (builder, "unmergeable_reason");
  if ((mergeable != NULL && g_variant_is_of_type (mergeable, G_VARIANT_TYPE_BOOLEAN) &&
       g_variant_get_boolean (mergeable)) ||
      reason == NULL || *reason == '\0')
    json_builder_add_null_value (builder);
  else
    json_builder_add_string_value (builder, reason);
  json_builder_set_member_name (builder, "unmergeable_part");
  reason = string_or_null (part_value);
  if (reason == NULL || *reason == '\0')
    json_builder_add_null_value (builder);
  else
    json_builder_add_string_value (builder, reason);
  json_builder_set_member_name (builder, "path");
  json_builder_add_string_value (builder, path);
  json_builder_end_object (builder);
}

void
ksmctl_json_add_domain (JsonBuilder *builder, GVariant *domain)
{
  g_autoptr (GVariant) props = g_variant_get_child_value (domain, 1);
  const char *path = NULL;

  g_variant_get_child (domain, 0, "&o", &path);
  json_add_domain_row (builder, path, dict_lookup, props);
}

/* One column of ListDomains as JSON, its values read once into C arrays for
 * the daemon's types (ab, ax, at, as): no GVariant per value. */
typedef struct {
  GVariant *column;     /* borrowed; NULL: the daemon has no such property */
  char type;            /* the element type, 0: another one (through json-glib) */
  gint64 *ints;         /* ab (0 or 1), ax, at (as the int64 json-glib printed) */
  const char **strings; /* as: into the reply */
} JsonColumn;

static void
json_column_init (JsonColumn *jc, const DomainColumns *c, const char *property)
{
  const char *type;
  gconstpointer fixed;
  gsize n;

  *jc = (JsonColumn){ g_hash_table_lookup (c->columns, property), 0, NULL, NULL };
  if (jc->column == NULL)
    return;
  type = g_variant_get_type_string (jc->column);
  if (type[1] == '\0' || type[2] != '\0' || strchr ("bxts", type[1]) == NULL)
    return;
  jc->type = type[1];
  n = g_variant_n_children (jc->column);
  if (jc->type == 's')
    {
      /* GDBus gives the column in tree form: a child is a reference, and
       * its string stays in the column (g_variant_get_strv() would
       * serialise the column first and then copy each child) */
      jc->strings = g_new (const char *, n);
      for (gsize i = 0; i < n; i++)
        {
          g_autoptr (GVariant) value = g_variant_get_child_value (jc->column, i);

          jc->strings[i] = g_variant_get_string (value, NULL);
        }
      return;
    }
  /* one pass over the serialised numbers, faster than a child per value */
  jc->ints = g_new (gint64, n);
  fixed = g_variant_get_fixed_array (jc->column, &n, jc->type == 'b' ? 1 : sizeof (gint64));
  for (gsize i = 0; i < n; i++)
    jc->ints[i] = jc->type == 'b' ? ((const guchar *) fixed)[i] != 0 : ((const gint64 *) fixed)[i];
}

static void
json_column_clear (JsonColumn *jc)
{
  g_clear_pointer (&jc->ints, g_free);
  g_clear_pointer (&jc->strings, g_free);
}

/* The string of row i, NULL when the column is missing or of another type. */
static const char *
json_column_string (const JsonColumn *jc, gsize i)
{
  return jc->type == 's' ? jc->strings[i] : NULL;
}

static void
json_column_write (KsmctlJsonWriter *w, const JsonColumn *jc, gsize i)
{
  switch (jc->type)
    {
    case 'b':
      ksmctl_json_writer_boolean (w, jc->ints[i] != 0);
      return;
    case 'x':
    case 't':
      ksmctl_json_writer_int (w, jc->ints[i]);
      return;
    case 's':
      ksmctl_json_writer_string (w, jc->strings[i]);
      return;
    default:
      break;
    }
  if (jc->column == NULL)
    ksmctl_json_writer_null (w);
  else
    {
      g_autoptr (GVariant) value = g_variant_get_child_value (jc->column, i);
      g_autoptr (JsonNode) node = json_gvariant_serialize (value);

      ksmctl_json_writer_node (w, node);
    }
}

/* The members json_add_domain_row() gives, straight from the columns into
 * one string: at 1,000 domains a JsonNode tree of 36,000 members cost more
 * than the D-Bus call. bench/list-domains.py checks the bytes are the same. */
static void
print_json (const DomainColumns *c)
{
  enum { MERGEABLE = G_N_ELEMENTS (domain_fields), REASON, PART, N_JSON_COLUMNS };
  gsize n = g_variant_n_children (c->paths);
  g_autoptr (GString) out = g_string_sized_new (1024 + n * 1024);
  g_autofree const char **paths = g_variant_get_objv (c->paths, NULL);
  JsonColumn columns[N_JSON_COLUMNS];
  KsmctlJsonWriter w;

  for (gsize f = 0; f < G_N_ELEMENTS (domain_fields); f++)
    json_column_init (&columns[f], c, domain_fields[f].property);
  json_column_init (&columns[MERGEABLE], c, "Mergeable");
  json_column_init (&columns[REASON], c, "UnmergeableReason");
  json_column_init (&columns[PART], c, "UnmergeablePart");

  ksmctl_json_writer_init (&w, out);
  ksmctl_json_writer_begin_array (&w);
  for (gsize i = 0; i < n; i++)
    {
      const char *reason = json_column_string (&columns[REASON], i);
      const char *part = json_column_string (&columns[PART], i);
      gboolean mergeable = columns[MERGEABLE].type == 'b' && columns[MERGEABLE].ints[i] != 0;

      ksmctl_json_writer_begin_object (&w);
      for (gsize f = 0; f < G_N_ELEMENTS (domain_fields); f++)
        {
          ksmctl_json_writer_member (&w, domain_fields[f].member);
          json_column_write (&w, &columns[f], i);
        }
      ksmctl_json_writer_member (&w, "unmergeable_reason");
      ksmctl_json_writer_string (&w,
                                 mergeable || reason == NULL || *reason == '\0' ? NULL : reason);
      ksmctl_json_writer_member (&w, "unmergeable_part");
      ksmctl_json_writer_string (&w, part == NULL || *part == '\0' ? NULL : part);
      ksmctl_json_writer_member (&w, "path");
      ksmctl_json_writer_string (&w, paths[i]);
      ksmctl_json_writer_end_object (&w);
    }
  ksmctl_json_writer_end_array (&w);
  g_string_append_c (out, '\n');
  fwrite (out->str, 1, out->len, stdout);
  fflush (stdout);
  for (gsize f = 0; f < N_JSON_COLUMNS; f++)
    json_column_clear (&columns[f]);
}

enum { COL_NAME, COL_STATE, COL_MEMORY, COL_MERGE, COL_MERGED, COL_BALLOON, COL_NOTE, N_COLUMNS };

static const char *const headers[N_COLUMNS + 1] = { "NAME",   "STATE",   "MEMORY", "MERGE",
                                                    "MERGED", "BALLOON", "NOTE",   NULL };

char *
ksmctl_balloon_move (GVariant *props, const char *arrow)
{
  const char *state = ksmctl_dict_string (props, "BalloonState");
  gint64 current_kib = ksmctl_dict_int (props, "CurrentKiB");
  gint64 target_kib = ksmctl_dict_int (props, "BalloonTargetKiB");
  g_autofree char *current = NULL;
  g_autofree char *target = NULL;

  if (g_strcmp0 (state, "shrink") != 0 && g_strcmp0 (state, "grow") != 0 &&
      g_strcmp0 (state, "timed-out") != 0)
    return NULL;
  if (target_kib == current_kib || target_kib == 0)
    return NULL;
  current = sp_format_kib (current_kib);
  target = sp_format_kib (target_kib);
  return g_strconcat (current, arrow, target, NULL);
}

/* BALLOON: "-" when samepaged leaves it alone (not managed, not running, balloon off), the
 * state when it does not move ("hold", "timed-out"), else "CURRENT→TARGET shrink" (grow,
 * timed-out). */
static char *
balloon_cell (GVariant *props)
{
  const char *state = ksmctl_dict_string (props, "BalloonState");
  g_autofree char *move = NULL;

  if (state == NULL || *state == '\0' || g_str_equal (state, "none"))
    return g_strdup ("-");
  move = ksmctl_balloon_move (props, ksmctl_arrow ());
  if (move == NULL)
    return g_strdup (state);
  return g_strdup_printf ("%s %s", move, state);
}

/* balloon: model, opt-out, reporting, autodeflate, shrunk by how much */
static void
note_balloon (GPtrArray *notes, GVariant *props)
{
  const char *model = ksmctl_dict_string (props, "BalloonModel");
  gint64 config_kib = ksmctl_dict_int (props, "BalloonConfigKiB");
  gint64 current_kib = ksmctl_dict_int (props, "CurrentKiB");

  if (model != NULL && *model != '\0' && !g_str_has_prefix (model, "virtio"))
    g_ptr_array_add (notes, g_strdup_printf ("balloon %s", model));
  if (!ksmctl_dict_boolean (props, "BalloonManaged"))
    g_ptr_array_add (notes, g_strdup ("balloon opted out"));
  if (ksmctl_dict_boolean (props, "FreePageReporting"))
    g_ptr_array_add (notes, g_strdup ("free page reporting"));
  if (ksmctl_dict_boolean (props, "AutoDeflate"))
    g_ptr_array_add (notes, g_strdup ("autodeflate"));
  if (ksmctl_dict_boolean (props, "Active") && config_kib > current_kib)
    {
      g_autofree char *size = sp_format_kib (config_kib - current_kib);
      g_ptr_array_add (notes, g_strdup_printf ("balloon holds %s", size));
    }
}

static char *
domain_note (GVariant *props)
{
  g_autoptr (GPtrArray) notes = g_ptr_array_new_with_free_func (g_free);
  const char *reason = ksmctl_dict_string (props, "UnmergeableReason");

  const char *part = ksmctl_dict_string (props, "UnmergeablePart");
  gint64 unmergeable_kib = ksmctl_dict_int (props, "UnmergeableKiB");

  if (!ksmctl_dict_boolean (props, "Mergeable"))
    g_ptr_array_add (notes, g_strdup_printf ("not mergeable: %s",
                                             reason != NULL && *reason ? reason : "unknown"));
  else if (unmergeable_kib > 0)
    {
      g_autofree char *size = sp_format_kib (unmergeable_kib);

      g_ptr_array_add (notes, g_strdup_printf ("%s not mergeable: %s", size,
                                               part != NULL && *part ? part : "unknown"));
    }
  if (ksmctl_dict_boolean (props, "PendingRestart"))
    g_ptr_array_add (notes,
                     g_strdup_printf ("merge %s from the next cold start",
                                      ksmctl_dict_boolean (props, "MemMerge") ? "on" : "off"));
  if (!ksmctl_dict_boolean (props, "Persistent"))
    g_ptr_array_add (notes, g_strdup ("transient"));
  note_balloon (notes, props);
  g_ptr_array_add (notes, NULL);
  return g_strjoinv ("; ", (char **) notes->pdata);
}

static char **
domain_row (GVariant *domain)
{
  g_autoptr (GVariant) props = g_variant_get_child_value (domain, 1);
  char **row = g_new0 (char *, N_COLUMNS + 1);
  gboolean active = ksmctl_dict_boolean (props, "Active");

  row[COL_NAME] = g_strdup (ksmctl_dict_string (props, "Name") ?: "?");
  row[COL_STATE] = g_strdup (active ? "running" : "shut off");
  row[COL_MEMORY] = sp_format_kib (ksmctl_dict_int (props, "CurrentKiB"));
  row[COL_MERGE] = g_strdup (ksmctl_dict_boolean (props, "MemMergeActive") ? "on" : "off");
  if (active)
    row[COL_MERGED] =
        sp_format_kib (ksmctl_dict_int (props, "MergingPages") * (gint64) sp_page_size_kib ());
  else
    row[COL_MERGED] = g_strdup ("-");
  row[COL_BALLOON] = balloon_cell (props);
  row[COL_NOTE] = domain_note (props);
  return row;
}

static void
print_padded (GString *line, const char *cell, gsize width, gboolean last)
{
  g_string_append (line, cell);
  if (last)
    return;
  for (gsize n = g_utf8_strlen (cell, -1); n < width + 2; n++)
    g_string_append_c (line, ' ');
}

/* MERGE is what the running guest does (MemMergeActive); a pending change is a note. */
static void
print_table (GPtrArray *domains)
{
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  gsize widths[N_COLUMNS];

  if (domains->len == 0)
    {
      g_print ("No domains.\n");
      return;
    }
  for (int c = 0; c < N_COLUMNS; c++)
    widths[c] = strlen (headers[c]);
  g_ptr_array_add (rows, g_strdupv ((char **) headers));
  for (guint i = 0; i < domains->len; i++)
    {
      char **row = domain_row (domains->pdata[i]);

      for (int c = 0; c < N_COLUMNS; c++)
        widths[c] = MAX (widths[c], (gsize) g_utf8_strlen (row[c], -1));
      g_ptr_array_add (rows, row);
    }
  for (guint r = 0; r < rows->len; r++)
    {
      char **row = rows->pdata[r];
      g_autoptr (GString) line = g_string_new (NULL);

      for (int c = 0; c < N_COLUMNS; c++)
        print_padded (line, row[c], widths[c], c == N_COLUMNS - 1);
      while (line->len > 0 && line->str[line->len - 1] == ' ')
        g_string_truncate (line, line->len - 1);
      g_print ("%s\n", line->str);
    }
}

gboolean
ksmctl_cmd_domains (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) domains = NULL;

  if (ctl->json)
    {
      g_auto (DomainColumns) c = { 0 };

      if (!domain_columns_fetch (ctl, &c, error))
        return FALSE;
      print_json (&c);
      return TRUE;
    }
  domains = ksmctl_get_domains (ctl, error);
  if (domains == NULL)
    return FALSE;
  print_table (domains);
  return TRUE;
}
