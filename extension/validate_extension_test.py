"""validate_extension.py: a clean extension passes; each broken rule gives its own error.

  validate_extension_test.py STATIC_BINARY DYNAMIC_BINARY SERVICE_SPEC MANIFEST

Every case starts from a clean extension folder (the real manifest and service spec, a
static binary as the entrypoint), breaks one thing, and expects exactly one problem
line containing the expected text.
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import validate_extension  # noqa: E402

STATIC_BINARY, DYNAMIC_BINARY, SERVICE_SPEC, MANIFEST = [os.path.abspath(a) for a in
                                                         sys.argv[1:5]]
CONTAINER = "rootfs/usr/local/lib/containers/weft"
SPEC = "rootfs/usr/local/etc/containers/weft.yaml"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class ValidateExtensionTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        os.umask(0o022)
        self.write("manifest.yaml", read(MANIFEST))
        self.write(SPEC, read(SERVICE_SPEC))
        self.copy(STATIC_BINARY, f"{CONTAINER}/usr/local/bin/weft-agent")

    def tearDown(self):
        shutil.rmtree(self.root)

    def path(self, rel):
        return os.path.join(self.root, rel)

    def write(self, rel, text, mode=0o644):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(self.path(rel), mode)

    def copy(self, src, rel):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        shutil.copyfile(src, self.path(rel))
        os.chmod(self.path(rel), 0o755)

    def edit(self, rel, old, new):
        text = read(self.path(rel))
        self.assertIn(old, text, f"fixture: {old!r} not in {rel}")
        self.write(rel, text.replace(old, new, 1))

    def problems(self):
        tree = validate_extension.tree_from_dir(self.root)
        return validate_extension.Validator(tree, self.root).run()

    def assertOneProblem(self, *fragments):
        problems = self.problems()
        self.assertEqual(len(problems), 1, "\n".join(problems))
        for fragment in fragments:
            self.assertIn(fragment, problems[0])
        return problems[0]

    # ---- clean ----

    def test_clean_extension_passes(self):
        self.assertEqual(self.problems(), [])

    def test_command_line_exit_codes(self):
        ok = subprocess.run([sys.executable, validate_extension.__file__, "--dir", self.root],
                            capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertIn("OK: extension weft", ok.stdout)
        os.chmod(self.path(SPEC), 0o666)
        bad = subprocess.run([sys.executable, validate_extension.__file__, "--dir", self.root],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("world-writable", bad.stdout)
        missing = subprocess.run([sys.executable, validate_extension.__file__, "--dir",
                                  self.path("nope")], capture_output=True, text=True)
        self.assertEqual(missing.returncode, 2)

    # ---- the image's top level and manifest ----

    def test_unexpected_top_level_file(self):
        self.write("README.md", "hello\n")
        self.assertOneProblem("README.md: unexpected file at the top of the image")

    def test_manifest_wrong_version(self):
        self.edit("manifest.yaml", "version: v1alpha1", "version: v1alpha2")
        self.assertOneProblem("manifest.yaml: version: must be v1alpha1, got 'v1alpha2'")

    def test_manifest_without_author(self):
        self.edit("manifest.yaml", "  author: Weft authors\n", "")
        self.assertOneProblem("manifest.yaml: metadata.author: required")

    def test_manifest_unknown_field(self):
        self.edit("manifest.yaml", "  author:", "  homepage: https://example.com\n  author:")
        self.assertOneProblem("manifest.yaml: metadata.homepage: unknown field")

    def test_manifest_unquoted_numeric_version(self):
        text = read(self.path("manifest.yaml"))
        version_line = next(l for l in text.splitlines() if l.startswith("  version:"))
        self.edit("manifest.yaml", version_line, "  version: 1.5")
        self.assertOneProblem("metadata.version: must be a string (quote it)")

    def test_manifest_bad_compatibility_range(self):
        self.edit("manifest.yaml", '">= v1.11.0"', '"newer than 1.11"')
        self.assertOneProblem("metadata.compatibility.talos.version: 'newer than 1.11' is not a "
                              "version range")

    def test_manifest_missing(self):
        os.remove(self.path("manifest.yaml"))
        self.assertOneProblem("manifest.yaml: missing")

    # ---- rootfs content ----

    def test_world_writable_file(self):
        os.chmod(self.path(f"{CONTAINER}/usr/local/bin/weft-agent"), 0o777)
        self.assertOneProblem(f"{CONTAINER}/usr/local/bin/weft-agent: world-writable "
                              "(mode 0777)")

    def test_world_writable_folder(self):
        os.makedirs(self.path(f"{CONTAINER}/var/lib/weft"))
        os.chmod(self.path(f"{CONTAINER}/var/lib/weft"), 0o1777)
        self.assertOneProblem(f"{CONTAINER}/var/lib/weft: world-writable (mode 1777)")

    def test_symlink_is_fine(self):
        os.symlink("weft-agent", self.path(f"{CONTAINER}/usr/local/bin/agent"))
        self.assertEqual(self.problems(), [])

    def test_special_file(self):
        os.mkfifo(self.path(f"{CONTAINER}/fifo"), 0o600)
        self.assertOneProblem(f"{CONTAINER}/fifo: special file")

    def test_path_outside_the_allowed_ones(self):
        self.write("rootfs/etc/weft/agent.yaml", "nodeName: x\n")
        problems = self.problems()
        self.assertEqual(len(problems), 2, "\n".join(problems))  # the folder and the file
        self.assertIn("rootfs/etc/weft: /etc/weft is outside the paths Talos v1.11 lets an "
                      "extension add", problems[0])
        self.assertIn("rootfs/etc/weft/agent.yaml: /etc/weft/agent.yaml is outside",
                      problems[1])

    def test_allowed_paths_follow_the_claimed_releases(self):
        # /usr/lib/firmware is allowed since the usr-merge (1.10); 1.9 wanted /lib/firmware.
        self.write("rootfs/usr/lib/firmware/weft.bin", "x")
        self.assertEqual(self.problems(), [])
        self.edit("manifest.yaml", '">= v1.11.0"', '">= v1.9.0"')
        problems = self.problems()
        self.assertTrue(problems)
        self.assertTrue(all("Talos v1.9 lets" in p for p in problems), "\n".join(problems))

    # ---- the service spec ----

    def test_bad_restart(self):
        self.edit(SPEC, "restart: always", "restart: sometimes")
        self.assertOneProblem(f"{SPEC}: restart: must be always, never or untilSuccess, got "
                              "'sometimes'")

    def test_missing_restart(self):
        self.edit(SPEC, "restart: always", "")
        self.assertOneProblem("restart: must be always, never or untilSuccess, got None")

    def test_unknown_field_in_spec(self):
        self.edit(SPEC, "restart: always", "restart: always\nrestartDelay: 5s")
        self.assertOneProblem(f"{SPEC}: restartDelay: unknown field")

    def test_dependency_with_two_kinds(self):
        self.edit(SPEC, "  - configuration: true", "  - configuration: true\n    time: true")
        self.assertOneProblem("depends[1]: each dependency sets exactly one of")

    def test_unknown_network_condition(self):
        self.edit(SPEC, "      - connectivity", "      - internet")
        self.assertOneProblem("depends[0].network: unknown condition 'internet'")

    def test_relative_dependency_path(self):
        self.edit(SPEC, "  - configuration: true", "  - configuration: true\n  - path: run/x")
        self.assertOneProblem("depends[2].path: must be an absolute path, got 'run/x'")

    def test_bad_service_name(self):
        self.edit(SPEC, "name: weft", "name: Weft")
        self.assertOneProblem("name: 'Weft' does not match")

    def test_environment_file_is_refused(self):
        self.edit(SPEC, "  args:", "  environmentFile: /var/lib/weft/env\n  args:")
        self.assertOneProblem("container.environmentFile: deprecated since Talos 1.7")

    def test_entrypoint_missing(self):
        os.remove(self.path(f"{CONTAINER}/usr/local/bin/weft-agent"))
        self.assertOneProblem("container.entrypoint: /usr/local/bin/weft-agent is not a file "
                              "in /usr/local/lib/containers/weft")

    def test_entrypoint_not_executable(self):
        os.chmod(self.path(f"{CONTAINER}/usr/local/bin/weft-agent"), 0o644)
        self.assertOneProblem("container.entrypoint: /usr/local/bin/weft-agent is not "
                              "executable")

    def test_service_root_filesystem_missing(self):
        shutil.rmtree(self.path(CONTAINER))
        self.assertOneProblem("service weft: its root filesystem "
                              "/usr/local/lib/containers/weft is missing")

    def test_mount_without_comment(self):
        text = read(self.path(SPEC))
        start = text.index("    # The agent installs the weft-cni plugin")
        end = text.index("\n", start)
        self.write(SPEC, text[:start] + text[end + 1:])
        self.assertOneProblem("container.mounts[2] (/opt/cni/bin): no comment above it")

    def test_bind_mount_without_bind_option(self):
        self.edit(SPEC, "        - bind\n        - ro", "        - ro")
        self.assertOneProblem("container.mounts[1].options: a bind mount needs bind or rbind")

    def test_relative_mount_destination(self):
        self.edit(SPEC, "destination: /opt/cni/bin", "destination: opt/cni/bin")
        self.assertOneProblem("container.mounts[2].destination: must be an absolute path")

    def test_unknown_security_setting(self):
        self.edit(SPEC, "    writeableRootfs: false", "    privileged: true")
        self.assertOneProblem("container.security.privileged: unknown field")

    # ---- self-sufficient root filesystem ----

    def test_dynamic_binary_without_its_libraries(self):
        self.copy(DYNAMIC_BINARY, f"{CONTAINER}/usr/local/bin/weft")
        problems = self.problems()
        self.assertTrue(problems)
        self.assertIn("its program interpreter /lib64/ld-linux-x86-64.so.2 is not in the "
                      "container's root filesystem", problems[0])
        self.assertTrue(any("needs libc.so.6, which is not in the container" in p
                            for p in problems), "\n".join(problems))

    def test_dynamic_binary_with_its_libraries(self):
        self.copy(DYNAMIC_BINARY, f"{CONTAINER}/usr/local/bin/weft")
        out = subprocess.run(["/usr/bin/ldd", DYNAMIC_BINARY], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts else parts[0]
            if path.startswith("/"):
                self.copy(os.path.realpath(path), f"{CONTAINER}{path}")
        self.assertEqual(self.problems(), [])
        # ... and one library less is caught, by name.
        libc = [p for p in os.listdir(self.path(f"{CONTAINER}/lib/x86_64-linux-gnu"))
                if p.startswith("libstdc++")][0]
        os.remove(self.path(f"{CONTAINER}/lib/x86_64-linux-gnu/{libc}"))
        self.assertOneProblem(f"{CONTAINER}/usr/local/bin/weft: needs {libc}, which is not in")


class VersionRangeTest(unittest.TestCase):
    def test_ranges(self):
        r = validate_extension.releases_in_range
        self.assertEqual(r(">= v1.11.0"), [(1, 11), (1, 12), (1, 13), (1, 14)])
        self.assertEqual(r(">=1.12.0 <1.14.0"), [(1, 12), (1, 13)])
        self.assertEqual(r(">= v1.13.4"), [(1, 13), (1, 14)])
        self.assertEqual(r("v1.8.0 || >= v1.14.0"), [(1, 8), (1, 14)])
        self.assertEqual(r("< v1.0.0"), [])
        self.assertIsNone(r("soon"))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
