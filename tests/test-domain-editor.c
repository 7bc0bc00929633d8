/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The domain XML editor over a corpus of domain XMLs (tests/data/editor/):
 * toggling merging off then on gives back the original (canonical XML, with
 * comments and whitespace), the "off" result differs from the original by
 * exactly the added nodes, every result validates with virt-xml-validate,
 * and setting the value a domain already has is a no-op. Plus the exact
 * layout of what is added, look-alikes in metadata, and bad input.
 *
 * Free page reporting over the same corpus: on then off gives back the
 * original but for the attribute, every result validates, a domain without
 * a virtio balloon is refused, and the exact bytes of a small document.
 */
#define G_LOG_DOMAIN "test-domain-editor"

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <libxml/c14n.h>

#include "sp-domain-editor.h"
#include "sp-error.h"
#include "sp-test.h"
#include "sp-xml-util.h"

#define VIRT_XML_VALIDATE "/usr/bin/virt-xml-validate"

/* ---- helpers ------------------------------------------------------------ */

/* The parser options of the editor: blanks, comments and CDATA kept. */
static xmlDoc *
parse (const char *xml)
{
  xmlDoc *doc = xmlReadMemory (xml, (int) strlen (xml), "test.xml", NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

  g_assert_nonnull (doc);
  return doc;
}

/* Canonical XML 1.0 with comments: attribute order and quoting, empty
 * element syntax, character references, line endings and the XML
 * declaration are normalised; every text node (whitespace included),
 * comment and processing instruction counts. */
static char *
c14n_doc (xmlDoc *doc)
{
  xmlChar *out = NULL;
  char *result;
  int len = xmlC14NDocDumpMemory (doc, NULL, XML_C14N_1_0, NULL, 1, &out);

  g_assert_cmpint (len, >=, 0);
  g_assert_nonnull (out);
  result = g_strndup ((const char *) out, len);
  xmlFree (out);
  return result;
}

static char *
c14n (const char *xml)
{
  g_autoptr (xmlDoc) doc = parse (xml);

  return c14n_doc (doc);
}

static double
xpath_count (xmlDoc *doc, const char *expr)
{
  g_autoptr (xmlXPathContext) ctxt = xmlXPathNewContext (doc);
  g_autoptr (xmlXPathObject) obj = NULL;
  g_autofree char *count = g_strdup_printf ("count(%s)", expr);

  obj = xmlXPathEvalExpression ((const xmlChar *) count, ctxt);
  g_assert_nonnull (obj);
  g_assert_cmpint (obj->type, ==, XPATH_NUMBER);
  return obj->floatval;
}

static double
count_in (const char *xml, const char *expr)
{
  g_autoptr (xmlDoc) doc = parse (xml);

  return xpath_count (doc, expr);
}

static gboolean
blank_text (const xmlNode *node)
{
  return node != NULL && node->type == XML_TEXT_NODE && xmlIsBlankNode ((xmlNode *) node);
}

/* Removes the first node expr selects, with the whitespace text right
 * before it (the line it stood on). */
static void
remove_first (xmlDoc *doc, const char *expr)
{
  g_autoptr (xmlXPathContext) ctxt = xmlXPathNewContext (doc);
  g_autoptr (xmlXPathObject) obj = xmlXPathEvalExpression ((const xmlChar *) expr, ctxt);
  xmlNode *node;

  g_assert_nonnull (obj);
  g_assert_nonnull (obj->nodesetval);
  g_assert_cmpint (obj->nodesetval->nodeNr, ==, 1);
  node = obj->nodesetval->nodeTab[0];
  g_clear_pointer (&obj, xmlXPathFreeObject);
  if (blank_text (node->prev))
    {
      xmlNode *blank = node->prev;
      xmlUnlinkNode (blank);
      xmlFreeNode (blank);
    }
  xmlUnlinkNode (node);
  xmlFreeNode (node);
}

static char *
set_nosharepages (const char *xml, gboolean nosharepages)
{
  g_autoptr (GError) error = NULL;
  char *out = NULL;

  g_assert_true (sp_domain_editor_set_nosharepages (xml, nosharepages, &out, &error));
  g_assert_no_error (error);
  return out;
}

static void
assert_noop (const char *xml, gboolean nosharepages)
{
  g_autoptr (GError) error = NULL;
  char *out = (char *) 0x1; /* must be reset to NULL */

  g_assert_true (sp_domain_editor_set_nosharepages (xml, nosharepages, &out, &error));
  g_assert_no_error (error);
  g_assert_null (out);
}

/* What libvirt's schema says; FALSE with the validator's complaint. */
static gboolean
validates (const char *xml, char **complaint)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int fd = g_file_open_tmp ("sp-editor-XXXXXX.xml", &path, &error);
  int status;
  const char *argv[] = { VIRT_XML_VALIDATE, NULL, "domain", NULL };

  g_assert_no_error (error);
  close (fd);
  g_assert_true (g_file_set_contents (path, xml, -1, &error));
  argv[1] = path;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                               &status, &error));
  g_assert_no_error (error);
  g_unlink (path);
  *complaint = g_strconcat (out, err, NULL);
  return g_spawn_check_wait_status (status, NULL);
}

