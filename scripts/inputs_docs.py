"""Generate the component docs from the templates' ``spec: inputs``.

Writes ``docs/components/<name>.md`` for every component and the ``## Components`` section of
README.md between ``<!-- components:start -->`` and ``<!-- components:end -->``.

    python scripts/inputs_docs.py           # write the files
    python scripts/inputs_docs.py --check   # exit 1 and name the files that are out of date
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ci_templates import ROOT, Template, templates

CATALOG_PATH = "ds-pipeline/ds-pipeline"  # where the catalog project lives (usage examples)
START, END = "<!-- components:start -->", "<!-- components:end -->"
ORDER = ["ds-pipeline", "build-container", "detect-notebooks", "execute-notebook",
         "execute-scheduled", "shadow-compare", "publish-metrics-comment", "write-to-wiki",
         "auto-release"]

USAGE: dict[str, str] = {
    "ds-pipeline": """stages: [build, execute, notify, deploy, test]

workflow:  # merge request pipelines, else branch pipelines; tags and schedules as usual
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS && $CI_PIPELINE_SOURCE == "push"
      when: never
    - when: always

include:
  - component: $CI_SERVER_FQDN/{catalog}/ds-pipeline@{version}
    inputs:
      commit_runner: saas-linux-medium-amd64-gpu-standard
      scheduled_runner: saas-linux-small-amd64
      gpu: true
      release_notebooks: notebooks/training_example.ipynb  # gates checked on v* tags""",
    "build-container": """include:
  - component: $CI_SERVER_FQDN/{catalog}/build-container@{version}
    inputs:
      hash_files: training_config.yaml""",
    "detect-notebooks": """include:
  - component: $CI_SERVER_FQDN/{catalog}/detect-notebooks@{version}
    inputs:
      notebooks_glob: "notebooks/**/*.ipynb,!notebooks/scratch/**\"""",
    "execute-notebook": """include:
  - component: $CI_SERVER_FQDN/{catalog}/detect-notebooks@{version}
  - component: $CI_SERVER_FQDN/{catalog}/execute-notebook@{version}
    inputs:
      image: python:3.11
      tags: [saas-linux-medium-amd64-gpu-standard]
      gpu: true""",
    "execute-scheduled": """include:
  - component: $CI_SERVER_FQDN/{catalog}/detect-notebooks@{version}
  - component: $CI_SERVER_FQDN/{catalog}/execute-scheduled@{version}
    inputs:
      image: python:3.11
      tags: [saas-linux-small-amd64]""",
    "shadow-compare": """include:
  - component: $CI_SERVER_FQDN/{catalog}/shadow-compare@{version}
    inputs:
      scheduled_job: execute-scheduled""",
    "publish-metrics-comment": """include:
  - component: $CI_SERVER_FQDN/{catalog}/publish-metrics-comment@{version}""",
    "write-to-wiki": """include:
  - component: $CI_SERVER_FQDN/{catalog}/write-to-wiki@{version}
    inputs:
      wiki_prefix: model-runs""",
    "auto-release": """include:
  - component: $CI_SERVER_FQDN/{catalog}/auto-release@{version}
    inputs:
      production_tag_regex: ^v\\d+\\.\\d+\\.\\d+$""",
}

