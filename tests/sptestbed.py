# SPDX-License-Identifier: GPL-2.0-or-later
"""A real KVM-host test bed for samepage's system tests (see TESTBED notes).

- ensure_guest_assets(): a guest kernel (Debian's linux-image-*-amd64,
  downloaded, never installed) and a busybox initramfs whose /init loads the
  virtio balloon (unless the kernel is told to refuse it:
  define_guest(balloon_driver=False)), fills N MiB of identical pages
  (kernel parameter sp_fill=N) and prints READY_MARKER on the serial
  console. Built once and cached in
  CACHE_DIR/<ASSETS_VERSION>.
- PrivateLibvirtd: a libvirtd of its own, started without systemd in a
  private mount namespace, so its qemu.conf, domain definitions and state
  (/etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt) are
  directories of its state dir and nothing global is edited. It defines,
  starts and destroys tiny TCG guests and stops every one of them, by PID if
  need be, even when a test fails or the test process gets SIGTERM.
- namespaced(): a command line that runs a program (samepaged) in a private
  mount namespace with files bound over fixed paths, e.g. a fake
  /proc/meminfo, while /proc/<pid> stays the real one.

Python 3 standard library only; the rest are calls to apt-get, dpkg-deb,
libvirtd, virsh and unshare, all in .ci/deps' packages.
"""
import fcntl
import gzip
import lzma
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid as uuidlib
import weakref

import sptest

# Bump when the kernel choice, the module list or /init change.
ASSETS_VERSION = "4"
CACHE_DIR = os.environ.get("SP_TESTBED_CACHE", "/var/cache/samepage-testbed")
READY_MARKER = "SAMEPAGE-TESTBED-READY"
KERNEL_META_PACKAGE = "linux-image-amd64"
GUEST_MODULES = ["virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
                 "virtio_pci", "virtio_balloon"]
BUSYBOX = "/bin/busybox"
QEMU = "/usr/bin/qemu-system-x86_64"
LIBVIRTD = "/usr/sbin/libvirtd"
VIRSH = "/usr/bin/virsh"
# A guest kernel parameter: the kernel refuses to load the module (insmod
# fails with EPERM), so /init goes on without the balloon driver.
NO_BALLOON_CMDLINE = "module_blacklist=virtio_balloon"

# The guest's /init. Prints its progress on the serial console; the pattern
# lines are 16 bytes, so every 4 KiB page of the fill file is identical.
# With sp_fill_random=1 on the kernel command line the fill comes from
# /dev/urandom instead: no two pages alike, nothing for KSM to merge.
INIT_SCRIPT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /fill
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for m in %(modules)s; do
  insmod /lib/modules/$m.ko || echo "samepage-testbed: cannot load $m"
