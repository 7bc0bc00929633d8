/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The domain XML reader: memory sizes in every unit, every reason KSM cannot
 * merge a guest, and decoys that only a real XML parser ignores. */
#define G_LOG_DOMAIN "test-domain-xml"

#include <string.h>

#include "sp-domain-xml.h"
#include "sp-error.h"
#include "sp-test.h"

#define GIB_KIB (G_GUINT64_CONSTANT (1024) * 1024)

typedef struct {
  const char *file;
  const char *name;
  const char *uuid;
  guint64 memory_kib;
  guint64 current_memory_kib;
  gboolean nosharepages;
  gboolean hugepages;
  gboolean shared_access;
  const char *source_type;
  gboolean launch_security;
  const char *reason; /* NULL: mergeable, at least in part */
  guint64 unmergeable_kib;
  const char *unmergeable_part;
} FixtureCase;

/* Every fixture validates with `virt-xml-validate FILE domain`. */
static const FixtureCase fixture_cases[] = {
  /* what virt-install writes for a q35 guest; KiB everywhere */
  { "q35-plain.xml", "web01", "3f7c2a9e-5b1d-4c8e-9f0a-1d2e3f4a5b6c", 4 * GIB_KIB, 2 * GIB_KIB,
    FALSE, FALSE, FALSE, NULL, FALSE, NULL, 0, NULL },
  /* MiB units on both sizes */
  { "pc-currentmemory-mib.xml", "legacy-pc", "0b6d1f3e-2a4c-4e58-8f7a-9c0d1e2f3a4b", 2048 * 1024,
    1536 * 1024, FALSE, FALSE, FALSE, NULL, FALSE, NULL, 0, NULL },
  { "nosharepages.xml", "db-primary", "a1b2c3d4-e5f6-4711-8899-aabbccddeeff", 16 * GIB_KIB,
    16 * GIB_KIB, TRUE, FALSE, FALSE, NULL, FALSE, "nosharepages", 0, NULL },
  /* 1 GiB pages on a NUMA guest, sizes in GiB */
  { "hugepages.xml", "nfv-router", "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9", 8 * GIB_KIB, 8 * GIB_KIB,
    FALSE, TRUE, FALSE, NULL, FALSE, "hugepages", 8 * GIB_KIB, "hugepages (NUMA cell 0)" },
  /* virtiofs: memfd wins over the shared access it comes with */
  { "memfd-shared.xml", "virtiofs-guest", "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a", 4 * GIB_KIB,
    4 * GIB_KIB, FALSE, FALSE, TRUE, "memfd", FALSE, "memfd memory backing", 4 * GIB_KIB,
    "shared memory access (all 4.0 GiB of base memory)" },
  /* file source with private access; no <currentMemory>: it is <memory> */
  { "file-source.xml", "pmem-test", "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", GIB_KIB, GIB_KIB, FALSE,
    FALSE, FALSE, "file", FALSE, "file memory backing", 0, NULL },
  /* one NUMA cell with memAccess='shared': the other one stays mergeable */
  { "numa-shared-cell.xml", "numa-vhost", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", 3 * GIB_KIB,
    3 * GIB_KIB, FALSE, FALSE, FALSE, NULL, FALSE, NULL, 2 * GIB_KIB,
    "shared memory access (NUMA cell 0)" },
  /* <access mode='shared'/> overridden by every cell: nothing is shared */
  { "numa-private-cells.xml", "numa-private", "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e", 4 * GIB_KIB,
    4 * GIB_KIB, FALSE, FALSE, FALSE, NULL, FALSE, NULL, 0, NULL },
  /* no <memory>: the sum of the cells, MiB and default KiB */
  { "numa-no-memory.xml", "numa-sized", "6c5d4e3f-2a1b-4c0d-9e8f-7a6b5c4d3e2f", 512 * 1024 + 262144,
    512 * 1024 + 262144, FALSE, FALSE, FALSE, NULL, FALSE, NULL, 0, NULL },
  /* AMD SEV; <locked/> alone does not prevent merging */
  { "sev.xml", "confidential", "4d3c2b1a-0f9e-4d8c-b7a6-5f4e3d2c1b0a", 8 * GIB_KIB, 8 * GIB_KIB,
    FALSE, FALSE, FALSE, NULL, TRUE, "launch security (encrypted memory)", 0, NULL },
  /* OpenStack and application metadata with look-alike elements */
  { "metadata-foreign.xml", "tenant-42", "8f7e6d5c-4b3a-4291-8a7b-6c5d4e3f2a1b", GIB_KIB, 786432,
    FALSE, FALSE, FALSE, NULL, FALSE, NULL, 0, NULL },
  /* qemu:commandline namespace on the root; anonymous private memory */
  { "qemu-commandline.xml", "tcg-custom", "c0ffee00-1234-4abc-8def-0123456789ab", 262144, 262144,
    FALSE, FALSE, FALSE, "anonymous", FALSE, NULL, 0, NULL },
  /* commented-out and CDATA elements do not count; a comment inside <memory> */
  { "comments.xml", "commented", "e1d2c3b4-a596-4877-8695-a4b3c2d1e0f9", 2 * GIB_KIB, GIB_KIB,
    FALSE, FALSE, FALSE, NULL, FALSE, NULL, 0, NULL },
  /* GiB and bytes; the uuid as written (upper case) */
  { "units-gib-bytes.xml", "units-gib", "F00DBABE-0000-4000-8000-00000000CAFE", 8 * GIB_KIB,
    4 * GIB_KIB, FALSE, FALSE, FALSE, NULL, FALSE, NULL, 0, NULL },
  /* G is GiB; KB is 1000 bytes: 1000001000 B = 976563.48 KiB, rounded up */
  { "units-kb-g.xml", "units-kb", "12345678-9abc-4def-8123-456789abcdef", 2 * GIB_KIB, 976564,
    FALSE, FALSE, FALSE, NULL, FALSE, NULL, 0, NULL },
  /* every reason at once: nosharepages comes first */
  { "all-reasons.xml", "everything", "0a0b0c0d-0e0f-4a1b-8c1d-1e1f2a2b2c2d", 4 * GIB_KIB,
    4 * GIB_KIB, TRUE, TRUE, TRUE, "memfd", TRUE, "nosharepages", 4 * GIB_KIB,
    "hugepages (all 4.0 GiB of base memory)" },
  /* <page size='4' unit='KiB'/> is the base page size: ordinary memory */
  { "hugepages-base-size.xml", "small-pages", "3a4b5c6d-7e8f-4a9b-8c0d-1e2f3a4b5c6d", 2 * GIB_KIB,
    2 * GIB_KIB, FALSE, FALSE, FALSE, NULL, FALSE, NULL, 0, NULL },
  /* 2 MiB pages on one cell of two: the other 4 GiB stay mergeable */
  { "numa-hugepages-one-cell.xml", "numa-half-huge", "4b5c6d7e-8f9a-4b0c-9d1e-2f3a4b5c6d7e",
    6 * GIB_KIB, 6 * GIB_KIB, FALSE, FALSE, FALSE, NULL, FALSE, NULL, 2 * GIB_KIB,
    "hugepages (NUMA cell 1)" },
  /* every cell unmergeable, each for its own reason */
  { "numa-nothing-mergeable.xml", "numa-none", "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f", 4 * GIB_KIB,
    4 * GIB_KIB, FALSE, FALSE, FALSE, NULL, FALSE, "no mergeable memory", 4 * GIB_KIB,
    "hugepages (NUMA cell 0), shared memory access (NUMA cell 1)" },
  /* memory modules: a plain DIMM merges; huge pages, nvdimm and virtio-pmem do not */
  { "memory-modules.xml", "hotplug", "6d7e8f9a-0b1c-4d2e-9f3a-4b5c6d7e8f9a", 7 * GIB_KIB,
    7 * GIB_KIB, FALSE, FALSE, FALSE, NULL, FALSE, NULL, 4 * GIB_KIB,
    "hugepages (dimm module of 1.0 GiB), file-backed memory module (nvdimm module of 2.0 GiB), "
    "file-backed memory module (virtio-pmem module of 1.0 GiB)" },
};

