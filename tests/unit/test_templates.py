"""The CI/CD component templates: GitLab's schema, GitLab's component rules, docs in sync."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
GLOBAL_KEYWORDS = {"default", "variables", "stages", "workflow", "image", "services", "cache",
                   "before_script", "after_script", "pages"}
INPUT_TYPES = {"string", "number", "boolean", "array"}
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _module(name: str) -> ModuleType:
    path = ROOT / "scripts" / f"{name}.py"
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ct = _module("ci_templates")
TEMPLATES = ct.templates()
NAMES = [t.name for t in TEMPLATES]
BY_NAME = {t.name: t for t in TEMPLATES}


def _check_schema(files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci",
                           *map(str, files)], capture_output=True, text=True, timeout=120)


def test_the_catalog_has_the_handbook_components() -> None:
    assert set(NAMES) >= {"build-container", "detect-notebooks", "execute-notebook",
                          "execute-scheduled", "publish-metrics-comment", "write-to-wiki",
                          "auto-release", "ds-pipeline"}


def test_headers_and_rendered_bodies_validate_against_gitlab_ci_schema(tmp_path: Path) -> None:
    files = []
    for t in TEMPLATES:
        header = tmp_path / f"{t.name}.header.yml"
        header.write_text(t.header_text, encoding="utf-8")
        body = tmp_path / f"{t.name}.body.json"
        body.write_text(json.dumps(t.body()), encoding="utf-8")
        files += [header, body]
    result = _check_schema(files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_catches_a_broken_body(tmp_path: Path) -> None:
    body = BY_NAME["publish-metrics-comment"].body()
    job = body["publish-metrics-comment"]
    job["allow_failure"] = {"exit_codes": "ten"}
    job["when"] = "sometimes"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(body), encoding="utf-8")
    result = _check_schema([broken])
    assert result.returncode != 0
    assert "sometimes" in result.stdout or "when" in result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_every_input_has_snake_case_name_description_and_type(name: str) -> None:
    for input_name, spec in BY_NAME[name].inputs.items():
        assert SNAKE.match(input_name), f"{name}: input {input_name} is not snake_case"
        assert spec.get("description", "").strip(), f"{name}: {input_name} has no description"
        assert spec.get("type") in INPUT_TYPES, f"{name}: {input_name} has no valid type"
        default = spec.get("default")
        assert default is not None, f"{name}: {input_name} has no default"
        if spec["type"] == "boolean":
            assert isinstance(default, bool)
        if spec["type"] == "number":
            assert isinstance(default, (int, float)) and not isinstance(default, bool)
        if spec["type"] == "array":
            assert isinstance(default, list)
        if "options" in spec:
            assert default in spec["options"], f"{name}: {input_name} default not an option"
        if "regex" in spec:
            assert re.search(spec["regex"], str(default)), f"{name}: {input_name} default " \
                                                            "does not match its regex"


@pytest.mark.parametrize("name", NAMES)
def test_component_takes_stage_prefix_and_rules(name: str) -> None:
    inputs = BY_NAME[name].inputs
    assert "job_prefix" in inputs
    assert "stage" in inputs or any(k.startswith("stage_") for k in inputs)
    rules = [k for k in inputs if k == "rules" or k.endswith("_rules")]
    assert rules and all(inputs[k]["type"] == "array" for k in rules)


@pytest.mark.parametrize("name", NAMES)
def test_every_declared_input_is_used(name: str) -> None:
    t = BY_NAME[name]
    used = set(re.findall(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)", t.body_text))
    assert used == set(t.inputs), f"{name}: unused {set(t.inputs) - used}, undeclared " \
                                  f"{used - set(t.inputs)}"


@pytest.mark.parametrize("name", NAMES)
def test_no_global_keywords_and_prefixed_unique_job_names(name: str) -> None:
    t = BY_NAME[name]
    import yaml

    raw = yaml.safe_load(t.body_text)
    assert not GLOBAL_KEYWORDS & set(raw), f"{name}: global keywords {GLOBAL_KEYWORDS & set(raw)}"
    for key in raw:
        if key == "include":
            continue
        if key.startswith("."):
            assert key.startswith(f".{name}:"), f"{name}: hidden job {key} not .{name}:<purpose>"
        else:
            assert key.startswith("$[[ inputs.job_prefix ]]"), f"{name}: job {key} lacks prefix"


def test_job_names_follow_the_prefix() -> None:
    body = BY_NAME["execute-notebook"].body({"job_prefix": "ml:"})
    assert set(body) == {"ml:execute-notebook", "ml:execute-notebook-child"}
    needs = [n["job"] for n in body["ml:execute-notebook"]["needs"]]
    assert needs == ["ml:build-container", "ml:detect-notebooks"]
    trigger = body["ml:execute-notebook-child"]["trigger"]["include"][0]
    assert trigger == {"artifact": "child.yml", "job": "ml:detect-notebooks"}


@pytest.mark.parametrize("mode, active", [("sequential", "execute-notebook"),
                                          ("parallel", "execute-notebook-child")])
def test_execution_mode_selects_one_job(mode: str, active: str) -> None:
    body = BY_NAME["execute-notebook"].body({"execution_mode": mode})
    for job, data in body.items():
        first = data["rules"][0]
        condition = first["if"].replace("'", "")
        # GitLab compares the two quoted literals: the rule says never unless the mode matches
        left, right = re.findall(r'"([^"]*)"', condition)
        excluded = left != right and first["when"] == "never"
        assert excluded is (job != active), (job, condition)
        assert data["rules"][1:] == BY_NAME["execute-notebook"].defaults()["rules"]


def test_execute_scheduled_runs_on_schedules_only() -> None:
    rules = BY_NAME["execute-scheduled"].body()["execute-scheduled"]["rules"]
    assert rules == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    other = BY_NAME["execute-notebook"].body()["execute-notebook"]["rules"]
    assert {"if": '$CI_PIPELINE_SOURCE == "schedule"', "when": "never"} in other


def test_comment_and_wiki_warn_without_token() -> None:
    for name in ("publish-metrics-comment", "write-to-wiki"):
        job = BY_NAME[name].body()[name]
        assert job["allow_failure"] == {"exit_codes": [10]}
        script = "\n".join(job["script"])
        assert 'if [ -z "${GITLAB_TOKEN:-}" ]' in script and "exit 10" in script


def test_notebook_artifacts_are_kept_exposed_and_reported() -> None:
    for name, job in (("execute-notebook", "execute-notebook"),
                      ("execute-scheduled", "execute-scheduled")):
        artifacts = BY_NAME[name].body()[job]["artifacts"]
        assert artifacts["when"] == "always"
        assert artifacts["expose_as"]
        assert artifacts["paths"] == [".ds-runner/"]
        assert artifacts["reports"]["metrics"].endswith("metrics.txt")


def _pyproject_version() -> str:
    return str(_module("inputs_docs").version())


def test_runner_version_defaults_to_this_release_and_install_is_identical() -> None:
    snippets = set()
    for t in TEMPLATES:
        assert t.inputs["runner_version"]["default"] == _pyproject_version(), t.name
        if t.name == "ds-pipeline":
            continue
        text = t.body_text
        start = text.index("    # ds-runner at runner_version")
        line = text.index("    - ds-runner --version", start)
        snippets.add(text[line:text.index("\n", line)])
    assert len(snippets) == 1, "the ds-runner install step differs between templates"
    # one line from the package registry, no git; detect-notebooks hands it to the child jobs
    (snippet,) = snippets
    step = snippet.removeprefix("    - ")
    assert "git" not in step and '--index-url "$DS_RUNNER_INDEX"' in step
    assert f"      install='{step}'\n" in BY_NAME["detect-notebooks"].body_text


def test_report_jobs_default_to_the_runner_image_at_runner_version() -> None:
    for name in ("detect-notebooks", "publish-metrics-comment", "write-to-wiki", "auto-release"):
        default = BY_NAME[name].inputs["image"]["default"]
        assert default == "$CI_REGISTRY/ds-pipeline/ds-pipeline/ds-runner:$DS_RUNNER_VERSION"
        assert BY_NAME[name].body()[name]["variables"]["DS_RUNNER_VERSION"] == _pyproject_version()


def test_full_pipeline_passes_valid_inputs_to_every_component() -> None:
    full = BY_NAME["ds-pipeline"]
    body = full.body()
    local = [i for i in body["include"] if "local" in i]
    assert {Path(i["local"]).stem for i in local} == set(NAMES) - {"ds-pipeline"}
    for include in local:
        target = BY_NAME[Path(include["local"]).stem]
        for key, value in include["inputs"].items():
            spec = target.inputs.get(key)
            assert spec is not None, f"{target.name} has no input {key}"
            kinds: dict[str, type | tuple[type, ...]] = {
                "string": str, "number": (int, float), "boolean": bool, "array": list}
            kind = kinds[spec["type"]]
            assert isinstance(value, kind), f"{target.name}.{key}: {value!r} is not {kind}"
            if "options" in spec:
                assert value in spec["options"]
        target.body(include["inputs"])  # renders with what the full pipeline passes
    secret = [i for i in body["include"] if "template" in i]
    assert secret == [{"template": "Jobs/Secret-Detection.gitlab-ci.yml",
                       "rules": [{"if": '"true" == "true"'}]}]


def test_full_pipeline_rules_default_to_the_components_rules() -> None:
    full = BY_NAME["ds-pipeline"]
    passed = {Path(i["local"]).stem: i["inputs"] for i in full.body()["include"] if "local" in i}
    for component, inputs in passed.items():
        assert inputs["rules"] == BY_NAME[component].defaults()["rules"], component


def test_full_pipeline_offers_the_handbook_inputs() -> None:
    inputs = BY_NAME["ds-pipeline"].inputs
    for name in ("commit_runner", "scheduled_runner", "gpu", "image", "notebooks_glob",
                 "execution_mode", "notebook_timeout", "production_tag_regex", "runner_version"):
        assert name in inputs
    assert inputs["gpu"]["type"] == "boolean"
    assert inputs["execution_mode"]["options"] == ["sequential", "parallel"]


def test_array_input_inside_a_string_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("spec:\n  inputs:\n    tags:\n      type: array\n      default: [a]\n"
                   "      description: x\n---\njob:\n  script: echo $[[ inputs.tags ]]\n")
    with pytest.raises(ct.TemplateError, match="array input"):
        ct.load(bad).body()


def test_docs_are_in_sync_with_the_templates() -> None:
    docs = _module("inputs_docs")
    assert docs.main(["--check"]) == 0, "run: python scripts/inputs_docs.py"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"\n### {name}\n" in readme
        page = (ROOT / "docs" / "components" / f"{name}.md").read_text(encoding="utf-8")
        for input_name in BY_NAME[name].inputs:
            assert f"| `{input_name}` |" in page


def test_project_pipelines_validate_against_gitlab_ci_schema() -> None:
    files = [ROOT / ".gitlab-ci.yml", ROOT / "tests/e2e/ds-pipeline.gitlab-ci.yml",
             *sorted((ROOT / "tests/e2e/components").glob("*.gitlab-ci.yml"))]
    assert len(files) == len(NAMES) + 1  # a component test per component but ds-pipeline
    result = _check_schema(files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_project_pipeline_tests_every_component_at_this_commit() -> None:
    import yaml

    ci = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    matrix = ci["component-test"]["parallel"]["matrix"][0]["COMPONENT"]
    assert sorted(matrix) == sorted(set(NAMES) - {"ds-pipeline"})
    for name in matrix:
        text = (ROOT / "tests/e2e/components" / f"{name}.gitlab-ci.yml").read_text()
        assert f"$CI_SERVER_FQDN/$CI_PROJECT_PATH/{name}@$CI_COMMIT_SHA" in text
    example = (ROOT / "tests/e2e/ds-pipeline.gitlab-ci.yml").read_text()
    assert "$CI_SERVER_FQDN/$CI_PROJECT_PATH/ds-pipeline@$CI_COMMIT_SHA" in example
    assert ci["example"]["trigger"]["include"] == "tests/e2e/ds-pipeline.gitlab-ci.yml"
    release = ci["catalog-release"]
    assert release["release"]["tag_name"] == "$CI_COMMIT_TAG"
    assert release["rules"] == [{"if": r"$CI_COMMIT_TAG =~ /^\d+\.\d+\.\d+$/"}]


@pytest.mark.parametrize("tag, ok", [("", True), ("9.9.9", False), ("v0.1.0", False)])
def test_release_check_accepts_only_the_project_version(tag: str, ok: bool) -> None:
    import os

    import yaml

    ci = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    script = "\n".join(ci[".ds-pipeline:release-check"]["script"])
    env = {**os.environ, "CI_COMMIT_TAG": tag,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-ec", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode == 0) is ok, done.stdout + done.stderr


STUB_RUNNER = """#!/bin/sh
echo "ds-runner $*" >> "$STUB_LOG"
case "$1" in
  --version) echo "ds-runner, version 0.1.0" ;;
  collect) [ -n "$STUB_COLLECT_EXIT" ] && exit "$STUB_COLLECT_EXIT"
           mkdir -p .ds-runner/notebooks/a && echo '{}' > .ds-runner/notebooks/a/metrics.json ;;