static void
assert_validates (const char *what, const char *xml)
{
  g_autofree char *complaint = NULL;

  if (!validates (xml, &complaint))
    g_test_fail_printf ("%s does not validate: %s\n%s", what, complaint, xml);
}

/* ---- corpus ----------------------------------------------------------- */

static GPtrArray *
corpus_names (void)
{
  g_autofree char *dir = g_test_build_filename (G_TEST_DIST, "data", "editor", NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".xml"))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  return names;
}

/*
 * Off then on gives back the original; off differs from it by exactly
 * <nosharepages/> (and the <memoryBacking> around it when there was none),
 * each on a line of its own; no-ops both ways. For a file that already has
 * nosharepages, the same from the other side: on then off.
 */
static void
test_corpus_round_trip (gconstpointer data)
{
  const char *name = data;
  g_autofree char *original = sp_test_load_data ("editor", name, NULL);
  g_autofree char *original_c14n = c14n (original);
  gboolean had_nosharepages = count_in (original, "/domain/memoryBacking/nosharepages") > 0;
  gboolean had_backing = count_in (original, "/domain/memoryBacking") > 0;
  g_autofree char *off = NULL;
  g_autofree char *on = NULL;
  g_autofree char *off_c14n = NULL;
  g_autofree char *on_c14n = NULL;
  g_autoptr (xmlDoc) stripped = NULL;
  g_autofree char *stripped_c14n = NULL;

  if (!had_nosharepages)
    {
      assert_noop (original, FALSE);
      off = set_nosharepages (original, TRUE);
      g_assert_nonnull (off);
      assert_noop (off, TRUE);
      on = set_nosharepages (off, FALSE);
      g_assert_nonnull (on);
      assert_noop (on, FALSE);

      /* back to the original, comments and whitespace included */
      on_c14n = c14n (on);
      g_assert_cmpstr (on_c14n, ==, original_c14n);
    }
  else
    {
      assert_noop (original, TRUE);
      on = set_nosharepages (original, FALSE);
      g_assert_nonnull (on);
      assert_noop (on, FALSE);
      off = set_nosharepages (on, TRUE);
      g_assert_nonnull (off);
      assert_noop (off, TRUE);

      off_c14n = c14n (off);
      g_assert_cmpstr (off_c14n, ==, original_c14n);
    }

  /* off: exactly one <nosharepages/> in exactly one <memoryBacking> */
  g_assert_cmpfloat (count_in (off, "/domain/memoryBacking"), ==, 1);
  g_assert_cmpfloat (count_in (off, "/domain/memoryBacking/nosharepages"), ==, 1);
  g_assert_cmpfloat (count_in (off, "/domain/memoryBacking/nosharepages/node()"), ==, 0);
  /* on: none left; <memoryBacking> only when the original without
   * nosharepages still had one */
  g_assert_cmpfloat (count_in (on, "/domain/memoryBacking/nosharepages"), ==, 0);
  if (had_nosharepages)
    g_assert_cmpfloat (count_in (on, "/domain/memoryBacking/*"), ==,
                       count_in (original, "/domain/memoryBacking/*") - 1);
  else
    g_assert_cmpfloat (count_in (on, "/domain/memoryBacking"), ==, had_backing ? 1 : 0);

  /* nothing else changed: the "off" result without what was added (each
   * added element with the line break and indentation before it) is the
   * original, or its "on" result for a file that had nosharepages */
  stripped = parse (off);
  remove_first (stripped, "/domain/memoryBacking/nosharepages");
  if (!had_backing || (had_nosharepages && count_in (on, "/domain/memoryBacking") == 0))
    remove_first (stripped, "/domain/memoryBacking");
  stripped_c14n = c14n_doc (stripped);
  if (!had_nosharepages)
    g_assert_cmpstr (stripped_c14n, ==, original_c14n);
  else
    {
      on_c14n = c14n (on);
      g_assert_cmpstr (stripped_c14n, ==, on_c14n);
    }

  /* serialised like virDomainGetXMLDesc(): no XML declaration */
  g_assert_false (g_str_has_prefix (off, "<?xml "));
  g_assert_false (g_str_has_prefix (on, "<?xml "));
}

