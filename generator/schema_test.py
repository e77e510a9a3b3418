"""Validates talosgen's output against the reference JSON schemas in ../shared.

Talos (draft 2020-12 schemas, one $defs entry per document kind):
  * every document of every generated patch is checked against its kind's definition.
    A patch is partial, so `required` is not enforced there (KubeProxyConfig requires
    `image`, which the patch rightly leaves to the base config); `$patch` markers are
    instructions, not fields, and are removed first. Every other rule (unknown fields:
    additionalProperties false, types, enums, patterns) applies.
  * the merged config (the `talosctl gen config` example + the patch, merged by talosgen)
    is a full config and is checked completely, `required` included, against the schema's
    top-level oneOf. The examples carry `persist: true`, a deprecated field the schemas
    omit (FACTS §3); it is removed from the merged v1alpha1 document before checking.
  * legacy patches are checked against the 1.11, 1.12 and 1.13 schemas, multi-document
    patches against the 1.14 schema.
Cilium (draft-07 chart schemas without additionalProperties: false):
  * every values file validates, and every key path in it exists in that chart's schema,
    so a misspelt or removed key fails too. The one exception is kubeProxyReplacement on
    1.16, which that chart documents only as a comment (Cilium FACTS §1).
"""
import argparse
import copy
import json
import os
import subprocess
import sys

import jsonschema
import yaml

failures = []
quiet = False


def fail(msg):
    failures.append(msg)
    if not quiet:
        print("FAIL:", msg)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr}")
    return p.stdout


def strip_patch_markers(node):
    if isinstance(node, dict):
        return {k: strip_patch_markers(v) for k, v in node.items()
                if k != "$patch" and not (isinstance(v, dict) and v.get("$patch") == "delete")}
    if isinstance(node, list):
        return [strip_patch_markers(v) for v in node]
    return node


def talos_def_for(schema, doc):
    if "kind" not in doc:
        return "v1alpha1.Config"
    for name, d in schema["$defs"].items():
        kind = d.get("properties", {}).get("kind", {}).get("enum", [])
        if doc["kind"] in kind:
            return name
    return None


PartialValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"required": lambda *args: iter(())})


def check_patch_docs(schema, schema_name, label, text):
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    if not docs:
        fail(f"{label}: no documents")
    for doc in docs:
        def_name = talos_def_for(schema, doc)
        if def_name is None:
            fail(f"{label}: kind {doc.get('kind')} is not in {schema_name}")
            continue
        sub = {"$schema": schema["$schema"], "$defs": schema["$defs"],
               "$ref": f"#/$defs/{def_name}"}
        for e in PartialValidator(sub).iter_errors(strip_patch_markers(doc)):
            fail(f"{label}: {def_name} against {schema_name}: {list(e.absolute_path)}: {e.message}")


def check_merged(schema, schema_name, label, text):
    validator = jsonschema.Draft202012Validator(schema)
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        doc = copy.deepcopy(doc)
        if "kind" not in doc:
            doc.pop("persist", None)  # deprecated, omitted by the schemas (FACTS §3)
        def_name = talos_def_for(schema, doc) or "?"
        errors = list(validator.iter_errors(doc))
        if errors:
            # oneOf hides the cause: re-check against the document's own definition.
            sub = {"$schema": schema["$schema"], "$defs": schema["$defs"],
                   "$ref": f"#/$defs/{def_name}"}
            detail = [f"{list(e.absolute_path)}: {e.message}"
                      for e in jsonschema.Draft202012Validator(sub).iter_errors(doc)]
            fail(f"{label}: merged {def_name} invalid against {schema_name}: {detail[:3]}")


def schema_paths(schema, node, prefix=""):
    """Yields key paths of `node` that `schema` does not declare."""
    if not isinstance(node, dict):
        return
    props = schema.get("properties", {})
    for k, v in node.items():
        path = f"{prefix}{k}"
        if k not in props:
            yield path
            continue
        yield from schema_paths(props[k], v, path + ".")


