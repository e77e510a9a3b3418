"""Builds a Talos system extension as an OCI image, reproducibly and without Docker.

The image has one layer holding what Talos's imager expects of an extension:

  /manifest.yaml                                   the extension manifest
  /rootfs/usr/local/etc/containers/<name>.yaml     the extension service spec
  /rootfs/usr/local/lib/containers/<name>/...      the service container's root filesystem

The container root filesystem gets the binaries (--bin DEST=FILE), and for every
dynamically linked one the shared libraries and the dynamic loader that `ldd` reports,
each at the path ldd names (the Talos host has no C library, so the container must carry
its own). Folders for the service's bind mounts and for its config files exist in it
(mount points on a read-only root).

Same inputs, same bytes: entries sorted by path, every mtime 0, uid/gid 0 without names,
modes normalised (0755 folders and executables, 0644 the rest), gzip without name or
time, JSON with sorted keys. The layout and the oci-archive tarball hold the same blobs.

Outputs: --layout DIR (OCI image layout), --archive FILE (oci-archive: the layout as a
tar), --rootfs-tar FILE (the container root filesystem alone, for runc bundles), --digest
FILE (the image manifest digest, sha256:...).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import sys
import tarfile

import yaml

# Mount destinations under these are filesystems the container runtime mounts itself.
RUNTIME_MOUNTS = ("/proc", "/sys", "/dev")


class BuildError(Exception):
    pass


class Tree:
    """Files and folders by absolute path, each (kind, mode, data)."""

    def __init__(self):
        self.entries = {}

    def add_dir(self, path):
        path = "/" + path.strip("/")
        while path != "/":
            kind = self.entries.get(path, ("dir",))[0]
            if kind != "dir":
                raise BuildError(f"{path}: needed as a folder but is a file")
            self.entries[path] = ("dir", 0o755, None)
            path = os.path.dirname(path)

    def add_file(self, path, data, executable):
        path = "/" + path.strip("/")
        if path in self.entries:
            old = self.entries[path]
            if old[0] == "file" and old[2] == data:
                return
            raise BuildError(f"{path}: added twice with different content")
        self.add_dir(os.path.dirname(path))
        self.entries[path] = ("file", 0o755 if executable else 0o644, data)

    def graft(self, prefix, other):
        self.add_dir(prefix)
        for path, entry in other.entries.items():
            full = prefix.rstrip("/") + path
            if entry[0] == "dir":
                self.add_dir(full)
            else:
                self.add_file(full, entry[2], entry[1] & 0o111 != 0)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def ldd(binary, ldd_path):
    """Shared objects of a binary as {path it is loaded from: real file}, or {} if static."""
    p = subprocess.run([ldd_path, binary], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    out = p.stdout + p.stderr
    if "not a dynamic executable" in out or "statically linked" in out:
        return {}
    if p.returncode != 0:
        raise BuildError(f"ldd {binary} exited {p.returncode}: {out.strip()}")
    libs = {}
    for line in p.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            raise BuildError(f"{binary}: {line}")
        m = re.match(r"^(\S+) => (\S+) \(0x[0-9a-f]+\)$", line)
        if m:
            libs[m.group(2)] = os.path.realpath(m.group(2))
            continue
        m = re.match(r"^(/\S+) \(0x[0-9a-f]+\)$", line)  # the dynamic loader
        if m:
            libs[m.group(1)] = os.path.realpath(m.group(1))
            continue
        if re.match(r"^linux-vdso\.so\.\d+ \(0x[0-9a-f]+\)$", line):
            continue  # provided by the kernel
        raise BuildError(f"ldd {binary}: unexpected line {line!r}")
    return libs


def container_tree(binaries, service, config_dirs, ldd_path):
    tree = Tree()
    for dest, src in sorted(binaries):
        tree.add_file(dest, read(src), executable=True)
        for path, real in sorted(ldd(src, ldd_path).items()):
            tree.add_file(path, read(real), executable=os.stat(real).st_mode & 0o111 != 0)
    for mount in (service.get("container") or {}).get("mounts") or []:
        dest = mount.get("destination", "")
        if not any(dest == m or dest.startswith(m + "/") for m in RUNTIME_MOUNTS):
            tree.add_dir(dest)
    for d in config_dirs:
        tree.add_dir(d)
    return tree


def tar_bytes(tree, root_prefix):
    """A deterministic tar of `tree`, paths relative to the archive root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(tree.entries):
            kind, mode, data = tree.entries[path]
            info = tarfile.TarInfo(root_prefix + path.lstrip("/"))
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = mode
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def oci_arch():
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def build(args):
    manifest_text = read(args.manifest)
    manifest = yaml.safe_load(manifest_text)
    name = manifest["metadata"]["name"]
    version = str(manifest["metadata"]["version"])
    service_text = read(args.service)
    service = yaml.safe_load(service_text)
    if service.get("name") != name:
        raise BuildError(f"{args.service}: service name {service.get('name')!r} is not the "
                         f"extension name {name!r}")
    binaries = []
    for spec in args.bin:
        dest, sep, src = spec.partition("=")
        if not sep or not dest.startswith("/"):
            raise BuildError(f"--bin {spec}: expected /DEST=FILE")
        binaries.append((dest, src))

    container = container_tree(binaries, service, args.config_dir, args.ldd)
    extension = Tree()
    extension.add_file("/manifest.yaml", manifest_text, executable=False)
    extension.add_file(f"/rootfs/usr/local/etc/containers/{name}.yaml", service_text,
                       executable=False)
    extension.graft(f"/rootfs/usr/local/lib/containers/{name}", container)

    layer_tar = tar_bytes(extension, "")
    layer_gz = gzip.compress(layer_tar, compresslevel=9, mtime=0)
    arch = oci_arch()
    config = canonical_json({
        "architecture": arch,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
        "history": [{"created": "1970-01-01T00:00:00Z",
                     "created_by": f"extension/build_image.py ({name} {version})"}],
    })
    image_manifest = canonical_json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256(layer_gz), "size": len(layer_gz)}],
        "annotations": {"org.opencontainers.image.title": name,
                        "org.opencontainers.image.version": version},
    })
    index = canonical_json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": sha256(image_manifest), "size": len(image_manifest),
                       "platform": {"architecture": arch, "os": "linux"},
                       "annotations": {"org.opencontainers.image.ref.name": version}}],
    })

    layout = Tree()
    layout.add_file("/oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}), False)
    layout.add_file("/index.json", index, False)
    for blob in (config, image_manifest, layer_gz):
        layout.add_file("/blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob, False)

    write_tree(layout, args.layout)
    with open(args.archive, "wb") as f:
        f.write(tar_bytes(layout, ""))
    with open(args.rootfs_tar, "wb") as f:
        f.write(tar_bytes(container, ""))
    with open(args.digest, "w") as f:
        f.write(sha256(image_manifest) + "\n")
    return sha256(image_manifest)


def write_tree(tree, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for path in sorted(tree.entries):
        kind, mode, data = tree.entries[path]
        target = os.path.join(out_dir, path.lstrip("/"))
        if kind == "dir":
            os.makedirs(target, exist_ok=True)
        else:
            with open(target, "wb") as f:
                f.write(data)
            os.chmod(target, mode)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", required=True, help="manifest.yaml")
    ap.add_argument("--service", required=True, help="the extension service spec")
    ap.add_argument("--bin", action="append", default=[],
                    help="/DEST=FILE: a binary at DEST in the container root filesystem")
    ap.add_argument("--config-dir", action="append", default=[],
                    help="a folder the ExtensionServiceConfig files are mounted into")
    ap.add_argument("--ldd", default="/usr/bin/ldd")
    ap.add_argument("--layout", required=True)
    ap.add_argument("--archive", required=True)
    ap.add_argument("--rootfs-tar", required=True)
    ap.add_argument("--digest", required=True)
    args = ap.parse_args()
    try:
        digest = build(args)
    except (BuildError, OSError, KeyError, TypeError, yaml.YAMLError) as e:
        print(f"build_image: {e}", file=sys.stderr)
        return 1
    del digest  # also in --digest
    return 0


if __name__ == "__main__":
    sys.exit(main())