done
fill=0
random=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    sp_fill=*) fill=${arg#sp_fill=} ;;
    sp_fill_random=*) random=${arg#sp_fill_random=} ;;
  esac
done
echo "samepage-testbed: modules loaded at $(cut -d' ' -f1 /proc/uptime) s"
if [ "$fill" -gt 0 ] && [ "$random" = 1 ]; then
  mount -t tmpfs -o size=$((fill + 1))m tmpfs /fill
  dd if=/dev/urandom of=/fill/pattern bs=1048576 count=$fill 2>/dev/null
elif [ "$fill" -gt 0 ]; then
  # one 64 KiB block, then whole MiBs of it: few system calls under TCG
  yes AAAAAAAAAAAAAAA | head -c 65536 > /tmp/block
  cat /tmp/block /tmp/block /tmp/block /tmp/block > /tmp/quarter
  cat /tmp/quarter /tmp/quarter /tmp/quarter /tmp/quarter > /tmp/mib
  rm /tmp/block /tmp/quarter
  mount -t tmpfs -o size=$((fill + 1))m tmpfs /fill
  i=0
  while [ $i -lt $fill ]; do cat /tmp/mib; i=$((i + 1)); done > /fill/pattern
  rm /tmp/mib
fi
balloon=no
[ -e /sys/bus/virtio/drivers/virtio_balloon ] && balloon=yes
echo "%(marker)s fill=${fill}MiB balloon=${balloon} uptime=$(cut -d' ' -f1 /proc/uptime)s random=${random}"
while :; do sleep 3600; done
""" % {"modules": " ".join(GUEST_MODULES), "marker": READY_MARKER}


def log(msg):
    """Test bed progress on stderr (meson keeps it in the test log)."""
    sys.stderr.write("# testbed: %s\n" % msg)
    sys.stderr.flush()


# ---- guest assets ---------------------------------------------------------

class GuestAssets:
    def __init__(self, directory):
        self.dir = directory
        self.kernel = os.path.join(directory, "vmlinuz")
        self.initrd = os.path.join(directory, "initrd.img")
        with open(os.path.join(directory, "kernel-package")) as f:
            self.kernel_package = f.read().strip()


def _cpio_newc(entries):
    """An uncompressed initramfs (cpio "newc"): (name, mode, data, rdev)."""
    out = bytearray()

    def pad():
        out.extend(b"\0" * (-len(out) % 4))

    entries = list(entries) + [("TRAILER!!!", 0, b"", (0, 0))]
    for ino, (name, mode, data, rdev) in enumerate(entries, 1):
        name_bytes = name.encode() + b"\0"
        nlink = 2 if (mode & 0o170000) == 0o040000 else 1
        fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name_bytes), 0)
        out.extend(b"070701" + "".join("%08X" % v for v in fields).encode())
        out.extend(name_bytes)
        pad()
        out.extend(data)
        pad()
    return bytes(out)


def _is_static_elf(path):
    """True if the ELF file has no PT_INTERP program header."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))


def _decompress_module(name, data):
    if name.endswith(".ko"):
        return data
    if name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if name.endswith(".ko.zst"):
        return subprocess.run(["zstd", "-dc"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    raise RuntimeError("unknown module compression: %s" % name)


def _kernel_package():
    """The linux-image-<abi>-amd64 package linux-image-amd64 depends on."""
    out = subprocess.run(["apt-cache", "depends", KERNEL_META_PACKAGE], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True).stdout
    m = re.search(r"Depends:\s*(linux-image-\S+-amd64)\b", out)
    if not m:
        raise RuntimeError("cannot tell which kernel %s depends on:\n%s"
                           % (KERNEL_META_PACKAGE, out))
    return m.group(1)


def _download(package, directory):
    cmd = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", package]
    r = subprocess.run(cmd, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if r.returncode != 0:
        # stale package lists on a fresh machine: refresh once
        log("apt-get download failed, running apt-get update: %s" % r.stdout.strip()[-300:])
        subprocess.run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL, check=True)
        package = _kernel_package()
        subprocess.run(cmd[:-1] + [package], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL)
    debs = [n for n in os.listdir(directory) if n.endswith(".deb")]
    if len(debs) != 1:
        raise RuntimeError("apt-get download %s left %r" % (package, debs))
    return os.path.join(directory, debs[0]), package


def _extract_kernel(deb):
    """vmlinuz bytes and {module: bytes} (decompressed) from the .deb."""
    vmlinuz = None
    modules = {}
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            name = member.name
            base = os.path.basename(name)
            if re.fullmatch(r"\./boot/vmlinuz-.*|boot/vmlinuz-.*", name):
                vmlinuz = tar.extractfile(member).read()
                continue
            m = re.fullmatch(r"(.*)\.ko(\.xz|\.gz|\.zst)?", base)
            if m and m.group(1) in GUEST_MODULES and "/kernel/drivers/" in name:
                modules[m.group(1)] = _decompress_module(base, tar.extractfile(member).read())
    proc.stdout.close()
    if proc.wait() != 0:
        raise RuntimeError("dpkg-deb --fsys-tarfile %s failed" % deb)
    missing = [m for m in GUEST_MODULES if m not in modules]
    if vmlinuz is None or missing:
        raise RuntimeError("%s lacks %s" % (deb, "vmlinuz" if vmlinuz is None else missing))
    return vmlinuz, modules


def _build_assets(target):
    if not os.path.exists(BUSYBOX) or not _is_static_elf(BUSYBOX):
        raise RuntimeError("%s is missing or not static: install busybox-static" % BUSYBOX)
    work = tempfile.mkdtemp(prefix=".build-", dir=CACHE_DIR)
    try:
        os.chmod(work, 0o755)
        deb, package = _download(_kernel_package(), work)
        vmlinuz, modules = _extract_kernel(deb)
        os.unlink(deb)
        with open(BUSYBOX, "rb") as f:
            busybox = f.read()
        entries = [(d, 0o040755, b"", (0, 0))
                   for d in ("bin", "dev", "lib", "lib/modules", "proc", "sys", "tmp", "fill")]
        entries.append(("dev/console", 0o020600, b"", (5, 1)))
        entries.append(("bin/busybox", 0o100755, busybox, (0, 0)))
        entries.append(("init", 0o100755, INIT_SCRIPT.encode(), (0, 0)))
        for name in GUEST_MODULES:
            entries.append(("lib/modules/%s.ko" % name, 0o100644, modules[name], (0, 0)))
        with open(os.path.join(work, "initrd.img"), "wb") as f:
            f.write(_cpio_newc(entries))
        with open(os.path.join(work, "vmlinuz"), "wb") as f:
            f.write(vmlinuz)
        with open(os.path.join(work, "kernel-package"), "w") as f:
            f.write(package + "\n")
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def ensure_guest_assets():
    """The guest kernel and initramfs, built on first use and cached."""
    target = os.path.join(CACHE_DIR, ASSETS_VERSION)
    if os.path.exists(os.path.join(target, "kernel-package")):
        return GuestAssets(target)
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(os.path.join(CACHE_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be building
        if not os.path.exists(os.path.join(target, "kernel-package")):
            start = time.monotonic()
            _build_assets(target)
            log("built guest assets in %s in %.1f s" % (target, time.monotonic() - start))
            # assets of older versions (only they have numbers for names)
            for entry in os.listdir(CACHE_DIR):
                if entry.isdigit() and entry != ASSETS_VERSION:
                    shutil.rmtree(os.path.join(CACHE_DIR, entry), ignore_errors=True)
    return GuestAssets(target)


# ---- private mount namespaces --------------------------------------------

def namespaced(argv, binds):
    """argv run in a private mount namespace with binds [(source, target)].

    unshare and sh exec into the program, so its PID is the one Popen sees,
    and the mounts vanish with the process."""
    script = "set -e\n"
    for i in range(len(binds)):
        script += 'mount --bind "${%d}" "${%d}"\n' % (2 * i + 1, 2 * i + 2)
    script += 'shift %d\nexec "$@"\n' % (2 * len(binds))
    flat = [p for pair in binds for p in pair]
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
            "sh"] + flat + list(argv)


class NamespacedDaemon(sptest.Daemon):
    """sptest.Daemon whose samepaged runs under namespaced() binds."""

    def __init__(self, args, binds, env=None, log_dir=None):
        super().__init__(args, env=env, log_dir=log_dir, prefix=namespaced([], binds))
        _live.add(self)

    def kill_now(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()


# ---- a private libvirtd ---------------------------------------------------

QEMU_CONF = """# samepage test bed: no systemd, no virtlogd, no cgroups, no namespaces
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""

LIBVIRTD_CONF = """unix_sock_dir = "{run}"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
listen_tls = 0
listen_tcp = 0
log_outputs = "3:file:{log}"
"""

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>{memory}</memory>
  <currentMemory unit='MiB'>{memory}</currentMemory>{backing}
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet sp_fill={fill}{cmdline}</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{qemu}</emulator>
    <serial type='file'>
      <source path='{serial}'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='virtio'>
      <stats period='2'/>
    </memballoon>
  </devices>
</domain>
"""

# The global directories libvirtd's QEMU driver uses, each replaced in its
# mount namespace by a directory of the state dir (cache: a shared one, so
# QEMU's capabilities are probed once per machine, not per run).
PRIVATE_DIRS = [("etc", "/etc/libvirt"), ("run-libvirt", "/run/libvirt"),
                ("lib", "/var/lib/libvirt"), ("log", "/var/log/libvirt")]
SHARED_CACHE = ("libvirt-cache", "/var/cache/libvirt")

_live = weakref.WeakSet()  # what a SIGTERM must clean up


def _cleanup_all():
    for obj in list(_live):
        try:
            if isinstance(obj, PrivateLibvirtd):
                obj.stop()
            else:
                obj.kill_now()
        except Exception as e:  # keep cleaning the others
            log("cleanup of %r failed: %s" % (obj, e))


def _on_sigterm(signum, frame):
    log("signal %d: stopping every libvirtd, guest and daemon started here" % signum)
    _cleanup_all()
    os._exit(128 + signum)


signal.signal(signal.SIGTERM, _on_sigterm)
signal.signal(signal.SIGINT, _on_sigterm)


def _pids_with_uuid(uuid):
    """Processes whose command line has -uuid <uuid> (our QEMUs)."""
    needle = b"\0-uuid\0" + uuid.encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                if needle in b"\0" + f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


class PrivateLibvirtd:
    """libvirtd of the test's own, with its guests; stop() ends everything."""

    def __init__(self, assets=None, keep_state=False):
        self.assets = assets or ensure_guest_assets()
        # short: <state>/run/libvirt-sock must stay under 108 bytes
        self.state = tempfile.mkdtemp(prefix="sptb-", dir="/tmp")
        os.chmod(self.state, 0o755)
        self.keep_state = keep_state or bool(os.environ.get("SP_TESTBED_KEEP"))
        self.run_dir = os.path.join(self.state, "run")
        self.conf = os.path.join(self.state, "libvirtd.conf")
        self.pidfile = os.path.join(self.state, "libvirtd.pid")
        self.log_path = os.path.join(self.state, "libvirtd.log")
        self.proc = None
        self.out = None
        self.guests = {}  # name -> uuid
        self.start_seconds = []  # until virsh version answered, per start
        for sub, _ in PRIVATE_DIRS:
            os.makedirs(os.path.join(self.state, sub))
        os.makedirs(self.run_dir)
        os.makedirs(os.path.join(CACHE_DIR, SHARED_CACHE[0]), exist_ok=True)
        with open(os.path.join(self.state, "etc", "qemu.conf"), "w") as f:
            f.write(QEMU_CONF)
        with open(self.conf, "w") as f:
            f.write(LIBVIRTD_CONF.format(run=self.run_dir, log=self.log_path))
        _live.add(self)

    def __repr__(self):
        return "PrivateLibvirtd(%s)" % self.state

    @property
    def uri(self):
        return "qemu+unix:///system?socket=%s/libvirt-sock" % self.run_dir

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # -- the daemon --

    @staticmethod
    def ensure_qemu_user():
        """libvirt looks up libvirt-qemu before it reads qemu.conf."""
        if subprocess.run(["getent", "passwd", "libvirt-qemu"],
                          stdout=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/var/lib/libvirt", "--shell", "/usr/sbin/nologin", "--user-group",
                            "libvirt-qemu"], check=True)

    def start_daemon(self, timeout=30.0):
        """Starts libvirtd and waits until its QEMU driver answers."""
        assert self.proc is None or self.proc.poll() is not None, "libvirtd runs already"
        self.ensure_qemu_user()
        binds = []
        for sub, target in PRIVATE_DIRS + [SHARED_CACHE]:
            # the mount points; libvirtd would create them itself
            os.makedirs(target, exist_ok=True)
            source = os.path.join(CACHE_DIR if (sub, target) == SHARED_CACHE else self.state, sub)
            binds.append((source, target))
        if self.out:
            self.out.close()
        self.out = open(os.path.join(self.state, "libvirtd.out"), "a")
        began = time.monotonic()
        self.proc = subprocess.Popen(namespaced([LIBVIRTD, "-f", self.conf, "-p", self.pidfile],
                                                binds),
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = began + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("libvirtd exited with %d:\n%s" % (self.proc.returncode,
                                                                    self.tail()))
            r = subprocess.run([VIRSH, "-c", self.uri, "version"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=max(1, deadline -
                                                                      time.monotonic()))
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("libvirtd did not answer at %s within %.0f s:\n%s"
                                   % (self.uri, timeout, self.tail()))
            time.sleep(0.1)
        self.start_seconds.append(time.monotonic() - began)
        log("libvirtd %d answers at %s after %.2f s" % (self.pid, self.uri,
                                                          self.start_seconds[-1]))
        return self

    def tail(self, n=3000):
        text = ""
        for path in (os.path.join(self.state, "libvirtd.out"), self.log_path):
            try:
                with open(path) as f:
                    text += "== %s\n%s\n" % (path, f.read()[-n:])
            except OSError:
                pass
        return text

    def _end(self, sig, timeout):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill(self):
        """SIGKILL, as a crash: the guests keep running."""
        self._end(signal.SIGKILL, 10)

    def terminate(self):
        """SIGTERM (then SIGKILL): the guests keep running."""
        self._end(signal.SIGTERM, 15)

    def restart(self, timeout=30.0):
        self.terminate()
        self.thaw()
        return self.start_daemon(timeout)

    def freeze(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def destroy_running(self, start=True):
        """Destroys every running guest (between two tests): libvirtd thawed
        first, and started again if it is not running (a test killed it),
        unless start is False (then nothing is destroyed without it)."""
        self.thaw()
        if not self.running() and start:
            self.start_daemon()
        if self.running():
            for name in self.virsh("list", "--name").split():
                self.virsh("destroy", name, check=False)

    def stop(self):
        """Destroys and undefines every guest, then stops libvirtd by PID;
        QEMUs left behind (libvirtd dead or hung) are killed by PID."""
        _live.discard(self)
        self.thaw()
        if self.running():
            for name in list(self.guests):
                for args in (["destroy", name], ["undefine", name]):
                    try:
                        subprocess.run([VIRSH, "-c", self.uri] + args, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, timeout=20)
                    except subprocess.TimeoutExpired:
                        break
        self.terminate()
        for name, uuid in self.guests.items():
            for pid in _pids_with_uuid(uuid):
                log("killing QEMU %d of %s left behind" % (pid, name))
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.out:
            self.out.close()
            self.out = None
        if not self.keep_state:
            shutil.rmtree(self.state, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start_daemon()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    def __del__(self):
        if getattr(self, "proc", None) is not None and self.proc.poll() is None:
            self.stop()

    # -- guests --

    def virsh(self, *args, timeout=60, check=True):
        """virsh on this libvirtd. A connection refused while libvirtd runs
        (seen once in CI, right after a SIGSTOP/SIGCONT of libvirtd) is
        retried for up to 10 s and logged: the tests are about samepaged,
        and virsh is only their way of looking."""
        deadline = time.monotonic() + 10
        while True:
            r = subprocess.run([VIRSH, "-c", self.uri] + list(args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
            if (r.returncode == 0 or "failed to connect to the hypervisor" not in r.stderr
                    or not self.running() or time.monotonic() > deadline):
                break
            log("virsh %s: %s (libvirtd %d runs): again" % (" ".join(args), r.stderr.strip(),
                                                             self.pid))
            time.sleep(0.5)
        if check and r.returncode != 0:
            raise RuntimeError("virsh %s failed (%d): %s\n%s"
                               % (" ".join(args), r.returncode, r.stderr.strip(), self.tail()))
        return r.stdout

    def serial_path(self, name):
        return os.path.join(self.state, "serial-%s.log" % name)

    def define_guest(self, name, memory_mib=256, fill_mib=128, nosharepages=False,
                     balloon_driver=True, random_fill=False):
        """Defines (does not start) a TCG guest; returns its UUID.

        balloon_driver=False: the guest kernel refuses to load virtio_balloon
        (module_blacklist= on its command line, the same assets serve), so
        the guest sends no statistics and never moves its balloon, while the
        domain keeps <memballoon model='virtio'><stats period='2'/>; its
        ready line says balloon=no. random_fill=True: the fill is random
        pages (sp_fill_random=1), which KSM cannot merge."""
        uuid = str(uuidlib.uuid4())
        xml = DOMAIN_XML.format(
            name=name, uuid=uuid, memory=memory_mib, fill=fill_mib, qemu=QEMU,
            cmdline=("" if balloon_driver else " " + NO_BALLOON_CMDLINE)
            + (" sp_fill_random=1" if random_fill else ""),
            kernel=self.assets.kernel, initrd=self.assets.initrd, serial=self.serial_path(name),
            backing="\n  <memoryBacking><nosharepages/></memoryBacking>" if nosharepages else "")
        path = os.path.join(self.state, "%s.xml" % name)
        with open(path, "w") as f:
            f.write(xml)
        self.guests[name] = uuid
        self.virsh("define", path)
        return uuid

    def start(self, name):
        self.virsh("start", name)

    def destroy(self, name):
        self.virsh("destroy", name)

    def serial(self, name):
        try:
            with open(self.serial_path(name), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_ready(self, name, timeout=90.0):
        """Waits for /init's marker on the serial console; returns its line."""
        def ready():
            m = re.search(re.escape(READY_MARKER) + r".*", self.serial(name))
            return m.group(0) if m else None
        try:
            return sptest.wait_for(ready, timeout, 0.2, "%s to boot" % name)
        except AssertionError:
            raise AssertionError("%s did not print %s within %.0f s; serial console:\n%s"
                                 % (name, READY_MARKER, timeout, self.serial(name)[-3000:]))

    def qemu_pid(self, name):
        """The PID of the guest's QEMU, from libvirt's pid file, else None."""
        path = os.path.join(self.state, "run-libvirt", "qemu", "%s.pid" % name)
        try:
            with open(path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def pid_dir(self):
        """What libvirtd sees as /run/libvirt, for namespaced() binds."""
        return os.path.join(self.state, "run-libvirt")
