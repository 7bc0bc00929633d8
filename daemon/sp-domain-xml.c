/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-domain-xml"

#include "sp-domain-xml.h"

#include <string.h>

#include "sp-error.h"
#include "sp-io.h"
#include "sp-xml-util.h"

/* libvirt refuses memory sizes above LLONG_MAX bytes (virMemoryMaxValue()),
 * so a larger value cannot come from libvirt. */
#define SP_DOMAIN_XML_MAX_BYTES ((guint64) G_MAXINT64)

/*
 * A domain shares memory when any NUMA cell asks for it, or when
 * <memoryBacking><access mode='shared'/> applies to at least some memory: to
 * all of it without NUMA cells, else to every cell without its own memAccess
 * (a cell's memAccess='private' overrides the default, as in libvirt's QEMU
 * command line).
 */
#define SHARED_ACCESS_XPATH                            \
  "/domain/cpu/numa/cell[@memAccess='shared'] or "     \
  "(/domain/memoryBacking/access[@mode='shared'] and " \
  "(not(/domain/cpu/numa/cell) or /domain/cpu/numa/cell[not(@memAccess)]))"

void
sp_domain_xml_facts_clear (SpDomainXmlFacts *facts)
{
  if (facts == NULL)
    return;
  g_free (facts->name);
  g_free (facts->uuid);
  g_free (facts->source_type);
  memset (facts, 0, sizeof (*facts));
}

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
  if (number > SP_DOMAIN_XML_MAX_BYTES / scale)
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

static xmlXPathObject *
xpath_eval (xmlXPathContext *ctxt, const char *expr, GError **error)
{
  xmlXPathObject *obj = xmlXPathEvalExpression ((const xmlChar *) expr, ctxt);

  if (obj == NULL)
    g_set_error (error, SP_ERROR, SP_ERROR_FAILED, "Cannot evaluate XPath %s on domain XML", expr);
  return obj;
}

/* Whether expr is true (a node-set: selects at least one node). */
static gboolean
xpath_boolean (xmlXPathContext *ctxt, const char *expr, gboolean *out, GError **error)
{
  g_autoptr (xmlXPathObject) obj = xpath_eval (ctxt, expr, error);

  if (obj == NULL)
    return FALSE;
  *out = xmlXPathCastToBoolean (obj) != 0;
  return TRUE;
}

/* The string value of the first node expr selects; NULL when it selects none. */
static gboolean
xpath_string (xmlXPathContext *ctxt, const char *expr, char **out, GError **error)
{
  g_autoptr (xmlXPathObject) obj = xpath_eval (ctxt, expr, error);
  g_autoptr (xmlChar) str = NULL;

  if (obj == NULL)
    return FALSE;
  if (obj->type == XPATH_NODESET && xmlXPathNodeSetIsEmpty (obj->nodesetval))
    {
      *out = NULL;
      return TRUE;
    }
  str = xmlXPathCastToString (obj);
  if (str == NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED, "Cannot evaluate XPath %s on domain XML",
                   expr);
      return FALSE;
    }
  *out = g_strdup ((const char *) str);
  return TRUE;
}

/* /domain/<element> with its unit attribute in KiB; found FALSE when absent. */
static gboolean
read_memory_element (xmlXPathContext *ctxt, const char *element, guint64 *kib, gboolean *found,
                     GError **error)
{
  g_autofree char *value_xpath = g_strdup_printf ("/domain/%s[1]", element);
  g_autofree char *unit_xpath = g_strdup_printf ("/domain/%s[1]/@unit", element);
  g_autofree char *value = NULL;
  g_autofree char *unit = NULL;

  if (!xpath_string (ctxt, value_xpath, &value, error))
    return FALSE;
  if (!xpath_string (ctxt, unit_xpath, &unit, error))
    return FALSE;
  *found = value != NULL;
  if (value == NULL)
    return TRUE;
  if (!sp_domain_xml_memory_to_kib (value, unit, kib, error))
    {
      g_prefix_error (error, "Invalid <%s> in domain XML: ", element);
      return FALSE;
    }
  return TRUE;
}

