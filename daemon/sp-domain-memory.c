/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-domain-xml"

#include "sp-domain-memory.h"

#include <string.h>

#include "sp-error.h"
#include "sp-io.h"
#include "sp-str.h"
#include "sp-xml-util.h"

/* libvirt refuses memory sizes above LLONG_MAX bytes (virMemoryMaxValue()),
 * so a larger value cannot come from libvirt. */
#define SP_DOMAIN_MEMORY_MAX_BYTES ((guint64) G_MAXINT64)
#define SP_DOMAIN_MEMORY_MAX_KIB (SP_DOMAIN_MEMORY_MAX_BYTES / 1024)

/* libvirt's own limit on NUMA node ids (VIR_DOMAIN_CPUMASK_LEN 4096) */
#define SP_NODESET_MAX_ID 4095

/* libvirt's virScaleInteger(): case-insensitive, "b"/"byte"/"bytes", a
 * power letter alone or with "iB" is 1024-based, with "B" 1000-based. */
static gboolean
unit_scale (const char *unit, guint64 *scale)
{
  guint64 base;
  guint power;

  if (unit == NULL || unit[0] == '\0')
    {
      *scale = 1024;
      return TRUE;
    }
  if (g_ascii_strcasecmp (unit, "b") == 0 || g_ascii_strcasecmp (unit, "byte") == 0 ||
      g_ascii_strcasecmp (unit, "bytes") == 0)
    {
      *scale = 1;
      return TRUE;
    }

  if (unit[1] == '\0' || g_ascii_strcasecmp (unit + 1, "iB") == 0)
    base = 1024;
  else if (g_ascii_tolower (unit[1]) == 'b' && unit[2] == '\0')
    base = 1000;
  else
    return FALSE;

  switch (g_ascii_tolower (unit[0]))
    {
    case 'k':
      power = 1;
      break;
    case 'm':
      power = 2;
      break;
    case 'g':
      power = 3;
      break;
    case 't':
      power = 4;
      break;
    case 'p':
      power = 5;
      break;
    case 'e':
      power = 6;
      break;
    default:
      return FALSE;
    }

  /* at most 1024^6 = 2^60: no overflow */
  *scale = 1;
  for (guint i = 0; i < power; i++)
    *scale *= base;
  return TRUE;
}

gboolean
sp_domain_xml_memory_to_kib (const char *value, const char *unit, guint64 *kib, GError **error)
{
  guint64 scale;
  guint64 number;
  guint64 bytes;

  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (kib != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!unit_scale (unit, &scale))
    {
      g_autofree char *escaped = g_strescape (unit, NULL);

      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS, "Unknown memory unit “%.64s”", escaped);
      return FALSE;
    }
  if (!sp_parse_u64 (value, &number))
    {
      g_autofree char *escaped = g_strescape (value, NULL);

      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                   "Memory value “%.64s” is not a non-negative 64-bit integer", escaped);
      return FALSE;
    }
  if (number > SP_DOMAIN_MEMORY_MAX_BYTES / scale)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                   "Memory value %" G_GUINT64_FORMAT " %s is too large (over 8 EiB)", number,
                   unit != NULL && unit[0] != '\0' ? unit : "KiB");
      return FALSE;
    }

  /* whole KiB, rounded up like libvirt's virDomainParseMemory() */
  bytes = number * scale;
  *kib = bytes / 1024 + (bytes % 1024 != 0 ? 1 : 0);
  return TRUE;
}

void
sp_domain_memory_clear (SpDomainMemory *memory)
{
  if (memory == NULL)
    return;
  g_free (memory->unmergeable_part);
  memset (memory, 0, sizeof (*memory));
}

static int
compare_uint (gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *) a;
  guint y = *(const guint *) b;

  return x < y ? -1 : x > y;
}

static gboolean
parse_node_id (const char *text, guint *id)
{
  guint64 value;

  if (text == NULL || !g_ascii_isdigit (text[0]) || !sp_parse_u64 (text, &value) ||
      value > SP_NODESET_MAX_ID)
    return FALSE;
  *id = (guint) value;
  return TRUE;
}

