"""BPF build rule: clang -target bpf, then `bpftool gen object` and `bpftool gen skeleton`.

bpf_program(name = "foo", src = "foo.bpf.c", hdrs = [...]) produces
  :foo_obj   the linked BPF object (foo.bpf.o)
  :foo_skel  a cc_library whose header "foo.skel.h" embeds the object (libbpf skeleton)
The object is built against the UAPI headers in /usr/include (linux-libc-dev) and
libbpf's <bpf/bpf_helpers.h>; no vmlinux.h, so the build does not depend on the
kernel of the build machine.
"""

_CLANG = "/usr/bin/clang"
_BPFTOOL = "/usr/sbin/bpftool"

def bpf_program(name, src, hdrs = [], visibility = None):
    obj = name + ".bpf.o"
    skel = name + ".skel.h"
    native.genrule(
        name = name + "_obj",
        srcs = [src] + hdrs,
        outs = [obj],
        cmd = " && ".join([
            # -fdebug-prefix-map: the BTF/DWARF names no sandbox path, so the
            # object (and every image that embeds it) is byte-for-byte reproducible.
            "%s -g -fdebug-prefix-map=$$PWD=. -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror " % _CLANG +
            "-I/usr/include/x86_64-linux-gnu -I. -c $(location %s) -o $(@D)/%s.tmp.o" % (src, name),
            "%s gen object $@ $(@D)/%s.tmp.o" % (_BPFTOOL, name),
            "rm -f $(@D)/%s.tmp.o" % name,
        ]),
        visibility = visibility,
    )
    native.genrule(
        name = name + "_skel_h",
        srcs = [":" + obj],
        outs = [skel],
        cmd = "%s gen skeleton $(location :%s) name %s > $@" % (_BPFTOOL, obj, name),
        visibility = visibility,
    )
    native.cc_library(
        name = name + "_skel",
        hdrs = [":" + skel],
        deps = ["@system//:libbpf"],
        visibility = visibility,
    )