/* Without <memory>, libvirt sizes the guest from its NUMA cells. */
static gboolean
read_numa_memory (xmlXPathContext *ctxt, guint64 *kib, GError **error)
{
  g_autoptr (xmlXPathObject) obj = xpath_eval (ctxt, "/domain/cpu/numa/cell[@memory]", error);
  guint64 total_kib = 0;

  if (obj == NULL)
    return FALSE;
  if (obj->type != XPATH_NODESET || obj->nodesetval == NULL)
    {
      *kib = 0;
      return TRUE;
    }
  for (int i = 0; i < obj->nodesetval->nodeNr; i++)
    {
      xmlNode *cell = obj->nodesetval->nodeTab[i];
      g_autoptr (xmlChar) value = xmlGetProp (cell, (const xmlChar *) "memory");
      g_autoptr (xmlChar) unit = xmlGetProp (cell, (const xmlChar *) "unit");
      guint64 cell_kib;

      if (!sp_domain_xml_memory_to_kib ((const char *) value, (const char *) unit, &cell_kib,
                                        error))
        {
          g_prefix_error (error, "Invalid NUMA <cell> memory in domain XML: ");
          return FALSE;
        }
      if (cell_kib > SP_DOMAIN_XML_MAX_BYTES / 1024 - total_kib)
        {
          g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                               "Invalid NUMA cells in domain XML: total memory is too large");
          return FALSE;
        }
      total_kib += cell_kib;
    }
  *kib = total_kib;
  return TRUE;
}

gboolean
sp_domain_xml_parse (const char *xml, SpDomainXmlFacts *facts, GError **error)
{
  g_autoptr (xmlDoc) doc = NULL;
  g_autoptr (xmlXPathContext) ctxt = NULL;
  g_auto (SpDomainXmlFacts) result = { 0 };
  gboolean found;

  g_return_val_if_fail (xml != NULL, FALSE);
  g_return_val_if_fail (facts != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  doc = sp_xml_read_domain (xml, error);
  if (doc == NULL)
    return FALSE;
  ctxt = sp_xml_xpath_context (doc, error);
  if (ctxt == NULL)
    return FALSE;

  if (!xpath_string (ctxt, "/domain/name[1]", &result.name, error))
    return FALSE;
  if (!xpath_string (ctxt, "/domain/uuid[1]", &result.uuid, error))
    return FALSE;
  if (result.uuid != NULL)
    g_strstrip (result.uuid);

  if (!read_memory_element (ctxt, "memory", &result.memory_kib, &found, error))
    return FALSE;
  if (!found && !read_numa_memory (ctxt, &result.memory_kib, error))
    return FALSE;
  if (!read_memory_element (ctxt, "currentMemory", &result.current_memory_kib, &found, error))
    return FALSE;
  if (!found)
    result.current_memory_kib = result.memory_kib;

  if (!xpath_boolean (ctxt, "/domain/memoryBacking/nosharepages", &result.nosharepages, error))
    return FALSE;
  if (!xpath_boolean (ctxt, "/domain/memoryBacking/hugepages", &result.hugepages, error))
    return FALSE;
  if (!xpath_boolean (ctxt, SHARED_ACCESS_XPATH, &result.shared_access, error))
    return FALSE;
  if (!xpath_string (ctxt, "/domain/memoryBacking/source[1]/@type", &result.source_type, error))
    return FALSE;
  if (!xpath_boolean (ctxt, "/domain/launchSecurity", &result.launch_security, error))
    return FALSE;

  sp_domain_xml_facts_clear (facts);
  *facts = result;
  memset (&result, 0, sizeof (result));
  return TRUE;
}

const char *
sp_domain_xml_unmergeable_reason (const SpDomainXmlFacts *facts)
{
  g_return_val_if_fail (facts != NULL, NULL);

  /* the most fundamental reason first */
  if (facts->nosharepages)
    return "nosharepages";
  if (facts->hugepages)
    return "hugepages";
  if (facts->launch_security)
    return "launch security (encrypted memory)";
  if (g_strcmp0 (facts->source_type, "memfd") == 0)
    return "memfd memory backing";
  if (g_strcmp0 (facts->source_type, "file") == 0)
    return "file memory backing";
  if (facts->shared_access)
    return "shared memory access";
  return NULL;
}
