"""Model selection: golden labels decide whether weak labels help, and the choice is recorded."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from models.classifier import TextClassifier
from models.features import FeatureSpace, Posts
from models.params import TrainParams
from models.selection import Candidate, CVData, choose_use, duplicate_groups, select
from models.train import train_model
from tests.support.world import HAM, SPAM, add_golden, make_world

LABELS = ["ham", "spam"]
FAST = TrainParams(architecture="tfidf", select_architectures=["tfidf"], max_tokens=500, select_min_golden=30)


FILLER = ("today again really maybe always video people time first last good old new little big long great "
          "other right high small large next early young important few public bad same able").split()


def _filler(rng: np.random.Generator) -> str:
    """Four random everyday words, so posts from one template are not near duplicates."""
    return " ".join(rng.choice(FILLER, 4))


def _posts(n: int, seed: int, prefix: str) -> tuple[Posts, np.ndarray]:
    """``n`` spam/ham posts from the test world's templates, with their true classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    texts = [(SPAM if c else HAM)[int(rng.integers(5))].format(n=i) + " " + _filler(rng) for i, c in enumerate(y)]
    return Posts(texts=texts, ids=[f"{prefix}{i}" for i in range(n)]), y


def _cv_data(weak_targets_from: str, n_golden: int = 60) -> CVData:
    golden, golden_y = _posts(n_golden, 0, "g")
    weak, weak_y = _posts(400, 1, "w")
    truth = np.eye(2)[weak_y]
    targets = {"right": truth, "adversarial": truth[:, ::-1]}[weak_targets_from]
    return CVData(golden=golden, golden_y=golden_y, weak=weak, weak_targets=targets.astype("float32"), weak_scale=1.0)


def test_adversarial_weak_labels_lose_to_golden_labels_alone():
    params = replace(FAST, select_weak_modes=["golden_only", "weak"])
    selection = select(params, _cv_data("adversarial"), LABELS, n_lfs=0)
    assert selection.params.use_weak is False and selection.chosen.startswith("tfidf / golden_only")
    scores = {row["candidate"]: row["cv_macro_f1"] for row in selection.scores}
    # stage 1: both L2 penalties on golden labels; stage 2: the winner alone and with weak targets at
    # each weight, the task file's 3.0 among them
    assert len(selection.scores) == len(params.select_l2) + 1 + len({*params.select_golden_weights, params.golden_weight})
    assert {row["stage"] for row in selection.scores} == {1, 2}
    assert max(v for k, v in scores.items() if "golden_only" in k) > 0.9
    assert min(v for k, v in scores.items() if "weak x1 " in k) < 0.5  # weak labels drown the golden ones
    assert selection.folds == 5 and selection.n_golden == 60
    # with the ensemble among the candidates too (the default), averaging in adversarial heads does not pay
    assert select(FAST, _cv_data("adversarial"), LABELS, n_lfs=0).chosen.startswith("tfidf / golden_only")


def test_near_duplicate_golden_posts_stay_in_one_fold():
    golden, y = _posts(60, 0, "g")
    copies = Posts(texts=[t + " !" for t in golden.texts], ids=[f"c{i}" for i in range(60)])
    data = CVData(golden=Posts.concat([golden, copies]), golden_y=np.concatenate([y, y]),
                  weak=Posts(texts=[], ids=[]), weak_targets=np.zeros((0, 2), "float32"), weak_scale=1.0)
    groups = duplicate_groups(FeatureSpace("tfidf", n_classes=2).fit(data.golden.texts).block("tfidf", data.golden), 0.9)
    assert all(groups[i] == groups[60 + i] for i in range(60))  # a post and its copy share a group
    assert len(set(groups)) >= 50                               # different posts do not
    templates = Posts(texts=[SPAM[0].format(n=i) for i in range(40)], ids=[f"t{i}" for i in range(40)])
    same = CVData(golden=templates, golden_y=np.array([0, 1] * 20), weak=Posts(texts=[], ids=[]),
                  weak_targets=np.zeros((0, 2), "float32"), weak_scale=1.0)
    assert "near duplicates" in select(FAST, same, LABELS, n_lfs=0).reason  # numbers standardize away


def test_too_few_golden_labels_keep_the_task_settings_and_say_why():
    selection = select(FAST, _cv_data("right", n_golden=12), LABELS, n_lfs=0)
    assert selection.params == FAST and not selection.scores
    assert "only 12 golden labels" in selection.reason and "task file's settings" in selection.reason


