#!/usr/bin/env python3
"""Prints the flash and RAM footprint of a firmware ELF beside its goal.

Reads the ELF's program and section headers (Python's standard library only, no binutils):

- flash: the bytes the image writes to flash, the sum of the file sizes of its loadable
  segments (code, read-only data, the initial values of .data, the boot block);
- RAM: the static RAM, the memory sizes of the loadable segments that live in RAM (writable,
  or copied from flash at start: their run address differs from their load address), that is
  .data + .bss + .uninit. The stack is not counted: it takes what RAM is left.

Also prints a `size`-like line (text, data, bss from the allocated sections).

Usage: footprint.py ELF [--flash-goal KIB] [--ram-goal KIB] [--check]
Exit status: 0; 1 with --check when over a goal; 2 when the file is not a readable ELF.
"""

import argparse
import os
import struct
import sys

PT_LOAD = 1
PF_W = 0x2
SHF_ALLOC = 0x2
SHT_NOBITS = 8


class ElfError(Exception):
    """The file is not an ELF this script can read."""


def read_elf(data):
    """Returns (machine class name, loadable segments, allocated sections) of an ELF image."""
    if len(data) < 52 or data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file (no \\x7fELF magic)")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise ElfError("unknown ELF class or byte order")
    end = "<" if ei_data == 1 else ">"
    wide = ei_class == 2
    try:
        if wide:
            (e_phoff, e_shoff) = struct.unpack_from(end + "QQ", data, 0x20)
            (e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx) = struct.unpack_from(
                end + "HHHHH", data, 0x36)
        else:
            (e_phoff, e_shoff) = struct.unpack_from(end + "II", data, 0x1C)
            (e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx) = struct.unpack_from(
                end + "HHHHH", data, 0x2A)

        segments = []
        for i in range(e_phnum):
            off = e_phoff + i * e_phentsize
            if wide:
                p_type, p_flags, _o, p_vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from(
                    end + "IIQQQQQ", data, off)
            else:
                p_type, _o, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags = struct.unpack_from(
                    end + "IIIIIII", data, off)
            if p_type == PT_LOAD:
                segments.append(dict(vaddr=p_vaddr, paddr=p_paddr, filesz=p_filesz,
                                     memsz=p_memsz, flags=p_flags))

        headers = []
        for i in range(e_shnum):
            off = e_shoff + i * e_shentsize
            if wide:
                sh_name, sh_type, sh_flags, sh_addr, _o, sh_size = struct.unpack_from(
                    end + "IIQQQQ", data, off)
            else:
                sh_name, sh_type, sh_flags, sh_addr, _o, sh_size = struct.unpack_from(
                    end + "IIIIII", data, off)
            headers.append((sh_name, sh_type, sh_flags, sh_addr, sh_size, off))
        names_off = None
        if 0 <= e_shstrndx < len(headers):
            str_hdr = e_shoff + e_shstrndx * e_shentsize
            names_off = struct.unpack_from(end + ("Q" if wide else "I"), data,
                                           str_hdr + (0x18 if wide else 0x10))[0]
        sections = []
        for sh_name, sh_type, sh_flags, sh_addr, sh_size, _ in headers:
            if not sh_flags & SHF_ALLOC or sh_size == 0:
                continue
            name = "?"
            if names_off is not None:
                start = names_off + sh_name
                stop = data.find(b"\0", start)
                name = data[start:stop].decode("ascii", "replace") if stop >= 0 else "?"
            sections.append(dict(name=name, addr=sh_addr, size=sh_size,
                                 nobits=sh_type == SHT_NOBITS))
    except struct.error as err:
        raise ElfError(f"truncated or damaged ELF headers ({err})") from err
    return segments, sections


def in_ram(segment):
    """A segment that lives in RAM: writable, or copied from its load address at start."""
    return bool(segment["flags"] & PF_W) or segment["vaddr"] != segment["paddr"]


def footprint(segments):
    """(flash bytes, static RAM bytes) of the loadable segments."""
    flash = sum(s["filesz"] for s in segments)
    ram = sum(s["memsz"] for s in segments if in_ram(s))
    return flash, ram


def berkeley(segments, sections):
    """`size`'s text, data, bss: sections in RAM segments are data (with contents) or bss."""
    ram_ranges = [(s["vaddr"], s["vaddr"] + s["memsz"]) for s in segments if in_ram(s)]
    text = data = bss = 0
    for sec in sections:
        ram = any(lo <= sec["addr"] < hi for lo, hi in ram_ranges)
        if sec["nobits"]:
            bss += sec["size"]
        elif ram:
            data += sec["size"]
        else:
            text += sec["size"]
    return text, data, bss


def kib(n):
    return f"{n / 1024:.1f} KiB"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("elf", help="the linked firmware image (ELF)")
    parser.add_argument("--flash-goal", type=float, default=128, metavar="KIB",
                        help="flash goal in KiB (default 128)")
    parser.add_argument("--ram-goal", type=float, default=32, metavar="KIB",
                        help="static RAM goal in KiB (default 32)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the image is over a goal")
    args = parser.parse_args(argv)

    try:
        with open(args.elf, "rb") as f:
            data = f.read()
        segments, sections = read_elf(data)
    except OSError as err:
        print(f"footprint: cannot read {args.elf}: {err.strerror}; build the image first",
              file=sys.stderr)
        return 2
    except ElfError as err:
        print(f"footprint: {args.elf}: {err}; give the linked firmware ELF", file=sys.stderr)
        return 2
    if not segments:
        print(f"footprint: {args.elf}: no loadable segments; give the linked firmware ELF",
              file=sys.stderr)
        return 2

    flash, ram = footprint(segments)
    text, data_b, bss = berkeley(segments, sections)
    name = os.path.basename(args.elf)
    print(f"{'text':>8} {'data':>8} {'bss':>8} {'dec':>8} {'hex':>8} filename")
    total = text + data_b + bss
    print(f"{text:>8} {data_b:>8} {bss:>8} {total:>8} {total:>8x} {name}")
    over = []
    for what, used, goal, note in (
        ("flash", flash, args.flash_goal, ""),
        ("RAM", ram, args.ram_goal, " static (.data + .bss; the stack is extra)"),
    ):
        ok = used <= goal * 1024
        if not ok:
            over.append(what)
        print(f"{name}: {what} {used} B ({kib(used)}){note}, goal <= {goal:g} KiB: "
              f"{'within' if ok else 'OVER'}")
    if over and args.check:
        print(f"footprint: {name} is over its {' and '.join(over)} goal", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
