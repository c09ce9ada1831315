"""Offline structural checks of a Terraform configuration (a root module and its local modules).

`terraform validate` needs the provider binaries, which cannot be downloaded offline, so
this module reads the HCL with python-hcl2 and checks what a careless edit breaks most
often and what `validate` would only report in the pipeline, or never:

  module-unknown-argument     a module call passes an argument the module does not declare
  module-missing-argument     a module call omits a variable that has no default
  module-missing-source       a local module source points at no directory
  module-unknown-call         an expression references `module.<name>` that is not declared
  module-unknown-output       an expression reads `module.<name>.<output>` the module does not output
  variable-missing-type       a variable has no `type`
  variable-missing-description  a variable has no (non-empty) `description`
  output-missing-description  an output has no (non-empty) `description`
  variable-order              variables are not required-first, then optional, each alphabetical
  output-order                outputs are not alphabetical
  module-missing-this         a child module has no resource named `this` (its main resource)
  module-missing-file         a child module lacks main.tf, variables.tf, outputs.tf or README.md
  secret-output-not-sensitive an output reads a secret attribute but is not `sensitive = true`
  root-outputs-secret         the root outputs a sensitive value (secrets are not output at all)
  tfvars-unknown-variable     a .tfvars file sets a variable the root does not declare
  tfvars-missing-required     a .tfvars file leaves a required root variable unset

Each check returns a list of Violation(rule, where, message); an empty list means clean.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field

import hcl2

META_ARGUMENTS = {"source", "version", "count", "for_each", "depends_on", "providers"}
PARSER_KEYS = {"__start_line__", "__end_line__"}
REQUIRED_MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "README.md")

# A module reference inside an expression: module.NAME, module.NAME[0].OUT, module.NAME[*].OUT ...
MODULE_REF = re.compile(r"\bmodule\.([A-Za-z_][\w-]*)((?:\[[^\]]*\])*)(?:\.([A-Za-z_][\w-]*))?")
# Resource attributes that hold credentials (keys, connection strings, passwords).
SECRET_ATTRIBUTE = re.compile(
    r"\.(?:primary_|secondary_)?(?:access_key|connection_string|blob_connection_string|"
    r"instrumentation_key|password|client_secret|sas_url|admin_password)\b"
    r"|\bazurerm_key_vault_secret\.[\w-]+(?:\[[^\]]*\])?\.value\b"
)


@dataclass(frozen=True)
class Violation:
    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


@dataclass
class Block:
    """One variable, output, module call or resource, with where it was declared."""

    name: str
    body: dict
    file: str
    line: int | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass
class Config:
    """Every .tf file of one directory (Terraform's unit of configuration)."""

    path: str
    variables: list[Block] = field(default_factory=list)
    outputs: list[Block] = field(default_factory=list)
    modules: list[Block] = field(default_factory=list)
    resources: list[tuple[str, Block]] = field(default_factory=list)
    expressions: list[tuple[str, str]] = field(default_factory=list)  # (where, "${...}" string)

    def variable(self, name: str) -> Block | None:
        return next((v for v in self.variables if v.name == name), None)

    def output(self, name: str) -> Block | None:
        return next((o for o in self.outputs if o.name == name), None)


def _first(value):
    """python-hcl2 wraps attribute values in one-element lists."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in PARSER_KEYS:
                yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _named_blocks(parsed: dict, kind: str, rel: str):
    for entry in parsed.get(kind, []):
        for name, body in entry.items():
            yield Block(name, body, rel, body.get("__start_line__") if isinstance(body, dict) else None)


def load_config(path: str, base: str | None = None) -> Config:
    """Parse every .tf file of `path`; file names in messages are relative to `base`."""
    base = base or path
    config = Config(path=path)
    for file in sorted(glob.glob(os.path.join(path, "*.tf"))):
        rel = os.path.relpath(file, base)
        with open(file, encoding="utf-8") as handle:
            try:
                parsed = hcl2.load(handle)
            except Exception as error:  # python-hcl2 raises lark errors of several types
                raise SyntaxError(f"{rel}: cannot parse HCL: {error}") from error
        config.variables.extend(_named_blocks(parsed, "variable", rel))
        config.outputs.extend(_named_blocks(parsed, "output", rel))
        config.modules.extend(_named_blocks(parsed, "module", rel))
        for entry in parsed.get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    config.resources.append((rtype, Block(name, body, rel, body.get("__start_line__"))))
        for text in _strings(parsed):
            if "${" in text:
                config.expressions.append((rel, text))
    return config


def _is_required(variable: Block) -> bool:
    return "default" not in variable.body


def _text(block: Block, key: str) -> str:
    value = _first(block.body.get(key))
    return value.strip() if isinstance(value, str) else ""


def module_source_dir(config: Config, call: Block) -> str | None:
    source = _first(call.body.get("source"))
    if not isinstance(source, str) or not source.startswith(("./", "../")):
        return None  # registry or remote module: not checked offline
    return os.path.normpath(os.path.join(config.path, source))


# --- checks on one configuration ------------------------------------------------------


def check_variables(config: Config) -> list[Violation]:
    found = []
    for v in config.variables:
        if "type" not in v.body:
            found.append(Violation("variable-missing-type", v.where, f"variable \"{v.name}\" has no type"))
        if not _text(v, "description"):
            found.append(Violation("variable-missing-description", v.where, f"variable \"{v.name}\" has no description"))
    return found


def check_outputs(config: Config) -> list[Violation]:
    return [
        Violation("output-missing-description", o.where, f"output \"{o.name}\" has no description")
        for o in config.outputs
        if not _text(o, "description")
    ]


def check_order(config: Config) -> list[Violation]:
    """AVM habit: variables required-first then optional, each group alphabetical; outputs alphabetical."""
    found = []
    by_file: dict[str, list[Block]] = {}
    for v in config.variables:
        by_file.setdefault(v.file, []).append(v)
    for file, variables in by_file.items():
        actual = [v.name for v in variables]
        expected = sorted(v.name for v in variables if _is_required(v)) + sorted(
            v.name for v in variables if not _is_required(v)
        )
        if actual != expected:
            first = next(i for i, (a, e) in enumerate(zip(actual, expected)) if a != e)
            found.append(Violation(
                "variable-order", file,
                f"variable \"{actual[first]}\" is out of place; expected required variables first, then optional "
                f"ones, each alphabetical: {', '.join(expected)}",
            ))
    outputs_by_file: dict[str, list[str]] = {}
    for o in config.outputs:
        outputs_by_file.setdefault(o.file, []).append(o.name)
    for file, names in outputs_by_file.items():
        if names != sorted(names):
            found.append(Violation("output-order", file, f"outputs are not alphabetical; expected: {', '.join(sorted(names))}"))
    return found


def check_secret_outputs(config: Config) -> list[Violation]:
    found = []
    for o in config.outputs:
        value = " ".join(_strings(o.body.get("value")))
        if SECRET_ATTRIBUTE.search(value) and _first(o.body.get("sensitive")) is not True:
            found.append(Violation(
                "secret-output-not-sensitive", o.where,
                f"output \"{o.name}\" reads a secret attribute ({SECRET_ATTRIBUTE.search(value).group(0).strip('.')}) "
                "but is not marked sensitive = true",
            ))
    return found


def check_module_calls(config: Config, children: dict[str, Config | None]) -> list[Violation]:
    found = []
    for call in config.modules:
        child_dir = module_source_dir(config, call)
        if child_dir is None:
            continue
        child = children.get(call.name)
        if child is None:
            found.append(Violation(
                "module-missing-source", call.where,
                f"module \"{call.name}\": source {_first(call.body.get('source'))!r} is not a directory",
            ))
            continue
        declared = {v.name for v in child.variables}
        passed = {k for k in call.body if k not in META_ARGUMENTS and k not in PARSER_KEYS}
        for name in sorted(passed - declared):
            found.append(Violation(
                "module-unknown-argument", call.where,
                f"module \"{call.name}\" passes \"{name}\", which {os.path.relpath(child_dir, config.path)} does not declare",
            ))
        for v in child.variables:
            if _is_required(v) and v.name not in passed:
                found.append(Violation(
                    "module-missing-argument", call.where,
                    f"module \"{call.name}\" omits required variable \"{v.name}\" (it has no default)",
                ))
    return found


def check_module_references(config: Config, children: dict[str, Config | None]) -> list[Violation]:
    found = []
    calls = {c.name for c in config.modules}
    seen = set()
    for where, text in config.expressions:
        for match in MODULE_REF.finditer(text):
            name, _index, output = match.groups()
            key = (where, name, output)
            if key in seen:
                continue
            seen.add(key)
            if name not in calls:
                found.append(Violation("module-unknown-call", where, f"reference to module.{name}, which is not declared here"))
                continue
            child = children.get(name)
            if child is None or output is None:
                continue
            if child.output(output) is None:
                found.append(Violation(
                    "module-unknown-output", where,
                    f"module.{name}.{output}: module \"{name}\" has no output \"{output}\" "
                    f"(it has: {', '.join(sorted(o.name for o in child.outputs)) or 'none'})",
                ))
    return found


def check_root_secrets(config: Config, children: dict[str, Config | None]) -> list[Violation]:
    """The root outputs no secret: nothing sensitive, nothing read from a sensitive module output."""
    found = []
    for o in config.outputs:
        if _first(o.body.get("sensitive")) is True:
            found.append(Violation("root-outputs-secret", o.where, f"root output \"{o.name}\" is sensitive: keep secrets out of the root outputs"))
            continue
        for match in MODULE_REF.finditer(" ".join(_strings(o.body.get("value")))):
            name, _index, output = match.groups()
            child = children.get(name)
            target = child.output(output) if child and output else None
            if target is not None and _first(target.body.get("sensitive")) is True:
                found.append(Violation(
                    "root-outputs-secret", o.where,
                    f"root output \"{o.name}\" exposes module.{name}.{output}, which is sensitive",
                ))
    return found


def check_child_module(child: Config, rel: str) -> list[Violation]:
    found = []
    if not any(name == "this" for _type, name in ((t, b.name) for t, b in child.resources)):
        found.append(Violation("module-missing-this", rel, "no resource named \"this\" (the module's main resource)"))
    for name in REQUIRED_MODULE_FILES:
        if not os.path.isfile(os.path.join(child.path, name)):
            found.append(Violation("module-missing-file", rel, f"missing {name}"))
    return found


def check_tfvars(root: Config, tfvars_files: list[str], base: str) -> list[Violation]:
    found = []
    declared = {v.name for v in root.variables}
    required = {v.name for v in root.variables if _is_required(v)}
    for file in tfvars_files:
        rel = os.path.relpath(file, base)
        with open(file, encoding="utf-8") as handle:
            values = hcl2.load(handle)
        keys = {k for k in values if k not in PARSER_KEYS}
        for name in sorted(keys - declared):
            found.append(Violation("tfvars-unknown-variable", rel, f"sets \"{name}\", which the root module does not declare"))
        for name in sorted(required - keys):
            found.append(Violation("tfvars-missing-required", rel, f"does not set required variable \"{name}\""))
    return found


# --- a whole tree -----------------------------------------------------------------------


def check_tree(root_dir: str) -> list[Violation]:
    """Check the root module in `root_dir`, every local module it calls (recursively), and
    every `envs/*.tfvars` next to it."""
    root_dir = os.path.normpath(root_dir)
    found: list[Violation] = []
    loaded: dict[str, Config] = {}
    pending = [root_dir]
    while pending:
        path = pending.pop()
        if path in loaded:
            continue
        config = load_config(path, base=root_dir)
        loaded[path] = config
        for call in config.modules:
            child_dir = module_source_dir(config, call)
            if child_dir and os.path.isdir(child_dir) and child_dir not in loaded:
                pending.append(child_dir)

    for path in sorted(loaded):
        config = loaded[path]
        children = {}
        for call in config.modules:
            child_dir = module_source_dir(config, call)
            children[call.name] = loaded.get(child_dir) if child_dir else None
        found += check_variables(config)
        found += check_outputs(config)
        found += check_order(config)
        found += check_secret_outputs(config)
        found += check_module_calls(config, children)
        found += check_module_references(config, children)
        if path == root_dir:
            found += check_root_secrets(config, children)
        else:
            found += check_child_module(config, os.path.relpath(path, root_dir))

    tfvars = sorted(glob.glob(os.path.join(root_dir, "envs", "*.tfvars")))
    found += check_tfvars(loaded[root_dir], tfvars, root_dir)
    return found


def child_module_dirs(root_dir: str) -> list[str]:
    """Directories of the local modules the root calls (one level)."""
    root = load_config(root_dir)
    dirs = []
    for call in root.modules:
        child_dir = module_source_dir(root, call)
        if child_dir and os.path.isdir(child_dir) and child_dir not in dirs:
            dirs.append(child_dir)
    return sorted(dirs)
