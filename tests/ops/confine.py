"""Run a command under the kernel restrictions ``systemd/monitor.service`` asks systemd for, then exec it.

- ``MemoryDenyWriteExecute=yes``: ``prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)`` (Linux 6.3+), the
  kernel's own form of the rule systemd enforces (no writable+executable mapping, no mapping made
  executable later); it survives ``execve``.
- ``SystemCallFilter=`` with ``SystemCallErrorNumber=EPERM``: a seccomp filter through libseccomp that
  allows exactly the system calls listed in the file given, and fails every other one with EPERM.
- ``NoNewPrivileges=yes``: libseccomp sets it while loading the filter.

Usage: ``python confine.py SYSCALLS_FILE -- PROGRAM ARGS...``. Exit 97: MDWE unsupported; 98: the
seccomp filter could not be loaded (both mean "cannot test here", not "the service is broken").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import sys
from pathlib import Path

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
SCMP_ACT_ALLOW = 0x7FFF0000


def scmp_act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def main() -> None:
    syscalls_file, sep, *argv = sys.argv[1:]
    if sep != "--" or not argv:
        raise SystemExit(__doc__)
    names = Path(syscalls_file).read_text().split()

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        print(f"confine: PR_SET_MDWE failed: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        raise SystemExit(97)

    try:
        lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    except OSError as exc:
        print(f"confine: libseccomp not available: {exc}", file=sys.stderr)
        raise SystemExit(98) from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.restype = ctypes.c_int
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.restype = ctypes.c_int
    lib.seccomp_load.argtypes = [ctypes.c_void_p]

    ctx = lib.seccomp_init(scmp_act_errno(errno.EPERM))
    if not ctx:
        raise SystemExit(98)
    for name in names:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # not a system call on this architecture (e.g. the 32-bit variants)
            continue
        lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)
    rc = lib.seccomp_load(ctx)
    if rc != 0:
        print(f"confine: seccomp_load failed: {os.strerror(-rc)}", file=sys.stderr)
        raise SystemExit(98)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
