"""The user's catalog files under hostile input: add-model configs, refreshed vms.csv rows, and
entries already saved by an older tailor or by hand (issue 10, point 5).

Each case of the issue is its own test. The rules they check:

- a config or a SkyPilot catalog that tailor cannot use is refused whole with a CatalogError
  that names the file (and line, key or column) and ends with a "To fix: …" sentence, and the
  user's previous models.yaml / offers.csv stays byte for byte;
- anything accepted can be listed and planned with afterwards;
- a bad entry already saved is skipped and named (``Catalog.problems``), never a crash of every
  later command;
- a second refresh of another cloud keeps the clouds of the first.

The property tests generate hostile configs and rows and hold every outcome to the first two.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from catalog import CatalogError, TailorError, load_catalog, total_params
from catalog.hf_config import arch_from_hf_config, save_user_model
from catalog.loaders import user_models_path, user_offers_path
from catalog.params import active_params
from catalog.refresh import refresh_user_offers
from planner.rank import plan_goal
from planner.spec import GoalSpec, load_goal
from tests.conftest import REPO_ROOT

TINY = {
    "model_type": "llama",
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 512,
    "tie_word_embeddings": True,
}
HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,SpotPrice\n"
GOOD_ROW = "gpu_1x_a10,A10,1,30,200,1.29,us-east-1,0.6\n"
# The all-models fine-tuning goal: every catalog model is a candidate.
ALL_MODELS_GOAL = REPO_ROOT / "examples" / "goals" / "private-support-assistant.yaml"
FIX_SENTENCE = re.compile(r"To fix: [^\n]+$")


def _assert_refusal(error: BaseException) -> None:
    message = str(error)
    assert isinstance(error, CatalogError), message
    assert "\n" not in message and FIX_SENTENCE.search(message), message


def _write_config(folder: Path, config: Any, name: str = "config.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(config))
    return path


def _add(config_path: Path, model_id: str | None = "hostile") -> None:
    """What `tailor catalog add-model` does."""
    arch = arch_from_hf_config(config_path, model_id=model_id, hf_id="me/hostile")
    save_user_model(arch, user_models_path())


def _seed_user_models(tmp_path: Path) -> bytes:
    """A user catalog with one good model; its models.yaml bytes."""
    _add(_write_config(tmp_path, TINY, "seed.json"), model_id="seed")
    return user_models_path().read_bytes()


def _assert_add_refused(tmp_path: Path, config_path: Path, *, names: str) -> str:
    before = _seed_user_models(tmp_path)
    with pytest.raises(TailorError) as info:
        _add(config_path)
    _assert_refusal(info.value)
    assert str(config_path) in str(info.value) and names in str(info.value)
    assert user_models_path().read_bytes() == before
    return str(info.value)


def _all_models_plan_works() -> None:
    catalog = load_catalog()
    result = plan_goal(load_goal(ALL_MODELS_GOAL), catalog)
    assert result.plans


# --- add-model: each hostile config of the issue -------------------------------------------


def test_vocab_2_pow_1100_is_refused(tmp_path: Path) -> None:
    path = _write_config(tmp_path, {**TINY, "vocab_size": 2**1100})
    _assert_add_refused(tmp_path, path, names="vocab_size")


def test_moe_without_num_experts_per_tok_is_refused(tmp_path: Path) -> None:
    path = _write_config(tmp_path, {**TINY, "num_local_experts": 8})
    _assert_add_refused(tmp_path, path, names="num_experts_per_tok")


def test_markup_id_is_refused(tmp_path: Path) -> None:
    before = _seed_user_models(tmp_path)
    with pytest.raises(TailorError) as info:
        _add(_write_config(tmp_path, TINY), model_id="x[/bold]")
    _assert_refusal(info.value)
    assert "--id" in str(info.value)
    assert user_models_path().read_bytes() == before


def test_string_dimension_is_refused(tmp_path: Path) -> None:
    path = _write_config(tmp_path, {**TINY, "hidden_size": "128"})
    _assert_add_refused(tmp_path, path, names="hidden_size")


def test_text_config_list_is_refused(tmp_path: Path) -> None:
    path = _write_config(tmp_path, {**TINY, "text_config": [TINY]})
    _assert_add_refused(tmp_path, path, names="text_config")


def test_non_utf8_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{"model_type": "ll\xffama"}')
    _assert_add_refused(tmp_path, path, names="UTF-8")


def test_deep_json_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    _assert_add_refused(tmp_path, path, names="deeply")


def test_integer_of_5000_digits_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(TINY).replace("1000", "1" * 5000))  # found while exploring
    _assert_add_refused(tmp_path, path, names="JSON")


def test_unprintable_hf_id_is_refused(tmp_path: Path) -> None:
    path = _write_config(tmp_path, {**TINY, "_name_or_path": "me/x\u2028y"})
    before = _seed_user_models(tmp_path)
    with pytest.raises(TailorError) as info:
        arch_from_hf_config(path, model_id="x")
    _assert_refusal(info.value)
    assert "_name_or_path" in str(info.value) and user_models_path().read_bytes() == before


# --- entries already saved (by an older tailor or by hand) ---------------------------------


def _saved_entry(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "old",
        "hf_id": "me/old",
        "family": "llama",
        "num_layers": 2,
        "hidden_size": 128,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "head_dim": 64,
        "intermediate_size": 256,
        "vocab_size": 1000,
        "tie_word_embeddings": True,
        "max_context_tokens": 512,
        "license": "mit",
        "source": "hand",
        "retrieved_on": "2026-01-01",
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"id": "huge-vocab", "vocab_size": 2**1100}, "vocab_size"),
        ({"id": "moe", "num_experts": 8}, "num_experts_per_token"),
        ({"id": "x[/bold]"}, "id"),
    ],
    ids=["vocab-2**1100", "moe-without-per-token", "markup-id"],
)
def test_saved_bad_entry_is_skipped_and_named(overrides: dict, reason: str) -> None:
    path = user_models_path()
    path.parent.mkdir(parents=True)
    entries = [_saved_entry(), _saved_entry(**overrides)]
    path.write_text(json.dumps({"models": entries}))  # JSON is YAML
    catalog = load_catalog()
    (problem,) = catalog.problems
    assert f"{path}:1" in problem and repr(overrides["id"]) in problem and reason in problem
    assert FIX_SENTENCE.search(problem)
    assert catalog.model("old") and catalog.find_model(overrides["id"]) is None
    for arch in catalog.models:  # what `tailor catalog models` computes for each row
        assert math.isfinite(total_params(arch) / 1e9) and active_params(arch) > 0
    _all_models_plan_works()


def test_saved_integer_of_5000_digits_skips_the_file_and_names_it() -> None:
    path = user_models_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"models": [_saved_entry()]}).replace("1000", "1" * 5000))
    (problem,) = load_catalog().problems
    assert str(path) in problem and "cannot be read" in problem and FIX_SENTENCE.search(problem)


def test_unreadable_models_file_is_skipped_and_named() -> None:
    path = user_models_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"models:\n  - id: caf\xe9\n")
    catalog = load_catalog()
    (problem,) = catalog.problems
    assert str(path) in problem and "UTF-8" in problem and FIX_SENTENCE.search(problem)
    assert catalog.model("llama-3.1-8b")  # the base catalog is all there


def test_add_model_keeps_unreadable_entries_verbatim(tmp_path: Path) -> None:
    path = user_models_path()
    path.parent.mkdir(parents=True)
    bad = _saved_entry(id="moe", num_experts=8)
    path.write_text(json.dumps({"models": [bad]}))
    _add(_write_config(tmp_path, TINY))
    catalog = load_catalog()
    assert catalog.model("hostile") and len(catalog.problems) == 1  # still named, not lost
    assert "num_experts: 8" in path.read_text()


def test_add_model_refuses_to_overwrite_an_unreadable_models_file(tmp_path: Path) -> None:
    path = user_models_path()
    path.parent.mkdir(parents=True)
    path.write_text("models:\n  - id: x\n    hf_id: [unclosed\n")
    before = path.read_bytes()
    with pytest.raises(TailorError) as info:
        _add(_write_config(tmp_path, TINY))
    _assert_refusal(info.value)
    assert "not valid YAML" in str(info.value) and path.read_bytes() == before


# --- refresh: each hostile vms.csv of the issue ---------------------------------------------


def _sky_folder(tmp_path: Path, cloud: str, body: bytes | str, name: str = "sky") -> Path:
    folder = tmp_path / name
    (folder / cloud).mkdir(parents=True, exist_ok=True)
    data = body.encode() if isinstance(body, str) else body
    (folder / cloud / "vms.csv").write_bytes(data)
    return folder


def _refresh(folder: Path) -> None:
    refresh_user_offers(folder, catalog=load_catalog(), target=user_offers_path())


def _seed_user_offers(tmp_path: Path) -> bytes:
    _refresh(_sky_folder(tmp_path, "runpod", HEADER + GOOD_ROW, name="seed"))
    return user_offers_path().read_bytes()


def _assert_refresh_refused(tmp_path: Path, folder: Path, *, names: str) -> None:
    before = _seed_user_offers(tmp_path)
    with pytest.raises(TailorError) as info:
        _refresh(folder)
    _assert_refusal(info.value)
    assert names in str(info.value)
    assert user_offers_path().read_bytes() == before


def test_refresh_price_1e_minus_300_is_refused(tmp_path: Path) -> None:
    folder = _sky_folder(tmp_path, "lambda", HEADER + GOOD_ROW.replace("1.29", "1e-300"))
    _assert_refresh_refused(tmp_path, folder, names="vms.csv:2")


def test_refresh_128_kb_field_is_refused(tmp_path: Path) -> None:
    row = GOOD_ROW.replace("us-east-1", "x" * (128 * 1024 + 1))
    _assert_refresh_refused(tmp_path, _sky_folder(tmp_path, "lambda", HEADER + row), names=":2")


def test_refresh_long_region_is_refused(tmp_path: Path) -> None:
    row = GOOD_ROW.replace("us-east-1", "x" * 1000)
    _assert_refresh_refused(tmp_path, _sky_folder(tmp_path, "lambda", HEADER + row), names="region")


def test_refresh_non_utf8_is_refused(tmp_path: Path) -> None:
    body = (HEADER + GOOD_ROW.replace("us-east-1", "s\xe3o-paulo")).encode("latin-1")
    _assert_refresh_refused(tmp_path, _sky_folder(tmp_path, "lambda", body), names="UTF-8")


def test_refresh_vms_csv_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "sky"
    (folder / "lambda" / "vms.csv").mkdir(parents=True)
    _assert_refresh_refused(tmp_path, folder, names="not a regular file")


def test_refresh_markup_region_is_refused(tmp_path: Path) -> None:
    row = GOOD_ROW.replace("us-east-1", "us-[/bold]-1")
    _assert_refresh_refused(tmp_path, _sky_folder(tmp_path, "lambda", HEADER + row), names="region")


def test_refresh_without_gpu_offers_is_refused(tmp_path: Path) -> None:
    row = GOOD_ROW.replace("A10", "TPU-v4")
    _assert_refresh_refused(tmp_path, _sky_folder(tmp_path, "lambda", HEADER + row), names="no GPU")


def _refreshed() -> set[tuple[str, float]]:
    offers = load_catalog().offers
    return {(o.cloud, o.price_usd_per_hour) for o in offers if o.source.startswith("SkyPilot")}


def test_second_refresh_keeps_the_clouds_of_the_first(tmp_path: Path) -> None:
    _refresh(_sky_folder(tmp_path, "lambda", HEADER + GOOD_ROW, name="first"))
    _refresh(_sky_folder(tmp_path, "aws", HEADER + GOOD_ROW.replace("1.29", "2.5"), name="next"))
    assert _refreshed() == {("lambda", 1.29), ("aws", 2.5)}
    _refresh(_sky_folder(tmp_path, "lambda", HEADER + GOOD_ROW.replace("1.29", "1.1"), "again"))
    assert _refreshed() == {("lambda", 1.1), ("aws", 2.5)}  # lambda replaced, aws kept


def test_saved_bad_offer_row_is_skipped_and_named(tmp_path: Path) -> None:
    _seed_user_offers(tmp_path)
    path = user_offers_path()
    header, row = path.read_text().splitlines()
    path.write_text(f"{header}\n{row}\n{row.replace('1.29', 'inf')}\n")
    catalog = load_catalog()
    (problem,) = catalog.problems
    assert f"{path}:3" in problem and "price_usd_per_hour" in problem
    assert FIX_SENTENCE.search(problem)
    assert any(o.cloud == "runpod" and o.price_usd_per_hour == 1.29 for o in catalog.offers)


def test_refresh_refuses_to_overwrite_an_unreadable_offers_file(tmp_path: Path) -> None:
    path = user_offers_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"cloud,region\nrunpod,s\xe3o\n")
    with pytest.raises(TailorError) as info:
        _refresh(_sky_folder(tmp_path, "lambda", HEADER + GOOD_ROW))
    _assert_refusal(info.value)
    assert path.read_bytes() == b"cloud,region\nrunpod,s\xe3o\n"


# --- property tests -------------------------------------------------------------------------

_EXTREME_COUNTS = st.one_of(
    st.sampled_from([1, 2, 3, 64, 1024, 4096, 2**17, 2**24]), st.integers(1, 2**17)
)
_HOSTILE_VALUES = st.one_of(
    _EXTREME_COUNTS,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2**24, 2**24 + 1, 2**1100, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
_KEYS = [
    *TINY,
    "head_dim",
    "num_local_experts",
    "num_experts_per_tok",
    "moe_intermediate_size",
    "sliding_window",
    "text_config",
    "_name_or_path",
    "is_encoder_decoder",
    "attention_bias",
]


@st.composite
def hostile_configs(draw: st.DrawFn) -> Any:
    """TINY with a few keys set to hostile values, sometimes wrapped in text_config, or not an
    object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(_HOSTILE_VALUES)
    config: dict[str, Any] = dict(TINY)
    for key in draw(st.lists(st.sampled_from(_KEYS), min_size=1, max_size=4)):
        config[key] = draw(_HOSTILE_VALUES)
    if draw(st.booleans()):
        config = {"model_type": "wrapper", "text_config": config}
    return config


