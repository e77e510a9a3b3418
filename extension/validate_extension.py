"""Checks a Talos system extension against Talos's rules for extensions, and ours.

  validate_extension.py --image DIR|TAR   an OCI image layout folder or oci-archive
  validate_extension.py --dir DIR         an unpacked extension (manifest.yaml, rootfs/)

Talos's rules (../shared/reference/talos/FACTS.md §5):
  * the image holds exactly /manifest.yaml and /rootfs;
  * manifest.yaml: `version: v1alpha1`; metadata name, version, author, description;
    compatibility.talos.version a version range;
  * every path under /rootfs is one Talos lets an extension add, for every Talos release
    the manifest claims (the allowed prefixes changed over releases);
  * no world-writable files or folders, no special files (devices, fifos, sockets);
    symbolic links are fine;
  * each extension service spec in /rootfs/usr/local/etc/containers/*.yaml: a valid name,
    a non-empty entrypoint, well-formed mounts, security settings and dependencies (each
    with exactly one kind), restart always/never/untilSuccess.
Ours, because Talos would accept the mistake silently or only fail at boot:
  * unknown keys in the manifest and in service specs (Talos ignores them in specs);
  * the service's root filesystem exists, its entrypoint is an executable there, and every
    dynamically linked executable in it finds its program interpreter and every library it
    needs inside that root filesystem (the Talos host has no C library to fall back on);
  * a comment above every mount saying why it is needed; no environmentFile (deprecated
    since Talos 1.7: use an ExtensionServiceConfig).

Prints one line per problem and exits 1, or prints one OK line and exits 0. Exit 2 when
the image cannot be read at all.
"""
import argparse
import gzip
import io
import json
import os
import posixpath
import re
import stat
import struct
import sys
import tarfile

import yaml

# Prefixes Talos lets an extension put under /rootfs, per release
# (pkg/machinery/extensions/extensions.go AllowedPaths; FACTS §5.2).
_COMMON_OLD = ["/etc/cri/conf.d", "/usr/local", "/usr/share/glvnd", "/usr/share/egl",
               "/etc/vulkan"]
_USR_MERGED = _COMMON_OLD + ["/usr/lib/firmware", "/usr/lib/modules",
                             "/usr/lib/ld-linux-x86-64.so.2", "/usr/bin/ldconfig",
                             "/usr/lib/udev/rules.d"]
_NVIDIA = ["/usr/bin/nvidia-modprobe", "/usr/bin/nvidia-pcc", "/usr/bin/nvidia-smi",
           "/usr/bin/nvidia-ctk", "/usr/bin/nvidia-cdi-hook"]
ALLOWED_PATHS = {
    (1, 7): _COMMON_OLD + ["/lib/firmware", "/lib/modules", "/lib64/ld-linux-x86-64.so.2",
                           "/usr/etc/udev/rules.d"],
    (1, 8): _COMMON_OLD + ["/lib/firmware", "/lib/modules", "/lib64/ld-linux-x86-64.so.2",
                           "/usr/etc/udev/rules.d"],
    (1, 9): _COMMON_OLD + ["/lib/firmware", "/lib/modules", "/lib64/ld-linux-x86-64.so.2",
                           "/usr/lib/udev/rules.d", "/sbin/ldconfig"],
    (1, 10): _USR_MERGED,
    (1, 11): _USR_MERGED,
    (1, 12): _USR_MERGED + ["/usr/lib/ld-linux-aarch64.so.1"],
    (1, 13): _USR_MERGED + ["/usr/lib/ld-linux-aarch64.so.1", "/etc/ld.so.conf",
                            "/etc/ld.so.cache", "/usr/bin/nvme"] + _NVIDIA,
    (1, 14): _USR_MERGED + ["/usr/lib/ld-linux-aarch64.so.1", "/etc/ld.so.conf",
                            "/etc/ld.so.cache", "/usr/bin/nvme"] + _NVIDIA,
}