def test_training_records_the_selection_in_card_and_runs(engine, tmp_path: Path):
    world = make_world(engine, tmp_path, n=240)
    pool = world.truth[world.truth["split"].isin(["lf", "train"])]
    add_golden(engine, world.task, pool.groupby("label").head(25))
    result = train_model(world.task.path, world.version, progress=False, select_architectures=["tfidf"],
                         select_min_golden=30)
    card = json.loads((Path(result.model_path) / "model_card.json").read_text())
    assert card["selection"]["chosen"] == result.selection["chosen"]
    assert card["selection"]["n_golden"] == 50 and len(card["selection"]["candidates"]) >= 4
    stage2 = {c["weak_mode"]: c for c in card["selection"]["candidates"] if c["stage"] == 2}
    chosen = next(c for c in stage2.values() if c["candidate"] == card["selection"]["chosen"])
    # the ensemble, unless golden labels alone beat it by more than one standard error
    alone, ensemble = stage2["golden_only"], stage2["ensemble"]
    lfs_hurt = alone["cv_macro_f1"] > ensemble["cv_macro_f1"] + alone["cv_se"]
    assert chosen is (alone if lfs_hurt else ensemble)
    assert card["parameters"]["architecture"] == "tfidf"
    with engine.connect() as conn:
        metrics = conn.execute(sa.text("SELECT metrics FROM runs WHERE id = :i"), {"i": result.run_id}).scalar()
    assert metrics["selection"]["candidates"] == card["selection"]["candidates"]


def test_the_ensemble_competes_as_one_candidate_scored_from_its_members():
    selection = select(FAST, _cv_data("right"), LABELS, n_lfs=0)
    stage2 = [row for row in selection.scores if row["stage"] == 2]
    assert [row["weak_mode"] for row in stage2[:2]] == ["weak", "ensemble"]  # the task file's way, then the ensemble
    assert {row["weak_mode"] for row in stage2} == {"weak", "ensemble", "golden_only"}  # no LF votes: no lf_features
    ensemble = next(row for row in stage2 if row["weak_mode"] == "ensemble")
    assert ensemble["candidate"] == "tfidf / ensemble / l2 0.001" and ensemble["cv_macro_f1"] > 0.9
    only = select(replace(FAST, select_weak_modes=["ensemble"]), _cv_data("right"), LABELS, n_lfs=0)
    assert only.chosen == "tfidf / ensemble / l2 0.001" and only.params.ensemble


def test_stage_two_keeps_the_ensemble_unless_golden_labels_alone_beat_it():
    def way(mode: str, weight: float | None = None) -> Candidate:
        return Candidate("tfidf", mode, weight, 0.001)

    options = [way("weak", 10.0), way("ensemble"), way("lf_features"), way("golden_only"), way("weak", 100.0)]
    errors = [0.02] * len(options)
    # a single way far ahead on CV does not replace the ensemble: CV over a few golden labels misjudges them
    assert choose_use(options, [0.70, 0.72, 0.83, 0.71, 0.75], errors) == 1
    # golden labels alone clearly ahead: the LFs hurt, so they go
    assert choose_use(options, [0.55, 0.60, 0.58, 0.90, 0.50], errors) == 3
    # ... but not within the noise
    assert choose_use(options, [0.70, 0.72, 0.70, 0.735, 0.70], errors) == 1
    # without the ensemble among the options: the preferred option within one standard error of the best
    assert choose_use([options[0], options[2], options[3]], [0.70, 0.83, 0.71], errors[:3]) == 1
    assert choose_use([options[0], options[2], options[3]], [0.70, 0.71, 0.71], errors[:3]) == 0


def test_training_fits_the_chosen_ensemble_and_records_it(engine, tmp_path: Path):
    world = make_world(engine, tmp_path, n=240)
    pool = world.truth[world.truth["split"].isin(["lf", "train"])]
    add_golden(engine, world.task, pool.groupby("label").head(25))
    result = train_model(world.task.path, world.version, progress=False, select_architectures=["tfidf"],
                         select_min_golden=30, select_weak_modes=["ensemble"])
    card = json.loads((Path(result.model_path) / "model_card.json").read_text())
    assert card["selection"]["chosen"].endswith("/ ensemble / l2 0.001")
    # the members use weak targets and LF votes, so the saved model reads votes and counts the weak rows
    assert card["parameters"]["ensemble"] and card["parameters"]["lf_features"] and card["parameters"]["use_weak"]
    clf = TextClassifier.load(Path(result.model_path))
    assert clf.space is not None and clf.space.lf_features and result.training["weak_used"] > 0


def test_three_classes_select_and_fit_end_to_end():
    topics = {0: "my flight was delayed again {n}", 1: "which gate does flight {n} leave from", 2: "thanks for the great crew {n}"}
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    golden = Posts(texts=[topics[c].format(n=i) + " " + _filler(rng) for i, c in enumerate(y)],
                   ids=[f"g{i}" for i in range(90)])
    weak_y = rng.integers(0, 3, 60)
    weak = Posts(texts=[topics[c].format(n=100 + i) for i, c in enumerate(weak_y)], ids=[f"w{i}" for i in range(60)])
    data = CVData(golden=golden, golden_y=y, weak=weak, weak_targets=np.eye(3, dtype="float32")[weak_y], weak_scale=1.0)
    labels = ["negative", "neutral", "positive"]
    selection = select(FAST, data, labels, n_lfs=0)
    assert selection.folds == 5 and all(row["cv_macro_f1"] > 0.9 for row in selection.scores)
    clf = TextClassifier(labels, selection.params).fit(golden, y)
    assert list(clf.predict(["flight delayed", "which gate", "great crew thanks"])) == [0, 1, 2]
