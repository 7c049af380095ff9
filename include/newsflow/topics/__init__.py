"""Topic classification: the YAML taxonomy, the classifier, the classification stage and its evaluation."""

from newsflow.topics.classifier import Classifier, TopicScore
from newsflow.topics.evaluation import EvalDataError, eval_topics_parser, evaluate, run_eval_topics
from newsflow.topics.stage import classifier_pool, classify_articles, classify_texts, make_classifier
from newsflow.topics.taxonomy import (
    DEFAULT_TAXONOMY_FILE,
    METHOD_VERSION,
    Taxonomy,
    TaxonomyError,
    load_taxonomy,
    taxonomy_from_dict,
)

__all__ = [
    "DEFAULT_TAXONOMY_FILE",
    "METHOD_VERSION",
    "Classifier",
    "EvalDataError",
    "Taxonomy",
    "TaxonomyError",
    "TopicScore",
    "classifier_pool",
    "classify_articles",
    "classify_texts",
    "eval_topics_parser",
    "evaluate",
    "load_taxonomy",
    "make_classifier",
    "run_eval_topics",
    "taxonomy_from_dict",
]
