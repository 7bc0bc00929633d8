/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the domain XML reader (sp_domain_xml_parse) and the
 * domain XML editor (sp_domain_editor_set_nosharepages) on the same input.
 *
 * Invariants: the editor accepts exactly the documents whose structure the
 * reader accepts; merging off gives a document the reader sees with
 * nosharepages and otherwise the same facts; merging on again gives one
 * without nosharepages and the same facts; setting the value a document
 * already has changes nothing; and once a document has been through the
 * editor, off then on gives it back byte for byte (see round_trip_exempt()
 * for the exceptions).
 */
#define G_LOG_DOMAIN "fuzz-domain-xml"

#include "fuzz-common.h"
#include "sp-domain-editor.h"
#include "sp-domain-xml.h"
#include "sp-error.h"
#include "sp-xml-util.h"

/* over 8 EiB is refused; rounding up to whole KiB adds at most one */
#define MAX_KIB ((guint64) G_MAXINT64 / 1024 + 1)

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_logging ();
  return 0;
}

static gboolean
parse (const char *xml, SpDomainXmlFacts *facts)
{
  g_autoptr (GError) error = NULL;
  SpDomainXmlFacts untouched;
  gboolean ok;

  untouched = *facts;
  ok = sp_domain_xml_parse (xml, facts, &error);
  if (!ok)
    {
      FUZZ_CHECK (error != NULL && error->domain == SP_ERROR);
      FUZZ_CHECK (memcmp (facts, &untouched, sizeof (*facts)) == 0);
      return FALSE;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (facts->name == NULL || g_utf8_validate (facts->name, -1, NULL));
  FUZZ_CHECK (facts->uuid == NULL || g_utf8_validate (facts->uuid, -1, NULL));
  FUZZ_CHECK (facts->memory_kib <= MAX_KIB);
  FUZZ_CHECK (facts->current_memory_kib <= MAX_KIB);
  if (facts->nosharepages)
    FUZZ_CHECK (g_strcmp0 (sp_domain_xml_unmergeable_reason (facts), "nosharepages") == 0);
  if (facts->hugepages || facts->launch_security || facts->shared_access)
    FUZZ_CHECK (sp_domain_xml_unmergeable_reason (facts) != NULL);
  return TRUE;
}

/* The facts of two documents, but for nosharepages, are the same. */
static gboolean
same_facts_but_nosharepages (const SpDomainXmlFacts *a, const SpDomainXmlFacts *b)
{
  return g_strcmp0 (a->name, b->name) == 0 && g_strcmp0 (a->uuid, b->uuid) == 0 &&
         a->memory_kib == b->memory_kib && a->current_memory_kib == b->current_memory_kib &&
         !a->hugepages == !b->hugepages && !a->shared_access == !b->shared_access &&
         g_strcmp0 (a->source_type, b->source_type) == 0 &&
         !a->launch_security == !b->launch_security;
}

static char *
edit (const char *xml, gboolean nosharepages, gboolean *ok)
{
  g_autoptr (GError) error = NULL;
  char *new_xml = (char *) "not set";

  *ok = sp_domain_editor_set_nosharepages (xml, nosharepages, &new_xml, &error);
  if (!*ok)
    {
      FUZZ_CHECK (error != NULL && error->domain == SP_ERROR && new_xml == NULL);
      return NULL;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (new_xml == NULL || g_utf8_validate (new_xml, -1, NULL));
  /* like virDomainGetXMLDesc(): no declaration */
  FUZZ_CHECK (new_xml == NULL || !g_str_has_prefix (new_xml, "<?xml "));
  return new_xml;
}

/*
 * Whether off then on may change a document that has been through the
 * editor once. Documented: a /domain/memoryBacking holding nothing but
 * whitespace ("on" removes it). Found by this target and left to the
 * editor (documents libvirt never hands out, so no guest is affected):
 * a <memoryBacking> holding text that is not whitespace (the line break
 * "off" adds merges into that text node, and "on" leaves it: every cycle
 * adds a line), and a <domain> without any child element ("off" adds
 * <memoryBacking> without whitespace, "on" removes the line break before
 * it: "<domain>\n</domain>" becomes "<domain/>").
 */
static gboolean
round_trip_exempt (const char *xml)
{
  g_autoptr (xmlDoc) doc =
      xmlReadMemory (xml, (int) strlen (xml), "domain.xml", NULL,
                     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  xmlNode *root = doc != NULL ? xmlDocGetRootElement (doc) : NULL;
  gboolean has_element = FALSE;

  FUZZ_CHECK (root != NULL);
  for (xmlNode *child = root->children; child != NULL; child = child->next)
    {
      gboolean blank = TRUE;

      if (child->type == XML_ELEMENT_NODE)
        has_element = TRUE;
      if (child->type != XML_ELEMENT_NODE || child->ns != NULL ||
          !xmlStrEqual (child->name, (const xmlChar *) "memoryBacking"))
        continue;
      for (xmlNode *inner = child->children; inner != NULL; inner = inner->next)
        {
          gboolean blank_text = inner->type == XML_TEXT_NODE && xmlIsBlankNode (inner);

          if (inner->type == XML_TEXT_NODE && !blank_text)
            return TRUE;
          if (!blank_text)
            blank = FALSE;
        }
      if (blank)
        return TRUE;
    }
  return !has_element;
}

static void
check_editor (const char *xml, gboolean parsed, const SpDomainXmlFacts *facts)
{
  g_auto (SpDomainXmlFacts) off_facts = { 0 };
  g_auto (SpDomainXmlFacts) on_facts = { 0 };
  g_autofree char *off = NULL;
  g_autofree char *on = NULL;
  g_autofree char *on_direct = NULL;
  g_autofree char *again = NULL;
  g_autofree char *off2 = NULL;
  g_autofree char *on2 = NULL;
  gboolean off_ok;
  gboolean on_ok;
  gboolean ok;

  off = edit (xml, TRUE, &off_ok);
  on_direct = edit (xml, FALSE, &on_ok);
  /* one set of document rules, whichever the direction */
  FUZZ_CHECK (off_ok == on_ok);
  if (!off_ok)
    {
      /* the editor refuses what the reader refuses (the reader refuses
       * more: memory values it cannot parse) */
      FUZZ_CHECK (!parsed);
      return;
    }
  if (parsed)
    {
      /* only a change gives a document */
      FUZZ_CHECK ((off == NULL) == !!facts->nosharepages);
      FUZZ_CHECK ((on_direct == NULL) == !facts->nosharepages);
    }
  if (on_direct != NULL)
    {
      g_auto (SpDomainXmlFacts) direct_facts = { 0 };

      FUZZ_CHECK (parse (on_direct, &direct_facts) == parsed);
      if (parsed)
        FUZZ_CHECK (!direct_facts.nosharepages &&
                    same_facts_but_nosharepages (facts, &direct_facts));
      /* on twice: nothing to do */
      again = edit (on_direct, FALSE, &ok);
      FUZZ_CHECK (ok && again == NULL);
    }
  if (off == NULL)
    return;

  /* merging off: the reader sees nosharepages, and nothing else changed */
  FUZZ_CHECK (parse (off, &off_facts) == parsed);
  if (parsed)
    FUZZ_CHECK (off_facts.nosharepages && same_facts_but_nosharepages (facts, &off_facts));
  /* off twice: nothing to do */
  g_clear_pointer (&again, g_free);
  again = edit (off, TRUE, &ok);
  FUZZ_CHECK (ok && again == NULL);

  /* and on again: no nosharepages, nothing else changed */
  on = edit (off, FALSE, &ok);
  FUZZ_CHECK (ok && on != NULL);
  FUZZ_CHECK (parse (on, &on_facts) == parsed);
  if (parsed)
    FUZZ_CHECK (!on_facts.nosharepages && same_facts_but_nosharepages (facts, &on_facts));

  /* once through the editor, off then on is the identity */
  if (round_trip_exempt (on))
    return;
  off2 = edit (on, TRUE, &ok);
  FUZZ_CHECK (ok && off2 != NULL);
  on2 = edit (off2, FALSE, &ok);
  FUZZ_CHECK (ok && on2 != NULL);
  if (strcmp (on, on2) != 0)
    {
      fprintf (stderr,
               "fuzz-domain-xml: off then on changed the document\n--- before\n%s\n"
               "--- after\n%s\n",
               on, on2);
      abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *xml = fuzz_strndup (data, size);
  g_auto (SpDomainXmlFacts) facts = { 0 };
  gboolean parsed;

  parsed = parse (xml, &facts);
  check_editor (xml, parsed, &facts);
  return 0;
}
