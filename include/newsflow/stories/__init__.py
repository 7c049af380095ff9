"""Stories: syndicated copies, retitled and truncated copies and updated versions of one text grouped as one
story (MinHash signatures, LSH candidates, an overlap threshold)."""

from newsflow.stories.matching import Assignment, Known, StoryParams, assign
from newsflow.stories.signature import Overlap, Signature, overlap, signature, story_signature

__all__ = [
    "Assignment",
    "Known",
    "Overlap",
    "Signature",
    "StoryParams",
    "assign",
    "overlap",
    "signature",
    "story_signature",
]
