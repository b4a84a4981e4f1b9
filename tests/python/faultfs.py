"""A passthrough FUSE filesystem whose writes fail with EIO on demand: a failing data disk for
tests/python/test_disk_faults.py.

    python faultfs.py BACKING_DIR MOUNTPOINT CONTROL_FILE

Every operation is passed to BACKING_DIR. While CONTROL_FILE exists (it lives outside the
mount), every call that would change the disk (write, fsync, create, mkdir, rename, unlink,
truncate, fallocate) fails with EIO, as a dying disk's writes do; reads keep working. When the
file says `fsync`, only fsync fails: the writes land in the page cache and are lost, the case
of "fsyncgate" (a failed fsync means the data since the last good one may be gone). Remove the
file and the disk heals. Runs in the foreground until unmounted (`umount -l MOUNTPOINT`).

Writes are not cached by the kernel (FUSE without writeback caching sends each write and each
fsync here), so a failed write or fsync is seen by the program that made it. The mount needs
root and /dev/fuse (CI runs as root); libfuse 3 comes from Debian's `fuse3` package.
"""

from __future__ import annotations

import errno
import os
import sys
import threading

import mfusepy as fuse


class FaultFs(fuse.Operations):
    use_ns = True

    def __init__(self, root: str, control: str) -> None:
        self.root = os.path.realpath(root)
        # libfuse changes directory to / when it starts: keep the path absolute.
        self.control = os.path.abspath(control)
        self._mutex = threading.Lock()
        self.failed = 0

    # -- helpers --------------------------------------------------------------------------

    def _path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _maybe_fail(self, what: str) -> None:
        try:
            with open(self.control) as f:
                mode = f.read().strip() or "all"
        except FileNotFoundError:
            return
        if mode == "fsync" and what not in ("fsync", "fsyncdir"):
            return
        with self._mutex:
            self.failed += 1
            print(f"faultfs: EIO #{self.failed} ({what})", file=sys.stderr, flush=True)
        raise fuse.FuseOSError(errno.EIO)

    # -- metadata -------------------------------------------------------------------------

    def access(self, path, amode):
        if not os.access(self._path(path), amode):
            raise fuse.FuseOSError(errno.EACCES)
        return 0

    def getattr(self, path, fh=None):
        st = os.lstat(self._path(path)) if fh is None else os.fstat(fh)
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino", "st_dev")
        attrs = {k: getattr(st, k) for k in keys}
        for k in ("st_atime", "st_mtime", "st_ctime"):
            attrs[k] = getattr(st, k + "_ns")
        return attrs

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._path(path))

    def readlink(self, path):
        return os.readlink(self._path(path))

    def statfs(self, path):
        sv = os.statvfs(self._path(path))
        keys = (
            "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files",
            "f_flag", "f_frsize", "f_namemax",
        )
        return {k: getattr(sv, k) for k in keys}

    def chmod(self, path, mode):
        self._maybe_fail("chmod")
        os.chmod(self._path(path), mode)
        return 0

    def chown(self, path, uid, gid):
        self._maybe_fail("chown")
        os.chown(self._path(path), uid, gid)
        return 0

    def utimens(self, path, times=None):
        self._maybe_fail("utimens")
        if times is None:
            os.utime(self._path(path))
        else:
            os.utime(self._path(path), ns=(int(times[0]), int(times[1])))
        return 0

    # -- namespace changes ----------------------------------------------------------------

    def mkdir(self, path, mode):
        self._maybe_fail("mkdir")
        os.mkdir(self._path(path), mode)
        return 0

    def rmdir(self, path):
        self._maybe_fail("rmdir")
        os.rmdir(self._path(path))
        return 0

    def unlink(self, path):
        self._maybe_fail("unlink")
        os.unlink(self._path(path))
        return 0

    def rename(self, old, new):
        self._maybe_fail("rename")
        os.rename(self._path(old), self._path(new))
        return 0

    def link(self, target, source):
        self._maybe_fail("link")
        os.link(self._path(source), self._path(target))
        return 0

    def symlink(self, target, source):
        self._maybe_fail("symlink")
        os.symlink(source, self._path(target))
        return 0

    # -- files ----------------------------------------------------------------------------

    def open(self, path, flags):
        # Opening for writing still works on a dying disk; the writes fail.
        return os.open(self._path(path), flags)

    def create(self, path, mode, fi=None):
        self._maybe_fail("create")
        # Read-write whatever the caller asked: the kernel sends reads of mmapped pages
        # (SQLite's -shm) through this handle too.
        return os.open(self._path(path), os.O_RDWR | os.O_CREAT, mode)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self._maybe_fail("write")
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        self._maybe_fail("truncate")
        if fh is None:
            os.truncate(self._path(path), length)
        else:
            os.ftruncate(fh, length)
        return 0

    def fallocate(self, path, mode, offset, length, fh):
        self._maybe_fail("fallocate")
        if mode != 0:
            raise fuse.FuseOSError(errno.EOPNOTSUPP)
        os.posix_fallocate(fh, offset, length)
        return 0

    def flush(self, path, fh):
        return 0

    def fsync(self, path, datasync, fh):
        self._maybe_fail("fsync")
        if datasync:
            os.fdatasync(fh)
        else:
            os.fsync(fh)
        return 0

    def fsyncdir(self, path, datasync, fh):
        self._maybe_fail("fsyncdir")
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0


def main() -> None:
    root, mountpoint, control = sys.argv[1:4]
    fuse.FUSE(
        FaultFs(root, control),
        mountpoint,
        foreground=True,
        allow_other=True,
        default_permissions=True,
    )


if __name__ == "__main__":
    main()
