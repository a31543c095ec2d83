"""Events and commands the recipes service publishes."""

from __future__ import annotations

from typing import ClassVar, Literal

from dsw_contracts._topics import EventPayload


class RecipeVersionRegistered(EventPayload):
    """``dsw.recipes.version.registered``: a new, immutable recipe version exists."""

    event_type: ClassVar[str] = "dsw.recipes.version.registered"
    recipe_id: str
    version_id: str
    name: str
    version: str
    content_hash: str
    source: Literal["builtin", "upload", "git"]


class RecipeVersionRequested(EventPayload):
    """``dsw.recipes.version.requested`` (command): a version waits for its smoke run."""

    event_type: ClassVar[str] = "dsw.recipes.version.requested"
    recipe_id: str
    version_id: str


class RecipeVersionValidated(EventPayload):
    """``dsw.recipes.version.validated``: the smoke run of a version finished.

    ``status`` is ``valid`` or ``invalid`` (then ``error`` says why); ``mode`` says whether the
    recipe was trained on a sample (``sample``) or only imported and checked (``contract``).
    """

    event_type: ClassVar[str] = "dsw.recipes.version.validated"
    recipe_id: str
    version_id: str
    status: Literal["valid", "invalid"]
    mode: Literal["sample", "contract"]
    error: str | None = None


class RecipeVersionDeprecated(EventPayload):
    """``dsw.recipes.version.deprecated|deleted``: a version left the active set."""

    event_type: ClassVar[str] = "dsw.recipes.version.deprecated"
    recipe_id: str
    version_id: str
    change: Literal["deprecated", "deleted"] = "deprecated"
