"""Built-ins, JSON Schema, parameter validation, registration by upload, tenancy and auth."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from .helpers import (
    package_files,
    register,
    tar_gz_bytes,
    upload,
    version_url,
    zip_bytes,
)

Auth = Callable[..., dict[str, str]]
BUILTINS = {"retail-sales", "product-purchase-prediction", "product-recommendations"}


def _builtin(client: TestClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    items = client.get("/recipes/v1/recipes?builtin=true", headers=headers).json()["items"]
    return next(item for item in items if item["name"] == name)


def _builtin_version(client: TestClient, headers: dict[str, str], name: str) -> str:
    recipe = _builtin(client, headers, name)
    return f"/recipes/v1/recipes/{recipe['id']}/versions/{recipe['latest_version_id']}"


def test_builtins_are_listed_for_every_tenant(client: TestClient, auth: Auth) -> None:
    for headers in (auth(), auth(org_id="org-b")):
        response = client.get("/recipes/v1/recipes", headers=headers)
        assert response.status_code == 200, response.text
        assert {item["name"] for item in response.json()["items"]} >= BUILTINS
    retail = _builtin(client, auth(), "retail-sales")
    assert retail["builtin"] is True
    assert retail["task_type"] == "regression"
    versions = client.get(f"/recipes/v1/recipes/{retail['id']}/versions", headers=auth()).json()
    assert [v["version"] for v in versions["items"]] == [retail["latest_version"]]
    assert versions["items"][0]["source"] == "builtin"
    # The same ids in every tenant; pagination works across built-ins.
    assert _builtin(client, auth(org_id="org-b"), "retail-sales")["id"] == retail["id"]
    first = client.get("/recipes/v1/recipes?limit=2&orderby=name", headers=auth()).json()
    assert len(first["items"]) == 2
    rest = client.get(
        f"/recipes/v1/recipes?limit=2&orderby=name&cursor={first['next']}", headers=auth()
    ).json()
    names = [item["name"] for item in first["items"] + rest["items"]]
    assert names == sorted(BUILTINS)


def test_json_schema_and_parameter_validation(client: TestClient, auth: Auth) -> None:
    url = _builtin_version(client, auth(), "retail-sales")
    schema = client.get(f"{url}/params-schema", headers=auth())
    assert schema.status_code == 200, schema.text
    assert schema.headers["content-type"].startswith("application/schema+json")
    document = schema.json()
    assert document["$schema"].endswith("2020-12/schema")
    assert document["additionalProperties"] is False
    assert document["properties"]["n_estimators"]["type"] == "integer"
    assert document["properties"]["learning_rate"]["exclusiveMinimum"] == 0.0

    good = client.post(f"{url}/validate", json={"params": {"n_estimators": 50}}, headers=auth())
    assert good.status_code == 200, good.text
    assert good.json()["valid"] is True
    assert good.json()["params"]["n_estimators"] == 50
    assert good.json()["params"]["learning_rate"] == 0.05  # defaults filled in
    coerced = client.post(
        f"{url}/validate", json={"params": {"n_estimators": "60"}, "coerce": True}, headers=auth()
    )
    assert coerced.json()["params"]["n_estimators"] == 60

    bad = client.post(
        f"{url}/validate",
        json={"params": {"n_estimators": 0, "learning_rate": "fast", "colour": "red"}},
        headers=auth(),
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    problem = bad.json()
    assert problem["code"] == "invalid_params"
    pointers = {error["pointer"]: error["message"] for error in problem["errors"]}
    assert set(pointers) == {"/params/n_estimators", "/params/learning_rate", "/params/colour"}
    assert "at least 1" in pointers["/params/n_estimators"]
    assert pointers["/params/colour"] == "unknown parameter"


def test_upload_zip_tar_gz_and_wheel(client: TestClient, auth: Auth) -> None:
    headers = auth()
    created = upload(client, headers, zip_bytes(package_files()))
    assert created.status_code == 201, created.text
    version = created.json()
    assert version["version"] == "1.0.0"
    assert version["source"] == "upload"
    assert len(version["content_hash"]) == 64
    assert version["smoke"] == {"sample": "data/sample.csv", "params": {"rounds": 2}}
    assert version["validation"]["status"] in ("pending", "running", "valid")
    assert created.headers["ETag"] == f'"{version["revision"]}"'

    # The same files as a tar.gz wrapped in a folder: identical content, the same version.
    again = upload(client, headers, tar_gz_bytes(package_files(), prefix="mean-recipe-1.0.0/"))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == version["id"]

    # A new version number as a tar.gz, then as a wheel (multipart upload).
    second = upload(client, headers, tar_gz_bytes(package_files(version="1.1.0")))
    assert second.status_code == 201, second.text
    assert second.json()["recipe_id"] == version["recipe_id"]
    wheel_files = {
        f"mean_recipe/{path}" if path == "recipe.toml" else path: text
        for path, text in package_files(version="1.2.0", sample=False).items()
    }
    wheel_files["mean_recipe-1.2.0.dist-info/METADATA"] = "Name: mean-recipe\nVersion: 1.2.0\n"
    wheel_files["mean_recipe-1.2.0.dist-info/WHEEL"] = "Wheel-Version: 1.0\n"
    wheel = client.post(
        "/recipes/v1/recipes/packages",
        files={"file": ("mean_recipe-1.2.0-py3-none-any.whl", zip_bytes(wheel_files))},
        headers=headers,
    )
    assert wheel.status_code == 201, wheel.text
    assert wheel.json()["manifest"]["entry_point"] == "mean_recipe.recipe:MeanRecipe"

    recipe = client.get(f"/recipes/v1/recipes/{version['recipe_id']}", headers=headers).json()
    assert recipe["name"] == "mean-recipe"
    assert recipe["builtin"] is False
    versions = client.get(
        f"/recipes/v1/recipes/{version['recipe_id']}/versions?orderby=version", headers=headers
    ).json()["items"]
    assert [item["version"] for item in versions] == ["1.0.0", "1.1.0", "1.2.0"]

    # Other content under a registered version number: versions are immutable.
    changed = package_files(extra={"README.md": "changed"})
    conflict = upload(client, headers, zip_bytes(changed))
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "version_exists"


def test_idempotency_key_replays_the_first_response(client: TestClient, auth: Auth) -> None:
    headers = {**auth(), "Idempotency-Key": "upload-1"}
    content = zip_bytes(package_files())
    first = upload(client, headers, content)
    assert first.status_code == 201
    replay = upload(client, headers, content)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    other = upload(client, headers, zip_bytes(package_files(version="2.0.0")))
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def _zip_with_symlink() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in package_files().items():
            archive.writestr(path, text)
        link = zipfile.ZipInfo("mean_recipe/secrets.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in package_files().items():
            encoded = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(encoded)
            archive.addfile(info, io.BytesIO(encoded))
        archive.addfile(member, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def test_unsafe_archives_are_refused(client: TestClient, auth: Auth) -> None:
    headers = auth()
    traversal = upload(client, headers, zip_bytes({**package_files(), "../../evil.py": "x = 1"}))
    assert traversal.status_code == 422
    assert traversal.json()["code"] == "unsafe_path"
    absolute = tarfile.TarInfo("/tmp/evil.py")
    absolute.size = 5
    refused = upload(client, headers, _tar_with(absolute, b"x = 1"))
    assert refused.json()["code"] == "unsafe_path"

    assert upload(client, headers, _zip_with_symlink()).json()["code"] == "link_in_archive"
    symlink = tarfile.TarInfo("mean_recipe/link.py")
    symlink.type, symlink.linkname = tarfile.SYMTYPE, "/etc/passwd"
    assert upload(client, headers, _tar_with(symlink)).json()["code"] == "link_in_archive"
    hardlink = tarfile.TarInfo("mean_recipe/hard.py")
    hardlink.type, hardlink.linkname = tarfile.LNKTYPE, "recipe.toml"
    assert upload(client, headers, _tar_with(hardlink)).json()["code"] == "link_in_archive"

    # 300 KiB compressed is over the 256 KiB upload limit.
    noise = __import__("os").urandom(300 * 1024)
    too_big = upload(client, headers, noise)
    assert too_big.status_code == 413
    assert too_big.json()["code"] == "package_too_large"
    # A zip bomb: small compressed, over the 1 MiB unpacked limit.
    bomb = zip_bytes({**package_files(), "data/zeros.csv": "0" * (2 * 1024 * 1024)})
    assert len(bomb) < 256 * 1024
    refused_bomb = upload(client, headers, bomb)
    assert refused_bomb.status_code == 422
    assert refused_bomb.json()["code"] == "package_too_large"
    many = {**package_files(), **{f"data/{index}.txt": "" for index in range(60)}}
    assert upload(client, headers, zip_bytes(many)).json()["code"] == "too_many_entries"

    assert upload(client, headers, b"not an archive").json()["code"] == "unsupported_archive"
    nothing = client.get("/recipes/v1/recipes?builtin=false", headers=headers).json()
    assert nothing["items"] == []


def test_static_checks_are_reported_as_422(client: TestClient, auth: Auth) -> None:
    files = package_files()
    files["recipe.toml"] = files["recipe.toml"].replace('version = "1.0.0"', 'version = "one"')
    files["mean_recipe/recipe.py"] = files["mean_recipe/recipe.py"].replace(
        "    def score(", "    def not_score("
    )
    response = upload(client, auth(), zip_bytes(files))
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "package_invalid"
    assert any("MAJOR.MINOR.PATCH" in error["message"] for error in problem["errors"])

    lacks = package_files()
    lacks["mean_recipe/recipe.py"] = lacks["mean_recipe/recipe.py"].replace(
        "    def score(", "    def not_score("
    )
    response = upload(client, auth(), zip_bytes(lacks))
    assert response.status_code == 422
    assert "lacks score" in response.json()["errors"][0]["message"]

    missing_sample = package_files()
    del missing_sample["data/sample.csv"]
    response = upload(client, auth(), zip_bytes(missing_sample))
    assert response.status_code == 422
    assert "smoke.sample" in response.json()["errors"][0]["message"]

    reserved = upload(client, auth(), zip_bytes(package_files(name="retail-sales")))
    assert reserved.status_code == 409
    assert reserved.json()["code"] == "recipe_name_reserved"


def test_tenants_do_not_see_each_others_recipes(client: TestClient, auth: Auth) -> None:
    version = register(client, auth())
    other = auth(org_id="org-b")
    listed = client.get("/recipes/v1/recipes", headers=other).json()["items"]
    assert "mean-recipe" not in {item["name"] for item in listed}
    assert (
        client.get(f"/recipes/v1/recipes/{version['recipe_id']}", headers=other).status_code == 404
    )
    assert client.get(version_url(version), headers=other).status_code == 404
    assert client.delete(version_url(version), headers=other).status_code == 404
    # Another sandbox of the same organisation is another tenant too.
    sandbox = auth(sandboxes=("dev",))
    assert client.get(version_url(version), headers=sandbox).status_code == 404
    # Org B registering identical content gets its own version.
    theirs = register(client, other)
    assert theirs["id"] != version["id"]
    assert theirs["content_hash"] == version["content_hash"]


def test_authentication_and_scopes(client: TestClient, auth: Auth) -> None:
    anonymous = client.get("/recipes/v1/recipes")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    reader = auth(scopes=["recipes:read"])
    assert client.get("/recipes/v1/recipes", headers=reader).status_code == 200
    forbidden = upload(client, reader, zip_bytes(package_files()))
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "insufficient_scope"
    git = client.post("/recipes/v1/recipes/git", json={"url": "https://x"}, headers=reader)
    assert git.status_code == 403
    other_service = auth(scopes=["catalog:admin"])
    assert client.get("/recipes/v1/recipes", headers=other_service).status_code == 403
    url = _builtin_version(client, auth(), "retail-sales")
    assert client.post(f"{url}/deprecate", headers=reader).status_code == 403
    assert client.post(f"{url}/deprecate", headers=auth()).json()["code"] == (
        "builtin_recipe_readonly"
    )
