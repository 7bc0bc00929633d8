/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-domain-editor"

#include "sp-domain-editor.h"

#include <string.h>

#include <libxml/xmlsave.h>

#include "sp-balloon-xml.h"
#include "sp-error.h"
#include "sp-xml-util.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (xmlBuffer, xmlBufferFree)

/* The children of <domain> that libvirt writes before <memoryBacking>
 * (virDomainDefFormatInternal()); the schema lets them come in any order. */
static const char *const memory_backing_predecessors[] = {
  "name",      "uuid",   "genid",         "title",     "description", "metadata",
  "maxMemory", "memory", "currentMemory", "blkiotune", "memtune",
};

/* ---- whitespace --------------------------------------------------------- */

static gboolean
is_blank_text (const xmlNode *node)
{
  return node != NULL && node->type == XML_TEXT_NODE && xmlIsBlankNode ((xmlNode *) node);
}

/* The whitespace text node right before node, or NULL. */
static xmlNode *
blank_before (const xmlNode *node)
{
  return is_blank_text (node->prev) ? node->prev : NULL;
}

/* The indentation of node's line ("  " after "\n  "), or NULL when node does
 * not start a line (a document without line breaks). */
static char *
indent_of (const xmlNode *node)
{
  const xmlNode *blank = blank_before (node);
  const char *newline;

  if (blank == NULL || blank->content == NULL)
    return NULL;
  newline = strrchr ((const char *) blank->content, '\n');
  if (newline == NULL)
    return NULL;
  return g_strdup (newline + 1);
}

static void
add_text_before (xmlNode *node, const char *text)
{
  if (text != NULL)
    xmlAddPrevSibling (node, xmlNewDocText (node->doc, (const xmlChar *) text));
}

/* Unlinks and frees node and the whitespace right before it. */
static void
remove_with_blank (xmlNode *node)
{
  xmlNode *blank = blank_before (node);

  if (blank != NULL)
    {
      xmlUnlinkNode (blank);
      xmlFreeNode (blank);
    }
  xmlUnlinkNode (node);
  xmlFreeNode (node);
}

static xmlNode *
first_element_child (xmlNode *parent, const char *name)
{
  for (xmlNode *child = parent->children; child != NULL; child = child->next)
    if (child->type == XML_ELEMENT_NODE && child->ns == NULL &&
        (name == NULL || xmlStrEqual (child->name, (const xmlChar *) name)))
      return child;
  return NULL;
}

/* ---- merging off ------------------------------------------------------ */

static xmlNode *
new_nosharepages (xmlDoc *doc)
{
  return xmlNewDocNode (doc, NULL, (const xmlChar *) "nosharepages", NULL);
}

/* A new <memoryBacking><nosharepages/></memoryBacking> whose inside is
 * indented one level deeper than indent (NULL: no whitespace at all). */
static xmlNode *
new_memory_backing (xmlDoc *doc, const char *indent)
{
  xmlNode *backing = xmlNewDocNode (doc, NULL, (const xmlChar *) "memoryBacking", NULL);
  xmlNode *nosharepages = xmlAddChild (backing, new_nosharepages (doc));

  if (indent != NULL)
    {
      /* a top-level child's indentation is one level: libvirt's two spaces,
       * or whatever this document uses; none at all stays none */
      g_autofree char *inner = g_strconcat ("\n", indent, indent, NULL);
      g_autofree char *closing = g_strconcat ("\n", indent, NULL);

      add_text_before (nosharepages, inner);
      xmlAddChild (backing, xmlNewDocText (doc, (const xmlChar *) closing));
    }
  return backing;
}

static gboolean
is_predecessor (const xmlNode *node)
{
  if (node->type != XML_ELEMENT_NODE || node->ns != NULL)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (memory_backing_predecessors); i++)
    if (xmlStrEqual (node->name, (const xmlChar *) memory_backing_predecessors[i]))
      return TRUE;
  return FALSE;
}

/* Creates <memoryBacking> where libvirt writes it. */
static void
add_memory_backing (xmlNode *root)
{
  xmlNode *anchor = NULL;
  xmlNode *backing;
  g_autofree char *indent = NULL;

  for (xmlNode *child = root->children; child != NULL; child = child->next)
    if (is_predecessor (child))
      anchor = child;

  if (anchor != NULL)
    {
      xmlNode *blank = blank_before (anchor);

      indent = indent_of (anchor);
      backing = xmlAddNextSibling (anchor, new_memory_backing (root->doc, indent));
      add_text_before (backing, blank != NULL ? (const char *) blank->content : NULL);
      return;
    }

  /* no <name> (libvirt would refuse the domain): first, or the only child */
  anchor = first_element_child (root, NULL);
  if (anchor != NULL)
    {
      xmlNode *blank = blank_before (anchor);

      indent = indent_of (anchor);
      xmlAddPrevSibling (anchor, new_memory_backing (root->doc, indent));
      add_text_before (anchor, blank != NULL ? (const char *) blank->content : NULL);
      return;
    }
  xmlAddChild (root, new_memory_backing (root->doc, NULL));
}