@st.composite
def extreme_configs(draw: st.DrawFn) -> dict[str, Any]:
    """Configs of JSON integers only, at and near every bound: most are saved, so the
    "saved, then listed and planned" side is exercised as hard as the refusals."""
    config: dict[str, Any] = {"model_type": draw(st.sampled_from(["llama", "qwen2", "gpt_oss"]))}
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "vocab_size"):
        config[key] = draw(_EXTREME_COUNTS)
    config["max_position_embeddings"] = draw(st.sampled_from([1, 2, 512, 2**20, 2**24]))
    heads = draw(st.sampled_from([1, 2, 3, 4096]).filter(lambda h: h <= config["hidden_size"]))
    config["num_attention_heads"] = heads
    config["num_key_value_heads"] = draw(st.integers(1, heads))
    if draw(st.booleans()):
        config["num_local_experts"] = experts = draw(st.integers(1, 1024))
        config["num_experts_per_tok"] = draw(st.integers(1, experts + 1))
        config["moe_intermediate_size"] = draw(_EXTREME_COUNTS)
    return config


_PLAN_GOAL: GoalSpec | None = None


def _plan_with(model_id: str) -> None:
    """Plan the fine-tuning goal with only ``model_id``: a plan, or a clean TailorError."""
    global _PLAN_GOAL  # noqa: PLW0603 - parsed once for every example
    _PLAN_GOAL = _PLAN_GOAL or load_goal(ALL_MODELS_GOAL)
    models = _PLAN_GOAL.models.model_copy(update={"candidates": (model_id,)})
    try:
        plan_goal(_PLAN_GOAL.model_copy(update={"models": models}), load_catalog())
    except TailorError as exc:
        _assert_refusal_text(str(exc))
        event(f"planning refused: {type(exc).__name__}")


