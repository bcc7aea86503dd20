"""The baselines a practitioner tries first on few-shot text: TF-IDF + sklearn.

No neural network and no meta-training. Every text becomes a TF-IDF vector of
its words or character n-grams (:func:`tfidf`, scikit-learn's
``TfidfVectorizer``, whose vocabulary and IDF weights are fitted on the
meta-training texts: that needs no labels, and the meta-learners see the same
texts). Each test episode then gets its own classifier, fitted on its support
set alone:

* **nearest class mean** (:func:`nearest_class_mean`, ``NearestCentroid``): the
  class means of the support vectors, and each query goes to the closest one;
* **logistic regression** (:func:`logistic_regression`, ``LogisticRegression``):
  a multinomial linear classifier with an L2 penalty of strength ``1 / C``.

When the meta-training texts lack the test texts' words or letters (a script no
meta-training language uses), :func:`pipeline_accuracy` fits a whole pipeline,
vectorizer included (:func:`tfidf_pipeline`), on each support set instead.

:func:`episode_accuracy` scores a classifier on a batch of episodes whose
``support_x`` and ``query_x`` hold *row indices* into the feature matrix, so one
matrix serves any number of episodes, and the episodes can be the very ones the
meta-learners are tested on (index them into token ids for those)::

    vectorizer = tfidf(data.train.texts, analyzer="word")
    features = vectorizer.transform(data.test.texts)  # (n_texts, n_features)
    acc = episode_accuracy(features, episodes, nearest_class_mean)  # (B,)

scikit-learn is needed only here; ``import metabook`` works without it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .episode import Episode
from .errors import ConfigError, EpisodeError, MissingDataError

ANALYZERS = ("word", "char_wb")


def _sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError as err:
        raise MissingDataError(
            "metabook.baselines needs scikit-learn, which is not installed; "
            "install it with: pip install scikit-learn"
        ) from err


def tfidf(
    texts: Sequence[str],
    analyzer: str = "word",
    ngram_range: tuple[int, int] = (1, 1),
    sublinear_tf: bool = True,
    min_df: int = 1,
) -> Any:
    """A ``TfidfVectorizer`` whose vocabulary and IDF are fitted on ``texts``.

    Args:
        texts: unlabelled texts to fit on, e.g. the meta-training texts.
        analyzer: ``"word"`` (scikit-learn's default words of two or more
            letters or digits) or ``"char_wb"`` (character n-grams inside word
            boundaries).
        ngram_range: the smallest and largest n of the n-grams.
        sublinear_tf: weigh a term ``1 + log(count)`` instead of ``count``.
        min_df: ignore terms found in fewer than this many texts.

    Returns:
        The fitted vectorizer; ``.transform(texts)`` gives a sparse
        ``(len(texts), n_features)`` matrix whose rows have unit length.
    """
    _sklearn()
    from sklearn.feature_extraction.text import TfidfVectorizer

    if analyzer not in ANALYZERS:
        raise ConfigError(f"analyzer={analyzer!r} must be one of {ANALYZERS}")
    low, high = ngram_range
    if not 1 <= low <= high:
        raise ConfigError(
            f"ngram_range={ngram_range!r} must be (low, high), 1 <= low <= high"
        )
    if len(texts) == 0:
        raise ConfigError("tfidf needs at least one text to fit on")
    vectorizer = TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=(low, high),
        sublinear_tf=sublinear_tf,
        min_df=min_df,
        dtype=np.float64,
    )
    return vectorizer.fit(list(texts))


def nearest_class_mean() -> Any:
    """A fresh ``NearestCentroid``: Euclidean distance to each class mean."""
    _sklearn()
    from sklearn.neighbors import NearestCentroid

    return NearestCentroid()


def logistic_regression(C: float = 1.0, max_iter: int = 1000) -> Any:
    """A fresh multinomial ``LogisticRegression`` with an L2 penalty ``1 / C``.

    Args:
        C: inverse penalty strength (larger: a weaker penalty).
        max_iter: L-BFGS iterations at most.
    """
    _sklearn()
    from sklearn.linear_model import LogisticRegression

    if isinstance(C, bool) or not isinstance(C, (int, float)) or not C > 0:
        raise ConfigError(f"C={C!r} must be a positive number")
    return LogisticRegression(C=float(C), max_iter=max_iter)


def _index_arrays(
    episodes: Episode, n_rows: int, what: str
) -> tuple[np.ndarray, ...]:
    """support_x, support_y, query_x, query_y as arrays, after checking them."""
    if not episodes.batched:
        raise EpisodeError(
            "the baselines need a batched episode; use Episode.stack([...])"
        )
    for name in ("support_x", "query_x"):
        x = getattr(episodes, name)
        if x.dim() != 2 or x.is_floating_point():
            raise EpisodeError(
                f"{name} must hold row indices into {what}, shape (B, n); "
                f"got shape {tuple(x.shape)} and dtype {x.dtype}"
            )
    top = int(max(episodes.support_x.max(), episodes.query_x.max()))
    low = int(min(episodes.support_x.min(), episodes.query_x.min()))
    if low < 0 or top >= n_rows:
        raise EpisodeError(
            f"episodes index rows up to {top}, but {what} has {n_rows} rows"
        )
    return tuple(
        getattr(episodes, name).cpu().numpy()
        for name in ("support_x", "support_y", "query_x", "query_y")
    )


def _fit(make: Callable[[], Any], x: Any, y: np.ndarray) -> Any:
    with warnings.catch_warnings():
        # NearestCentroid also computes a within-class spread, which its
        # predictions do not use; with one shot it is 0 / 0 and warns.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        return make().fit(x, y)


def episode_accuracy(
    features: Any,
    episodes: Episode,
    make_classifier: Callable[[], Any],
) -> Tensor:
    """Fit a fresh classifier on each episode's support set; its query accuracy.

    Only the feature columns that occur in an episode's support set are given to
    its classifier. That changes no prediction and makes the fits fast: a
    logistic regression's weights on a column that is zero in every training row
    stay at zero (the penalty pulls them there and nothing pushes), and a column
    where every class mean is zero adds the same amount to a query's distance to
    each mean.

    Args:
        features: ``(n_texts, n_features)``, a scipy sparse matrix or an array.
        episodes: a batched episode whose ``support_x`` ``(B, n_support)`` and
            ``query_x`` ``(B, n_query)`` are row indices into ``features``.
        make_classifier: returns a new scikit-learn classifier, e.g.
            :func:`nearest_class_mean` or ``lambda: logistic_regression(C=10)``.

    Returns:
        ``(B,)`` query accuracy per episode, float64 on the CPU.
    """
    _sklearn()
    from scipy import sparse

    X = sparse.csr_matrix(features)
    support_x, support_y, query_x, query_y = _index_arrays(
        episodes, X.shape[0], "features"
    )
    out = np.empty(len(support_x))
    for i in range(len(support_x)):
        S = X[support_x[i]]
        columns = np.unique(S.indices)  # the terms of the support set
        S, Q = S[:, columns], X[query_x[i]][:, columns]
        classifier = _fit(make_classifier, S, support_y[i])
        out[i] = np.mean(classifier.predict(Q) == query_y[i])
    return torch.from_numpy(out)


def tfidf_pipeline(
    classifier: Callable[[], Any],
    analyzer: str = "char_wb",
    ngram_range: tuple[int, int] = (1, 3),
    sublinear_tf: bool = True,
) -> Callable[[], Any]:
    """Makes scikit-learn pipelines: a ``TfidfVectorizer``, then a classifier.

    For :func:`pipeline_accuracy`, which fits one per episode, so that the
    vocabulary and the IDF weights come from the episode's support texts alone
    (when the meta-training texts lack the test texts' words or letters).

    Args:
        classifier: e.g. :func:`nearest_class_mean`.
        analyzer, ngram_range, sublinear_tf: as for :func:`tfidf`.
    """
    _sklearn()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    if analyzer not in ANALYZERS:
        raise ConfigError(f"analyzer={analyzer!r} must be one of {ANALYZERS}")

    def make() -> Any:
        vectorizer = TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=ngram_range,
            sublinear_tf=sublinear_tf,
            dtype=np.float64,
        )
        return make_pipeline(vectorizer, classifier())

    return make


def pipeline_accuracy(
    texts: Sequence[str],
    episodes: Episode,
    make_pipeline: Callable[[], Any],
) -> Tensor:
    """Fit a fresh pipeline on each episode's support texts; its query accuracy.

    Args:
        texts: every text the episodes index.
        episodes: a batched episode whose ``support_x`` and ``query_x`` are row
            indices into ``texts``.
        make_pipeline: returns a new estimator that reads raw texts, e.g.
            ``tfidf_pipeline(nearest_class_mean)``.

    Returns:
        ``(B,)`` query accuracy per episode, float64 on the CPU.
    """
    _sklearn()
    texts = list(texts)
    support_x, support_y, query_x, query_y = _index_arrays(
        episodes, len(texts), "texts"
    )
    out = np.empty(len(support_x))
    for i in range(len(support_x)):
        support = [texts[j] for j in support_x[i]]
        query = [texts[j] for j in query_x[i]]
        pipeline = _fit(make_pipeline, support, support_y[i])
        out[i] = np.mean(pipeline.predict(query) == query_y[i])
    return torch.from_numpy(out)