/* Adds <nosharepages/> to an existing <memoryBacking>, libvirt's order. */
static void
add_to_memory_backing (xmlNode *backing)
{
  xmlNode *hugepages = first_element_child (backing, "hugepages");
  xmlNode *first = first_element_child (backing, NULL);
  xmlNode *nosharepages = new_nosharepages (backing->doc);
  xmlNode *last = backing->last;
  g_autofree char *indent = NULL;
  g_autofree char *inner = NULL;

  if (hugepages != NULL)
    {
      /* after <hugepages>, on a line of its own like it */
      xmlNode *blank = blank_before (hugepages);

      xmlAddNextSibling (hugepages, nosharepages);
      add_text_before (nosharepages, blank != NULL ? (const char *) blank->content : NULL);
      return;
    }
  if (first != NULL)
    {
      /* first, with the line break and indentation of the old first */
      xmlNode *blank = blank_before (first);

      xmlAddPrevSibling (first, nosharepages);
      add_text_before (first, blank != NULL ? (const char *) blank->content : NULL);
      return;
    }

  /* no element inside (empty, or only comments): indent one level deeper */
  if (is_blank_text (backing->children) && backing->children != last &&
      strchr ((const char *) backing->children->content, '\n') != NULL)
    inner = g_strdup ((const char *) backing->children->content);
  else if ((indent = indent_of (backing)) != NULL)
    inner = g_strconcat ("\n", indent, indent, NULL);

  if (is_blank_text (last))
    {
      /* before the closing tag's indentation */
      xmlAddPrevSibling (last, nosharepages);
      add_text_before (nosharepages, inner);
      return;
    }
  if (inner != NULL)
    xmlAddChild (backing, xmlNewDocText (backing->doc, (const xmlChar *) inner));
  xmlAddChild (backing, nosharepages);
  if (indent != NULL)
    {
      g_autofree char *closing = g_strconcat ("\n", indent, NULL);

      xmlAddChild (backing, xmlNewDocText (backing->doc, (const xmlChar *) closing));
    }
}

/* ---- merging on ------------------------------------------------------- */

static gboolean
holds_only_whitespace (const xmlNode *backing)
{
  for (const xmlNode *child = backing->children; child != NULL; child = child->next)
    if (!is_blank_text (child))
      return FALSE;
  return TRUE;
}

/* ---- serialising ------------------------------------------------------ */

static char *
write_document (xmlDoc *doc, GError **error)
{
  g_autoptr (xmlBuffer) buffer = xmlBufferCreate ();
  xmlSaveCtxt *save;
  long written;

  if (buffer == NULL)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_FAILED, "Cannot allocate an XML buffer");
      return NULL;
    }
  /* no declaration (like virDomainGetXMLDesc()), no XML_SAVE_FORMAT: the
   * whitespace of the document is the formatting */
  save = xmlSaveToBuffer (buffer, "UTF-8", XML_SAVE_NO_DECL);
  if (save == NULL)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_FAILED, "Cannot serialise domain XML");
      return NULL;
    }
  written = xmlSaveDoc (save, doc);
  if (xmlSaveClose (save) < 0 || written < 0)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_FAILED, "Cannot serialise domain XML");
      return NULL;
    }
  return g_strndup ((const char *) xmlBufferContent (buffer), xmlBufferLength (buffer));
}

/* ---- entry point ------------------------------------------------------ */

/* The nodes an XPath expression selects, copied out so that the XPath
 * object can be freed before the tree changes (freeing it reads its nodes). */
static GPtrArray *
select_nodes (xmlXPathContext *ctxt, const char *expr, GError **error)
{
  g_autoptr (xmlXPathObject) obj = xmlXPathEvalExpression ((const xmlChar *) expr, ctxt);
  g_autoptr (GPtrArray) nodes = g_ptr_array_new ();

  if (obj == NULL || obj->type != XPATH_NODESET)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED, "Cannot evaluate XPath %s on domain XML",
                   expr);
      return NULL;
    }
  for (int i = 0; obj->nodesetval != NULL && i < obj->nodesetval->nodeNr; i++)
    g_ptr_array_add (nodes, obj->nodesetval->nodeTab[i]);
  return g_steal_pointer (&nodes);
}