esac
"""


def _run_script(name: str, mode: str | None, tmp_path: Path,
                **env: str) -> tuple[int, list[str], str]:
    """Run the job's script as a runner would (one bash, errexit) with a stub ds-runner that
    logs its calls; (exit code, ds-runner calls other than --version, output)."""
    import os

    job = BY_NAME[name].body({"execution_mode": mode} if mode else None)[name]
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "ds-runner").write_text(STUB_RUNNER)
    (bindir / "ds-runner").chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("")
    # a boolean input interpolated as a whole value stays a YAML boolean (gitlab-org/gitlab!145257);
    # the job sees it as "true"/"false"
    variables = {k: str(v).lower() if isinstance(v, bool) else str(v)
                 for k, v in job["variables"].items()}
    script = "set -eo pipefail\n" + "\n".join(job["script"])
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={"PATH": f"{bindir}:{os.environ['PATH']}",
                                           "STUB_LOG": str(log), **variables, **env})
    calls = [c for c in log.read_text().splitlines() if c != "ds-runner --version"]
    return done.returncode, calls, done.stdout + done.stderr


NOTIFY = ["publish-metrics-comment", "write-to-wiki", "auto-release"]


@pytest.mark.parametrize("name", NOTIFY)
def test_notify_jobs_wait_for_the_child_pipeline(name: str) -> None:
    job = BY_NAME[name].body({"execution_mode": "parallel"})[name]
    assert {"job": "execute-notebook-child", "optional": True, "artifacts": False} in job["needs"]
    assert job["variables"]["DS_CHILD_TRIGGER_JOB"] == "execute-notebook-child"
    full = BY_NAME["ds-pipeline"].body()["include"]
    [passed] = [i["inputs"] for i in full if i.get("local") == f"/templates/{name}.yml"]
    assert passed["execution_mode"] == "sequential"


@pytest.mark.parametrize("name", NOTIFY)
def test_parallel_mode_collects_the_child_results_first(name: str, tmp_path: Path) -> None:
    verb = {"publish-metrics-comment": "comment", "write-to-wiki": "wiki"}.get(name, "release")
    code, calls, out = _run_script(name, "parallel", tmp_path, GITLAB_TOKEN="glpat-x")
    assert code == 0, out
    assert [c.split()[1] for c in calls] == ["collect", verb]
    assert "--trigger-job execute-notebook-child" in calls[0]


@pytest.mark.parametrize("name", NOTIFY)
def test_sequential_mode_never_collects(name: str, tmp_path: Path) -> None:
    code, calls, out = _run_script(name, "sequential", tmp_path, GITLAB_TOKEN="glpat-x")
    assert code == 0, out
    assert not [c for c in calls if " collect" in c]
    if name != "auto-release":
        assert calls == [] and "nothing to publish" in out


@pytest.mark.parametrize("name", ["publish-metrics-comment", "write-to-wiki"])
def test_parallel_comment_and_wiki_without_token_exit_10(name: str, tmp_path: Path) -> None:
    code, calls, out = _run_script(name, "parallel", tmp_path)
    assert code == 10 and calls == [] and "GITLAB_TOKEN is not set" in out


def test_parallel_release_goes_on_when_collect_fails(tmp_path: Path) -> None:
    """collect is all or nothing, so release decides: a dev tag passes, a production tag fails
    for lack of results (the stub release just records the call)."""
    code, calls, out = _run_script("auto-release", "parallel", tmp_path, STUB_COLLECT_EXIT="10")
    assert code == 0, out
    assert [c.split()[1] for c in calls] == ["collect", "release"]
    assert "results were not collected" in out


def test_parallel_nothing_collected_means_nothing_to_publish(tmp_path: Path) -> None:
    code, calls, out = _run_script("publish-metrics-comment", "parallel", tmp_path,
                                   GITLAB_TOKEN="glpat-x", STUB_COLLECT_EXIT="0")
    assert code == 0, out
    assert [c.split()[1] for c in calls] == ["collect"] and "nothing to publish" in out


def test_build_container_bakes_the_runner_from_the_package_registry(tmp_path: Path) -> None:
    """runner_in_image (the default): the build gets ds-runner at runner_version from the
    package registry, and the Dockerfile installs exactly that (no git in the image)."""
    code, calls, out = _run_script("build-container", None, tmp_path,
                                   CI_REGISTRY_IMAGE="registry.example.com/g/p")
    assert code == 0, out
    [build] = calls
    index = BY_NAME["build-container"].inputs["runner_index"]["default"]
    assert f"--build-arg RUNNER_REQUIREMENT=ds-pipeline-runner=={_pyproject_version()}" in build
    assert f"--build-arg RUNNER_INDEX={index}" in build
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert 'ARG RUNNER_REQUIREMENT=""' in dockerfile and 'ARG RUNNER_INDEX=""' in dockerfile
    assert '--extra-index-url "$RUNNER_INDEX"' in dockerfile
    assert '${RUNNER_REQUIREMENT:+"$RUNNER_REQUIREMENT"}' in dockerfile
    assert "git" not in dockerfile.split("RUN uv venv", 1)[1].split("\n\n", 1)[0]


def test_the_production_image_reaches_the_release_and_the_schedules() -> None:
    """build-container and auto-release share one production_tag_regex; auto-release gets
    DS_IMAGE from build-container's dotenv (needs with artifacts) to tag it :<tag>, and
    execute-scheduled runs in DS_IMAGE, which on a released tag is that image."""
    full = BY_NAME["ds-pipeline"].body()["include"]
    passed = {i["local"]: i["inputs"] for i in full if "local" in i}
    regex = passed["/templates/auto-release.yml"]["production_tag_regex"]
    assert passed["/templates/build-container.yml"]["production_tag_regex"] == regex
    build = BY_NAME["build-container"].body()["build-container"]
    assert build["variables"]["DS_PRODUCTION_TAG_REGEX"] == \
        BY_NAME["auto-release"].inputs["production_tag_regex"]["default"]
    assert build["artifacts"]["reports"]["dotenv"] == "build.env"
    release = BY_NAME["auto-release"].body()["auto-release"]
    assert {"job": "build-container", "optional": True} in release["needs"]
    scheduled = BY_NAME["execute-scheduled"].body()["execute-scheduled"]
    assert scheduled["image"] == "$DS_IMAGE"
    assert {"job": "build-container", "optional": True} in scheduled["needs"]


def test_shadow_compare_collects_first_and_compares_only_what_ran(tmp_path: Path) -> None:
    """Nothing ran: nothing to compare, no call; parallel mode: the child's results first; a
    tag pipeline that reused runs (detect.json): those results first."""
    none, child, reused = (tmp_path / name for name in ("none", "child", "reused"))
    for folder in (none, child, reused):
        folder.mkdir()
    code, calls, out = _run_script("shadow-compare", "sequential", none)
    assert code == 0 and calls == [] and "nothing to compare" in out
    code, calls, out = _run_script("shadow-compare", "parallel", child)
    assert code == 0, out
    assert [c.split()[1] for c in calls] == ["collect", "shadow"]
    assert "--scheduled-job execute-scheduled" in calls[1]
    (reused / "detect.json").write_text("{}")
    code, calls, out = _run_script("shadow-compare", "sequential", reused)
    assert code == 0, out
    assert calls[0].startswith("ds-runner collect --reused detect.json") and \
        calls[1].startswith("ds-runner shadow")
    job = BY_NAME["shadow-compare"].body()["shadow-compare"]
    assert job["allow_failure"] is True and job["artifacts"]["when"] == "always"
    for notify in ("publish-metrics-comment", "auto-release"):
        needs = BY_NAME[notify].body()[notify]["needs"]
        assert {"job": "shadow-compare", "optional": True} in needs, notify
