"""Routes of recipes and versions: list and read, register (upload, git), validate parameters,
deprecate and delete."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from dsw_kit.errors import (
    BadRequest,
    FieldError,
    NotFound,
    PayloadTooLarge,
    UnprocessableEntity,
    problem_responses,
)
from dsw_kit.lake import Lake
from dsw_kit.pagination import Page, PageParams, paginate
from dsw_kit.web import UnitOfWork, check_if_match, idempotent_create, unit_of_work
from dsw_recipes.models import IdempotencyKey, Recipe, RecipeVersion
from dsw_recipes.packages import git, storage
from dsw_recipes.packages.archive import Limits
from dsw_recipes.packages.prepare import PackageRejected, PreparedPackage, from_archive, from_git
from dsw_recipes.recipes import repository, service
from dsw_recipes.recipes.builtins import builtins_lifespan
from dsw_recipes.recipes.schemas import (
    GitImport,
    ParamsValid,
    ParamsValidate,
    RecipeOut,
    UploadFingerprint,
    VersionOut,
)
from dsw_recipes.settings import RecipesSettings

PREFIX = "/recipes/v1/recipes"
UPLOAD_PATH = f"{PREFIX}/packages"
router = APIRouter(prefix=PREFIX, tags=["recipes"], lifespan=builtins_lifespan)


def _settings(request: Request) -> RecipesSettings:
    settings: RecipesSettings = request.app.state.runtime.settings
    return settings


def _lake(request: Request) -> Lake:
    return Lake(_settings(request).platform.resolved_lake_uri)


def _limits(settings: RecipesSettings) -> Limits:
    return Limits(
        max_entries=settings.max_package_entries,
        max_unpacked_bytes=settings.max_unpacked_bytes,
    )


def _etag(version: VersionOut) -> dict[str, str]:
    return {"ETag": f'"{version.revision}"'}


def _registered(
    work: UnitOfWork,
    request: Request,
    body: UploadFingerprint | GitImport,
    prepared: PreparedPackage,
    *,
    source: Literal["upload", "git"],
    source_url: str | None = None,
    git_ref: str | None = None,
) -> JSONResponse:
    """201 with a new version, or 200 with the existing one for identical content."""
    replay = request.headers.get("idempotency-key")
    existing = service.find_registered(work, prepared)
    stored = replay and work.session.scalar(
        select(IdempotencyKey.id).where(
            IdempotencyKey.key == replay,
            IdempotencyKey.route == f"{request.method} {request.url.path}",
        )
    )
    if existing is not None and not stored:
        out = VersionOut.of(existing)
        return JSONResponse(out.model_dump(mode="json"), status_code=200, headers=_etag(out))
    lake = _lake(request)
    return idempotent_create(
        work,
        IdempotencyKey,
        body,
        lambda: VersionOut.of(
            service.register(
                work, lake, prepared, source=source, source_url=source_url, git_ref=git_ref
            )[0]
        ),
        headers=lambda created: _etag(created),  # type: ignore[arg-type]
    )


async def _read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(
            f"the package is larger than {max_bytes} bytes", code="package_too_large"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(
                f"the package is larger than {max_bytes} bytes", code="package_too_large"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _multipart_file(content_type: str, body: bytes) -> tuple[bytes, str | None]:
    """The ``file`` part (or the only file part) of a multipart/form-data body."""
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message: Message = BytesParser(policy=HTTP).parsebytes(header + body)
    if not message.is_multipart():
        raise BadRequest("the multipart body cannot be parsed", code="invalid_multipart")
    files = []
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        if name == "file" or filename:
            payload = part.get_payload(decode=True)
            files.append((name, payload if isinstance(payload, bytes) else b"", filename))
    named = [item for item in files if item[0] == "file"] or files
    if len(named) != 1:
        raise BadRequest(
            "send exactly one file, in the form field 'file'", code="invalid_multipart"
        )
    return named[0][1], named[0][2]


@router.post(
    "/packages",
    status_code=201,
    response_model=VersionOut,
    responses={
        **problem_responses(400, 409, 413, 422),
        200: {"model": VersionOut, "description": "Identical content: the existing version"},
    },
    summary="Register a recipe package: the body is a zip, wheel or tar.gz (or multipart 'file')",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
                "application/gzip": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
            "required": True,
        }
    },
)
async def upload_package(
    request: Request,
    filename: str | None = Query(None, max_length=255, description="Original file name"),
    work: UnitOfWork = unit_of_work("recipes:write"),
) -> JSONResponse:
    settings = _settings(request)
    body = await _read_body(request, settings.max_package_bytes)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        body, part_name = _multipart_file(content_type, body)
        filename = filename or part_name
    if not body:
        raise BadRequest("the body is empty; send the package archive", code="empty_body")
    fingerprint = UploadFingerprint(sha256=hashlib.sha256(body).hexdigest(), filename=filename)

    def register() -> JSONResponse:
        with tempfile.TemporaryDirectory(prefix="dsw-recipe-upload-") as workdir:
            try:
                prepared = from_archive(body, Path(workdir), _limits(settings))
            except PackageRejected as error:
                raise service.rejected(error) from error
            return _registered(work, request, fingerprint, prepared, source="upload")

    return await run_in_threadpool(register)


@router.post(
    "/git",
    status_code=201,
    response_model=VersionOut,
    responses={
        **problem_responses(409, 422),
        200: {"model": VersionOut, "description": "Identical content: the existing version"},
    },
    summary="Register a recipe from a git repository (URL + branch, tag or commit)",
)
def import_git(
    body: GitImport, request: Request, work: UnitOfWork = unit_of_work("recipes:write")
) -> JSONResponse:
    settings = _settings(request)
    policy = git.GitPolicy(
        schemes=tuple(scheme.lower() for scheme in settings.git_allowed_schemes),
        hosts=tuple(host.lower() for host in settings.git_allowed_hosts),
        allow_private_addresses=settings.git_allow_private_addresses,
        timeout_seconds=settings.git_timeout_seconds,
    )
    with tempfile.TemporaryDirectory(prefix="dsw-recipe-git-") as workdir:
        try:
            prepared = from_git(body.url, body.ref, Path(workdir), policy, _limits(settings))
        except git.GitImportError as error:
            raise UnprocessableEntity(
                str(error),
                code=error.code,
                errors=[FieldError(pointer="/body/url", message=str(error), code=error.code)],
            ) from error
        except PackageRejected as error:
            raise service.rejected(error) from error
        return _registered(
            work, request, body, prepared, source="git", source_url=body.url, git_ref=body.ref
        )


@router.get("", response_model=Page[RecipeOut], summary="List recipes (built-in and your own)")
def list_recipes(
    params: PageParams = Depends(),
    name: str | None = Query(None, description="Recipes whose name contains this text"),
    task_type: str | None = Query(None, description="regression, classification, ranking, custom"),
    builtin: bool | None = Query(None, description="Only built-in (true) or custom (false)"),
    work: UnitOfWork = unit_of_work("recipes:read"),
) -> Page[RecipeOut]:
    page: Page[Recipe] = paginate(
        work.session,
        repository.recipes(work.tenant, name=name, task_type=task_type, builtin=builtin),
        params=params,
        sortable={"created": Recipe.created, "name": Recipe.name, "updated": Recipe.updated},
        tiebreaker=Recipe.id,
        to_item=lambda recipe: recipe,
    )
    latest = repository.latest_versions(
        work.session, work.tenant, [recipe.id for recipe in page.items]
    )
    return Page(
        items=[RecipeOut.of(recipe, latest.get(recipe.id)) for recipe in page.items],
        next=page.next,
    )


@router.get(
    "/{recipe_id}",
    response_model=RecipeOut,
    responses=problem_responses(404),
    summary="Get a recipe",
)
def get_recipe(
    recipe_id: uuid.UUID, response: Response, work: UnitOfWork = unit_of_work("recipes:read")
) -> RecipeOut:
    recipe = service.get_recipe(work, recipe_id)
    latest = repository.latest_versions(work.session, work.tenant, [recipe.id])
    response.headers["ETag"] = recipe.etag
    return RecipeOut.of(recipe, latest.get(recipe.id))


@router.get(
    "/{recipe_id}/versions",
    response_model=Page[VersionOut],
    responses=problem_responses(404),
    summary="List a recipe's versions",
)
def list_versions(
    recipe_id: uuid.UUID,
    params: PageParams = Depends(),
    status: Literal["active", "deprecated"] | None = Query(None),
    work: UnitOfWork = unit_of_work("recipes:read"),
) -> Page[VersionOut]:
    service.get_recipe(work, recipe_id)
    return paginate(
        work.session,
        repository.versions(work.tenant, recipe_id, status=status),
        params=params,
        sortable={"created": RecipeVersion.created, "version": RecipeVersion.version_name},
        tiebreaker=RecipeVersion.id,
        to_item=VersionOut.of,
    )


@router.get(
    "/{recipe_id}/versions/{version_id}",
    response_model=VersionOut,
    responses=problem_responses(404),
    summary="Get a version (with its smoke-run validation)",
)
def get_version(
    recipe_id: uuid.UUID,
    version_id: uuid.UUID,
    response: Response,
    work: UnitOfWork = unit_of_work("recipes:read"),
) -> VersionOut:
    out = VersionOut.of(service.get_version(work, recipe_id, version_id))
    response.headers.update(_etag(out))
    return out


@router.get(
    "/{recipe_id}/versions/{version_id}/package",
    response_class=Response,
    responses={**problem_responses(404), 200: {"content": {"application/gzip": {}}}},
    summary="Download a version's normalised package (tar.gz); built-ins have none",
)
def download_package(
    recipe_id: uuid.UUID,
    version_id: uuid.UUID,
    request: Request,
    work: UnitOfWork = unit_of_work("recipes:read"),
) -> Response:
    # Training workers fetch the package of a custom recipe to run it (they never read the lake
    # layout of this service themselves).
    version = service.get_version(work, recipe_id, version_id)
    if version.package_path is None:
        raise NotFound(
            f"version {version_id} is built in: its code ships with the platform",
            code="package_not_found",
        )
    content = storage.fetch(_lake(request), version.package_path)
    return Response(
        content,
        media_type="application/gzip",
        headers={"ETag": f'"{version.content_hash}"', "X-Content-Hash": version.content_hash},
    )


@router.get(
    "/{recipe_id}/versions/{version_id}/params-schema",
    responses={
        **problem_responses(404, 409),
        200: {"content": {"application/schema+json": {}}, "description": "JSON Schema"},
    },
    summary="The version's hyperparameters as JSON Schema (2020-12)",
)
def params_schema(
    recipe_id: uuid.UUID, version_id: uuid.UUID, work: UnitOfWork = unit_of_work("recipes:read")
) -> JSONResponse:
    version = service.get_version(work, recipe_id, version_id)
    service.spec_of(version)  # 409 while the spec is not known yet
    return JSONResponse(version.params_schema, media_type="application/schema+json")


@router.post(
    "/{recipe_id}/versions/{version_id}/validate",
    response_model=ParamsValid,
    responses=problem_responses(404, 409, 422),
    summary="Check a parameter set against the version (422 lists each invalid field)",
)
def validate_params(
    recipe_id: uuid.UUID,
    version_id: uuid.UUID,
    body: ParamsValidate,
    work: UnitOfWork = unit_of_work("recipes:read"),
) -> ParamsValid:
    version = service.get_version(work, recipe_id, version_id)
    return ParamsValid(params=service.validate_params(version, body.params, coerce=body.coerce))


@router.post(
    "/{recipe_id}/versions/{version_id}/deprecate",
    response_model=VersionOut,
    responses=problem_responses(404, 409, 412),
    summary="Deprecate a version (409 while models use it; If-Match supported)",
)
def deprecate_version(
    recipe_id: uuid.UUID,
    version_id: uuid.UUID,
    request: Request,
    response: Response,
    work: UnitOfWork = unit_of_work("recipes:write"),
) -> VersionOut:
    version = service.get_version(work, recipe_id, version_id)
    check_if_match(request, version.etag)
    out = VersionOut.of(service.deprecate(work, version))
    response.headers.update(_etag(out))
    return out


@router.delete(
    "/{recipe_id}/versions/{version_id}",
    status_code=204,
    responses=problem_responses(404, 409, 412),
    summary="Delete a version and its package (409 while models use it)",
)
def delete_version(
    recipe_id: uuid.UUID,
    version_id: uuid.UUID,
    request: Request,
    work: UnitOfWork = unit_of_work("recipes:write"),
) -> Response:
    version = service.get_version(work, recipe_id, version_id)
    check_if_match(request, version.etag)
    service.delete(work, _lake(request), version)
    return Response(status_code=204)