VARIABLES: dict[str, list[str]] = {
    "ds-pipeline": [
        "everything the components below use; set `GITLAB_TOKEN` (masked) for the comment and "
        "the wiki, `MLFLOW_TRACKING_URI`/`MLFLOW_TRACKING_TOKEN` for your own MLflow server, and "
        "`SCORING_NOTEBOOK` on each pipeline schedule",
    ],
    "build-container": [
        "`CI_REGISTRY_IMAGE`, `CI_REGISTRY_USER`, `CI_REGISTRY_PASSWORD` (predefined; the "
        "project's container registry must be enabled unless the `image` input is set)",
        "writes the dotenv report `DS_IMAGE`, `DS_IMAGE_TAG`, `DS_IMAGE_BUILT` for later jobs",
        "`CI_COMMIT_TAG` (predefined; also set in a schedule on a tag): for a production tag "
        "whose image `:<tag>` exists, `DS_IMAGE` is that image and nothing is built",
    ],
    "detect-notebooks": [
        "`CI_PIPELINE_SOURCE`, `CI_COMMIT_MESSAGE` (`[run path]`, `[skip run]`), "
        "`CI_COMMIT_SHA`, `CI_COMMIT_BEFORE_SHA`, `CI_MERGE_REQUEST_DIFF_BASE_SHA`, "
        "`CI_DEFAULT_BRANCH` (predefined)",
        "`SCORING_NOTEBOOK`: set it on the pipeline schedule; scheduled pipelines run exactly it",
        "writes `detect.json`, `child.yml` and the dotenv report `DS_NOTEBOOKS`, "
        "`DS_NOTEBOOK_COUNT`, `DS_SKIP`, `DS_REASON`, `DS_SOURCE`",
    ],
    "execute-notebook": [
        "`DS_IMAGE` from build-container (the default `image`)",
        "`MLFLOW_TRACKING_URI`, `MLFLOW_TRACKING_TOKEN` (optional; without them and with "
        "`GITLAB_TOKEN` set, MLflow logs to the project's GitLab experiment tracking)",
        "`DS_DEVICE` (optional) forces `cpu` or `cuda`",
        "artifacts: `.ds-runner/` (executed notebook, HTML, `metrics.json`, figures), exposed in "
        "the merge request as *notebook results*, and `metrics.txt` as a metrics report (shown "
        "in merge requests on Premium and Ultimate only)",
    ],
    "execute-scheduled": [
        "`SCORING_NOTEBOOK` (schedule variable, through detect-notebooks)",
        "`DS_IMAGE`, `MLFLOW_TRACKING_URI`, `MLFLOW_TRACKING_TOKEN`, `DS_DEVICE` as for "
        "execute-notebook",
        "`GITLAB_TOKEN` (masked): on a schedule for a production tag, a notebook's `model.uri` "
        "version `release` (`models:/<name>/release`) loads that tag's version from GitLab's "
        "model registry; `CI_COMMIT_TAG` (predefined)",
        "`metrics.txt` is a metrics report, shown in merge requests on Premium and Ultimate only",
        "after the notebook the job runs `ds-runner monitor`: a failed drift gate "
        "(`gates.drift`) fails the job, so GitLab's notifications fire, and starts the training "
        "pipeline the notebook's `retrain:` names, at most one per cool-down; that needs "
        "`GITLAB_TOKEN` (masked; Developer role and the project's minimum role for pipeline "
        "variables: docs/commands/monitor.md)",
    ],
    "shadow-compare": [
        "compares the notebooks whose config has `gates.shadow` (docs/gates.md); the others, "
        "and a pipeline where no notebook ran, pass with nothing to compare",
        "`GITLAB_TOKEN` (masked) to list the project's jobs for the newest scheduled scoring "
        "job and to read the model registry; with `CI_JOB_TOKEN` alone only the latest "
        "successful pipeline of `CI_DEFAULT_BRANCH` is read, and the production model comes "
        "from the release's model link",
        "`DS_IMAGE` from build-container (the default `image`: the job loads the models)",
        "artifacts: `.ds-runner/**/shadow.json`, which publish-metrics-comment and "
        "auto-release read with the results; the job may fail (`allow_failure`), and then "
        "auto-release fails `gates.shadow` (not run) instead of releasing",
    ],
    "publish-metrics-comment": [
        "`GITLAB_TOKEN` (masked; `api` scope, Developer role: a dedicated user's personal access "
        "token, or a project access token where your tier has them: README.md, *GitLab "
        "versions and tokens*); without it "
        "the job ends with exit code 10, a warning, and the pipeline still passes",
        "when no notebook ran (no `metrics.json` in `.ds-runner/`) it publishes nothing and passes",
        "`CI_MERGE_REQUEST_IID`, `CI_MERGE_REQUEST_TARGET_BRANCH_NAME`, `CI_API_V4_URL`, "
        "`CI_PROJECT_ID`, `CI_PIPELINE_URL`, `CI_JOB_URL` (predefined)",
    ],
    "write-to-wiki": [
        "`GITLAB_TOKEN` (masked; `api` scope, Developer role: a dedicated user's personal access "
        "token, or a project access token where your tier has them; the job token cannot write "
        "the wiki); without it "
        "the job ends with exit code 10 and a warning",
        "`CI_API_V4_URL`, `CI_PROJECT_ID`, `CI_PIPELINE_URL`, `CI_JOB_URL`, `CI_COMMIT_SHA` "
        "(predefined)",
    ],
    "auto-release": [
        "`CI_COMMIT_TAG` (predefined): only tags matching `production_tag_regex` are released",
        "`CI_JOB_TOKEN` is enough to create releases; `GITLAB_TOKEN` is used when set",
        "`DS_IMAGE` from build-container: once the gates pass it is tagged `:<tag>` in the "
        "project's registry (`CI_REGISTRY_IMAGE`, `CI_REGISTRY_USER`, `CI_REGISTRY_PASSWORD`, "
        "predefined), linked in the release and named in the model card; exit 6 and no release "
        "when it is missing from the registry",
        "`GITLAB_TOKEN` (or `MLFLOW_TRACKING_URI`): each notebook whose config names "
        "`mlflow.registered_model_name` gets model version `1.2.3` for `v1.2.3` in GitLab's model "
        "registry (or that MLflow server), linked in the model card; without either the notes "
        "say the model is not registered; a registry failure makes no release",
    ],
}


