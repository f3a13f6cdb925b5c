"""The oldest supported GitLab (README: "GitLab versions and tokens") accepts what we ship.

FEATURES lists each CI/CD YAML key, input interpolation and function our templates, the project's
.gitlab-ci.yml and its e2e child pipelines use, with the GitLab version that introduced it and the
page that says so. The test walks the parsed YAML, collects what is used and fails on anything not
in the table or newer than SUPPORTED: GitLab rejects an unknown key in a component header for every
include of the component ("unknown keys: description" before 18.10).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = (17, 0)  # keep in step with README.md and docs/gitlab-versions.md

YAML_REF = "https://docs.gitlab.com/ci/yaml/"
YAML_15_10 = "doc/ci/yaml/index.md of GitLab 15.10 (the keyword is documented there)"
INPUTS_REF = "https://docs.gitlab.com/ci/inputs/"


class Feature(NamedTuple):
    since: tuple[int, int]
    source: str


def _old(anchor: str) -> Feature:
    """A keyword the GitLab 15.10 keyword reference already documents (introduced before it)."""
    return Feature((15, 10), f"{YAML_15_10}; {YAML_REF}#{anchor}")


FEATURES: dict[str, Feature] = {
    # header: spec (doc/ci/yaml/_index.md "Header keywords"; lib/gitlab/ci/config/header/spec.rb)
    "spec": Feature((15, 11), f"{YAML_REF}#spec (beta 15.11, GA 17.0)"),
    "spec:inputs": Feature((15, 11), f"{YAML_REF}#specinputs (beta 15.11, GA 17.0)"),
    "spec:inputs:default": Feature((15, 11), f"{YAML_REF}#specinputsdefault"),
    "spec:inputs:description": Feature((16, 5), f"{YAML_REF}#specinputsdescription"),
    "spec:inputs:regex": Feature((16, 5), f"{YAML_REF}#specinputsregex"),
    "spec:inputs:options": Feature((16, 6), f"{YAML_REF}#specinputsoptions"),
    # `type` has no history note; its newest value, array, came in 16.11
    "spec:inputs:type": Feature((16, 11), f"{INPUTS_REF}#array-type"),
    "spec:inputs:type:string": Feature((16, 11), f"{YAML_REF}#specinputstype"),
    "spec:inputs:type:number": Feature((16, 11), f"{YAML_REF}#specinputstype"),
    "spec:inputs:type:boolean": Feature((16, 11), f"{YAML_REF}#specinputstype"),
    "spec:inputs:type:array": Feature((16, 11), f"{INPUTS_REF}#array-type "
                                                "(gitlab-org/gitlab#407176)"),
    "spec:include": Feature((18, 6), f"{YAML_REF}#specinclude (behind flag ci_file_inputs)"),
    "spec:component": Feature((18, 6), f"{YAML_REF}#speccomponent (beta)"),
    "spec:description": Feature((18, 10), f"{YAML_REF}#specdescription (gitlab-org/gitlab#588286)"),
    # interpolation contexts and functions (doc/ci/inputs/_index.md, doc/ci/yaml/expressions.md)
    "$[[ inputs ]]": Feature((15, 11), f"{INPUTS_REF} (beta 15.11, GA 17.0)"),
    "$[[ component ]]": Feature((18, 6), f"{YAML_REF}#speccomponent (gitlab-org/gitlab#438275)"),
    "$[[ matrix ]]": Feature((18, 6), "https://docs.gitlab.com/ci/yaml/matrix_expressions/"),
    "function:truncate": Feature((16, 3), f"{INPUTS_REF}#truncate (gitlab-org/gitlab#409462)"),
    "function:expand_vars": Feature((16, 5), f"{INPUTS_REF}#expand_vars"),
    "function:posix_escape": Feature((18, 6), f"{INPUTS_REF}#posix_escape"),
    # `DS_GPU: "$[[ inputs.gpu ]]"`: a block that is a whole value keeps the input's type
    # (gitlab-org/gitlab!145257), so a boolean or number reaches `variables:` as such; GitLab
    # accepts any scalar there since !146503 (Entry::Variable's ScalarValidator, 'variable
    # definition must be either a string or a hash' before). Both merged Feb-Mar 2024, for
    # 16.10 or 16.11: the later one is the bound here.
    "variables:typed-input": Feature((16, 11), "gitlab-org/gitlab!145257 and !146503 "
                                               "(lib/gitlab/ci/config/entry/variable.rb)"),
    # global keywords
    "include": _old("include"),
    "include:local": _old("includelocal"),
    "include:template": _old("includetemplate"),
    "include:rules": Feature((15, 10), f"{YAML_15_10}: \"Use rules with include\""),
    "include:rules:if": Feature((15, 10), f"{YAML_15_10}: \"Use rules with include\""),
    "include:inputs": Feature((15, 11), f"{YAML_REF}#includeinputs (beta 15.11, GA 17.0)"),
    "include:component": Feature((17, 0), "https://docs.gitlab.com/ci/components/ (experiment "
                                          "16.0, beta 16.6, GA 17.0)"),
    "stages": _old("stages"),
    "variables": _old("variables"),
    "workflow": _old("workflow"),
    "workflow:rules": _old("workflowrules"),
    "workflow:rules:if": _old("workflowrules"),
    "workflow:rules:when": _old("workflowrules"),
    "workflow:auto_cancel": Feature((16, 10), f"{YAML_REF}#workflowauto_cancelon_new_commit"),
    # job keywords
    "job:stage": _old("stage"),
    "job:image": _old("image"),
    "job:services": _old("services"),
    "job:tags": _old("tags"),
    "job:timeout": _old("timeout"),
    "job:extends": _old("extends"),
    "job:variables": _old("variables"),
    "job:before_script": _old("before_script"),
    "job:script": _old("script"),
    "job:rules": _old("rules"),
    "job:rules:if": _old("rulesif"),
    "job:rules:when": _old("when"),
    "job:needs": _old("needs"),
    "job:needs:job": _old("needs"),
    "job:needs:artifacts": _old("needsartifacts"),
    "job:needs:optional": Feature((13, 10), f"{YAML_15_10}: needs:optional introduced in 13.10"),
    "job:allow_failure": _old("allow_failure"),
    "job:allow_failure:exit_codes": Feature((13, 8), f"{YAML_15_10}: allow_failure:exit_codes "
                                                     "introduced in 13.8"),
    "job:artifacts": _old("artifacts"),
    "job:artifacts:paths": _old("artifactspaths"),
    "job:artifacts:when": _old("artifactswhen"),
    "job:artifacts:expire_in": _old("artifactsexpire_in"),
    "job:artifacts:expose_as": Feature((12, 5), f"{YAML_15_10}: artifacts:expose_as introduced "
                                                "in 12.5"),
    "job:artifacts:reports": _old("artifactsreports"),
    "job:artifacts:reports:dotenv": _old("artifactsreportsdotenv"),
    # shown in merge requests on Premium and Ultimate only (doc/ci/testing/metrics_reports.md)
    "job:artifacts:reports:metrics": _old("artifactsreportsmetrics"),
    "job:parallel": _old("parallel"),
    "job:parallel:matrix": _old("parallelmatrix"),
    "job:trigger": _old("trigger"),
    "job:trigger:include": _old("triggerinclude"),
    "job:trigger:include:artifact": _old("triggerinclude"),
    "job:trigger:include:job": _old("triggerinclude"),
    "job:trigger:strategy": _old("triggerstrategy"),
    "job:release": _old("release"),
    "job:release:tag_name": _old("releasetag_name"),
    "job:release:name": _old("releasename"),
    "job:release:description": _old("releasedescription"),
}

GLOBAL = {"include", "stages", "variables", "workflow", "default"}
# keys whose children are names we choose (variables, inputs passed in), not GitLab keywords
OPAQUE = {"variables", "inputs", "matrix"}
_BLOCK = re.compile(r"\$\[\[(.*?)\]\]", re.DOTALL)


def _keys(node: Any, path: str) -> set[str]:
    out: set[str] = set()
    if isinstance(node, list):
        for item in node:
            out |= _keys(item, path)
    elif isinstance(node, dict):
        for key, value in node.items():
            name = f"{path}:{key}"
            out.add(name)
            if key not in OPAQUE:
                out |= _keys(value, name)
    return out


def _interpolations(text: str) -> set[str]:
    out: set[str] = set()
    for block in _BLOCK.findall(text):
        head, *functions = [part.strip() for part in block.split("|")]
        out.add(f"$[[ {head.split('.', 1)[0]} ]]")
        out |= {"function:" + f.split("(", 1)[0].strip() for f in functions}
    return out


def header_features(header: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for key, value in header.items():
        out.add(key)
        if key != "spec" or not isinstance(value, dict):
            continue
        for spec_key, spec_value in value.items():
            out.add(f"spec:{spec_key}")
            if spec_key != "inputs" or not isinstance(spec_value, dict):
                continue
            for attributes in spec_value.values():
                for attribute in attributes or {}:
                    out.add(f"spec:inputs:{attribute}")
                out.add(f"spec:inputs:type:{(attributes or {}).get('type', 'string')}")
    return out


def body_features(body: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for key, value in body.items():
        if key in GLOBAL:
            out.add(key)
            if key not in OPAQUE:
                out |= _keys(value, key)
        else:  # a job, hidden or not
            out |= _keys(value, "job")
    return out


def typed_variables(header: dict[str, Any], body: dict[str, Any]) -> set[str]:
    """``variables:typed-input`` when a variable's whole value is one block naming a boolean or
    number input: GitLab then passes the typed value, not a string."""
    inputs = ((header.get("spec") or {}).get("inputs") or {}) if isinstance(header, dict) else {}
    typed = {name for name, attrs in inputs.items()
             if (attrs or {}).get("type") in ("boolean", "number")}
    blocks = [body.get("variables")] + [job.get("variables") for job in body.values()
                                        if isinstance(job, dict)]
    for variables in blocks:
        for value in (variables or {}).values() if isinstance(variables, dict) else ():
            whole = _BLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
            if whole and whole.group(1).strip().removeprefix("inputs.") in typed:
                return {"variables:typed-input"}
    return set()


def file_features(text: str) -> set[str]:
    """A component template (spec header, `---`, body) or a plain pipeline file."""
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    found = _interpolations(text)
    if len(documents) == 2:
        found |= header_features(documents[0])
        found |= typed_variables(documents[0], documents[1])
    found |= body_features(documents[-1])
    return found


def _rendered_template_features() -> dict[str, set[str]]:
    """Each template's body rendered with its input defaults (rules passed as array inputs show
    their keys there) plus what the raw file uses."""
    path = ROOT / "scripts" / "ci_templates.py"
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("ci_templates", path)
    assert spec and spec.loader
    ct = importlib.util.module_from_spec(spec)
    sys.modules["ci_templates"] = ct
    spec.loader.exec_module(ct)
    out = {}
    for t in ct.templates():
        rendered = body_features(t.body())
        out[str(t.path.relative_to(ROOT))] = file_features(t.path.read_text()) | rendered
    return out


def project_files() -> dict[str, set[str]]:
    found = _rendered_template_features()
    pipelines = sorted((ROOT / "tests" / "e2e").rglob("*.gitlab-ci.yml"))
    for path in [ROOT / ".gitlab-ci.yml", *pipelines]:
        found[str(path.relative_to(ROOT))] = file_features(path.read_text(encoding="utf-8"))
    return found


def problems(found: dict[str, set[str]], supported: tuple[int, int] = SUPPORTED) -> list[str]:
    out = []
    for name, features in sorted(found.items()):
        for feature in sorted(features):
            known = FEATURES.get(feature)
            if known is None:
                out.append(f"{name}: {feature} is not in FEATURES (add it with its version "
                           "and source)")
            elif known.since > supported:
                out.append(f"{name}: {feature} needs GitLab {known.since[0]}.{known.since[1]} "
                           f"({known.source})")
    return out


def test_every_construct_is_known_and_no_newer_than_the_supported_version() -> None:
    found = project_files()
    assert len(found) >= 8 + 1
    assert problems(found) == []


@pytest.mark.parametrize("header, feature", [
    ("spec:\n  description: x\n  inputs: {}\n", "spec:description"),
    ("spec:\n  component: [version]\n", "spec:component"),
])
def test_a_newer_header_key_is_reported(header: str, feature: str) -> None:
    found = {"t.yml": file_features(header + "---\njob:\n  script: echo\n")}
    [problem] = problems(found)
    assert feature in problem and "needs GitLab 18." in problem


def test_newer_interpolation_and_unknown_keys_are_reported() -> None:
    text = ("spec:\n  inputs:\n    x:\n      default: a\n---\n"
            "job:\n  image: img:$[[ component.version ]]\n"
            "  script: echo $[[ inputs.x | posix_escape ]]\n  hooks: {pre_get_sources_script: x}\n")
    reported = "\n".join(problems({"t.yml": file_features(text)}))
    assert "$[[ component ]] needs GitLab 18.6" in reported
    assert "function:posix_escape needs GitLab 18.6" in reported
    assert "job:hooks is not in FEATURES" in reported


def test_a_boolean_input_as_a_whole_variable_value_is_a_versioned_construct() -> None:
    text = ("spec:\n  inputs:\n    gpu:\n      type: boolean\n      default: false\n"
            "    name:\n      default: x\n---\n"
            "job:\n  variables:\n    DS_GPU: \"$[[ inputs.gpu ]]\"\n  script: echo\n")
    assert "variables:typed-input" in file_features(text)
    as_text = text.replace('"$[[ inputs.gpu ]]"', '"gpu=$[[ inputs.gpu ]]"')
    assert "variables:typed-input" not in file_features(as_text)
    reported = problems({"t.yml": file_features(text)}, supported=(16, 9))
    assert any("variables:typed-input needs GitLab 16.11" in p for p in reported)


def test_array_inputs_and_rules_from_defaults_are_collected() -> None:
    text = ("spec:\n  inputs:\n    rules:\n      type: array\n      default: [{if: $X}]\n"
            "      description: d\n---\njob:\n  rules: $[[ inputs.rules ]]\n  script: echo\n")
    found = file_features(text)
    assert {"spec:inputs:type:array", "spec:inputs:description", "$[[ inputs ]]"} <= found
    assert "job:rules" in found


def test_readme_and_docs_state_the_supported_version() -> None:
    version = f"GitLab {SUPPORTED[0]}.{SUPPORTED[1]}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## GitLab versions and tokens", 1)[1].split("\n## ", 1)[0]
    assert version in section
    page = (ROOT / "docs" / "gitlab-versions.md").read_text(encoding="utf-8")
    assert version in page
    for feature, known in FEATURES.items():  # every version-sensitive entry is explained there
        if known.since >= (15, 11):
            assert f"`{feature}`" in page, feature


def test_catalog_release_image_has_release_cli_and_glab() -> None:
    """The `release:` keyword runs release-cli on 17.x and glab (>= 1.58.0, else release-cli with
    a warning) on 18.x: GitLab's lib/gitlab/ci/build/releaser.rb. GitLab's 18.0 deprecation note
    "Updated tooling to release CI/CD components to the Catalog" says the release-cli image from
    v0.20.0 carries both."""
    ci = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    image = ci["catalog-release"]["image"]
    assert image.startswith("registry.gitlab.com/gitlab-org/release-cli:"), image
    assert "release" in ci["catalog-release"]


@pytest.mark.parametrize("name", ["publish-metrics-comment", "write-to-wiki"])
def test_token_advice_works_on_gitlab_com_free(name: str) -> None:
    """Project access tokens need Premium on gitlab.com: the docs and the job's warning name a
    personal access token too."""
    page = (ROOT / "docs" / "components" / f"{name}.md").read_text(encoding="utf-8")
    assert "personal access token" in page
    template = (ROOT / "templates" / f"{name}.yml").read_text(encoding="utf-8")
    [warning] = [line for line in template.splitlines() if "WARNING: GITLAB_TOKEN" in line]
    assert "personal access token" in warning


@pytest.mark.parametrize("name", ["execute-notebook", "execute-scheduled"])
def test_metrics_report_docs_name_its_tiers(name: str) -> None:
    page = (ROOT / "docs" / "components" / f"{name}.md").read_text(encoding="utf-8")
    assert "Premium and Ultimate" in page