static void
test_corpus_validates (gconstpointer data)
{
  const char *name = data;
  g_autofree char *original = sp_test_load_data ("editor", name, NULL);
  g_autofree char *off = NULL;
  g_autofree char *on = NULL;

  /* libvirt-clients is in .ci/deps: a missing validator fails, never skips */
  g_assert_true (g_file_test (VIRT_XML_VALIDATE, G_FILE_TEST_IS_EXECUTABLE));
  assert_validates (name, original);
  off = set_nosharepages (original, TRUE);
  if (off != NULL)
    assert_validates ("merging off", off);
  on = set_nosharepages (off != NULL ? off : original, FALSE);
  g_assert_nonnull (on);
  assert_validates ("merging on", on);
}

static void
test_corpus_size (void)
{
  g_autoptr (GPtrArray) names = corpus_names ();
  guint with_backing = 0;
  guint with_nosharepages = 0;

  /* the acceptance criterion of issue 5, and both directions covered */
  g_assert_cmpuint (names->len, >=, 30);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *xml = sp_test_load_data ("editor", g_ptr_array_index (names, i), NULL);

      with_backing += count_in (xml, "/domain/memoryBacking") > 0;
      with_nosharepages += count_in (xml, "/domain/memoryBacking/nosharepages") > 0;
    }
  g_assert_cmpuint (with_backing, >=, 10);
  g_assert_cmpuint (with_nosharepages, >=, 4);
}

/* ---- layout ------------------------------------------------------------ */

typedef struct {
  const char *name;
  const char *original;
  const char *off; /* exact text of the result */
} LayoutCase;

#define HEAD "<domain type=\"kvm\">\n  <name>x</name>\n"
#define TAIL "  <vcpu>1</vcpu>\n</domain>\n"

