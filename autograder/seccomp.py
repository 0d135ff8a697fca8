"""A seccomp filter for the sandbox, compiled here to classic BPF for ``bwrap --seccomp FD``.

What it refuses (with EPERM), in the spirit of Docker's default profile: the
kernel keyring (``keyctl``, ``add_key``, ``request_key``), looking into or
writing other processes (``ptrace``, ``process_vm_readv/writev``, ``kcmp``),
new namespaces (``unshare``, ``setns``, ``clone`` with a namespace flag;
``clone3`` answers ENOSYS so that the C library falls back to ``clone``),
mounting, kernel modules, BPF, perf events, userfaultfd, io_uring, the
system clock, swap, reboot, kexec, quotas, file handles and the kernel log.
Everything else is allowed: the filter is a wall around the kernel's most
exposed corners, not a whitelist of what Python and TensorFlow need.

No library is needed: the program is a list of ``struct sock_filter``
instructions built from the syscall numbers of the two architectures
supported (x86_64, aarch64). Elsewhere :func:`seccomp_program` returns None
and the startup message says the filter is not enforced.
"""
from __future__ import annotations

import errno
import platform
import struct

# Syscall numbers (Linux UAPI: asm/unistd_64.h for x86_64, asm-generic/unistd.h for aarch64).
BLOCKED_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "keyctl": 250, "add_key": 248, "request_key": 249, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "kcmp": 312, "perf_event_open": 298, "bpf": 321, "userfaultfd": 323,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "setns": 308, "unshare": 272,
        "swapon": 167, "swapoff": 168, "reboot": 169, "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "acct": 163, "settimeofday": 164,
        "clock_settime": 227, "clock_adjtime": 305, "quotactl": 179, "lookup_dcookie": 212,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "iopl": 172, "ioperm": 173, "syslog": 103,
        "vhangup": 153, "uselib": 134, "ustat": 136, "sysfs": 139, "_sysctl": 156,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "move_mount": 429, "open_tree": 428, "fspick": 433,
        "mount_setattr": 442,
    },
    "aarch64": {
        "keyctl": 219, "add_key": 217, "request_key": 218, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "kcmp": 272, "perf_event_open": 241, "bpf": 280, "userfaultfd": 282,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "setns": 268, "unshare": 97,
        "swapon": 224, "swapoff": 225, "reboot": 142, "kexec_load": 104, "kexec_file_load": 294,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "acct": 89, "settimeofday": 170,
        "clock_settime": 112, "clock_adjtime": 266, "quotactl": 60, "lookup_dcookie": 18,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "syslog": 116, "vhangup": 58,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "move_mount": 429, "open_tree": 428, "fspick": 433,
        "mount_setattr": 442,
    },
}
CLONE = {"x86_64": 56, "aarch64": 220}
CLONE3 = 435  # the same on both
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
# CLONE_NEWTIME | NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
CLONE_NAMESPACE_FLAGS = 0x80 | 0x20000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16  # struct seccomp_data (little-endian: low half of args[0])


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def machine() -> str:
    return platform.machine()


def seccomp_program(arch: str | None = None) -> bytes | None:
    """The compiled filter for ``arch`` (default: this machine), or None where it is not supported."""
    arch = arch or machine()
    if arch not in BLOCKED_SYSCALLS:
        return None
    eperm, enosys = RET_ERRNO | errno.EPERM, RET_ERRNO | errno.ENOSYS
    prog = [
        _insn(LD_W_ABS, OFFSET_ARCH),
        _insn(JEQ_K, AUDIT_ARCH[arch], jt=1, jf=0),
        _insn(RET_K, RET_KILL_PROCESS),  # another ABI (i386 on x86_64) could dodge the numbers below
        _insn(LD_W_ABS, OFFSET_NR),
    ]
    if arch == "x86_64":  # the x32 ABI: the same syscalls with this bit set
        prog += [_insn(JGE_K, X32_SYSCALL_BIT, jt=0, jf=1), _insn(RET_K, eperm)]
    for nr in sorted(set(BLOCKED_SYSCALLS[arch].values())):
        prog += [_insn(JEQ_K, nr, jt=0, jf=1), _insn(RET_K, eperm)]
    prog += [_insn(JEQ_K, CLONE3, jt=0, jf=1), _insn(RET_K, enosys)]
    prog += [
        _insn(JEQ_K, CLONE[arch], jt=0, jf=3),
        _insn(LD_W_ABS, OFFSET_ARG0),
        _insn(JSET_K, CLONE_NAMESPACE_FLAGS, jt=0, jf=1),
        _insn(RET_K, eperm),
        _insn(RET_K, RET_ALLOW),
    ]
    return b"".join(prog)


def describe(arch: str | None = None) -> str:
    """One line for the startup message."""
    arch = arch or machine()
    if arch not in BLOCKED_SYSCALLS:
        return f"seccomp filter: NOT enforced (no syscall table for {arch})"
    return (f"seccomp filter: {len(BLOCKED_SYSCALLS[arch]) + 2} syscalls refused "
            "(keyring, ptrace, namespaces, mount, bpf, perf, io_uring, modules, clock...)")
