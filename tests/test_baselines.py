"""The TF-IDF baselines: scikit-learn's classifiers, fitted per support set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metabook as mb
from metabook import baselines
from metabook.errors import ConfigError, EpisodeError

pytest.importorskip("sklearn")

TOPICS = {
    "fruit": "apple pear plum cherry peach sweet juicy tree orchard",
    "boat": "sail hull keel mast harbour water rowing anchor deck",
    "tool": "hammer nail saw drill screw wood metal handle blade",
    "bird": "wing feather beak nest flight song egg claw perch",
}


SHARED = "one two three four five six seven eight nine ten".split()


def corpus(
    n_per_class: int = 12, seed: int = 0, shared: int = 4
) -> tuple[list[str], torch.Tensor]:
    """Short texts of four topics: three words of the topic, then shared words.

    The shared words, repeated at random, give every pair of texts some overlap
    with its own weight, so no query is exactly as close to two classes (a tie
    would be broken by rounding, differently by different computations).
    """
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for label, words in enumerate(TOPICS.values()):
        vocab = words.split()
        for _ in range(n_per_class):
            picked = rng.choice(vocab, size=3, replace=False).tolist()
            for word in rng.choice(SHARED, size=shared, replace=False).tolist():
                picked += [word] * int(rng.integers(1, 4))
            texts.append(" ".join(picked))
            labels.append(label)
    return texts, torch.tensor(labels)


def index_episodes(labels, n_way, k_shot, n_query, n, seed=0):
    sampler = mb.EpisodeSampler(
        torch.arange(len(labels)),
        labels,
        n_way,
        k_shot,
        n_query,
        generator=torch.Generator().manual_seed(seed),
    )
    return sampler.sample_batch(n)


def plain_accuracy(features, episodes, make_classifier):
    """The reference: every column, no restriction to the support's terms."""
    out = []
    for i in range(episodes.meta_batch_size):
        S = features[episodes.support_x[i].numpy()]
        Q = features[episodes.query_x[i].numpy()]
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf = make_classifier().fit(S, episodes.support_y[i].numpy())
        pred = clf.predict(Q)
        out.append(np.mean(pred == episodes.query_y[i].numpy()))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize(
    "analyzer, ngrams", [("word", (1, 1)), ("char_wb", (2, 4))]
)
@pytest.mark.parametrize("k_shot", [1, 3])
def test_same_predictions_as_on_every_column(analyzer, ngrams, k_shot):
    texts, labels = corpus()
    # fitted on other texts, as the book fits on meta-training texts
    vectorizer = baselines.tfidf(corpus(seed=1)[0], analyzer, ngrams)
    features = vectorizer.transform(texts)
    episodes = index_episodes(labels, 3, k_shot, 4, 20)
    makers = (
        baselines.nearest_class_mean,
        lambda: baselines.logistic_regression(C=10),
    )
    for make in makers:
        ours = baselines.episode_accuracy(features, episodes, make)
        assert ours.shape == (20,) and ours.dtype == torch.float64
        torch.testing.assert_close(
            ours, plain_accuracy(features, episodes, make)
        )


def test_learns_separable_topics():
    texts, labels = corpus(shared=0)
    features = baselines.tfidf(texts).transform(texts)
    episodes = index_episodes(labels, 4, 2, 5, 10)
    for make in (baselines.nearest_class_mean, baselines.logistic_regression):
        acc = baselines.episode_accuracy(features, episodes, make)
        assert acc.mean() > 0.9


