/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QEMU process of a libvirt domain and its KSM facts: finding its pid
 * (libvirt's pid file, checked against the process's uid and command
 * line) and filling an SpDomainInfo from its
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
 * Finds the QEMU process of a domain from libvirt's own pid file,
 * <pid_dir>/<name>.pid, and nothing else (no scan of /proc: any local user
 * can start a process whose command line names a domain's UUID). The pid
 * file must be a regular file only root or samepaged's user can write; the
 * process it names must run as qemu_uid (all four ids of the Uid: line of
 * <procfs>/<pid>/status; -1: as the pid file's owner, which is libvirt's
 * user: root for qemu:///system, the user for qemu:///session) and its
 * command line must hold "-uuid" <uuid>. Returns 0 otherwise; pid_dir or
 * name NULL: 0.
 */
gint64 sp_qemu_proc_find_pid (const char *procfs_root, const char *pid_dir, const char *name,
                              const char *uuid, gint64 qemu_uid);

/* The uid pid runs as (the Uid: line of <procfs>/<pid>/status, its four
 * ids equal), else -1. */
gint64 sp_qemu_proc_get_uid (const char *procfs_root, gint64 pid);

/*
 * Where libvirt writes the pid files of QEMU processes for a connection to
 * uri, or NULL when samepaged must read no local /proc for it: a remote URI
 * (any host, or a transport other than unix, such as qemu+ssh://host/system
 * or qemu+tcp://otherhost/system), another driver (test:///...), or
 * qemu:///embed. qemu:///system and qemu+unix:///system (whatever its
 * ?socket=) give system_pid_dir; qemu:///session gives
 * $XDG_RUNTIME_DIR/libvirt/qemu/run (NULL without XDG_RUNTIME_DIR).
 */
char *sp_qemu_proc_pid_dir_for_uri (const char *uri, const char *system_pid_dir);

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
 * and sp_qemu_proc_follow_mergeable() do (a domain without a known pid is
 * left alone: the next refresh looks for it).
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