static const LayoutCase layout_cases[] = {
  /* libvirt's place and indentation: after <currentMemory> */
  { "after-current-memory",
    HEAD "  <memory unit=\"KiB\">1024</memory>\n  <currentMemory>512</currentMemory>\n" TAIL,
    HEAD "  <memory unit=\"KiB\">1024</memory>\n  <currentMemory>512</currentMemory>\n"
         "  <memoryBacking>\n    <nosharepages/>\n  </memoryBacking>\n" TAIL },
  /* after <memtune>, even when <memory> comes later in a hand-written file */
  { "after-memtune",
    HEAD
    "  <memtune>\n    <soft_limit>1</soft_limit>\n  </memtune>\n  <memory>1024</memory>\n" TAIL,
    HEAD "  <memtune>\n    <soft_limit>1</soft_limit>\n  </memtune>\n  <memory>1024</memory>\n"
         "  <memoryBacking>\n    <nosharepages/>\n  </memoryBacking>\n" TAIL },
  /* no memory element at all: after <name> */
  { "after-name", HEAD TAIL,
    HEAD "  <memoryBacking>\n    <nosharepages/>\n  </memoryBacking>\n" TAIL },
  /* after <hugepages>, libvirt's order */
  { "after-hugepages",
    HEAD "  <memoryBacking>\n    <hugepages/>\n    <locked/>\n  </memoryBacking>\n" TAIL,
    HEAD "  <memoryBacking>\n    <hugepages/>\n    <nosharepages/>\n    <locked/>\n"
         "  </memoryBacking>\n" TAIL },
  /* first inside without <hugepages> */
  { "first-in-backing",
    HEAD "  <memoryBacking>\n    <source type=\"memfd\"/>\n  </memoryBacking>\n" TAIL,
    HEAD "  <memoryBacking>\n    <nosharepages/>\n    <source type=\"memfd\"/>\n"
         "  </memoryBacking>\n" TAIL },
  /* a <memoryBacking> holding only a comment: before the closing tag */
  { "backing-with-comment", HEAD "  <memoryBacking>\n    <!-- c -->\n  </memoryBacking>\n" TAIL,
    HEAD "  <memoryBacking>\n    <!-- c -->\n    <nosharepages/>\n  </memoryBacking>\n" TAIL },
  /* an empty <memoryBacking/> gets a line of its own inside */
  { "empty-backing", HEAD "  <memoryBacking/>\n" TAIL,
    HEAD "  <memoryBacking>\n    <nosharepages/>\n  </memoryBacking>\n" TAIL },
  /* the document's own indentation: tabs, four spaces */
  { "tabs", "<domain type=\"kvm\">\n\t<name>x</name>\n\t<memory>1</memory>\n</domain>\n",
    "<domain type=\"kvm\">\n\t<name>x</name>\n\t<memory>1</memory>\n"
    "\t<memoryBacking>\n\t\t<nosharepages/>\n\t</memoryBacking>\n</domain>\n" },
  { "four-spaces", "<domain type=\"kvm\">\n    <name>x</name>\n</domain>\n",
    "<domain type=\"kvm\">\n    <name>x</name>\n"
    "    <memoryBacking>\n        <nosharepages/>\n    </memoryBacking>\n</domain>\n" },
  /* no whitespace in, none out */
  { "one-line", "<domain type=\"kvm\"><name>x</name><memory>1</memory><vcpu>1</vcpu></domain>",
    "<domain type=\"kvm\"><name>x</name><memory>1</memory>"
    "<memoryBacking><nosharepages/></memoryBacking><vcpu>1</vcpu></domain>\n" },
};

static void
test_layout (gconstpointer data)
{
  const LayoutCase *c = data;
  g_autofree char *off = set_nosharepages (c->original, TRUE);
  g_autofree char *on = NULL;

  g_assert_cmpstr (off, ==, c->off);
  on = set_nosharepages (off, FALSE);
  if (g_str_equal (c->name, "empty-backing"))
    {
      /* documented: a <memoryBacking> left holding nothing goes */
      g_assert_cmpstr (on, ==, HEAD TAIL);
      return;
    }
  /* byte for byte: nothing was reformatted */
  if (g_str_equal (c->name, "one-line"))
    {
      g_autofree char *expected = g_strconcat (c->original, "\n", NULL);
      g_assert_cmpstr (on, ==, expected);
    }
  else
    g_assert_cmpstr (on, ==, c->original);
}

/* Removing keeps a <memoryBacking> that holds a comment (the comment
 * survives), and drops one left with whitespace only, with its line. */
static void
test_remove_keeps_comments (void)
{
  g_autofree char *with_comment = set_nosharepages (
      HEAD
      "  <memoryBacking>\n    <nosharepages/>\n    <!-- keep me -->\n  </memoryBacking>\n" TAIL,
      FALSE);
  g_autofree char *only = set_nosharepages (
      HEAD "  <memoryBacking>\n    <nosharepages/>\n  </memoryBacking>\n" TAIL, FALSE);
  /* a repeat (invalid, but libvirt's parser tolerates it): all go */
  g_autofree char *repeated =
      set_nosharepages (HEAD "  <memoryBacking>\n    <nosharepages/>\n    <nosharepages/>\n"
                             "    <locked/>\n  </memoryBacking>\n" TAIL,
                        FALSE);

  g_assert_cmpstr (with_comment, ==,
                   HEAD "  <memoryBacking>\n    <!-- keep me -->\n  </memoryBacking>\n" TAIL);
  g_assert_cmpstr (only, ==, HEAD TAIL);
  g_assert_cmpstr (repeated, ==,
                   HEAD "  <memoryBacking>\n    <locked/>\n  </memoryBacking>\n" TAIL);
}

/* Only /domain/memoryBacking counts: look-alikes in metadata (foreign
 * namespaces, a default namespace), comments and CDATA do not. */
