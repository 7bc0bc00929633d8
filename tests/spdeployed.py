# SPDX-License-Identifier: GPL-2.0-or-later
"""A deployed Debian 12 host for samepage's deployed tests (TESTBED.md, "A
deployed host"): systemd as PID 1 in a systemd-nspawn container, Debian's
libvirt-daemon-system (QEMU runs as libvirt-qemu), and samepage installed
from its .deb, so samepaged runs under its own samepaged.service.

- ensure_deb(): the samepage .deb: $SP_DEB when set (.ci/run builds it
  once), else built here with dpkg-buildpackage from a copy of the source
  tree's files (git ls-files: tracked and untracked-not-ignored, so build
  directories never end up in it) and cached under CACHE_DIR/deb-<hash of
  those files>.
- ensure_root(): a Debian 12 root made with debootstrap, with
  libvirt-daemon-system, qemu-system-x86 and libvirt-clients installed,
  cached under CACHE_DIR/root-<hash of its package list and mirror>; built
  in a temporary directory renamed into place, so an interrupted build never
  leaves half a cache.
- Container: boots that root with --volatile=overlay (every change is thrown
  away at exit) and /sys/kernel/mm/ksm bound in (the host's real knobs:
  saved before boot and restored after poweroff, even on failure); run()
  runs a command inside with nsenter; stop() powers it off and kills what is
  left by PID.

"python3 tests/spdeployed.py build-deb" builds (or finds) the .deb and
prints its path; .ci/run exports it as SP_DEB.
"""
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sptest  # noqa: E402

CACHE_DIR = os.environ.get("SP_TESTBED_CACHE", "/var/cache/samepage-testbed")
SUITE = "bookworm"
# What the deployed root holds besides debootstrap's minbase. Changing either
# list (or the mirror) gives a new cache key.
ROOT_INCLUDE = ["systemd", "systemd-sysv", "dbus", "polkitd", "libpam-systemd"]
# man-db: systemd-analyze verify opens the Documentation= man pages, as on
# a standard Debian host
ROOT_PACKAGES = ["libvirt-daemon-system", "qemu-system-x86", "libvirt-clients", "man-db"]
# Bump when the way the root is prepared changes.
ROOT_RECIPE = "1"
NSPAWN = "/usr/bin/systemd-nspawn"


def log(msg):
    sys.stderr.write("# deployed: %s\n" % msg)
    sys.stderr.flush()


def _locked(name):
    """An exclusive lock file in CACHE_DIR (another run may be building)."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    lock = open(os.path.join(CACHE_DIR, name), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


# ---- the .deb -------------------------------------------------------------

def source_files(root=sptest.SOURCE_ROOT):
    """The source tree's files, relative: what git tracks plus untracked
    files git does not ignore (build directories are ignored)."""
    r = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
                        "--exclude-standard"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode == 0:
        names = [n for n in r.stdout.decode().split("\0") if n]
    else:  # not a git checkout (a tarball): everything but build trees
        names = []
        for d, dirs, files in os.walk(root):
            rel = os.path.relpath(d, root)
            dirs[:] = [x for x in dirs if not (rel == "." and (x.startswith("build")
                                                               or x == ".git"))]
            names += [os.path.normpath(os.path.join(rel, f)) for f in files]
    # a tracked file deleted in the work tree is not part of it
    return sorted(n for n in set(names) if os.path.isfile(os.path.join(root, n)))


def source_key(root=sptest.SOURCE_ROOT):
    h = hashlib.sha256()
    for name in source_files(root):
        path = os.path.join(root, name)
        h.update(name.encode() + b"\0%o\0" % (os.stat(path).st_mode & 0o111))
        with open(path, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def build_deb(outdir, root=sptest.SOURCE_ROOT):
    """dpkg-buildpackage -us -uc -b on a copy of the source tree's files;
    moves the .deb (and the build log) into outdir; returns the .deb's path."""
    work = tempfile.mkdtemp(prefix="sp-deb-")
    try:
        src = os.path.join(work, "samepage")
        for name in source_files(root):
            target = os.path.join(src, name)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(root, name), target)
        start = time.monotonic()
        log_path = os.path.join(work, "dpkg-buildpackage.log")
        with open(log_path, "w") as out:
            r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, stdout=out,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            with open(log_path) as f:
                raise RuntimeError("dpkg-buildpackage failed (%d):\n%s"
                                   % (r.returncode, f.read()[-4000:]))
        debs = [n for n in os.listdir(work) if re.fullmatch(r"samepage_.*_amd64\.deb", n)]
        if len(debs) != 1:
            raise RuntimeError("dpkg-buildpackage left %r in %s" % (os.listdir(work), work))
        os.makedirs(outdir, exist_ok=True)
        shutil.move(log_path, os.path.join(outdir, "dpkg-buildpackage.log"))
        final = os.path.join(outdir, debs[0])
        shutil.move(os.path.join(work, debs[0]), final)
        log("built %s in %.0f s" % (final, time.monotonic() - start))
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _find_deb(directory):
    try:
        debs = [n for n in os.listdir(directory) if re.fullmatch(r"samepage_.*_amd64\.deb", n)]
    except FileNotFoundError:
        return None
    return os.path.join(directory, debs[0]) if len(debs) == 1 else None


