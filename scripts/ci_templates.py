"""Read the CI/CD component templates: split spec header from body, interpolate inputs.

``render`` follows GitLab's interpolation rules closely enough to validate a template's body
against GitLab's CI schema: a scalar that is exactly ``$[[ inputs.x ]]`` takes the input's typed
value (array, boolean, number, string); inside a longer string the value is inserted as text
(an array there is an error, as in GitLab); nested arrays under ``rules`` are flattened, as GitLab
does for ``!reference`` and array inputs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
_WHOLE = re.compile(r"^\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]$")
_PART = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*(?:\|[^\]]*)?\]\]")


class TemplateError(ValueError):
    """A template that is not a valid component file."""


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    header_text: str
    body_text: str

    @property
    def header(self) -> dict[str, Any]:
        data = yaml.safe_load(self.header_text)
        if not isinstance(data, dict) or "spec" not in data:
            raise TemplateError(f"{self.path}: the first YAML document must be `spec:`")
        return data

    @property
    def inputs(self) -> dict[str, dict[str, Any]]:
        inputs: dict[str, dict[str, Any]] = self.header["spec"].get("inputs") or {}
        return inputs

    @property
    def description(self) -> str:
        """The comment lines at the top of the file. Not `spec:description`: GitLab accepts that
        key only from 18.10 and rejects the whole include before (docs/gitlab-versions.md)."""
        lines = []
        for line in self.header_text.splitlines():
            if not line.startswith("#"):
                break
            lines.append(line.lstrip("#"))
        return " ".join(" ".join(lines).split())

    def defaults(self) -> dict[str, Any]:
        return {name: spec.get("default") for name, spec in self.inputs.items()}

    def body(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """The body with inputs interpolated (defaults unless ``values`` overrides them)."""
        merged = {**self.defaults(), **(values or {})}
        missing = [k for k, v in merged.items() if v is None]
        if missing:
            raise TemplateError(f"{self.path}: inputs without a value: {', '.join(missing)}")
        raw = yaml.safe_load(self.body_text)
        rendered = _interpolate(raw, merged, self.path)
        return _flatten_rules(rendered)  # type: ignore[no-any-return]


def load(path: Path) -> Template:
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"^---[ \t]*$", text, maxsplit=1, flags=re.MULTILINE)
    if len(parts) != 2:
        raise TemplateError(f"{path}: expected a spec header, a `---` line and a body")
    name = path.parent.name if path.name == "template.yml" else path.stem
    return Template(name=name, path=path, header_text=parts[0], body_text=parts[1])


def templates(directory: Path = TEMPLATES) -> list[Template]:
    """Every component: ``templates/<name>.yml`` and ``templates/<name>/template.yml``."""
    files = sorted(directory.glob("*.yml")) + sorted(directory.glob("*/template.yml"))
    return [load(path) for path in files]


def _text(value: Any, name: str, path: Path) -> str:
    if isinstance(value, (list, dict)):
        raise TemplateError(f"{path}: array input `{name}` used inside a string")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _interpolate(node: Any, values: dict[str, Any], path: Path) -> Any:
    if isinstance(node, dict):
        return {_interpolate(k, values, path): _interpolate(v, values, path)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(item, values, path) for item in node]
    if not isinstance(node, str):
        return node
    whole = _WHOLE.match(node)
    if whole:
        return _lookup(whole.group(1), values, path)
    return _PART.sub(lambda m: _text(_lookup(m.group(1), values, path), m.group(1), path), node)


def _lookup(name: str, values: dict[str, Any], path: Path) -> Any:
    if name not in values:
        raise TemplateError(f"{path}: unknown input `{name}`")
    return values[name]


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _flatten_rules(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (_flatten(v) if k == "rules" and isinstance(v, list) else _flatten_rules(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_flatten_rules(item) for item in node]
    return node


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False)