static void
test_lookalikes (void)
{
  const char *xml =
      "<domain type='kvm'>\n"
      "  <name>x</name>\n"
      "  <description><![CDATA[<memoryBacking><nosharepages/></memoryBacking>]]></description>\n"
      "  <metadata>\n"
      "    <app:memoryBacking xmlns:app='urn:app'><app:nosharepages/></app:memoryBacking>\n"
      "    <memoryBacking xmlns='urn:inventory'><nosharepages/></memoryBacking>\n"
      "  </metadata>\n"
      "  <!-- <memoryBacking><nosharepages/></memoryBacking> -->\n"
      "  <devices><memoryBacking/></devices>\n"
      "</domain>\n";
  g_autofree char *off = NULL;
  g_autofree char *on = NULL;
  g_autofree char *original_c14n = c14n (xml);
  g_autofree char *on_c14n = NULL;

  /* merging is on: removing finds nothing */
  assert_noop (xml, FALSE);
  off = set_nosharepages (xml, TRUE);
  g_assert_nonnull (off);
  g_assert_cmpfloat (count_in (off, "/domain/memoryBacking/nosharepages"), ==, 1);
  /* the look-alikes are untouched */
  g_assert_cmpfloat (count_in (off, "//*[local-name()='nosharepages']"), ==, 3);
  g_assert_cmpfloat (count_in (off, "/domain/devices/memoryBacking/node()"), ==, 0);
  g_assert_nonnull (strstr (off, "<![CDATA[<memoryBacking><nosharepages/></memoryBacking>]]>"));
  on = set_nosharepages (off, FALSE);
  on_c14n = c14n (on);
  g_assert_cmpstr (on_c14n, ==, original_c14n);
}

/* Namespaces declared on the root (qemu:commandline) stay declared there
 * and in use; nothing is added to the new elements. */
static void
test_namespaces_kept (void)
{
  g_autofree char *original = sp_test_load_data ("editor", "qemu-commandline.xml", NULL);
  g_autofree char *off = set_nosharepages (original, TRUE);
  g_autoptr (xmlDoc) doc = parse (off);
  xmlNode *root = xmlDocGetRootElement (doc);

  g_assert_nonnull (root->nsDef);
  g_assert_cmpstr ((const char *) root->nsDef->prefix, ==, "qemu");
  g_assert_cmpstr ((const char *) root->nsDef->href, ==,
                   "http://libvirt.org/schemas/domain/qemu/1.0");
  g_assert_null (root->nsDef->next);
  g_assert_cmpfloat (xpath_count (doc, "/domain/*[local-name()='commandline']/*"), ==, 3);
  g_assert_nonnull (strstr (off, "<memoryBacking>\n    <nosharepages/>\n  </memoryBacking>"));
}

/* ---- bad input -------------------------------------------------------- */