static void
test_fixture (gconstpointer data)
{
  const FixtureCase *c = data;
  g_autofree char *xml = sp_test_load_data ("domains", c->file, NULL);
  g_auto (SpDomainXmlFacts) facts = { 0 };
  g_autoptr (GError) error = NULL;

  g_assert_true (sp_domain_xml_parse (xml, &facts, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (facts.name, ==, c->name);
  g_assert_cmpstr (facts.uuid, ==, c->uuid);
  g_assert_cmpuint (facts.memory_kib, ==, c->memory_kib);
  g_assert_cmpuint (facts.current_memory_kib, ==, c->current_memory_kib);
  g_assert_cmpint (facts.nosharepages, ==, c->nosharepages);
  g_assert_cmpint (facts.hugepages, ==, c->hugepages);
  g_assert_cmpint (facts.shared_access, ==, c->shared_access);
  g_assert_cmpstr (facts.source_type, ==, c->source_type);
  g_assert_cmpint (facts.launch_security, ==, c->launch_security);
  g_assert_cmpstr (sp_domain_xml_unmergeable_reason (&facts), ==, c->reason);
  g_assert_cmpuint (facts.unmergeable_kib, ==, c->unmergeable_kib);
  g_assert_cmpstr (facts.unmergeable_part, ==, c->unmergeable_part);
}

/* The precedence of reasons, one fact removed at a time. */
static void
test_reason_precedence (void)
{
  SpDomainXmlFacts facts = { 0 };

  g_assert_null (sp_domain_xml_unmergeable_reason (&facts));
  facts.shared_access = TRUE;
  g_assert_cmpstr (sp_domain_xml_unmergeable_reason (&facts), ==, "shared memory access");
  facts.source_type = (char *) "anonymous";
  g_assert_cmpstr (sp_domain_xml_unmergeable_reason (&facts), ==, "shared memory access");
  facts.source_type = (char *) "file";
  g_assert_cmpstr (sp_domain_xml_unmergeable_reason (&facts), ==, "file memory backing");
  facts.source_type = (char *) "memfd";
  g_assert_cmpstr (sp_domain_xml_unmergeable_reason (&facts), ==, "memfd memory backing");
  facts.launch_security = TRUE;
  g_assert_cmpstr (sp_domain_xml_unmergeable_reason (&facts), ==,
                   "launch security (encrypted memory)");
  facts.hugepages = TRUE;
  g_assert_cmpstr (sp_domain_xml_unmergeable_reason (&facts), ==, "hugepages");
  facts.nosharepages = TRUE;
  g_assert_cmpstr (sp_domain_xml_unmergeable_reason (&facts), ==, "nosharepages");

  /* anonymous memory alone is fine */
  memset (&facts, 0, sizeof (facts));
  facts.source_type = (char *) "anonymous";
  g_assert_null (sp_domain_xml_unmergeable_reason (&facts));
}

/* A second parse into the same facts replaces (and frees) the first. */
static void
test_reparse (void)
{
  g_autofree char *first = sp_test_load_data ("domains", "all-reasons.xml", NULL);
  g_autofree char *second = sp_test_load_data ("domains", "q35-plain.xml", NULL);
  g_auto (SpDomainXmlFacts) facts = { 0 };
  g_autoptr (GError) error = NULL;

  g_assert_true (sp_domain_xml_parse (first, &facts, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (facts.source_type, ==, "memfd");
  g_assert_true (sp_domain_xml_parse (second, &facts, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (facts.name, ==, "web01");
  g_assert_null (facts.source_type);
  g_assert_false (facts.nosharepages);
  g_assert_false (facts.launch_security);

  /* and a failed parse leaves it alone */
  g_assert_false (sp_domain_xml_parse ("<domain>", &facts, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
  g_assert_cmpstr (facts.name, ==, "web01");
  g_assert_cmpuint (facts.memory_kib, ==, 4 * GIB_KIB);

  sp_domain_xml_facts_clear (&facts);
  g_assert_null (facts.name);
  g_assert_null (facts.uuid);
  g_assert_cmpuint (facts.memory_kib, ==, 0);
}

/* The smallest domain libvirt could describe: everything absent. */
static void
test_minimal (void)
{
  g_auto (SpDomainXmlFacts) facts = { 0 };
  g_autoptr (GError) error = NULL;

  g_assert_true (
      sp_domain_xml_parse ("<domain type='qemu'><name>x</name></domain>", &facts, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (facts.name, ==, "x");
  g_assert_null (facts.uuid);
  g_assert_cmpuint (facts.memory_kib, ==, 0);
  g_assert_cmpuint (facts.current_memory_kib, ==, 0);
  g_assert_null (facts.source_type);
  g_assert_null (sp_domain_xml_unmergeable_reason (&facts));
}

static void
test_memory_units (void)
{
  const struct {
    const char *value;
    const char *unit;
    guint64 kib;
  } cases[] = {
    { "1024", NULL, 1024 },
    { "1024", "", 1024 },
    { "0", "GiB", 0 },
    { "2048", "b", 2 },
    { "2048", "bytes", 2 },
    { "2048", "byte", 2 },
    { "1", "bytes", 1 }, /* rounded up to whole KiB */
    { "1025", "B", 2 },
    { "1024", "KB", 1000 }, /* 1024000 bytes */
    { "1000", "kb", 977 },  /* 1000000 bytes = 976.56 KiB */
    { "7", "k", 7 },
    { "7", "KiB", 7 },
    { "7", "kib", 7 },
    { "3", "MB", 2930 }, /* 3000000 bytes = 2929.69 KiB */
    { "3", "M", 3072 },
    { "3", "MiB", 3072 },
    { "3", "GB", 2929688 }, /* 3e9 bytes = 2929687.5 KiB */
    { "3", "G", 3 * GIB_KIB },
    { "3", "GiB", 3 * GIB_KIB },
    { "2", "TB", G_GUINT64_CONSTANT (1953125000) },
    { "2", "T", 2 * GIB_KIB * 1024 },
    { "2", "TiB", 2 * GIB_KIB * 1024 },
    { "1", "PB", G_GUINT64_CONSTANT (976562500000) },
    { "1", "P", GIB_KIB * GIB_KIB },
    { "1", "PiB", GIB_KIB * GIB_KIB },
    { "1", "EB", G_GUINT64_CONSTANT (976562500000000) },
    { "7", "E", 7 * GIB_KIB * GIB_KIB * 1024 },
    { "7", "EiB", 7 * GIB_KIB * GIB_KIB * 1024 },
    { " 42\n", "KiB", 42 },
    /* the largest libvirt accepts: G_MAXINT64 bytes */
    { "9223372036854775807", "bytes", G_GUINT64_CONSTANT (9007199254740992) },
    { "9007199254740991", "KiB", G_GUINT64_CONSTANT (9007199254740991) },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      guint64 kib = 0;

      g_test_message ("%s %s", cases[i].value, cases[i].unit ? cases[i].unit : "(none)");
      g_assert_true (sp_domain_xml_memory_to_kib (cases[i].value, cases[i].unit, &kib, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (kib, ==, cases[i].kib);
    }
}

static void
test_memory_bad (void)
{
  const struct {
    const char *value;
    const char *unit;
    const char *message_part;
  } cases[] = {
    { "1", "XB", "unit “XB”" },
    { "1", "KiBi", "unit “KiBi”" },
    { "1", "iB", "unit “iB”" },
    { "1", "kbytes", "unit “kbytes”" },
    { "1", "Kb ", "unit “Kb ”" },
    { "1", "ZiB", "unit “ZiB”" },
    { "", "KiB", "“”" },
    { "  ", NULL, "“  ”" },
    { "-1", "KiB", "“-1”" },
    { "+1", "KiB", "“+1”" },
    { "1.5", "GiB", "“1.5”" },
    { "0x10", "KiB", "“0x10”" },
    { "12abc", "KiB", "“12abc”" },
    { "1 GiB", NULL, "“1 GiB”" },
    /* overflows: 64 bits, or past G_MAXINT64 bytes */
    { "18446744073709551616", "KiB", "“18446744073709551616”" },
    { "9223372036854775808", "bytes", "too large" },
    { "9007199254740992", "KiB", "too large" },
    { "9007199254740992", NULL, "9007199254740992 KiB is too large" },
    { "8", "EiB", "8 EiB is too large" },
    { "10", "EB", "too large" },
    { "18014398509481984", "GiB", "too large" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      guint64 kib = 12345;

      g_test_message ("%s %s", cases[i].value, cases[i].unit ? cases[i].unit : "(none)");
      g_assert_false (sp_domain_xml_memory_to_kib (cases[i].value, cases[i].unit, &kib, &error));
      g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
      g_test_message ("error: %s", error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message_part));
      g_assert_cmpuint (kib, ==, 12345);
    }
}

static void
test_bad_documents (void)
{
  const struct {
    const char *xml;
    const char *message_part;
  } cases[] = {
    { "", "not well-formed" },
    { "not xml at all", "not well-formed" },
    { "<domain type='kvm'><name>x</name>", "not well-formed (line 1)" },
    { "<domain>\n<memory unit='KiB'>1</memory>\n</domian>", "not well-formed (line 3)" },
    { "<domain><memory unit='KiB'>1</memory></domain><domain/>", "not well-formed" },
    { "<domain type='kvm'>&undefined;</domain>", "not well-formed" },
    { "<network><name>default</name></network>", "root element is <network>" },
    { "<?xml version='1.0'?><!-- x --><pool type='dir'/>", "root element is <pool>" },
    { "<d:domain xmlns:d='urn:example'><memory>1</memory></d:domain>",
      "root element is <domain> in namespace urn:example" },
    { "<domain xmlns='urn:example'><memory>1</memory></domain>",
      "root element is <domain> in namespace urn:example" },
    /* entity amplification is refused with any DOCTYPE */
    { "<!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;'>]>"
      "<domain><name>&b;</name></domain>",
      "DOCTYPE" },
    { "<!DOCTYPE domain SYSTEM 'http://example.org/domain.dtd'><domain/>", "DOCTYPE" },
    /* memory and currentMemory, and NUMA cells when there is no <memory> */
    { "<domain><memory unit='XB'>1</memory></domain>", "Invalid <memory> in domain XML: " },
    { "<domain><memory unit='XB'>1</memory></domain>", "unit “XB”" },
    { "<domain><memory>4 GiB</memory></domain>", "Invalid <memory>" },
    { "<domain><memory unit='KiB'></memory></domain>", "Invalid <memory>" },
    { "<domain><memory unit='KiB'>-4</memory></domain>", "“-4”" },
    { "<domain><memory unit='EiB'>16</memory></domain>", "too large" },
    { "<domain><memory unit='KiB'>99999999999999999999999</memory></domain>", "Invalid <memory>" },
    { "<domain><memory>1</memory><currentMemory unit='kB '>1</currentMemory></domain>",
      "Invalid <currentMemory>" },
    { "<domain><memory>1</memory><currentMemory unit='PiB'>9000</currentMemory></domain>",
      "too large" },
    { "<domain><cpu><numa><cell id='0' cpus='0' memory='1' unit='Q'/></numa></cpu></domain>",
      "NUMA" },
    { "<domain><cpu><numa><cell id='0' cpus='0' memory='4' unit='EiB'/>"
      "<cell id='1' cpus='1' memory='4' unit='EiB'/></numa></cpu></domain>",
      "too large" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto (SpDomainXmlFacts) facts = { 0 };
      g_autoptr (GError) error = NULL;

      g_test_message ("%s", cases[i].xml);
      g_assert_false (sp_domain_xml_parse (cases[i].xml, &facts, &error));
      g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
      g_test_message ("error: %s", error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message_part));
      g_assert_null (facts.name);
      g_assert_cmpuint (facts.memory_kib, ==, 0);
    }
}

static void
test_nodeset (void)
{
  const struct {
    const char *nodeset;
    const char *ids; /* NULL: refused */
  } cases[] = {
    { "0", "0" },        { "1-3", "1,2,3" }, { "0-3,^2", "0,1,3" }, { " 5 , 1-2,2", "1,2,5" },
    { "^1,0-2", "0,2" }, { "4095", "4095" }, { "", NULL },          { "1,,2", NULL },
    { "3-1", NULL },     { "^1-2", NULL },   { "a", NULL },         { "-1", NULL },
    { "+1", NULL },      { "4096", NULL },   { "1-", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GArray) ids = NULL;
      g_autoptr (GError) error = NULL;
      g_autoptr (GString) text = g_string_new (NULL);

      g_test_message ("nodeset '%s'", cases[i].nodeset);
      if (cases[i].ids == NULL)
        {
          g_assert_false (sp_domain_memory_parse_nodeset (cases[i].nodeset, &ids, &error));
          g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
          g_assert_nonnull (strstr (error->message, "Invalid nodeset"));
          g_assert_null (ids);
          continue;
        }
      g_assert_true (sp_domain_memory_parse_nodeset (cases[i].nodeset, &ids, &error));
      g_assert_no_error (error);
      for (guint j = 0; j < ids->len; j++)
        g_string_append_printf (text, "%s%u", j > 0 ? "," : "", g_array_index (ids, guint, j));
      g_assert_cmpstr (text->str, ==, cases[i].ids);
    }
}

/* Region sizes and page sizes that do not parse are errors, not guesses. */
static void
test_regions_bad (void)
{
  const char *const documents[] = {
    "<domain><memory>1024</memory><memoryBacking><hugepages><page size='2' unit='Q'/>"
    "</hugepages></memoryBacking></domain>",
    "<domain><memory>1024</memory><memoryBacking><hugepages><page/></hugepages>"
    "</memoryBacking></domain>",
    "<domain><memory>1024</memory><memoryBacking><hugepages><page size='2048' nodeset='x'/>"
    "</hugepages></memoryBacking></domain>",
    "<domain><memory>1024</memory><cpu><numa><cell id='one' memory='1024'/></numa></cpu>"
    "</domain>",
    "<domain><memory>1024</memory><devices><memory model='dimm'><target><size>lots</size>"
    "</target></memory></devices></domain>",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (documents); i++)
    {
      g_auto (SpDomainXmlFacts) facts = { 0 };
      g_autoptr (GError) error = NULL;

      g_assert_false (sp_domain_xml_parse (documents[i], &facts, &error));
      g_assert_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS);
      g_test_message ("%s", error->message);
      g_assert_null (facts.name);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (fixture_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/domain-xml/fixture/%s", fixture_cases[i].file);

      g_test_add_data_func (path, &fixture_cases[i], test_fixture);
    }
  g_test_add_func ("/domain-xml/reason-precedence", test_reason_precedence);
  g_test_add_func ("/domain-xml/reparse", test_reparse);
  g_test_add_func ("/domain-xml/minimal", test_minimal);
  g_test_add_func ("/domain-xml/memory-units", test_memory_units);
  g_test_add_func ("/domain-xml/memory-bad", test_memory_bad);
  g_test_add_func ("/domain-xml/bad-documents", test_bad_documents);
  g_test_add_func ("/domain-xml/nodeset", test_nodeset);
  g_test_add_func ("/domain-xml/regions-bad", test_regions_bad);

  return g_test_run ();
}