gboolean
sp_domain_memory_parse_nodeset (const char *nodeset, GArray **ids, GError **error)
{
  g_auto (GStrv) items = NULL;
  g_autoptr (GArray) in = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) excluded = g_array_new (FALSE, FALSE, sizeof (guint));

  g_return_val_if_fail (nodeset != NULL, FALSE);

  /* "" splits into no items at all: give it one, which is refused */
  items = g_strsplit (nodeset[0] != '\0' ? nodeset : " ", ",", -1);
  for (char **item = items; *item != NULL; item++)
    {
      g_auto (GStrv) range = NULL;
      const char *text = g_strstrip (*item);
      gboolean exclude = text[0] == '^';
      guint first;
      guint last;

      if (exclude)
        text++;
      range = g_strsplit (text, "-", 2);
      if (range[0] == NULL || !parse_node_id (range[0], &first) ||
          (range[1] != NULL && (exclude || !parse_node_id (range[1], &last) || last < first)))
        {
          g_autofree char *quoted = sp_quote (nodeset);

          g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                       "Invalid nodeset %s: expected ids 0..%d, ranges (0-3) and exclusions (^2) "
                       "separated by commas",
                       quoted, SP_NODESET_MAX_ID);
          return FALSE;
        }
      if (range[1] == NULL)
        last = first;
      for (guint id = first; id <= last; id++)
        g_array_append_val (exclude ? excluded : in, id);
    }

  g_array_sort (in, compare_uint);
  for (guint i = 0; i < in->len; i++)
    {
      guint id = g_array_index (in, guint, i);
      gboolean skip = out->len > 0 && g_array_index (out, guint, out->len - 1) == id;

      for (guint j = 0; j < excluded->len && !skip; j++)
        skip = g_array_index (excluded, guint, j) == id;
      if (!skip)
        g_array_append_val (out, id);
    }
  *ids = g_steal_pointer (&out);
  return TRUE;
}

static gboolean
nodeset_has (GArray *ids, guint id)
{
  for (guint i = 0; i < ids->len; i++)
    if (g_array_index (ids, guint, i) == id)
      return TRUE;
  return FALSE;
}

/* The nodes expr selects (possibly none), or NULL with an error. */
static xmlXPathObject *
select_nodes (xmlXPathContext *ctxt, const char *expr, GError **error)
{
  xmlXPathObject *obj = xmlXPathEvalExpression ((const xmlChar *) expr, ctxt);

  if (obj == NULL || obj->type != XPATH_NODESET)
    {
      g_clear_pointer (&obj, xmlXPathFreeObject);
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED, "Cannot evaluate XPath %s on domain XML",
                   expr);
    }
  return obj;
}

static int
n_nodes (const xmlXPathObject *obj)
{
  return obj->nodesetval != NULL ? obj->nodesetval->nodeNr : 0;
}

static char *
prop (xmlNode *node, const char *name)
{
  g_autoptr (xmlChar) value = xmlGetProp (node, (const xmlChar *) name);

  return value != NULL ? g_strdup ((const char *) value) : NULL;
}

/* The first child element called name, or NULL. */
static xmlNode *
child (xmlNode *node, const char *name)
{
  for (xmlNode *c = node != NULL ? node->children : NULL; c != NULL; c = c->next)
    if (c->type == XML_ELEMENT_NODE && c->ns == NULL &&
        g_strcmp0 ((const char *) c->name, name) == 0)
      return c;
  return NULL;
}

/* A size from an attribute pair (value_attr, unit_attr) of node, or from
 * the text and unit attribute of its element (value_attr NULL). */
static gboolean
node_size_kib (xmlNode *node, const char *value_attr, const char *what, guint64 *kib,
               GError **error)
{
  g_autofree char *value = NULL;
  g_autofree char *unit = prop (node, "unit");

  if (value_attr != NULL)
    value = prop (node, value_attr);
  else
    {
      g_autoptr (xmlChar) text = xmlNodeGetContent (node);
      value = text != NULL ? g_strdup ((const char *) text) : NULL;
    }
  if (value == NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS, "%s has no size", what);
      return FALSE;
    }
  if (!sp_domain_xml_memory_to_kib (value, unit, kib, error))
    {
      g_prefix_error (error, "Invalid %s: ", what);
      return FALSE;
    }
  return TRUE;
}

/* One <hugepages><page>: its size, and the cells it applies to (NULL: all
 * the cells no other page names). */
typedef struct {
  guint64 size_kib;
  GArray *nodes;
} HugePage;

static void
huge_page_clear (gpointer data)
{
  HugePage *page = data;

  g_clear_pointer (&page->nodes, g_array_unref);
}

