"""Synthetic posts for tests and benchmarks: short texts mixing topic terms, traps and noise.

Not data: random word salads with the shapes LFs care about (multi-word terms, hashtags in
CamelCase, URLs, authors, source apps, odd Unicode such as dotless ı, the Kelvin sign, long s,
accents, emoji and non-breaking spaces), generated from a seed in a vectorized way.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

FILLER = (
    "about after again all also always am an any are around as at away back be because been before being "
    "best better between both but by came can city come could day days did do does done down each even "
    "every family feel few find first friend friends from get give go going good got had has have he her "
    "here him his home how if into know last life like little long look lot made make man many may me more "
    "morning most much must never next night no not now off old one only or other out over people place "
    "really right said same see she should since so some something still such sure take than thanks their "
    "them then there these they thing things think those though three through too two under up us very "
    "want was way week well went were what when where which while who why will work world would year yes yet"
).split()
WORDS = FILLER + (
    "the a of to and in is it for on with my this that you we our new today just love great time "
    "machine learning deep neural network networks artificial intelligence data science scientist "
    "AI ai A.I. LLM llms NLP nlp GPT model models training python pandas pytorch tensorflow "
    "big game plan sleep pathways dream mining analytics cloud statistics kaggle "
    "check out subscribe channel please video song views http https www .com free win money "
    "C++ c# R #AI #ai #MachineLearning #machinelearning #DeepLearning #DataScience #BigGame "
    "café naïve aı KAI ſcience Ünïcode 🤖 🔥 -- ... ! ? : , RT @someone @dev_ai"
).split() + ["\u00a0", "data\u00a0science", "machine\nlearning", "machine  learning"]
HASHTAGS = ("MachineLearning", "AI", "DataScience", "deeplearning", "NLP", "BigGame", "love", "Sleep", "tech")
URLS = ("https://arxiv.org/abs/2101.00001", "https://www.github.com/x/y", "http://blog.example.com/post",
        "https://www.youtube.com/watch?v=1", "https://t.co/abc", "not a url", "https://Kaggle.com/c/x")
AUTHORS = ("ai_news", "DataSciBot", "sports_fan", "sleepy", "ml-weekly", None)
APPS = ("Twitter for iPhone", "Twitter Web App", "dlvr.it", "IFTTT", None)


def posts(n: int, seed: int = 0, words_per_post: int = 12) -> pd.DataFrame:
    """``n`` synthetic posts with the split-export columns LFs read (id, text, author, ...)."""
    rng = np.random.default_rng(seed)
    vocab = np.array(WORDS, dtype=object)
    lengths = rng.integers(1, 2 * words_per_post, n)
    picks = vocab[rng.integers(0, len(vocab), lengths.sum())]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    texts = [" ".join(picks[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    def lists(pool: tuple[str, ...], mean: float) -> list[list[str]]:
        counts = rng.poisson(mean, n)
        chosen = np.array(pool, dtype=object)[rng.integers(0, len(pool), counts.sum())]
        edges = np.concatenate([[0], np.cumsum(counts)])
        return [list(chosen[a:b]) for a, b in zip(edges[:-1], edges[1:])]

    return pd.DataFrame({
        "id": [f"s{seed}-{i}" for i in range(n)],
        "text": texts,
        "author": np.array(AUTHORS, dtype=object)[rng.integers(0, len(AUTHORS), n)],
        "source_app": np.array(APPS, dtype=object)[rng.integers(0, len(APPS), n)],
        "hashtags": lists(HASHTAGS, 0.6),
        "urls": lists(URLS, 0.4),
    })