static void
test_bad_input (void)
{
  const char *bad[] = {
    "",
    "not xml at all",
    "<domain type='kvm'><name>x</name>",                   /* truncated */
    "<domain type='kvm'><name>x</domain>",                 /* mismatched */
    "<domain type='kvm'/><domain type='kvm'/>",            /* two roots */
    "<network><name>default</name></network>",             /* not a domain */
    "<x:domain xmlns:x='urn:x'><name>a</name></x:domain>", /* namespaced */
    "<domain xmlns='http://libvirt.org/schemas/domain'><name>a</name></domain>",
    "<!DOCTYPE domain [<!ENTITY e 'x'>]><domain><name>&e;</name></domain>",
    "<!-- only a comment -->",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    for (int value = 0; value <= 1; value++)
      {
        g_autoptr (GError) error = NULL;
        char *out = (char *) 0x1;

        g_assert_false (sp_domain_editor_set_nosharepages (bad[i], value, &out, &error));
        g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
        g_assert_null (out);
        g_test_message ("%s → %s", bad[i], error->message);
      }
}

/* ---- free page reporting ---------------------------------------------- */

static char *
set_reporting (const char *xml, gboolean reporting)
{
  g_autoptr (GError) error = NULL;
  char *out = (char *) 0x1; /* must be reset */

  g_assert_true (sp_domain_editor_set_free_page_reporting (xml, "g", reporting, &out, &error));
  g_assert_no_error (error);
  return out;
}

/* The freePageReporting of the first memballoon, NULL when absent. */
static char *
reporting_of (const char *xml)
{
  g_autoptr (xmlDoc) doc = parse (xml);
  g_autoptr (xmlXPathContext) ctxt = xmlXPathNewContext (doc);
  g_autoptr (xmlXPathObject) obj =
      xmlXPathEvalExpression ((const xmlChar *) "string(/domain/devices/memballoon[1]/"
                                                "@freePageReporting)",
                              ctxt);

  g_assert_nonnull (obj);
  if (count_in (xml, "/domain/devices/memballoon[1]/@freePageReporting") == 0)
    return NULL;
  return g_strdup ((const char *) obj->stringval);
}

/* xml with the first memballoon's freePageReporting as value (NULL:
 * removed), canonical. */
static char *
c14n_with_reporting (const char *xml, const char *value)
{
  g_autoptr (xmlDoc) doc = parse (xml);
  g_autoptr (xmlXPathContext) ctxt = xmlXPathNewContext (doc);
  g_autoptr (xmlXPathObject) obj =
      xmlXPathEvalExpression ((const xmlChar *) "/domain/devices/memballoon[1]", ctxt);
  xmlNode *balloon;

  g_assert_nonnull (obj);
  g_assert_cmpint (obj->nodesetval->nodeNr, >=, 1);
  balloon = obj->nodesetval->nodeTab[0];
  if (value == NULL)
    xmlUnsetProp (balloon, (const xmlChar *) "freePageReporting");
  else
    xmlSetProp (balloon, (const xmlChar *) "freePageReporting", (const xmlChar *) value);
  return c14n_doc (doc);
}

static gboolean
has_virtio_balloon (const char *xml)
{
  return count_in (xml, "/domain/devices/memballoon[1][starts-with(@model, 'virtio')]") == 1;
}

/*
 * A virtio balloon: on and off each change the attribute and nothing else
 * (canonical XML with comments and whitespace), the value it has is a
 * no-op, and the results validate. Any other: refused, nothing returned.
 */
static void
test_corpus_reporting (gconstpointer data)
{
  const char *name = data;
  g_autofree char *original = sp_test_load_data ("editor", name, NULL);
  g_autofree char *was = reporting_of (original);
  g_autofree char *original_c14n = c14n (original);
  gboolean was_on = g_strcmp0 (was, "on") == 0;
  g_autofree char *flipped = NULL;
  g_autofree char *back = NULL;
  g_autofree char *flipped_c14n = NULL;
  g_autofree char *back_c14n = NULL;
  g_autofree char *flipped_value = NULL;
  g_autofree char *back_value = NULL;

  if (!has_virtio_balloon (original))
    {
      g_autoptr (GError) error = NULL;
      char *out = NULL;

      g_assert_false (
          sp_domain_editor_set_free_page_reporting (original, name, TRUE, &out, &error));
      g_assert_error (error, SP_ERROR, SP_ERROR_NOT_SUPPORTED);
      g_assert_null (out);
      g_assert_nonnull (strstr (error->message, name));
      return;
    }

  /* the value it has (absent is off): nothing to define */
  g_assert_null (set_reporting (original, was_on));

  flipped = set_reporting (original, !was_on);
  g_assert_nonnull (flipped);
  flipped_value = reporting_of (flipped);
  g_assert_cmpstr (flipped_value, ==, was_on ? "off" : "on");
  g_assert_null (set_reporting (flipped, !was_on));
  /* everything but the attribute as it was */
  flipped_c14n = c14n_with_reporting (flipped, was);
  g_assert_cmpstr (flipped_c14n, ==, original_c14n);

  back = set_reporting (flipped, was_on);
  g_assert_nonnull (back);
  back_value = reporting_of (back);
  g_assert_cmpstr (back_value, ==, was_on ? "on" : "off");
  back_c14n = c14n_with_reporting (back, was);
  g_assert_cmpstr (back_c14n, ==, original_c14n);
  g_assert_false (g_str_has_prefix (flipped, "<?xml "));

  g_assert_true (g_file_test (VIRT_XML_VALIDATE, G_FILE_TEST_IS_EXECUTABLE));
  assert_validates ("reporting flipped", flipped);
  assert_validates ("reporting back", back);
}

/* The bytes: the attribute after the others, then replaced where it stands. */
static void
test_reporting_bytes (void)
{
  const char *original = "<domain type=\"qemu\">\n"
                         "  <!-- kept -->\n"
                         "  <name>g</name>\n"
                         "  <devices>\n"
                         "    <memballoon model=\"virtio\" autodeflate=\"on\">\n"
                         "      <stats period=\"5\"/>\n"
                         "    </memballoon>\n"
                         "    <memballoon model=\"virtio\"/>\n"
                         "  </devices>\n"
                         "</domain>\n";
  g_autofree char *on = set_reporting (original, TRUE);
  g_autofree char *off = NULL;
  g_autoptr (GString) expected = g_string_new (original);

  g_string_replace (expected, "autodeflate=\"on\">", "autodeflate=\"on\" freePageReporting=\"on\">",
                    1);
  g_assert_cmpstr (on, ==, expected->str);
  off = set_reporting (on, FALSE);
  g_string_replace (expected, "freePageReporting=\"on\"", "freePageReporting=\"off\"", 1);
  g_assert_cmpstr (off, ==, expected->str);
}

static void
test_reporting_refused (void)
{
  const struct {
    const char *xml;
    const char *message;
  } refused[] = {
    { "<domain><name>g</name><devices/></domain>", "Domain g has no <memballoon> device" },
    { "<domain><name>g</name></domain>", "Domain g has no <memballoon> device" },
    { "<domain><devices><memballoon model='none'/></devices></domain>",
      "Domain g has <memballoon model='none'>" },
    { "<domain><devices><memballoon model='xen'/></devices></domain>",
      "Domain g has <memballoon model='xen'>" },
    /* libvirt reads the first */
    { "<domain><devices><memballoon model='none'/><memballoon model='virtio'/></devices>"
      "</domain>",
      "model='none'" },
    /* a look-alike elsewhere is no balloon */
    { "<domain><metadata><memballoon model='virtio'/></metadata></domain>", "no <memballoon>" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    for (int on = 0; on <= 1; on++)
      {
        g_autoptr (GError) error = NULL;
        char *out = NULL;

        g_assert_false (
            sp_domain_editor_set_free_page_reporting (refused[i].xml, "g", on, &out, &error));
        g_assert_error (error, SP_ERROR, SP_ERROR_NOT_SUPPORTED);
        g_assert_null (out);
        if (strstr (error->message, refused[i].message) == NULL)
          g_error ("'%s' lacks '%s'", error->message, refused[i].message);
      }
  /* not a domain: as for nosharepages */
  {
    g_autoptr (GError) error = NULL;
    char *out = NULL;

    g_assert_false (sp_domain_editor_set_free_page_reporting ("<pool/>", "g", TRUE, &out, &error));
    g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
  }
}

int
main (int argc, char **argv)
{
  g_autoptr (GPtrArray) names = NULL;

  g_test_init (&argc, &argv, NULL);
  names = corpus_names ();

  g_test_add_func ("/domain-editor/corpus-size", test_corpus_size);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *round_trip = g_strdup_printf ("/domain-editor/round-trip/%s", name);
      g_autofree char *validate = g_strdup_printf ("/domain-editor/validates/%s", name);

      g_test_add_data_func (round_trip, name, test_corpus_round_trip);
      g_test_add_data_func (validate, name, test_corpus_validates);
    }
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_autofree char *path = g_strdup_printf ("/domain-editor/reporting/%s", name);

      g_test_add_data_func (path, name, test_corpus_reporting);
    }
  g_test_add_func ("/domain-editor/reporting-bytes", test_reporting_bytes);
  g_test_add_func ("/domain-editor/reporting-refused", test_reporting_refused);
  for (gsize i = 0; i < G_N_ELEMENTS (layout_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/domain-editor/layout/%s", layout_cases[i].name);

      g_test_add_data_func (path, &layout_cases[i], test_layout);
    }
  g_test_add_func ("/domain-editor/remove-keeps-comments", test_remove_keeps_comments);
  g_test_add_func ("/domain-editor/lookalikes", test_lookalikes);
  g_test_add_func ("/domain-editor/namespaces-kept", test_namespaces_kept);
  g_test_add_func ("/domain-editor/bad-input", test_bad_input);
  return g_test_run ();
}