static gboolean
read_huge_pages (xmlXPathContext *ctxt, gboolean *present, GArray *pages, GError **error)
{
  g_autoptr (xmlXPathObject) hugepages =
      select_nodes (ctxt, "/domain/memoryBacking/hugepages", error);
  g_autoptr (xmlXPathObject) obj = NULL;

  if (hugepages == NULL)
    return FALSE;
  *present = n_nodes (hugepages) > 0;
  obj = select_nodes (ctxt, "/domain/memoryBacking/hugepages[1]/page", error);
  if (obj == NULL)
    return FALSE;
  for (int i = 0; i < n_nodes (obj); i++)
    {
      xmlNode *node = obj->nodesetval->nodeTab[i];
      g_autofree char *nodeset = prop (node, "nodeset");
      HugePage page = { 0 };

      if (!node_size_kib (node, "size", "<hugepages><page>", &page.size_kib, error))
        return FALSE;
      if (nodeset != NULL && !sp_domain_memory_parse_nodeset (nodeset, &page.nodes, error))
        {
          g_prefix_error (error, "Invalid <hugepages><page>: ");
          return FALSE;
        }
      g_array_append_val (pages, page);
    }
  return TRUE;
}

/* Whether the memory of cell id (-1: a guest without NUMA cells) is
 * backed by huge pages. */
static gboolean
cell_is_huge (gboolean present, GArray *pages, gint64 id, guint64 base_page_kib)
{
  const HugePage *fallback = NULL;

  if (!present)
    return FALSE;
  if (pages->len == 0)
    return TRUE; /* <hugepages/>: the default huge page size for all memory */
  for (guint i = 0; i < pages->len; i++)
    {
      const HugePage *page = &g_array_index (pages, HugePage, i);

      if (page->nodes == NULL)
        fallback = fallback != NULL ? fallback : page;
      else if (id >= 0 && nodeset_has (page->nodes, (guint) id))
        return page->size_kib != base_page_kib;
    }
  return fallback != NULL && fallback->size_kib != base_page_kib;
}

static void
add_part (GString *parts, const char *why, const char *where)
{
  if (parts->len > 0)
    g_string_append (parts, ", ");
  g_string_append_printf (parts, "%s (%s)", why, where);
}

static guint64
add_kib (guint64 a, guint64 b)
{
  return b > SP_DOMAIN_MEMORY_MAX_KIB - MIN (a, SP_DOMAIN_MEMORY_MAX_KIB) ? SP_DOMAIN_MEMORY_MAX_KIB
                                                                          : a + b;
}

/* The memory modules: their total, and the part KSM cannot merge. */
static gboolean
read_modules (xmlXPathContext *ctxt, guint64 base_page_kib, guint64 *total_kib,
              guint64 *unmergeable_kib, GString *parts, GError **error)
{
  g_autoptr (xmlXPathObject) obj = select_nodes (ctxt, "/domain/devices/memory", error);

  if (obj == NULL)
    return FALSE;
  *total_kib = *unmergeable_kib = 0;
  for (int i = 0; i < n_nodes (obj); i++)
    {
      xmlNode *node = obj->nodesetval->nodeTab[i];
      g_autofree char *model = prop (node, "model");
      g_autofree char *access = prop (node, "access");
      xmlNode *size = child (child (node, "target"), "size");
      xmlNode *pagesize = child (child (node, "source"), "pagesize");
      g_autofree char *where = NULL;
      g_autofree char *size_text = NULL;
      const char *why = NULL;
      guint64 kib = 0;
      guint64 page_kib;

      if (size != NULL && !node_size_kib (size, NULL, "memory module <target><size>", &kib, error))
        return FALSE;
      if (pagesize != NULL &&
          !node_size_kib (pagesize, NULL, "memory module <source><pagesize>", &page_kib, error))
        return FALSE;

      if (g_strcmp0 (model, "nvdimm") == 0 || g_strcmp0 (model, "virtio-pmem") == 0)
        why = "file-backed memory module";
      else if (g_strcmp0 (model, "sgx-epc") == 0)
        why = "SGX enclave memory";
      else if (pagesize != NULL && page_kib != base_page_kib)
        why = "hugepages";
      else if (g_strcmp0 (access, "shared") == 0)
        why = "shared memory access";

      *total_kib = add_kib (*total_kib, kib);
      if (why == NULL)
        continue;
      *unmergeable_kib = add_kib (*unmergeable_kib, kib);
      size_text = sp_format_kib ((gint64) kib);
      where = g_strdup_printf ("%s module of %s", model != NULL ? model : "memory", size_text);
      add_part (parts, why, where);
    }
  return TRUE;
}

