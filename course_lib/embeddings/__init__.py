"""Lesson 02: static word vectors. Analogies, evaluation, Word2Vec, the GloVe objective, widgets.

Word vectors are gensim ``KeyedVectors`` throughout (GloVe from :func:`course_lib.models.load_glove`,
Word2Vec trained here or loaded from the course's own committed vectors). The analogy
evaluation is a vectorised 3CosAdd that gives the same answers as gensim's
``evaluate_word_analogies`` (checked in ``tests/test_embeddings.py``) in a fraction of the time.

The package: :mod:`~course_lib.embeddings.vectors` (lookups, analogies, benchmarks),
:mod:`~course_lib.embeddings.word2vec` (gensim's trainer, int8 storage, skip-gram in torch),
:mod:`~course_lib.embeddings.glove` (the GloVe objective) and
:mod:`~course_lib.embeddings.explore` (pair projections and the explorers).
"""

from course_lib.embeddings.explore import (
    PAIR_SETS,
    analogy_explorer,
    analogy_report,
    neighbour_explorer,
    neighbour_report,
    offset_consistency,
    pair_projection_explorer,
    parse_pairs,
    plot_pairs,
    project_pairs,
    widget_demo,
)
from course_lib.embeddings.glove import GloVe, cooccurrence, glove_loss, glove_weight, train_glove
from course_lib.embeddings.vectors import (
    SEMANTIC_SECTIONS,
    SIMILARITY_ASSETS,
    SectionScore,
    analogy,
    analogy_questions,
    check_word,
    close_words,
    cosine_similarity,
    evaluate_analogies,
    neighbours,
    questions_words_path,
    score_analogies,
    scores_table,
    similarity_benchmarks,
    similarity_path,
    unit_vectors,
)
from course_lib.embeddings.word2vec import (
    W2V_ASSET,
    SkipGramData,
    SkipGramNS,
    keep_probability,
    keyed_vectors,
    load_compact,
    load_course_word2vec,
    neighbour_overlap,
    quantize_int8,
    save_compact,
    skipgram_data,
    skipgram_pairs,
    train_sgns,
    train_word2vec,
)

__all__ = [
    "PAIR_SETS", "SEMANTIC_SECTIONS", "SIMILARITY_ASSETS", "W2V_ASSET",
    "GloVe", "SectionScore", "SkipGramData", "SkipGramNS",
    "analogy", "analogy_explorer", "analogy_questions", "analogy_report", "check_word", "close_words",
    "cooccurrence", "cosine_similarity", "evaluate_analogies", "glove_loss", "glove_weight",
    "keep_probability", "keyed_vectors", "load_compact", "load_course_word2vec", "neighbour_explorer",
    "neighbour_overlap", "neighbour_report", "neighbours", "offset_consistency", "pair_projection_explorer",
    "parse_pairs", "plot_pairs", "project_pairs", "quantize_int8", "questions_words_path", "save_compact",
    "score_analogies", "scores_table", "similarity_benchmarks", "similarity_path", "skipgram_data",
    "skipgram_pairs", "train_glove", "train_sgns", "train_word2vec", "unit_vectors", "widget_demo",
]  # fmt: skip
