"""Keep each module README's interface section in step with its variables and outputs.

Every `infra/terraform/modules/<name>/README.md` has a hand-written introduction followed by
a generated section between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->` (the markers
terraform-docs uses, so that tool can take over later). This script renders that section
from the module's variables.tf and outputs.tf with python-hcl2, offline.

Usage (from the repository root, with .tools/venv's Python):
    python infra/tests/module_readme.py --write   rewrite the generated sections
    python infra/tests/module_readme.py           check only; exit 1 if any README is stale
"""

from __future__ import annotations

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tfstructure import Block, Violation, child_module_dirs, load_config  # noqa: E402

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
DEFAULT_ROOT = "infra/terraform"


def _raw_attribute(block: Block, module_dir: str, name: str) -> str | None:
    """The source text of `name = ...` inside a block, whitespace collapsed (keeps types readable)."""
    start, end = block.body.get("__start_line__"), block.body.get("__end_line__")
    if not start or not end:
        return None
    with open(os.path.join(module_dir, os.path.basename(block.file)), encoding="utf-8") as handle:
        lines = handle.read().splitlines()[start - 1:end]
    for i, line in enumerate(lines):
        match = re.match(rf"\s*{name}\s*=\s*(.*)$", line)
        if not match:
            continue
        text, depth = match.group(1), 0
        collected = []
        for part in [text] + lines[i + 1:]:
            collected.append(part.strip())
            depth += part.count("(") + part.count("{") + part.count("[")
            depth -= part.count(")") + part.count("}") + part.count("]")
            if depth <= 0:
                break
        joined = collected[0]
        for part in collected[1:]:
            # One attribute per line in HCL: separate them with commas when flattened.
            needs_comma = joined and joined[-1] not in "({[," and part and part[0] not in ")}]"
            joined += (", " if needs_comma else " ") + part
        return re.sub(r"\s+", " ", re.sub(r"([({\[])\s+", r"\1", re.sub(r"\s+([)}\]])", r"\1", joined)))
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>").strip()


def _value(block: Block, key: str):
    value = block.body.get(key)
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def render(module_dir: str) -> str:
    config = load_config(module_dir)
    lines = [BEGIN, "## Inputs", "", "| Name | Type | Default | Required | Description |", "| --- | --- | --- | :---: | --- |"]
    for v in config.variables:
        required = "default" not in v.body
        type_text = _raw_attribute(v, module_dir, "type") or str(_value(v, "type"))
        default = "" if required else _raw_attribute(v, module_dir, "default") or json.dumps(_value(v, "default"))
        if default.startswith("<<"):
            default = "(multi-line)"
        lines.append(
            f"| `{v.name}` | `{_cell(type_text)}` | {f'`{_cell(default)}`' if default else 'n/a'} | "
            f"{'yes' if required else 'no'} | {_cell(str(_value(v, 'description') or ''))} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description | Sensitive |", "| --- | --- | :---: |"]
    for o in config.outputs:
        sensitive = "yes" if _value(o, "sensitive") is True else "no"
        lines.append(f"| `{o.name}` | {_cell(str(_value(o, 'description') or ''))} | {sensitive} |")
    resources = sorted(f"`{rtype}.{block.name}`" for rtype, block in config.resources)
    lines += ["", "## Resources", "", ", ".join(resources) if resources else "None.", END]
    return "\n".join(lines)


def check_readme(module_dir: str, base: str) -> list[Violation]:
    path = os.path.join(module_dir, "README.md")
    rel = os.path.relpath(path, base)
    if not os.path.isfile(path):
        return []  # reported by tfstructure as module-missing-file
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if BEGIN not in text or END not in text:
        return [Violation("module-readme-stale", rel, f"no {BEGIN} ... {END} section")]
    current = text[text.index(BEGIN):text.index(END) + len(END)]
    if current != render(module_dir):
        return [Violation("module-readme-stale", rel, "interface section differs from variables.tf/outputs.tf; "
                          "run: .tools/venv/bin/python infra/tests/module_readme.py --write")]
    return []


def write_readme(module_dir: str) -> bool:
    path = os.path.join(module_dir, "README.md")
    if not os.path.isfile(path):
        return False  # a missing README is reported by tfstructure (module-missing-file); write the intro first
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if BEGIN not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    updated = text[:text.index(BEGIN)] + render(module_dir) + text[text.index(END) + len(END):]
    if updated != text:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(updated)
        return True
    return False


def main(argv: list[str]) -> int:
    write = "--write" in argv
    args = [a for a in argv if a != "--write"]
    root = args[0] if args else DEFAULT_ROOT
    stale = []
    for module_dir in child_module_dirs(root):
        if write:
            if write_readme(module_dir):
                print(f"module-readme: rewrote {os.path.join(module_dir, 'README.md')}")
        else:
            stale += check_readme(module_dir, root)
    for violation in stale:
        print(violation)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
