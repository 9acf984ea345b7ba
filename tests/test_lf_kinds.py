"""Each LF kind votes as documented: keyword, regex, field selection, python bridge, cluster."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets.errors import GoldloopError
from labeling.applier import TaskApplier
from labeling.cluster import ClusterLF
from labeling.matching import required_literal
from labeling.task import CLUSTER_DEFAULTS, LFSpec, load_task

HEAD = 'name = "t"\nlabels = ["neg", "pos"]\n'


def applier(tmp_path: Path, body: str) -> TaskApplier:
    path = tmp_path / "task.toml"
    path.write_text(HEAD + body)
    return TaskApplier(load_task(path))


def votes(app: TaskApplier, texts: list[str], **columns: list) -> list[int]:
    frame = pd.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts, **columns})
    return app.apply(frame)[:, 0].tolist()


def test_keyword_word_boundaries_case_hashtags_and_whitespace(tmp_path: Path) -> None:
    app = applier(tmp_path, '[[lfs]]\nname = "k"\nkind = "keyword"\nlabel = "pos"\n'
                            'terms = ["machine learning", "AI", "c++"]\n')
    texts = ["I love Machine Learning", "#MachineLearning rocks", "#machinelearning", "machine\n  learning!",
             "machinelearning", "AIR quality", "said", "an AI.", "#AI", "c++ rules", "c++x", "machine learnings"]
    assert votes(app, texts) == [1, 1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1]


def test_keyword_unless_vetoes_the_vote(tmp_path: Path) -> None:
    app = applier(tmp_path, '[[lfs]]\nname = "k"\nkind = "keyword"\nlabel = "neg"\nterms = ["game"]\n'
                            'unless = ["game theory", "GameDev"]\n')
    assert votes(app, ["big game tonight", "game theory class", "game #gamedev", "gamer"]) == [0, -1, -1, -1]


def test_regex_patterns_and_flags(tmp_path: Path) -> None:
    body = ('[[lfs]]\nname = "r"\nkind = "regex"\nlabel = "pos"\npatterns = ["^check.*out$", "\\\\d{3}"]\n'
            'flags = ["IGNORECASE", "MULTILINE"]\nunless = ["spam"]\n')
    app = applier(tmp_path, body)
    assert votes(app, ["hi\nCheck it out", "check out spam", "call 555", "nothing", "check\nout"]) == [1, -1, 1, -1, -1]
    strict = applier(tmp_path, body.replace('flags = ["IGNORECASE", "MULTILINE"]', "flags = []"))
    assert votes(strict, ["hi\nCheck it out", "check it out"]) == [-1, 1]


def test_fields_select_what_the_lf_reads(tmp_path: Path) -> None:
    body = "".join(f'[[lfs]]\nname = "{f}"\nkind = "keyword"\nlabel = "pos"\nfield = "{f}"\nterms = [{t}]\n'
                   for f, t in [("hashtags", '"deep learning"'), ("url_domains", '"arxiv.org"'),
                                ("author", '"ml_weekly"'), ("source_app", '"IFTTT"'), ("text", '"arxiv"')])
    app = applier(tmp_path, body)
    frame = pd.DataFrame({
        "id": ["a", "b", "c"],
        "text": ["see arxiv", "deep learning", "nothing"],
        "hashtags": [["DeepLearning", "x"], [], None],
        "urls": [["https://www.arxiv.org/abs/1"], ["https://notarxiv.org/x"], []],
        "author": ["ml_weekly", None, "ml"],
        "source_app": ["IFTTT", "Twitter for iPhone", None]})
    L = app.apply(frame)
    assert L.tolist() == [[1, 1, 1, 1, 1], [-1, -1, -1, -1, -1], [-1, -1, -1, -1, -1]]
    assert app.input_columns == ("id", "hashtags", "urls", "author", "source_app", "text")
    np.testing.assert_array_equal(app.apply(frame[list(app.input_columns)]), L)  # what the Spark engine sends


def test_python_lf_runs_through_snorkel_and_bad_votes_are_reported(tmp_path: Path) -> None:
    app = applier(tmp_path, '[[lfs]]\nname = "short"\nkind = "python"\nref = "labeling.lfs.common:short_text_is_0"\n')
    assert votes(app, ["too short", "this one has more than five words in it"]) == [0, -1]
    assert app.input_columns is None  # a python LF may read any column
    with pytest.raises(GoldloopError, match="LF 'bad': cannot import module 'no_such_module'"):
        applier(tmp_path, '[[lfs]]\nname = "bad"\nkind = "python"\nref = "no_such_module:f"\n')
    app = applier(tmp_path, '[[lfs]]\nname = "bad"\nkind = "python"\nref = "builtins:len"\n')
    with pytest.raises(GoldloopError, match="LF .bad. returned 2"):
        votes(app, ["x"])


def _cluster(min_purity: float = 0.8, min_support: int = 3, label: int | None = None) -> ClusterLF:
    params = {**CLUSTER_DEFAULTS, "k": 2, "svd_components": 0, "min_purity": min_purity, "min_support": min_support}
    return ClusterLF(LFSpec(name="c", kind="cluster", label=label, params=params))


SPORT = ["football match tonight goal", "great football goal match", "match goal football fans",
         "football fans match goal", "goal goal football match"]
TECH = ["neural network training gpu", "gpu neural network training", "training neural network gpu model",
        "network training gpu neural", "neural gpu training network"]


def test_cluster_votes_pure_supported_clusters_and_abstains_otherwise() -> None:
    texts = SPORT + TECH
    reference = np.array([0, 0, 0, -1, -1, 1, 1, 1, 1, -1])
    lf = _cluster().fit(texts, reference, "lfs")
    assert lf.predict(texts).tolist() == [0] * 5 + [1] * 5
    assert lf.predict(["football goal match"]).tolist() == [0]
    # impure: sport cluster has 2 vs 1 (purity 0.67 < 0.8) -> abstains; tech stays
    impure = np.array([0, 0, 1, -1, -1, 1, 1, 1, 1, -1])
    assert _cluster().fit(texts, impure, "lfs").predict(texts).tolist() == [-1] * 5 + [1] * 5
    # too little support: 2 labeled members < min_support 3
    sparse = np.array([0, 0, -1, -1, -1, 1, 1, 1, -1, -1])
    lf = _cluster().fit(texts, sparse, "golden")
    assert lf.predict(texts).tolist() == [-1] * 5 + [1] * 5
    assert lf.report_["label_source"] == "golden" and sorted(c["support"] for c in lf.report_["clusters"]) == [2, 3]
    # restricted to one label: the sport cluster's majority (neg) is not voted
    assert _cluster(label=1).fit(texts, reference, "lfs").predict(texts).tolist() == [-1] * 5 + [1] * 5


def test_cluster_lf_uses_golden_labels_when_enough_else_other_lfs(tmp_path: Path) -> None:
    body = ('[[lfs]]\nname = "kw"\nkind = "keyword"\nlabel = "pos"\nterms = ["gpu"]\n'
            '[[lfs]]\nname = "c"\nkind = "cluster"\nk = 2\nsvd_components = 0\nmin_support = 2\nmin_golden = 4\n')
    frame = pd.DataFrame({"id": [str(i) for i in range(10)], "text": SPORT + TECH})
    app = applier(tmp_path, body).fit(frame)  # no golden: the keyword LF's votes label the tech cluster
    assert app.clusters[1].report_["label_source"] == "lfs"
    assert app.apply(frame)[:, 1].tolist() == [-1] * 5 + [1] * 5
    golden = np.array([0, 0, 0, -1, -1, 1, 1, -1, -1, -1])
    app = applier(tmp_path, body).fit(frame, golden)
    assert app.clusters[1].report_["label_source"] == "golden"
    assert app.apply(frame)[:, 1].tolist() == [0] * 5 + [1] * 5
    with pytest.raises(GoldloopError, match="must be fitted"):
        applier(tmp_path, body).apply(frame)


@pytest.mark.parametrize("pattern, flags, literal", [
    (r"\b(?:train|training)\b.{0,40}\bmodels?\b", 0, "train"),
    (r"\d+\s+of\s+(?:accuracy|F1|AUC)\b", 0, "accuracy|F1|AUC"),
    (r"(?:ab|cd)+x", 0, "ab|cd"),
    (r"a|bcd", 0, None),                      # "a" alone is too short to narrow anything
    (r"(?:xyz)?q", 0, None),                  # optional groups are not required
    (r"Kit", re.IGNORECASE, None),            # checked below: case variants spelled out
])
def test_regex_prefilter_literals(pattern: str, flags: int, literal: str | None) -> None:
    found = required_literal(pattern, flags)
    if flags & re.IGNORECASE:
        # Python's folding: K matches the Kelvin sign, i matches dotless ı and dotted İ
        assert "\\x{212a}" in found and "\\x{131}" in found and "\\x{130}" in found
    else:
        assert found == literal