def _assert_refusal_text(message: str) -> None:
    assert "To fix:" in message, message


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=st.one_of(hostile_configs(), extreme_configs()))
@example(config={**TINY, "vocab_size": 2**1100})
@example(config={**TINY, "num_experts": 4, "num_experts_per_tok": 9})
@example(config={**TINY, "num_key_value_heads": 3})
@example(config={**TINY, "_name_or_path": "me/\ud800"})
def test_hostile_config_is_refused_or_usable(tmp_path_factory, config: Any) -> None:
    folder = tmp_path_factory.mktemp("config")
    models_file = user_models_path()
    before = models_file.read_bytes() if models_file.exists() else None
    path = folder / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8", errors="surrogatepass")
    try:
        arch = arch_from_hf_config(path, model_id="hostile")
        save_user_model(arch, models_file)
    except TailorError as exc:
        _assert_refusal(exc)
        assert (models_file.read_bytes() if models_file.exists() else None) == before
        event("refused")
        return
    event("saved")
    catalog = load_catalog()
    assert catalog.problems == ()
    saved = catalog.model("hostile")
    assert math.isfinite(total_params(saved) / 1e9) and 0 < active_params(saved) <= total_params(
        saved
    )
    _plan_with("hostile")


_CELLS = st.one_of(
    st.sampled_from(["", "0", "-1", "nan", "inf", "1e-300", "1e300", "1.29", "8", "0.5", "A10"]),
    st.text(max_size=30),
    st.text(alphabet="x", min_size=250, max_size=300),
)
_COLUMNS = HEADER.strip().split(",")