SERVICE_NAME = re.compile(r"^[-_a-z0-9]{1,}$")
EXTENSION_NAME = re.compile(r"^[a-z0-9][-_.a-z0-9]*$")
NETWORK_CONDITIONS = {"addresses", "connectivity", "hostname", "etcfiles"}
RESTART = {"always", "never", "untilsuccess"}
PROPAGATION = {"", "private", "rprivate", "shared", "rshared", "slave", "rslave"}
# Where glibc's and musl's loaders look when there is no ld.so.cache.
DEFAULT_LIBRARY_DIRS = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                        "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                        "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"]
CONTAINERS = "/rootfs/usr/local/lib/containers"
SERVICE_SPECS = "/rootfs/usr/local/etc/containers"


class ImageError(Exception):
    """The image cannot be read at all (not a rule violation)."""


# ---------------------------------------------------------------------------------------
# The extension's file tree, from an image or a folder.

class Entry:
    def __init__(self, kind, mode, data=None, target=None):
        self.kind = kind  # file, dir, symlink, special
        self.mode = mode  # permission bits
        self._data = data  # bytes or a callable returning bytes
        self.target = target  # symlink target

    def data(self):
        if callable(self._data):
            self._data = self._data()
        return self._data or b""


def _read_file(path):
    with open(path, "rb") as f:
        return f.read()


def tree_from_dir(root):
    tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(full, root)
            st = os.lstat(full)
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = Entry("symlink", perm, target=os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = Entry("dir", perm)
            elif stat.S_ISREG(st.st_mode):
                tree[rel] = Entry("file", perm, data=lambda p=full: _read_file(p))
            else:
                tree[rel] = Entry("special", perm)
    return tree


def _open_layout(path):
    """{name: bytes} reader for an OCI layout folder or an oci-archive tarball."""
    if os.path.isdir(path):
        def read(name):
            with open(os.path.join(path, name), "rb") as f:
                return f.read()
        return read
    try:
        tar = tarfile.open(path)
    except (tarfile.TarError, OSError) as e:
        raise ImageError(f"{path}: neither an OCI layout folder nor an oci-archive: {e}")
    members = {posixpath.normpath(m.name): m for m in tar.getmembers() if m.isfile()}

    def read(name):
        m = members.get(posixpath.normpath(name))
        if m is None:
            raise ImageError(f"{path}: no {name} in the archive")
        return tar.extractfile(m).read()
    return read


def tree_from_image(path):
    read = _open_layout(path)
    try:
        index = json.loads(read("index.json"))
        manifests = index["manifests"]
        if len(manifests) != 1:
            raise ImageError(f"{path}: index.json lists {len(manifests)} images, expected 1")
        digest = manifests[0]["digest"]
        manifest = json.loads(read("blobs/" + digest.replace(":", "/")))
        layers = [l["digest"] for l in manifest["layers"]]
    except (KeyError, ValueError, OSError) as e:
        raise ImageError(f"{path}: not an OCI image layout: {e}")
    tree = {}
    for digest in layers:
        blob = read("blobs/" + digest.replace(":", "/"))
        if blob[:2] == b"\x1f\x8b":
            blob = gzip.decompress(blob)
        with tarfile.open(fileobj=io.BytesIO(blob)) as layer:
            for m in layer.getmembers():
                rel = "/" + posixpath.normpath(m.name).lstrip("./").lstrip("/")
                if rel == "/":
                    continue
                base = posixpath.basename(rel)
                if base.startswith(".wh."):  # OCI whiteout: delete from lower layers
                    gone = posixpath.join(posixpath.dirname(rel), base[4:])
                    for p in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                        del tree[p]
                    continue
                perm = m.mode & 0o7777
                if m.isdir():
                    tree[rel] = Entry("dir", perm)
                elif m.issym():
                    tree[rel] = Entry("symlink", perm, target=m.linkname)
                elif m.islnk():
                    source = tree.get("/" + m.linkname.lstrip("./").lstrip("/"))
                    tree[rel] = Entry("file", perm, data=source.data() if source else b"")
                elif m.isfile():
                    tree[rel] = Entry("file", perm, data=layer.extractfile(m).read())
                else:
                    tree[rel] = Entry("special", perm)
    return tree


# ---------------------------------------------------------------------------------------
# Version ranges (blang/semver style, as Talos reads compatibility.talos.version).

def _parse_version(text):
    m = re.match(r"^v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$", text)
    if not m:
        return None
    return tuple(int(x) for x in m.groups())


def _range_terms(expr):
    """[[(op, version)]]: OR of AND-groups, or None when the range does not parse."""
    groups = []
    for group in expr.split("||"):
        tokens = group.split()
        terms = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            m = re.match(r"^(>=|<=|!=|==|=|>|<)?(.*)$", tok)
            op, rest = m.group(1) or "=", m.group(2)
            if not rest and i + 1 < len(tokens):  # "> = v1.0.0" style: operator alone
                i += 1
                rest = tokens[i]
            version = _parse_version(rest)
            if version is None:
                return None
            terms.append((op, version))
            i += 1
        if not terms:
            return None
        groups.append(terms)
    return groups


def _satisfies(version, groups):
    ops = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
           "<": lambda a, b: a < b, "=": lambda a, b: a == b, "==": lambda a, b: a == b,
           "!=": lambda a, b: a != b}
    return any(all(ops[op](version, v) for op, v in terms) for terms in groups)