def test_nearest_class_mean_is_the_closest_support_mean():
    texts, labels = corpus()
    features = baselines.tfidf(texts).transform(texts).toarray()
    episodes = index_episodes(labels, 4, 3, 5, 5, seed=3)
    for i in range(5):
        S = features[episodes.support_x[i].numpy()]
        Q = features[episodes.query_x[i].numpy()]
        y = episodes.support_y[i].numpy()
        means = np.stack([S[y == c].mean(0) for c in range(4)])
        pred = ((Q[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
        expected = np.mean(pred == episodes.query_y[i].numpy())
        got = baselines.episode_accuracy(
            features, episodes[i : i + 1], baselines.nearest_class_mean
        )
        assert got.item() == pytest.approx(expected)


def test_tfidf_rows_have_unit_length_and_ignore_unknown_words():
    vectorizer = baselines.tfidf(["a red apple", "a green pear"])
    rows = vectorizer.transform(["red pear", "zebra"]).toarray()
    assert np.linalg.norm(rows[0]) == pytest.approx(1.0)
    assert not rows[1].any()  # a word the vectorizer was not fitted on


def test_errors():
    texts, labels = corpus()
    features = baselines.tfidf(texts).transform(texts)
    episodes = index_episodes(labels, 2, 1, 2, 3)
    with pytest.raises(ConfigError, match="analyzer='chars'"):
        baselines.tfidf(texts, analyzer="chars")
    with pytest.raises(ConfigError, match="ngram_range"):
        baselines.tfidf(texts, ngram_range=(3, 2))
    with pytest.raises(ConfigError, match="at least one text"):
        baselines.tfidf([])
    with pytest.raises(ConfigError, match="C=0"):
        baselines.logistic_regression(C=0)
    with pytest.raises(EpisodeError, match="batched"):
        baselines.episode_accuracy(
            features, episodes[0], baselines.nearest_class_mean
        )
    floats = mb.Episode(
        episodes.support_x.float(),
        episodes.support_y,
        episodes.query_x.float(),
        episodes.query_y,
        batched=True,
    )
    with pytest.raises(EpisodeError, match="row indices"):
        baselines.episode_accuracy(
            features, floats, baselines.nearest_class_mean
        )
    with pytest.raises(EpisodeError, match="features has 10 rows"):
        baselines.episode_accuracy(
            features[:10], episodes, baselines.nearest_class_mean
        )


def test_pipeline_accuracy_fits_each_support_set():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import NearestCentroid
    from sklearn.pipeline import make_pipeline

    texts, labels = corpus()
    episodes = index_episodes(labels, 3, 2, 4, 10)
    make = baselines.tfidf_pipeline(
        baselines.nearest_class_mean, "word", (1, 1)
    )
    ours = baselines.pipeline_accuracy(texts, episodes, make)
    expected = []
    for i in range(10):
        support = [texts[j] for j in episodes.support_x[i].tolist()]
        query = [texts[j] for j in episodes.query_x[i].tolist()]
        vectorizer = TfidfVectorizer(sublinear_tf=True)
        fitted = make_pipeline(vectorizer, NearestCentroid())
        fitted.fit(support, episodes.support_y[i].numpy())
        hits = fitted.predict(query) == episodes.query_y[i].numpy()
        expected.append(hits.mean())
    torch.testing.assert_close(
        ours, torch.tensor(expected, dtype=torch.float64)
    )


def test_pipeline_reads_letters_the_training_texts_lack():
    # Greek and Hebrew words: a vectorizer fitted on Latin words sees all of
    # them alike (only the spaces that pad every word)
    words = ["αλφα", "βητα", "γαμμα", "δελτα", "שלום", "תודה", "בית", "ספר"]
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    episodes = index_episodes(labels, 2, 2, 2, 6)
    latin = baselines.tfidf(["alpha beta", "shalom toda"], "char_wb", (1, 2))
    rows = latin.transform(words).toarray()
    assert (rows == rows[0]).all()
    make = baselines.tfidf_pipeline(baselines.nearest_class_mean)
    assert baselines.pipeline_accuracy(words, episodes, make).mean() == 1.0
    with pytest.raises(ConfigError, match="analyzer"):
        baselines.tfidf_pipeline(baselines.nearest_class_mean, "bytes")
    with pytest.raises(EpisodeError, match="texts has 3 rows"):
        baselines.pipeline_accuracy(words[:3], episodes, make)