@st.composite
def hostile_vms(draw: st.DrawFn) -> str:
    """A vms.csv of good A10 rows with some cells replaced by hostile text."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_COLUMNS)
    for _ in range(draw(st.integers(1, 3))):
        row = GOOD_ROW.strip().split(",")
        for column in draw(st.lists(st.integers(0, len(row) - 1), max_size=3)):
            row[column] = draw(_CELLS)
        writer.writerow(row)
    return buffer.getvalue()


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=hostile_vms())
@example(body=HEADER + GOOD_ROW.replace("0.6", "1e-300"))
@example(body=HEADER + GOOD_ROW.replace("us-east-1", "us\x00east"))
@example(body=HEADER + GOOD_ROW.replace("200", "1e300"))
def test_hostile_vms_csv_is_refused_or_usable(tmp_path_factory, body: str) -> None:
    folder = tmp_path_factory.mktemp("sky")
    (folder / "lambda").mkdir()
    (folder / "lambda" / "vms.csv").write_text(body, encoding="utf-8", errors="surrogatepass")
    target = user_offers_path()
    before = target.read_bytes() if target.exists() else None
    try:
        refresh_user_offers(folder, catalog=load_catalog(), target=target)
    except TailorError as exc:
        _assert_refusal(exc)
        assert (target.read_bytes() if target.exists() else None) == before
        event("refused")
        return
    event("saved")
    catalog = load_catalog()
    assert catalog.problems == ()
    assert any(o.cloud == "lambda" for o in catalog.offers)
    _plan_with("llama-3.2-1b")
