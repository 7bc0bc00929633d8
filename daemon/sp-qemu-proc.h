/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QEMU process of a libvirt domain and its KSM facts: finding its pid
 * (libvirt's pid file, checked against the command line, else a scan of
 * procfs for "-uuid <uuid>") and filling an SpDomainInfo from its
 * /proc/<pid>/ksm_stat (read by sp-procfs). File reads only, no libvirt.
 */
#pragma once

#include <gio/gio.h>

#include "sp-domain.h"

G_BEGIN_DECLS

/* The unmergeable reason of a guest whose QEMU says KSM cannot merge it
 * (ksm_mergeable: no, Linux 6.14+) while its XML has no reason. */
#define SP_QEMU_PROC_UNMERGEABLE_REASON "QEMU reports ksm_mergeable: no"

/*
 * Finds the QEMU process of a domain: first <pid_dir>/<name>.pid (libvirt's
 * /run/libvirt/qemu), checked against the process's command line, then a
 * scan of <procfs>/[0-9]* command lines for the argument pair "-uuid"
 * <uuid>. Returns 0 when none is found. pid_dir may be NULL. A pid file
 * naming another process is ignored; unreadable and vanished processes are
 * skipped; of several matches the lowest pid wins.
 */
gint64 sp_qemu_proc_find_pid (const char *procfs_root, const char *pid_dir, const char *name,
                              const char *uuid);

/*
 * Whether a /proc/<pid>/cmdline (len bytes, NUL-separated argv) holds an
 * element "-uuid" (or "--uuid", which QEMU accepts too) immediately followed
 * by an element equal to uuid, compared case-insensitively.
 */
gboolean sp_qemu_proc_cmdline_has_uuid (const char *cmdline, gsize len, const char *uuid);

/*
 * Sets info->pid and the ksm_* facts of info (named by info->name and
 * info->uuid) from its QEMU process: pid 0, no ksm_stat and
 * SP_KSM_MERGEABLE_UNKNOWN when there is none or it cannot be read.
 */
void sp_qemu_proc_read_facts (const char *procfs_root, const char *pid_dir, SpDomainInfo *info);

/*
 * Sets info->mergeable and info->unmergeable_reason from
 * info->ksm_mergeable (SP_QEMU_PROC_UNMERGEABLE_REASON when it is NO),
 * unless info holds a reason from its XML, which stays.
 */
void sp_qemu_proc_follow_mergeable (SpDomainInfo *info);

/*
 * Reads the facts of an active domain again, as sp_qemu_proc_read_facts()
 * and sp_qemu_proc_follow_mergeable() do, but cheaply: the known pid is
 * kept while its command line still names the domain's UUID (a domain
 * without a known pid is left alone: the next refresh looks for it).
 * Returns TRUE when a fact of info changed.
 */
gboolean sp_qemu_proc_update_facts (const char *procfs_root, const char *pid_dir,
                                    SpDomainInfo *info);

/*
 * sp_qemu_proc_update_facts() on a copy of every domain of guests: a new
 * SpGuests (finished; uri, connection state, status and refresh time
 * copied) when some fact changed, else NULL.
 */
SpGuests *sp_qemu_proc_update_guests (const SpGuests *guests, const char *procfs_root,
                                      const char *pid_dir);

G_END_DECLS
