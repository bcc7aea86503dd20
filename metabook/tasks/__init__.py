"""Task families: generators of episodes."""

from .definitions import WordNetDefinitions
from .languages import LANGUAGES, WordLanguages
from .regression import LinearRegressionTasks
from .sinusoid import SinusoidTasks
from .swirl import ClassPoints, Splits, SwirlClasses, swirl, unswirl
from .text import (
    ByteTokenizer,
    CharTokenizer,
    ClassTexts,
    TextSplits,
    WordTokenizer,
)

__all__ = [
    "LANGUAGES",
    "ByteTokenizer",
    "CharTokenizer",
    "ClassPoints",
    "ClassTexts",
    "LinearRegressionTasks",
    "SinusoidTasks",
    "Splits",
    "SwirlClasses",
    "TextSplits",
    "WordTokenizer",
    "WordLanguages",
    "WordNetDefinitions",
    "swirl",
    "unswirl",
]
