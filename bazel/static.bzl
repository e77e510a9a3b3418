"""Link options for fully static binaries (the Talos host has no C library).

Debian ships static archives for everything we link. With -static the order of
archives matters; a group lets the linker resolve them in any order.
"""

STATIC_GRPC_LINKOPTS = [
    "-static",
    "-pthread",
    "-Wl,--start-group",
    "-lgrpc++",
    "-lgrpc",
    "-lgpr",
    "-laddress_sorting",
    "-lupb",
    "-lre2",
    "-lcares",
    "-lprotobuf",
    "-lssl",
    "-lcrypto",
    "-lz",
    "-ldl",
    "-latomic",
    "-lrt",
    "-Wl,--end-group",
]