def ensure_deb():
    """$SP_DEB, else the .deb of this source tree, built once and cached."""
    given = os.environ.get("SP_DEB")
    if given:
        if not os.path.isfile(given):
            raise RuntimeError("SP_DEB=%s is not a file" % given)
        return given
    target = os.path.join(CACHE_DIR, "deb-" + source_key())
    found = _find_deb(target)
    if found:
        return found
    with _locked(".deb-lock"):
        found = _find_deb(target)
        if found:
            return found
        tmp = tempfile.mkdtemp(prefix=".deb-build-", dir=CACHE_DIR)
        try:
            build_deb(tmp)
            os.chmod(tmp, 0o755)
            os.rename(tmp, target)
            log("cached as %s" % target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        # debs of other source trees: keep the 3 newest
        old = sorted((os.path.join(CACHE_DIR, e) for e in os.listdir(CACHE_DIR)
                      if e.startswith("deb-")), key=os.path.getmtime)
        for d in old[:-3]:
            shutil.rmtree(d, ignore_errors=True)
        return _find_deb(target)


# ---- the deployed root ----------------------------------------------------

def host_mirror():
    """The first URIs of the host's deb822 Debian sources (TESTBED.md)."""
    path = "/etc/apt/sources.list.d/debian.sources"
    with open(path) as f:
        for line in f:
            m = re.match(r"URIs:\s*(\S+)", line)
            if m:
                return m.group(1)
    raise RuntimeError("no URIs: line in %s" % path)


def root_key(mirror):
    text = "\n".join([ROOT_RECIPE, SUITE, mirror, ",".join(ROOT_INCLUDE)] + ROOT_PACKAGES)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _build_root(target, mirror):
    work = tempfile.mkdtemp(prefix=".root-build-", dir=CACHE_DIR)
    try:
        os.chmod(work, 0o755)
        root = os.path.join(work, "root")
        start = time.monotonic()
        r = subprocess.run(["debootstrap", "--variant=minbase",
                            "--include=" + ",".join(ROOT_INCLUDE), SUITE, root, mirror],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("debootstrap failed (%d):\n%s" % (r.returncode, r.stdout[-4000:]))
        log("debootstrap %s in %.0f s" % (SUITE, time.monotonic() - start))
        os.makedirs(os.path.join(root, "etc/apt/sources.list.d"), exist_ok=True)
        shutil.copy("/etc/apt/sources.list.d/debian.sources",
                    os.path.join(root, "etc/apt/sources.list.d/debian.sources"))
        try:
            os.unlink(os.path.join(root, "etc/apt/sources.list"))
        except FileNotFoundError:
            pass
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
        start = time.monotonic()
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        # not booted (nspawn runs apt-get as its PID 1): the packages'
        # services are enabled, not started
        for cmd in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
                    + ROOT_PACKAGES,
                    ["apt-get", "clean"]):
            r = subprocess.run([NSPAWN, "-q", "-D", root, "--register=no", "--keep-unit",
                                "--setenv=DEBIAN_FRONTEND=noninteractive"] + cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise RuntimeError("%s in the root failed (%d):\n%s"
                                   % (" ".join(cmd), r.returncode, r.stdout[-4000:]))
        log("installed %s in %.0f s" % (" ".join(ROOT_PACKAGES), time.monotonic() - start))
        # the container's hostname, and no machine-id yet (systemd makes one)
        with open(os.path.join(root, "etc/hostname"), "w") as f:
            f.write("sp-deployed\n")
        with open(os.path.join(work, "packages"), "w") as f:
            f.write("\n".join(ROOT_INCLUDE + ROOT_PACKAGES) + "\n" + mirror + "\n")
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def ensure_root():
    """The cached Debian 12 root (built on first use); returns its path."""
    mirror = host_mirror()
    target = os.path.join(CACHE_DIR, "root-" + root_key(mirror))
    done = os.path.join(target, "packages")
    if os.path.exists(done):
        return os.path.join(target, "root")
    with _locked(".root-lock"):
        if not os.path.exists(done):
            start = time.monotonic()
            _build_root(target, mirror)
            log("built the deployed root %s in %.0f s" % (target, time.monotonic() - start))
            for e in os.listdir(CACHE_DIR):
                if e.startswith("root-") and os.path.join(CACHE_DIR, e) != target:
                    shutil.rmtree(os.path.join(CACHE_DIR, e), ignore_errors=True)
    return os.path.join(target, "root")


# ---- the container --------------------------------------------------------

_containers = weakref.WeakSet()  # what a SIGTERM must power off
_previous_handlers = {}


def _on_signal(signum, frame):
    """meson's timeout (SIGTERM) or Ctrl-C: power off every container
    (restoring the knobs), then whatever handler was there (sptestbed's
    stops its libvirtds), else exit."""
    log("signal %d: stopping every container started here" % signum)
    for container in list(_containers):
        try:
            container.stop()
        except Exception as e:  # keep stopping the others
            log("stopping %r failed: %s" % (container, e))
    previous = _previous_handlers.get(signum)
    if callable(previous):
        previous(signum, frame)
    os._exit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGINT):
    _previous_handlers[_sig] = signal.signal(_sig, _on_signal)

class Container:
    """The deployed root booted with systemd-nspawn (see the module doc).

    Commands run inside with run(); files go in with put()."""

    def __init__(self, root=None, boot_timeout=60.0):
        self.root = root or ensure_root()
        self.saved_knobs = sptest.save_real_knobs()
        self.dir = tempfile.mkdtemp(prefix="sp-deployed-")
        os.chmod(self.dir, 0o755)
        self.log_path = os.path.join(self.dir, "nspawn.log")
        self.log = open(self.log_path, "w")
        # /run/host-share inside: a directory to hand files in and out
        self.share = os.path.join(self.dir, "share")
        os.makedirs(self.share)
        os.chmod(self.share, 0o755)
        env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
        self.proc = None
        self.cpid = None
        _containers.add(self)
        start = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                ["setsid", NSPAWN, "-D", self.root, "--boot", "--register=no", "--keep-unit",
                 "--console=passive", "--volatile=overlay", "--bind=/sys/kernel/mm/ksm",
                 "--bind=%s:/run/host-share" % self.share, "--machine=sp-deployed"],
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            self.cpid = sptest.wait_for(self._find_systemd, 30, 0.1,
                                        "systemd inside the container")
            state = sptest.wait_for(self._booted, boot_timeout, 0.2, "the container to boot")
            self.boot_seconds = time.monotonic() - start
            log("container booted (%s) in %.1f s, systemd PID %d"
                % (state, self.boot_seconds, self.cpid))
        except BaseException:
            self.stop()
            raise

    def _find_systemd(self):
        if self.proc.poll() is not None:
            raise RuntimeError("systemd-nspawn exited with %d:\n%s"
                               % (self.proc.returncode, self.nspawn_log()))
        # setsid execs into nspawn, so its PID is ours; its systemd child
        r = subprocess.run(["pgrep", "-x", "systemd", "-P", str(self.proc.pid)],
                           stdout=subprocess.PIPE, universal_newlines=True)
        pids = r.stdout.split()
        return int(pids[0]) if pids else None

    def _booted(self):
        r = self.run(["systemctl", "is-system-running"], check=False, timeout=20)
        state = r.stdout.strip()
        if state in ("running", "degraded"):
            return state
        return None

    def nspawn_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def run(self, argv, check=True, timeout=120, input=None, user=None):
        """argv inside the container (as root, or as user via setpriv with
        the user's groups); returns the CompletedProcess (text)."""
        if user is not None:
            argv = ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups",
                    "--reset-env", "--"] + list(argv)
        r = subprocess.run(["nsenter", "-t", str(self.cpid), "-a"] + list(argv),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("in the container: %s exited with %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(argv), r.returncode, r.stdout[-3000:],
                                    r.stderr[-3000:]))
        return r

    def sh(self, script, **kw):
        return self.run(["sh", "-c", script], **kw)

    def put(self, source, target, mode=0o644):
        """Copies a host file to target inside (through the shared directory)."""
        name = "put-%d-%s" % (time.monotonic_ns(), os.path.basename(source))
        shutil.copy(source, os.path.join(self.share, name))
        os.chmod(os.path.join(self.share, name), mode)
        self.run(["install", "-D", "-m", "%o" % mode, "/run/host-share/" + name, target])
        os.unlink(os.path.join(self.share, name))

    def write(self, target, text, mode=0o644):
        """Writes text to target inside."""
        path = os.path.join(self.share, "write-%d" % time.monotonic_ns())
        with open(path, "w") as f:
            f.write(text)
        try:
            self.put(path, target, mode)
        finally:
            os.unlink(path)

    def host_pid(self, pid_inside):
        """The host's PID of a process the container sees as pid_inside."""
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/status" % entry) as f:
                    for line in f:
                        if line.startswith("NSpid:"):
                            pids = line.split()[1:]
                            if len(pids) >= 2 and int(pids[-1]) == pid_inside and \
                                    self._in_container(int(entry)):
                                return int(entry)
                            break
            except OSError:
                pass
        return None

    def _in_container(self, pid):
        try:
            return os.readlink("/proc/%d/ns/pid" % pid) == \
                os.readlink("/proc/%d/ns/pid" % self.cpid)
        except OSError:
            return False

    def stop(self):
        """systemctl poweroff inside, then SIGKILL nspawn by PID if it is
        still there; the host's KSM knobs are restored in any case."""
        _containers.discard(self)
        try:
            if self.proc is not None and self.proc.poll() is None:
                if self.cpid:
                    subprocess.run(["nsenter", "-t", str(self.cpid), "-a", "systemctl",
                                    "poweroff"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, timeout=20)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    log("container did not power off in 30 s: killing nspawn %d" % self.proc.pid)
                    os.kill(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            # QEMUs of the container run in its PID namespace: gone with it
        finally:
            if self.saved_knobs is not None:
                sptest.restore_real_knobs(self.saved_knobs)
                self.saved_knobs = None
            if not self.log.closed:
                self.log.close()
            if not os.environ.get("SP_TESTBED_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["build-deb"]:
        print(ensure_deb())
    elif sys.argv[1:] == ["build-root"]:
        print(ensure_root())
    else:
        sys.exit("usage: %s build-deb|build-root" % sys.argv[0])
