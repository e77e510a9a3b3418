"""talos_extension: a Talos system extension as an OCI image, built without Docker.

One action runs build_image.py with Debian's python3 and writes:
  <name>.oci/        the OCI image layout (what `skopeo copy oci:...` and imager read)
  <name>.tar         the same image as an oci-archive tarball
  <name>-rootfs.tar  the service container's root filesystem alone (for runc bundles)
  <name>.digest      the image manifest digest (sha256:...)
Output groups of the same names (layout, archive, rootfs, digest) pick one of them.

The shared libraries of dynamically linked binaries come from the build machine (ldd),
outside Bazel's view: the image is rebuilt when a binary or input changes, not when only
a Debian library was upgraded (binaries relinked against it change, so this is rare).
"""

def _talos_extension_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name + ".oci")
    archive = ctx.actions.declare_file(ctx.label.name + ".tar")
    rootfs = ctx.actions.declare_file(ctx.label.name + "-rootfs.tar")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")

    args = ctx.actions.args()
    args.add(ctx.file._builder)
    args.add("--manifest", ctx.file.manifest)
    args.add("--service", ctx.file.service)
    inputs = [ctx.file._builder, ctx.file.manifest, ctx.file.service]
    for target, dest in ctx.attr.binaries.items():  # build_image.py sorts them
        executable = target[DefaultInfo].files_to_run.executable
        if executable == None:
            fail("%s is not an executable target" % target.label)
        args.add("--bin", "%s=%s" % (dest, executable.path))
        inputs.append(executable)
    for d in ctx.attr.config_dirs:
        args.add("--config-dir", d)
    args.add("--layout", layout.path)
    args.add("--archive", archive)
    args.add("--rootfs-tar", rootfs)
    args.add("--digest", digest)

    ctx.actions.run(
        # Debian's python3 (with python3-yaml), not whatever python3 is first on PATH.
        executable = "/usr/bin/python3",
        arguments = [args],
        inputs = inputs,
        outputs = [layout, archive, rootfs, digest],
        env = {"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
        mnemonic = "TalosExtension",
        progress_message = "Building Talos extension image %s" % ctx.label,
    )
    return [
        DefaultInfo(files = depset([layout, archive, rootfs, digest])),
        OutputGroupInfo(
            layout = depset([layout]),
            archive = depset([archive]),
            rootfs = depset([rootfs]),
            digest = depset([digest]),
        ),
    ]

talos_extension = rule(
    implementation = _talos_extension_impl,
    doc = "A Talos system extension image (OCI layout + oci-archive), reproducibly.",
    attrs = {
        "manifest": attr.label(allow_single_file = True, mandatory = True,
                               doc = "manifest.yaml of the extension"),
        "service": attr.label(allow_single_file = [".yaml"], mandatory = True,
                              doc = "the extension service spec (<name>.yaml)"),
        "binaries": attr.label_keyed_string_dict(
            cfg = "target",
            doc = "executable target -> absolute path in the container root filesystem",
        ),
        "config_dirs": attr.string_list(
            doc = "folders in the container that ExtensionServiceConfig files mount into",
        ),
        "_builder": attr.label(default = ":build_image.py", allow_single_file = True),
    },
)