gboolean
sp_domain_editor_set_nosharepages (const char *xml, gboolean nosharepages, char **new_xml,
                                   GError **error)
{
  g_autoptr (xmlDoc) doc = NULL;
  g_autoptr (xmlXPathContext) ctxt = NULL;
  g_autoptr (GPtrArray) backings = NULL;
  g_autoptr (GPtrArray) existing = NULL;
  g_autoptr (GPtrArray) emptied = g_ptr_array_new ();

  g_return_val_if_fail (xml != NULL, FALSE);
  g_return_val_if_fail (new_xml != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *new_xml = NULL;
  if (!sp_xml_open_domain (xml, &doc, &ctxt, error))
    return FALSE;
  backings = select_nodes (ctxt, "/domain/memoryBacking", error);
  if (backings == NULL)
    return FALSE;
  existing = select_nodes (ctxt, "/domain/memoryBacking/nosharepages", error);
  if (existing == NULL)
    return FALSE;

  if (nosharepages)
    {
      if (existing->len > 0)
        return TRUE; /* already off */
      /* the schema allows one <memoryBacking>; libvirt reads the first */
      if (backings->len > 0)
        add_to_memory_backing (g_ptr_array_index (backings, 0));
      else
        add_memory_backing (xmlDocGetRootElement (doc));
    }
  else
    {
      if (existing->len == 0)
        return TRUE; /* already on */
      /* (the schema allows one, libvirt's parser ignores repeats: all go) */
      for (guint i = 0; i < existing->len; i++)
        {
          xmlNode *node = g_ptr_array_index (existing, i);

          if (!g_ptr_array_find (emptied, node->parent, NULL))
            g_ptr_array_add (emptied, node->parent);
          remove_with_blank (node);
        }
      for (guint i = 0; i < emptied->len; i++)
        {
          xmlNode *backing = g_ptr_array_index (emptied, i);

          if (holds_only_whitespace (backing))
            remove_with_blank (backing);
        }
    }

  *new_xml = write_document (doc, error);
  return *new_xml != NULL;
}

/* ---- free page reporting ---------------------------------------------- */

static gboolean
check_balloon_model (xmlNode *balloon, const char *name, GError **error)
{
  g_autoptr (xmlChar) model = NULL;

  if (balloon == NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_NOT_SUPPORTED,
                   "Domain %s has no <memballoon> device: free page reporting needs a virtio "
                   "balloon (add <memballoon model='virtio'/> to its <devices>)",
                   name);
      return FALSE;
    }
  model = xmlGetProp (balloon, (const xmlChar *) "model");
  if (model != NULL && sp_balloon_xml_model_has_driver ((const char *) model))
    return TRUE;
  if (model != NULL && xmlStrEqual (model, (const xmlChar *) "none"))
    g_set_error (error, SP_ERROR, SP_ERROR_NOT_SUPPORTED,
                 "Domain %s has <memballoon model='none'>: no balloon, so no free page "
                 "reporting",
                 name);
  else
    g_set_error (error, SP_ERROR, SP_ERROR_NOT_SUPPORTED,
                 "Domain %s has <memballoon model='%s'>: free page reporting needs a virtio "
                 "balloon",
                 name, model != NULL ? (const char *) model : "");
  return FALSE;
}

gboolean
sp_domain_editor_set_free_page_reporting (const char *xml, const char *name, gboolean reporting,
                                          char **new_xml, GError **error)
{
  g_autoptr (xmlDoc) doc = NULL;
  g_autoptr (xmlXPathContext) ctxt = NULL;
  g_autoptr (GPtrArray) balloons = NULL;
  g_autoptr (xmlChar) current = NULL;
  xmlNode *balloon;
  const char *wanted = reporting ? "on" : "off";

  g_return_val_if_fail (xml != NULL, FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (new_xml != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *new_xml = NULL;
  if (!sp_xml_open_domain (xml, &doc, &ctxt, error))
    return FALSE;
  balloons = select_nodes (ctxt, "/domain/devices/memballoon", error);
  if (balloons == NULL)
    return FALSE;
  balloon = balloons->len > 0 ? g_ptr_array_index (balloons, 0) : NULL;
  if (!check_balloon_model (balloon, name, error))
    return FALSE;

  current = xmlGetProp (balloon, (const xmlChar *) "freePageReporting");
  /* absent is off: libvirt's default */
  if (g_strcmp0 (current != NULL ? (const char *) current : "off", wanted) == 0)
    return TRUE;
  if (xmlSetProp (balloon, (const xmlChar *) "freePageReporting", (const xmlChar *) wanted) == NULL)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_FAILED, "Cannot set an XML attribute");
      return FALSE;
    }
  *new_xml = write_document (doc, error);
  return *new_xml != NULL;
}