def releases_in_range(expr):
    """Known Talos minor releases any patch release of which the range accepts."""
    groups = _range_terms(expr)
    if groups is None:
        return None
    return [minor for minor in sorted(ALLOWED_PATHS)
            if any(_satisfies((minor[0], minor[1], patch), groups) for patch in range(0, 100))]


# ---------------------------------------------------------------------------------------
# ELF: program interpreter, needed libraries, run paths.

class ElfInfo:
    def __init__(self, interpreter, needed, runpaths):
        self.interpreter = interpreter
        self.needed = needed
        self.runpaths = runpaths


def parse_elf(data):
    """ElfInfo for an ELF file, None for anything else; raises ValueError when broken."""
    if data[:4] != b"\x7fELF":
        return None
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        phoff, = struct.unpack_from(end + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x36)
    else:
        phoff, = struct.unpack_from(end + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(end + "HH", data, 0x2A)
    loads, interpreter, dynamic = [], None, None
    for i in range(phnum):
        off = phoff + i * phentsize
        if is64:
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
                end + "IIQQQQ", data, off)
        else:
            p_type, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(end + "IIIII", data, off)
        if p_type == 1:  # PT_LOAD
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 3:  # PT_INTERP
            interpreter = data[p_offset:p_offset + p_filesz].split(b"\0")[0].decode()
        elif p_type == 2:  # PT_DYNAMIC
            dynamic = (p_offset, p_filesz)
    needed, runpaths = [], []
    if dynamic:
        entries = []
        size = 16 if is64 else 8
        fmt = end + ("qQ" if is64 else "iI")
        for off in range(dynamic[0], dynamic[0] + dynamic[1], size):
            tag, val = struct.unpack_from(fmt, data, off)
            if tag == 0:
                break
            entries.append((tag, val))
        strtab = next((v for t, v in entries if t == 5), None)  # DT_STRTAB (an address)
        if strtab is not None:
            base = next((o + strtab - va for va, o, sz in loads if va <= strtab < va + sz),
                        None)
            if base is None:
                raise ValueError("DT_STRTAB outside every loaded segment")

            def string(offset):
                return data[base + offset:data.index(b"\0", base + offset)].decode()
            for tag, val in entries:
                if tag == 1:  # DT_NEEDED
                    needed.append(string(val))
                elif tag in (15, 29):  # DT_RPATH, DT_RUNPATH
                    runpaths.extend(p for p in string(val).split(":") if p)
    return ElfInfo(interpreter, needed, runpaths)


# ---------------------------------------------------------------------------------------
# The checks. Each returns a list of "where: problem" lines.

