"""cc_grpc_library: protoc + grpc_cpp_plugin from Debian, offline.

Bazel 4.2.3's proto_library wants @com_google_protobuf, which cannot be fetched;
this runs the system protoc in a genrule and wraps the generated code.
"""

def cc_grpc_library(name, src, deps = [], visibility = None):
    base = src[:-len(".proto")]
    outs = [base + ext for ext in [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc"]]
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = outs,
        cmd = ("/usr/bin/protoc -I. --cpp_out=$(GENDIR) --grpc_out=$(GENDIR) " +
               "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin $(location %s)") % src,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        # Generated code is not ours to keep warning-free.
        copts = ["-Wno-unused-parameter"],
        deps = deps + ["@system//:grpc"],
        visibility = visibility,
    )