def version() -> str:
    """The project version from pyproject.toml (tomllib needs Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if not found:
        raise SystemExit("inputs_docs: no version in pyproject.toml")
    return found.group(1)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(spec: dict[str, Any]) -> str:
    if "default" not in spec:
        return "*required*"
    value = spec["default"]
    if isinstance(value, str):
        shown = json.dumps(value) if value == "" else value
    else:
        shown = json.dumps(value)
    return "`" + shown.replace("|", "\\|").replace("`", "'") + "`"


def _type(spec: dict[str, Any]) -> str:
    kind = str(spec.get("type", "string"))
    if spec.get("options"):
        kind += " (" + ", ".join(f"`{o}`" for o in spec["options"]) + ")"
    if spec.get("regex"):
        kind += f" (regex `{_cell(str(spec['regex']))}`)"
    return kind


def inputs_table(template: Template) -> str:
    rows = ["| Input | Description | Type | Default |", "|---|---|---|---|"]
    for name, spec in template.inputs.items():
        rows.append(f"| `{name}` | {_cell(str(spec.get('description', '')))} | {_type(spec)} "
                    f"| {_default(spec)} |")
    return "\n".join(rows)


def section(template: Template, level: int) -> str:
    hashes = "#" * level
    usage = USAGE[template.name].format(catalog=CATALOG_PATH, version=version())
    variables = "\n".join(f"- {line}" for line in VARIABLES[template.name])
    return (f"{hashes} {template.name}\n\n{template.description}\n\n```yaml\n{usage}\n```\n\n"
            f"{hashes}# Inputs\n\n{inputs_table(template)}\n\n"
            f"{hashes}# Variables and secrets\n\n{variables}\n")


def ordered() -> list[Template]:
    found = {t.name: t for t in templates()}
    unknown = sorted(set(found) - set(ORDER))
    missing = sorted(set(ORDER) - set(found))
    if unknown or missing:
        raise SystemExit(f"inputs_docs: ORDER is out of date (unknown {unknown}, "
                         f"missing {missing})")
    return [found[name] for name in ORDER]


def readme_region() -> str:
    parts = [
        "## Components\n",
        "Include the whole pipeline (`ds-pipeline`) or single components from the CI/CD catalog. "
        "Components cannot declare `stages`, so list them in your `.gitlab-ci.yml`. How each job "
        "gets `ds-runner` at the component's version: "
        "[docs/pipeline.md](docs/pipeline.md#which-ds-runner-a-job-runs). "
        "Every table below is generated from `templates/` by `scripts/inputs_docs.py`.\n",
    ]
    parts += [section(t, 3) for t in ordered()]
    return "\n".join(parts)


def component_page(template: Template) -> str:
    return ("<!-- generated by scripts/inputs_docs.py from templates/; do not edit -->\n"
            + section(template, 1))


def expected_files() -> dict[Path, str]:
    out = {ROOT / "docs" / "components" / f"{t.name}.md": component_page(t) for t in ordered()}
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"inputs_docs: README.md lacks the {START} / {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    out[readme] = f"{head}{START}\n{readme_region()}{END}{tail}"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, content in expected_files().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if args.check and stale:
        print("out of date (run python scripts/inputs_docs.py): "
              + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