def check_values(schema, version, label, text):
    values = yaml.safe_load(text)
    for e in jsonschema.Draft7Validator(schema).iter_errors(values):
        fail(f"{label}: {list(e.absolute_path)}: {e.message}")
    allowed_unknown = {"kubeProxyReplacement"} if version.startswith("1.16.") else set()
    for path in schema_paths(schema, values):
        if path not in allowed_unknown:
            fail(f"{label}: {path} is not a key of the {version} chart")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--talosgen", required=True)
    ap.add_argument("--merge-tool", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--testdata", required=True)
    a = ap.parse_args()
    talos_ref = os.path.join(a.shared, "reference", "talos")
    cilium_ref = os.path.join(a.shared, "reference", "cilium")
    specs = [None] + [os.path.join(a.testdata, "specs", s) for s in ("full.yaml", "masquerade.yaml")]
    tmp = os.environ.get("TEST_TMPDIR", "/tmp")
    checked = 0

    layouts = [
        ("v1.13.9", ["config.schema.v1.11.0.json", "config.schema.v1.12.11.json",
                     "config.schema.v1.13.9.json"], "config.schema.v1.13.9.json", "v1.13"),
        ("v1.14.0", ["config.schema.v1.14.json"], "config.schema.v1.14.json", "v1.14"),
    ]
    schemas = {}
    for talos, partial_schemas, merged_schema, example in layouts:
        for name in set(partial_schemas + [merged_schema]):
            if name not in schemas:
                schemas[name] = json.load(open(os.path.join(talos_ref, name)))
        for role in ("controlplane", "worker"):
            for cni in ("weft", "cilium"):
                for spec in specs:
                    args = [a.talosgen, "patch", "--role", role, "--talos-version", talos,
                            "--cni", cni] + (["--spec", spec] if spec else [])
                    label = f"patch {talos} {role} {cni} {os.path.basename(spec or 'defaults')}"
                    text = run(args)
                    for name in partial_schemas:
                        check_patch_docs(schemas[name], name, label, text)
                    patch_file = os.path.join(tmp, "patch.yaml")
                    with open(patch_file, "w") as f:
                        f.write(text)
                    base = os.path.join(talos_ref, "examples", f"{example}-base-{role}.yaml")
                    merged = run([a.merge_tool, base, patch_file])
                    check_merged(schemas[merged_schema], merged_schema, label, merged)
                    checked += 1

    # talosgen credentials: the ExtensionServiceConfig is a complete document (required
    # fields enforced) for every schema, alone and merged into the worker examples.
    for bundle in ("ecdsa", "rsa", "ed25519"):
        secrets = os.path.join(a.testdata, "secrets", f"{bundle}.yaml")
        text = run([a.talosgen, "credentials", "--secrets", secrets, "--node-name", "worker-1"])
        label = f"credentials {bundle}"
        kinds = [d.get("kind") for d in yaml.safe_load_all(text) if d is not None]
        if kinds != ["ExtensionServiceConfig"]:
            fail(f"{label}: documents {kinds}, want one ExtensionServiceConfig")
        for name in ("config.schema.v1.11.0.json", "config.schema.v1.12.11.json",
                     "config.schema.v1.13.9.json", "config.schema.v1.14.json"):
            check_merged(schemas[name], name, label, text)
        cred_file = os.path.join(tmp, "credentials.yaml")
        with open(cred_file, "w") as f:
            f.write(text)
        for example, schema_name in (("v1.13", "config.schema.v1.13.9.json"),
                                     ("v1.14", "config.schema.v1.14.json")):
            base = os.path.join(talos_ref, "examples", f"{example}-base-worker.yaml")
            merged = run([a.merge_tool, base, cred_file])
            check_merged(schemas[schema_name], schema_name, f"{label} + {example} worker", merged)
        checked += 1

    for version in ("1.16.6", "1.19.6", "1.20.0"):
        schema = json.load(open(os.path.join(cilium_ref, f"values.schema-v{version}.json")))
        for spec in specs:
            args = [a.talosgen, "values", "--chart-version", version] + (["--spec", spec] if spec else [])
            check_values(schema, version, f"values {version} {os.path.basename(spec or 'defaults')}",
                         run(args))
            checked += 1

    # The checks must be able to fail: a misspelt key and a wrong type are caught.
    global quiet
    quiet = True
    before = len(failures)
    check_values(json.load(open(os.path.join(cilium_ref, "values.schema-v1.20.0.json"))), "1.20.0",
                 "self-test", "kubeProxyReplacment: true\noperator:\n  replicas: two\n")
    check_patch_docs(schemas["config.schema.v1.14.json"], "config.schema.v1.14.json", "self-test",
                     "apiVersion: v1alpha1\nkind: KubeProxyConfig\nenable: false\n")
    if len(failures) - before != 3:
        print(f"self-test: expected 3 failures, got {len(failures) - before}")
        return 1
    del failures[before:]
    quiet = False

    print(f"{checked} outputs checked, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
