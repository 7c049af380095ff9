"""The data-quality gate: batches validated with Great Expectations, bad rows quarantined, Data Docs served.

Importing the package is cheap: Great Expectations and pandas are imported only to build or validate a batch.
"""

from newsflow.quality.datadocs import (
    DOCS_CSP,
    docs_url_path,
    is_public_asset,
    media_type,
    prune_data_docs,
    read_docs_file,
    vendor_file,
)
from newsflow.quality.errors import SchemaDriftError, ValidationPipelineError
from newsflow.quality.expectations import ARTICLE_EXPECTATIONS, SUITES, TOPIC_EXPECTATIONS
from newsflow.quality.frames import ARTICLES_SUITE, TOPICS_SUITE, articles_frame, check_schema, topics_frame
from newsflow.quality.gate import (
    GateResult,
    QuarantineShareExceeded,
    ensure_project,
    quality_root,
    validate_batch,
)
from newsflow.quality.project import GXProject
from newsflow.quality.results import ValidationOutcome
from newsflow.quality.routing import QuarantinedRow, Routed, route

__all__ = [
    "ARTICLES_SUITE",
    "ARTICLE_EXPECTATIONS",
    "DOCS_CSP",
    "SUITES",
    "TOPICS_SUITE",
    "TOPIC_EXPECTATIONS",
    "GXProject",
    "GateResult",
    "QuarantineShareExceeded",
    "QuarantinedRow",
    "Routed",
    "SchemaDriftError",
    "ValidationOutcome",
    "ValidationPipelineError",
    "articles_frame",
    "check_schema",
    "docs_url_path",
    "ensure_project",
    "is_public_asset",
    "media_type",
    "prune_data_docs",
    "quality_root",
    "read_docs_file",
    "route",
    "topics_frame",
    "validate_batch",
    "vendor_file",
]