gboolean
sp_domain_memory_read (xmlXPathContext *ctxt, guint64 memory_kib, guint64 base_page_kib,
                       SpDomainMemory *memory, GError **error)
{
  g_autoptr (GArray) pages = g_array_new (FALSE, TRUE, sizeof (HugePage));
  g_autoptr (xmlXPathObject) cells = NULL;
  g_autoptr (xmlXPathObject) access = NULL;
  g_autoptr (GString) parts = g_string_new (NULL);
  gboolean hugepages_present = FALSE;
  gboolean default_shared;
  gboolean all_huge = TRUE;
  gboolean all_shared = TRUE;
  gboolean modules_mergeable;
  guint64 modules_kib;
  guint64 unmergeable_kib;

  g_return_val_if_fail (ctxt != NULL, FALSE);
  g_return_val_if_fail (memory != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_array_set_clear_func (pages, huge_page_clear);
  if (!read_huge_pages (ctxt, &hugepages_present, pages, error))
    return FALSE;
  access = select_nodes (ctxt, "/domain/memoryBacking/access[@mode='shared']", error);
  if (access == NULL)
    return FALSE;
  default_shared = n_nodes (access) > 0;
  if (!read_modules (ctxt, base_page_kib, &modules_kib, &unmergeable_kib, parts, error))
    return FALSE;
  modules_mergeable = modules_kib > unmergeable_kib;

  cells = select_nodes (ctxt, "/domain/cpu/numa/cell", error);
  if (cells == NULL)
    return FALSE;
  if (n_nodes (cells) == 0)
    {
      /* no NUMA: one region, the memory that is not in modules */
      guint64 base_kib = memory_kib - MIN (memory_kib, modules_kib);

      all_huge = cell_is_huge (hugepages_present, pages, -1, base_page_kib);
      all_shared = default_shared;
      if (all_huge || all_shared)
        {
          g_autofree char *size_text = sp_format_kib ((gint64) base_kib);
          g_autofree char *where = g_strdup_printf ("all %s of base memory", size_text);

          unmergeable_kib = add_kib (unmergeable_kib, base_kib);
          add_part (parts, all_huge ? "hugepages" : "shared memory access", where);
        }
    }
  for (int i = 0; i < n_nodes (cells); i++)
    {
      xmlNode *cell = cells->nodesetval->nodeTab[i];
      g_autofree char *id_text = prop (cell, "id");
      g_autofree char *mem_access = prop (cell, "memAccess");
      g_autofree char *memory_attr = prop (cell, "memory");
      g_autofree char *where = NULL;
      guint64 cell_kib = 0;
      guint id = (guint) i; /* libvirt numbers cells in order */
      gboolean huge;
      gboolean shared;

      if (id_text != NULL && !parse_node_id (id_text, &id))
        {
          g_autofree char *quoted = sp_quote (id_text);

          g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS, "Invalid NUMA <cell> id %s", quoted);
          return FALSE;
        }
      if (memory_attr != NULL &&
          !node_size_kib (cell, "memory", "NUMA <cell> memory", &cell_kib, error))
        return FALSE;
      huge = cell_is_huge (hugepages_present, pages, id, base_page_kib);
      shared = g_strcmp0 (mem_access, "shared") == 0 || (mem_access == NULL && default_shared);
      all_huge = all_huge && huge;
      all_shared = all_shared && shared;
      if (!huge && !shared)
        continue;
      unmergeable_kib = add_kib (unmergeable_kib, cell_kib);
      where = g_strdup_printf ("NUMA cell %u", id);
      add_part (parts, huge ? "hugepages" : "shared memory access", where);
    }

  sp_domain_memory_clear (memory);
  memory->unmergeable_kib = memory_kib > 0 ? MIN (unmergeable_kib, memory_kib) : unmergeable_kib;
  memory->unmergeable_part = parts->len > 0 ? g_strdup (parts->str) : NULL;
  /* a mergeable module keeps the guest from being all huge or all shared */
  memory->all_hugepages = all_huge && !modules_mergeable;
  memory->all_shared = all_shared && !modules_mergeable;
  return TRUE;
}