class Validator:
    def __init__(self, tree, label):
        self.tree = tree
        self.label = label
        self.problems = []
        self.releases = sorted(ALLOWED_PATHS)
        self.manifest = None
        self.services = []

    def problem(self, where, text):
        self.problems.append(f"{where.lstrip('/')}: {text}")

    def run(self):
        self.check_top_level()
        self.check_manifest()
        self.check_paths_and_modes()
        self.check_service_specs()
        return self.problems

    # /manifest.yaml and /rootfs only.
    def check_top_level(self):
        top = sorted(p for p in self.tree if p.count("/") == 1)
        for p in top:
            if p not in ("/manifest.yaml", "/rootfs"):
                self.problem(p, "unexpected file at the top of the image (only manifest.yaml "
                                "and rootfs/ are allowed)")
        if "/manifest.yaml" not in self.tree or self.tree["/manifest.yaml"].kind != "file":
            self.problem("manifest.yaml", "missing")
        if "/rootfs" not in self.tree or self.tree["/rootfs"].kind != "dir":
            self.problem("rootfs", "missing (the extension's files go under rootfs/)")

    def check_manifest(self):
        entry = self.tree.get("/manifest.yaml")
        if entry is None or entry.kind != "file":
            return
        where = "manifest.yaml"
        try:
            doc = yaml.safe_load(entry.data())
        except yaml.YAMLError as e:
            self.problem(where, f"not valid YAML: {e}")
            return
        if not isinstance(doc, dict):
            self.problem(where, "must be a YAML map")
            return
        self.manifest = doc
        self._unknown_keys(where, "", doc, {"version", "metadata"})
        if doc.get("version") != "v1alpha1":
            self.problem(where, f"version: must be v1alpha1, got {doc.get('version')!r}")
        meta = doc.get("metadata")
        if not isinstance(meta, dict):
            self.problem(where, "metadata: required (name, version, author, description)")
            return
        self._unknown_keys(where, "metadata.", meta, {"name", "version", "author", "description",
                                                      "compatibility", "extraInfo"})
        for key in ("name", "version", "author", "description"):
            value = meta.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                self.problem(where, f"metadata.{key}: required")
            elif not isinstance(value, str):
                self.problem(where, f"metadata.{key}: must be a string (quote it), got "
                                    f"{value!r}")
        name = meta.get("name")
        if isinstance(name, str) and name and not EXTENSION_NAME.match(name):
            self.problem(where, f"metadata.name: {name!r} is not a lower-case name")
        compat = meta.get("compatibility")
        if compat is None:
            return  # optional in Talos: then every release's path rules apply
        talos = compat.get("talos") if isinstance(compat, dict) else None
        version = talos.get("version") if isinstance(talos, dict) else None
        if isinstance(compat, dict):
            self._unknown_keys(where, "metadata.compatibility.", compat, {"talos"})
        if isinstance(talos, dict):
            self._unknown_keys(where, "metadata.compatibility.talos.", talos, {"version"})
        if not isinstance(version, str) or not version.strip():
            self.problem(where, "metadata.compatibility.talos.version: required when "
                                "compatibility is given (e.g. \">= v1.11.0\")")
            return
        releases = releases_in_range(version)
        if releases is None:
            self.problem(where, f"metadata.compatibility.talos.version: {version!r} is not a "
                                f"version range (e.g. \">= v1.11.0\")")
        elif not releases:
            self.problem(where, f"metadata.compatibility.talos.version: {version!r} matches "
                                f"no Talos release from 1.7 to 1.14")
        else:
            self.releases = releases

    def _unknown_keys(self, where, prefix, node, known):
        for key in node:
            if key not in known:
                self.problem(where, f"{prefix}{key}: unknown field")

    def _allowed(self, path, is_dir):
        """Whether `path` (under /rootfs, without it) is allowed in every claimed release."""
        for release in self.releases:
            prefixes = ALLOWED_PATHS[release]
            ok = any(path == p or path.startswith(p + "/") for p in prefixes)
            # A folder on the way to an allowed prefix (/usr, /usr/lib) holds nothing itself.
            ok = ok or (is_dir and any(p.startswith(path + "/") for p in prefixes))
            if not ok:
                return release
        return None

    def check_paths_and_modes(self):
        for path in sorted(self.tree):
            entry = self.tree[path]
            if entry.kind == "special":
                self.problem(path, "special file (device, fifo or socket): not allowed")
            elif entry.kind != "symlink" and entry.mode & 0o002:
                self.problem(path, f"world-writable (mode {entry.mode:04o}): not allowed")
            if not path.startswith("/rootfs/"):
                continue
            inner = path[len("/rootfs"):]
            release = self._allowed(inner, entry.kind == "dir")
            if release is not None:
                self.problem(path, f"{inner} is outside the paths Talos "
                                   f"v{release[0]}.{release[1]} lets an extension add "
                                   f"({', '.join(sorted(ALLOWED_PATHS[release]))})")

    # ---- extension service specs ----

    def check_service_specs(self):
        for path in sorted(self.tree):
            if posixpath.dirname(path) != SERVICE_SPECS:
                continue
            entry = self.tree[path]
            if entry.kind != "file":
                continue
            if not path.endswith(".yaml"):
                self.problem(path, "Talos reads only *.yaml service specs; this file is ignored")
                continue
            self.check_service_spec(path, entry.data())

    def check_service_spec(self, path, text):
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as e:
            self.problem(path, f"not valid YAML: {e}")
            return
        if not isinstance(spec, dict):
            self.problem(path, "must be a YAML map")
            return
        p = lambda msg: self.problem(path, msg)  # noqa: E731
        self._unknown_keys(path, "", spec, {"name", "container", "depends", "restart",
                                            "logToConsole"})
        name = spec.get("name")
        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            p(f"name: {name!r} does not match {SERVICE_NAME.pattern}")
            name = None
        restart = spec.get("restart")
        if not isinstance(restart, str) or restart.lower() not in RESTART:
            p(f"restart: must be always, never or untilSuccess, got {restart!r}")
        if "logToConsole" in spec and not isinstance(spec["logToConsole"], bool):
            p("logToConsole: must be true or false")
        self.check_depends(p, spec.get("depends"))
        container = spec.get("container")
        if not isinstance(container, dict):
            p("container: required (entrypoint, args, mounts, security)")
            return
        self._unknown_keys(path, "container.", container,
                           {"entrypoint", "args", "environment", "environmentFile", "mounts",
                            "security"})
        if "environmentFile" in container:
            p("container.environmentFile: deprecated since Talos 1.7; use an "
              "ExtensionServiceConfig (environment or configFiles)")
        for key in ("args", "environment"):
            value = container.get(key)
            if value is not None and (not isinstance(value, list) or
                                      not all(isinstance(v, str) for v in value)):
                p(f"container.{key}: must be a list of strings")
        for i, env in enumerate(container.get("environment") or []):
            if isinstance(env, str) and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", env):
                p(f"container.environment[{i}]: {env!r} is not KEY=value")
        self.check_security(p, container.get("security"))
        self.check_mounts(p, container.get("mounts"), text)
        entrypoint = container.get("entrypoint")
        if not isinstance(entrypoint, str) or not entrypoint:
            p("container.entrypoint: required")
        elif name:
            self.check_container_rootfs(path, name, entrypoint)

    def check_depends(self, p, depends):
        if depends is None:
            return
        if not isinstance(depends, list):
            p("depends: must be a list")
            return
        for i, dep in enumerate(depends):
            where = f"depends[{i}]"
            if not isinstance(dep, dict) or len(dep) != 1:
                keys = sorted(dep) if isinstance(dep, dict) else dep
                p(f"{where}: each dependency sets exactly one of service, path, network, "
                  f"time, configuration; got {keys!r}")
                continue
            (kind, value), = dep.items()
            if kind == "service":
                if not isinstance(value, str) or not value:
                    p(f"{where}.service: must be a service name")
            elif kind == "path":
                if not isinstance(value, str) or not value.startswith("/"):
                    p(f"{where}.path: must be an absolute path, got {value!r}")
            elif kind == "network":
                if not isinstance(value, list) or not value:
                    p(f"{where}.network: must be a list of "
                      f"{', '.join(sorted(NETWORK_CONDITIONS))}")
                else:
                    for v in value:
                        if v not in NETWORK_CONDITIONS:
                            p(f"{where}.network: unknown condition {v!r} (known: "
                              f"{', '.join(sorted(NETWORK_CONDITIONS))})")
            elif kind in ("time", "configuration"):
                if value is not True:
                    p(f"{where}.{kind}: must be true (leave it out otherwise)")
            else:
                p(f"{where}: unknown dependency kind {kind!r}")

    def check_security(self, p, security):
        if security is None:
            return
        if not isinstance(security, dict):
            p("container.security: must be a map")
            return
        known = {"writeableRootfs", "writeableSysfs", "maskedPaths", "readonlyPaths",
                 "rootfsPropagation"}
        for key, value in security.items():
            where = f"container.security.{key}"
            if key not in known:
                p(f"{where}: unknown field")
            elif key in ("writeableRootfs", "writeableSysfs") and not isinstance(value, bool):
                p(f"{where}: must be true or false")
            elif key in ("maskedPaths", "readonlyPaths") and (
                    not isinstance(value, list) or
                    not all(isinstance(v, str) and v.startswith("/") for v in value)):
                p(f"{where}: must be a list of absolute paths")
            elif key == "rootfsPropagation" and value not in PROPAGATION:
                p(f"{where}: {value!r} is not one of {', '.join(sorted(PROPAGATION - {''}))}")

    def check_mounts(self, p, mounts, text):
        if mounts is None:
            return
        if not isinstance(mounts, list):
            p("container.mounts: must be a list")
            return
        commented = _commented_list_items(text, "mounts")
        for i, m in enumerate(mounts):
            where = f"container.mounts[{i}]"
            if not isinstance(m, dict):
                p(f"{where}: must be a map (source, destination, type, options)")
                continue
            for key in m:
                if key not in ("source", "destination", "type", "options", "uidMappings",
                               "gidMappings"):
                    p(f"{where}.{key}: unknown field")
            for key in ("source", "destination"):
                if not isinstance(m.get(key), str) or not m[key].startswith("/"):
                    p(f"{where}.{key}: must be an absolute path, got {m.get(key)!r}")
            if not isinstance(m.get("type"), str) or not m["type"]:
                p(f"{where}.type: required (bind)")
            options = m.get("options")
            if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
                p(f"{where}.options: must be a list of mount options")
            elif m.get("type") == "bind" and not {"bind", "rbind"} & set(options):
                p(f"{where}.options: a bind mount needs bind or rbind")
            if i < len(commented) and not commented[i]:
                p(f"{where} ({m.get('source')}): no comment above it saying why it is needed")

    def check_container_rootfs(self, spec_path, name, entrypoint):
        root = f"{CONTAINERS}/{name}"
        if self.tree.get(root) is None or self.tree[root].kind != "dir":
            self.problem(spec_path, f"service {name}: its root filesystem {root[7:]} is missing")
            return
        target = self.resolve(root, posixpath.join("/", entrypoint))
        if target is None or self.tree[target].kind != "file":
            self.problem(spec_path, f"container.entrypoint: {entrypoint} is not a file in "
                                    f"{root[7:]}")
        elif not self.tree[target].mode & 0o111:
            self.problem(spec_path, f"container.entrypoint: {entrypoint} is not executable")
        self.check_executables(root)

    def resolve(self, root, path, depth=0):
        """The tree path of `path` inside the container root `root`, following symbolic
        links the way the container sees them; None when it does not exist."""
        parts = [x for x in path.split("/") if x and x != "."]
        current = root
        for i, part in enumerate(parts):
            if part == "..":
                current = posixpath.dirname(current) if current != root else root
                continue
            nxt = current + "/" + part
            entry = self.tree.get(nxt)
            if entry is None:
                return None
            if entry.kind == "symlink":
                if depth > 40:
                    return None
                rest = "/".join(parts[i + 1:])
                base = "/" if entry.target.startswith("/") else current[len(root):] or "/"
                return self.resolve(root, posixpath.join(base, entry.target, rest), depth + 1)
            current = nxt
        return current

    def check_executables(self, root):
        """Every dynamically linked executable under `root` loads inside `root`."""
        for path in sorted(self.tree):
            entry = self.tree[path]
            if not path.startswith(root + "/") or entry.kind != "file" or \
                    not entry.mode & 0o111:
                continue
            try:
                info = parse_elf(entry.data())
            except (ValueError, struct.error, IndexError) as e:
                self.problem(path, f"unreadable ELF file: {e}")
                continue
            if info is None or info.interpreter is None:
                continue  # a script, or a static executable / shared object
            if self.resolve(root, info.interpreter) is None:
                self.problem(path, f"its program interpreter {info.interpreter} is not in the "
                                   f"container's root filesystem")
            for missing in self.missing_libraries(root, path, info):
                self.problem(path, f"needs {missing}, which is not in the container's root "
                                   f"filesystem (searched its run paths and "
                                   f"{', '.join(DEFAULT_LIBRARY_DIRS)})")

    def missing_libraries(self, root, path, info):
        missing, seen = [], set()
        queue = [(path, info)]
        while queue:
            current, elf = queue.pop()
            origin = posixpath.dirname(current[len(root):]) or "/"
            dirs = [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
                    for d in elf.runpaths] + DEFAULT_LIBRARY_DIRS
            for lib in elf.needed:
                if lib in seen:
                    continue
                seen.add(lib)
                found = None
                for d in dirs:
                    found = self.resolve(root, posixpath.join(d, lib))
                    if found is not None and self.tree[found].kind == "file":
                        break
                    found = None
                if found is None:
                    missing.append(lib)
                    continue
                try:
                    sub = parse_elf(self.tree[found].data())
                except (ValueError, struct.error, IndexError):
                    sub = None
                if sub is not None:
                    queue.append((found, sub))
        return missing


