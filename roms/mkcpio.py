#!/usr/bin/env python3
"""Write a gzip-compressed cpio "newc" archive (a Linux initramfs) without root.

    mkcpio.py OUT.cpio.gz < SPEC

SPEC has one entry a line, in the spelling of the kernel's usr/gen_init_cpio:

    dir   PATH MODE
    file  PATH MODE SOURCE
    slink PATH TARGET MODE
    nod   PATH MODE c|b MAJOR MINOR

MODE is octal permission bits; every entry is owned by 0:0. Blank lines and
lines starting with '#' are ignored. Device nodes are written as archive
entries, so no mknod (and no root) is needed. Timestamps are
SOURCE_DATE_EPOCH (default 0) and gzip's header time is 0, so the same
inputs give the same bytes.
"""
import gzip
import os
import stat
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_path = sys.argv[1]
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    out = bytearray()
    ino = 720  # arbitrary first inode number; each entry gets its own

    def entry(name: str, mode: int, data: bytes = b"", nlink: int = 1,
              rdevmajor: int = 0, rdevminor: int = 0) -> None:
        nonlocal ino
        ino += 1
        name_b = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, nlink, mtime, len(data), 0, 0,
                  rdevmajor, rdevminor, len(name_b), 0]
        hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
        out.extend(hdr + name_b)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    seen = set()
    for lineno, line in enumerate(sys.stdin, 1):
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        kind, path = f[0], f[1].lstrip("/")
        if not path or path in seen:
            raise SystemExit(f"mkcpio: line {lineno}: bad or repeated path {f[1]!r}")
        seen.add(path)
        if kind == "dir" and len(f) == 3:
            entry(path, stat.S_IFDIR | int(f[2], 8), nlink=2)
        elif kind == "file" and len(f) == 4:
            with open(f[3], "rb") as src:
                entry(path, stat.S_IFREG | int(f[2], 8), src.read())
        elif kind == "slink" and len(f) == 4:
            entry(path, stat.S_IFLNK | int(f[3], 8), f[2].encode())
        elif kind == "nod" and len(f) == 6 and f[3] in ("c", "b"):
            t = stat.S_IFCHR if f[3] == "c" else stat.S_IFBLK
            entry(path, t | int(f[2], 8), rdevmajor=int(f[4]), rdevminor=int(f[5]))
        else:
            raise SystemExit(f"mkcpio: line {lineno}: cannot parse {line.rstrip()!r}")
    entry("TRAILER!!!", 0, nlink=1)
    out.extend(b"\0" * (-len(out) % 512))

    tmp = out_path + ".tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                           compresslevel=9) as gz:
            gz.write(out)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
