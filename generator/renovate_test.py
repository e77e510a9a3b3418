"""Every pin in pins.yaml is found by renovate.json's regex custom manager, with the
datasource and depName talosgen reads, and the update policy is: patch auto-merges,
minor/major wait for a human."""
import json
import re
import sys


def js_to_python_regex(pattern):
    # Renovate uses JavaScript named groups (?<name>...); Python spells them (?P<name>...).
    return re.sub(r"\(\?<(?=[A-Za-z])", "(?P<", pattern)


def main(pins_path, renovate_path):
    pins_text = open(pins_path).read()
    config = json.load(open(renovate_path))
    failures = []

    managers = [m for m in config.get("customManagers", []) if m.get("customType") == "regex"]
    pins_managers = [
        m for m in managers
        if any(re.search(p.strip("/"), "pins.yaml") for p in m.get("managerFilePatterns", []))
    ]
    if not pins_managers:
        failures.append("no regex customManager whose managerFilePatterns match pins.yaml")

    found = {}
    for m in pins_managers:
        for pattern in m["matchStrings"]:
            for match in re.finditer(js_to_python_regex(pattern), pins_text):
                found[match.group("depName")] = match.groupdict()

    # The pins, as talosgen reads them: `name: value` lines outside comments.
    pins = []
    lines = pins_text.splitlines()
    for i, line in enumerate(lines):
        if not line or line.startswith("#") or line.startswith(" "):
            continue
        name, value = [s.strip() for s in line.split(":", 1)]
        annotation = lines[i - 1] if i > 0 else ""
        dep = re.search(r"depName=(\S+)", annotation)
        if not dep:
            failures.append(f"line {i + 1}: {name} has no renovate annotation directly above")
            continue
        pins.append((i + 1, name, value.strip('"'), dep.group(1)))

    if len(pins) < 4:
        failures.append(f"expected at least 4 pins, found {len(pins)}")
    for line, name, value, dep in pins:
        m = found.get(dep)
        if m is None:
            failures.append(f"line {line}: pin {name} ({dep}) is not matched by the regex")
        elif m["currentValue"] != value:
            failures.append(f"line {line}: {name}: regex reads {m['currentValue']!r}, pin is {value!r}")
        elif not m.get("datasource"):
            failures.append(f"line {line}: {name}: no datasource captured")

    rules = config.get("packageRules", [])
    def rule_for(update_type):
        return [r for r in rules if update_type in r.get("matchUpdateTypes", [])]
    if not any(r.get("automerge") is True for r in rule_for("patch")):
        failures.append("patch updates must auto-merge")
    for t in ("minor", "major"):
        rs = rule_for(t)
        if not rs or any(r.get("automerge", False) for r in rs):
            failures.append(f"{t} updates must not auto-merge (a human reviews them)")

    # The test must be able to fail: a pin without annotation is caught.
    broken = pins_text + "\nextra: v1.0.0\n"
    if any(m for p in pins_managers for pat in p["matchStrings"]
           for m in re.finditer(js_to_python_regex(pat), broken)
           if m.group("currentValue") == "v1.0.0" and m.group("depName") not in found):
        failures.append("regex matched an unannotated line")

    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print(f"{len(pins)} pins, all tracked by renovate.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
