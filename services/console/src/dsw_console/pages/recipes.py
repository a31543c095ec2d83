"""Recipes: list, detail with each version's hyperparameter spec, import from git."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from dsw_console.forms import fields_of
from dsw_console.session import api_for
from dsw_console.upstream import Api, ApiError, Problem
from dsw_console.views import attempt, render

router = APIRouter(include_in_schema=False)
RECIPES = "/recipes/v1/recipes"


def _list_page(
    request: Request,
    api: Api,
    cursor: str | None,
    problem: Problem | None = None,
    status_code: int = 200,
) -> Response:
    page, list_problem = attempt(lambda: api.get("recipes", RECIPES, cursor=cursor))
    return render(
        request,
        "recipes.html",
        status_code=status_code,
        section="recipes",
        page=page,
        list_problem=list_problem,
        problem=problem,
    )


@router.get("/recipes")
def list_recipes(
    request: Request, cursor: str | None = None, api: Api = Depends(api_for)
) -> Response:
    return _list_page(request, api, cursor)


@router.post("/recipes/git")
def import_from_git(
    request: Request, url: str = Form(""), ref: str = Form(""), api: Api = Depends(api_for)
) -> Response:
    body = {"url": url.strip(), "ref": ref.strip() or "main"}
    try:
        created = api.post("recipes", f"{RECIPES}/git", body)
    except ApiError as error:
        if error.problem.status == 401:
            raise
        return _list_page(request, api, None, error.problem, error.problem.status)
    recipe_id = created.get("recipe_id") or created.get("id")
    return RedirectResponse(f"/recipes/{recipe_id}", status_code=303)


@router.get("/recipes/{recipe_id}")
def recipe_detail(
    request: Request, recipe_id: str, version: str | None = None, api: Api = Depends(api_for)
) -> Response:
    recipe = api.get("recipes", f"{RECIPES}/{recipe_id}")
    versions_page, versions_problem = attempt(
        lambda: api.get("recipes", f"{RECIPES}/{recipe_id}/versions", limit=100)
    )
    versions = (versions_page or {}).get("items", [])
    chosen_id = (
        version or recipe.get("latest_version_id") or (versions[0]["id"] if versions else None)
    )
    chosen = next((item for item in versions if str(item["id"]) == str(chosen_id)), None)
    schema, schema_problem = None, None
    if chosen_id:
        schema, schema_problem = attempt(
            lambda: api.get("recipes", f"{RECIPES}/{recipe_id}/versions/{chosen_id}/params-schema")
        )
    return render(
        request,
        "recipe.html",
        section="recipes",
        recipe=recipe,
        versions=versions,
        versions_problem=versions_problem,
        chosen=chosen,
        schema=schema,
        schema_problem=schema_problem,
        fields=fields_of(schema or {}),
    )
