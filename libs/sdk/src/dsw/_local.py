"""Where the platform of ``dsw up`` is, found from any folder.

``dsw up`` records its data home, service URLs and process id in ``<home>/stack.json`` and points
to it from the user's configuration folder (``$XDG_CONFIG_HOME/dsw/embedded.json``, by default
``~/.config/dsw/embedded.json``). Commands and the SDK find the data home, highest first: the
``DSW_HOME`` environment variable (``dsw --home``), the pointer of a running ``dsw up``, and
``~/.dsw``. Nothing here is created on read, and a token is only signed with a secret the
platform already has.

Only the standard library is imported here (and ``jwt``/settings when a token is signed): every
``dsw`` command reads this module before doing anything else.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "CONSOLE_PORT",
    "DEFAULT_HOME",
    "DEV_ORG",
    "SERVICE_PORTS",
    "NoPlatform",
    "config_dir",
    "console_url",
    "data_home",
    "dev_token",
    "pointer_path",
    "read_state",
    "readiness",
    "remove_pointer",
    "running",
    "service_ports",
    "service_urls",
    "write_pointer",
]

SERVICE_PORTS: dict[str, int] = {
    "catalog": 8101,
    "recipes": 8102,
    "training": 8103,
    "scoring": 8104,
    "serving": 8105,
}
# The web console calls the five APIs; it has no database, so it is not migrated.
CONSOLE_PORT = 8106
DEV_ORG = "default"
STATE_FILE = "stack.json"
POINTER_FILE = "embedded.json"
SECRET_FILE = Path("secrets") / "jwt-hs256.key"
DEFAULT_HOME = Path("~") / ".dsw"


class NoPlatform(ValueError):
    """No platform was found to talk to (or to sign a development token for)."""


def config_dir() -> Path:
    """The user's dsw configuration folder: ``$XDG_CONFIG_HOME/dsw`` or ``~/.config/dsw``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "dsw"


def pointer_path() -> Path:
    """The file ``dsw up`` writes so that the platform is found from any folder."""
    return config_dir() / POINTER_FILE


def service_ports() -> dict[str, int]:
    """The port of each service, overridable with ``DSW_<SERVICE>_PORT``."""
    return {
        name: int(os.environ.get(f"DSW_{name.upper()}_PORT", port))
        for name, port in SERVICE_PORTS.items()
    }


def console_url() -> str:
    """Base URL of the web console, its port overridable with ``DSW_CONSOLE_PORT``."""
    return f"http://127.0.0.1:{int(os.environ.get('DSW_CONSOLE_PORT', CONSOLE_PORT))}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_state(home: Path) -> dict[str, Any] | None:
    """What a running ``dsw up`` recorded in ``home``, if one runs."""
    state = _read_json(home / STATE_FILE)
    if state is None:
        return None
    pid = state.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        return None
    return state


def _pointed_home() -> Path | None:
    pointer = _read_json(pointer_path())
    if pointer is None or not isinstance(pointer.get("home"), str):
        return None
    pid = pointer.get("pid")
    if not isinstance(pid, int) or not _alive(pid):
        return None
    return Path(pointer["home"])


def data_home() -> Path:
    """The data home: ``DSW_HOME``, else the running ``dsw up``'s, else ``~/.dsw`` (absolute)."""
    explicit = os.environ.get("DSW_HOME")
    if explicit:
        return Path(explicit).expanduser().resolve()
    return (_pointed_home() or DEFAULT_HOME).expanduser().resolve()


def running() -> dict[str, Any] | None:
    """The state of the running ``dsw up`` of :func:`data_home`, or None."""
    return read_state(data_home())


def service_urls() -> dict[str, str]:
    """Each service's base URL: the running platform's, else from the ports."""
    state = running()
    recorded = state.get("services") if state else None
    if isinstance(recorded, dict) and set(SERVICE_PORTS) <= set(recorded):
        return {name: str(recorded[name]) for name in SERVICE_PORTS}
    return {name: f"http://127.0.0.1:{port}" for name, port in service_ports().items()}


def readiness(url: str, timeout: float = 2.0, path: str = "/readyz") -> tuple[bool, str]:
    """Whether the service at ``url`` is ready, and why not."""
    import httpx

    try:
        response = httpx.get(f"{url}{path}", timeout=timeout)
    except httpx.HTTPError as error:
        return False, type(error).__name__
    if response.status_code == 200:
        return True, "ready"
    try:
        checks = response.json().get("checks", {}) if response.content else {}
    except ValueError:  # MLflow's /health answers plain text
        checks = {}
    return False, ", ".join(f"{k}: {v}" for k, v in checks.items()) or str(response.status_code)


def write_pointer(home: Path, pid: int) -> None:
    """Point the user's configuration at the platform now running from ``home``."""
    path = pointer_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"home": str(home), "pid": pid}, indent=2))
    temporary.replace(path)


def remove_pointer(home: Path) -> None:
    """Forget the pointer if it names ``home`` (another platform's is left alone)."""
    path = pointer_path()
    pointer = _read_json(path)
    if pointer is not None and pointer.get("home") == str(home):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def dev_token(home: Path | None = None, ttl_seconds: int = 30 * 24 * 3600) -> str:
    """A token with every scope in the default organisation, signed with the platform's key.

    The key is ``DSW_AUTH_SECRET`` (or the RS256 private key) or the secret the platform keeps in
    its data home; without one, :class:`NoPlatform`: a secret minted here would be one that no
    running service knows.
    """
    from dsw_kit.settings import AuthSettings
    from dsw_kit.tokens import TokenIssuer, all_scopes

    settings = AuthSettings()
    if settings.algorithm == "RS256":
        if not settings.private_key:
            raise NoPlatform("signing an RS256 development token needs DSW_AUTH_PRIVATE_KEY")
        key = settings.private_key
    else:
        home = home or data_home()
        secret_file = home / SECRET_FILE
        if settings.secret:
            key = settings.secret
        elif secret_file.exists():
            key = secret_file.read_text().strip()
        else:
            raise NoPlatform(
                f"no platform found in {home}: start one with `dsw up`, point at yours with "
                "`dsw --home` (DSW_HOME), or set DSW_TOKEN (or DSW_URL for a remote platform)"
            )
    issuer = TokenIssuer(settings, key)
    return issuer.issue(
        "dev", all_scopes(), org_id=DEV_ORG, sandboxes=("*",), ttl_seconds=ttl_seconds
    )