def _commented_list_items(text, key):
    """For the YAML list under `key:` in `text`: whether each item has a comment line
    directly above it."""
    lines = text.decode() if isinstance(text, bytes) else text
    lines = lines.splitlines()
    result = []
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)" + re.escape(key) + r":\s*$", line)
        if not m:
            continue
        key_indent = len(m.group(1))
        item_indent = None
        previous = line
        for nxt in lines[i + 1:]:
            stripped = nxt.strip()
            if not stripped:
                continue
            indent = len(nxt) - len(nxt.lstrip())
            if not stripped.startswith("#") and indent <= key_indent and \
                    not stripped.startswith("- "):
                break
            if stripped.startswith("- ") and item_indent is None:
                item_indent = indent
            if stripped.startswith("- ") and indent == item_indent:
                result.append(previous.strip().startswith("#"))
            previous = nxt
        break
    return result


def main():
    ap = argparse.ArgumentParser(description="Check a Talos system extension.")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--image", help="OCI image layout folder or oci-archive tarball")
    src.add_argument("--dir", help="unpacked extension: manifest.yaml and rootfs/")
    a = ap.parse_args()
    label = a.image or a.dir
    try:
        if a.image:
            tree = tree_from_image(a.image)
        elif os.path.isdir(a.dir):
            tree = tree_from_dir(a.dir)
        else:
            raise ImageError(f"{a.dir}: not a folder")
    except (ImageError, OSError, tarfile.TarError) as e:
        print(f"validate_extension: {e}", file=sys.stderr)
        return 2
    v = Validator(tree, label)
    problems = v.run()
    for line in problems:
        print(f"{label}: {line}")
    if problems:
        print(f"{label}: {len(problems)} problem(s)")
        return 1
    meta = (v.manifest or {}).get("metadata", {})
    files = sum(1 for e in tree.values() if e.kind == "file")
    releases = ", ".join(f"v{a}.{b}" for a, b in v.releases)
    print(f"{label}: OK: extension {meta.get('name')} {meta.get('version')}, {files} files, "
          f"paths allowed on Talos {releases}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
